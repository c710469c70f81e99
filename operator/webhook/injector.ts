// The injector composed in one place: the certificate manager keeps the Secret and caBundle
// current and hands each serving certificate to the HTTPS server; the server answers reviews with
// the Reviewer, which applies the pure injection decision; Events go through the operator's
// recorder. main.ts and the tests start it the same way.
import { X509Certificate } from 'node:crypto';
import type { Registry } from 'prom-client';
import type { Logger } from '../../common/log.ts';
import { CertManager, type CertMode, type ServingCertificate } from '../certs/manager.ts';
import type { CertPolicy } from '../certs/plan.ts';
import { systemClock, type Clock } from '../clock.ts';
import type { EventRecorder } from '../events.ts';
import type { InjectorOptions } from '../inject/inject.ts';
import type { KubeClient } from '../kube/client.ts';
import { createWebhookMetrics, type WebhookMetrics } from './metrics.ts';
import { Reviewer } from './review.ts';
import { startWebhookServer, type WebhookServer } from './server.ts';

/** Options for {@link startInjector}. */
export interface InjectorRuntimeOptions {
  readonly client: KubeClient;
  readonly log: Logger;
  readonly registry: Registry;
  readonly clock?: Clock;
  readonly host: string;
  readonly port: number;
  readonly injector: InjectorOptions;
  readonly configGeneration: (namespace: string) => number | undefined;
  readonly events?: EventRecorder | undefined;
  /** Also told of every serving certificate (the config stream serves the same one). */
  readonly onCertificate?: ((certificate: ServingCertificate) => void) | undefined;
  readonly certs: {
    readonly mode: CertMode;
    readonly namespace: string;
    readonly secretName: string;
    readonly webhookConfigName: string;
    readonly policy: CertPolicy;
  };
}

/** The running injector. */
export interface Injector {
  readonly port: number;
  readonly metrics: WebhookMetrics;
  readonly certificates: CertManager;
  readonly reviewer: Reviewer;
  /** Why the injector cannot serve, or undefined. */
  readiness(): string | undefined;
  close(): Promise<void>;
}

/** The DNS names a Service's serving certificate covers. */
export function serviceHosts(service: string, namespace: string): string[] {
  return [
    `${service}.${namespace}.svc`,
    `${service}.${namespace}.svc.cluster.local`,
    `${service}.${namespace}`,
    service,
  ];
}

/** Starts the certificate manager, waits for a serving certificate, then serves. */
export async function startInjector(options: InjectorRuntimeOptions): Promise<Injector> {
  const metrics = createWebhookMetrics(options.registry);
  // The first certificate arrives before the server exists; later ones go straight to it.
  const serving: { server?: WebhookServer; latest?: ServingCertificate } = {};
  const onCertificate = (certificate: ServingCertificate): void => {
    metrics.certificateExpiry.set(
      new Date(new X509Certificate(certificate.certPem).validTo).getTime() / 1000,
    );
    serving.latest = certificate;
    serving.server?.setCertificate(certificate);
    options.onCertificate?.(certificate);
  };
  const certificates = new CertManager({
    client: options.client,
    log: options.log,
    clock: options.clock ?? systemClock,
    ...options.certs,
    onCertificate,
    onRotate: () => metrics.certificateWrites.inc(),
  });
  const events = options.events;
  const reviewer = new Reviewer({
    injector: options.injector,
    configGeneration: options.configGeneration,
    excludedNamespaces: ['kube-system', options.certs.namespace],
    log: options.log,
    events:
      events === undefined
        ? undefined
        : (regarding, type, reason, note): void =>
            void events.record(regarding, type, reason, note, 'Inject'),
  });
  await certificates.start();
  const running = await startWebhookServer({
    host: options.host,
    port: options.port,
    certificate: serving.latest!,
    reviewer,
    metrics,
    log: options.log,
  });
  serving.server = running;
  // A certificate that arrived while the server was starting.
  running.setCertificate(serving.latest!);
  return {
    port: running.port,
    metrics,
    certificates,
    reviewer,
    readiness: () => certificates.readiness(),
    close: async () => {
      await running.close();
      await certificates.stop();
    },
  };
}

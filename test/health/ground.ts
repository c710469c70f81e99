// The delivery-health test ground, against the real API server: the operator in process under its
// shipped RBAC, delivery health on a clock the test moves, the config server streaming to a real
// sidecar process authenticated with a TokenRequest token bound to a pod, and every health report
// the sidecar sends, in order, for tests to wait on. Used by health.test.ts and autodisable.test.ts.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { inject } from 'vitest';
import { SIDECAR_AUDIENCE } from '../../common/config-stream.ts';
import type { SidecarHealthReport } from '../../common/health.ts';
import { createLogger } from '../../common/log.ts';
import type { Caches } from '../../operator/cache.ts';
import { createCertificate } from '../../operator/certs/x509.ts';
import { systemClock } from '../../operator/clock.ts';
import { SidecarAuthenticator } from '../../operator/config-server/auth.ts';
import { startConfigServer, type ConfigServer } from '../../operator/config-server/server.ts';
import { EventRecorder } from '../../operator/events.ts';
import { startDeliveryHealth, type DeliveryHealth } from '../../operator/health/index.ts';
import { KubeClient } from '../../operator/kube/client.ts';
import { loadClusterAccess } from '../../operator/kube/config.ts';
import type { KubeObject } from '../../operator/kube/types.ts';
import { CONFIG_KEY } from '../../operator/names.ts';
import { startSidecarProcess, type SidecarProcess } from '../queue/process.ts';
import {
  admin,
  createOperatorIdentity,
  startOperator,
  type OperatorIdentity,
  type RunningOperator,
} from '../operator/support.ts';
import { createTestNamespace, kubeClients, type KubeClients } from '../support/kube.ts';

const log = createLogger({}, 'warn', () => undefined);

/** A clock the test moves: the aggregator's window and the writer's limits run on it. */
export interface TestClock {
  at: number;
  now(): Date;
}

/** A clock at the present, moved by adding to `at`. */
export function testClock(): TestClock {
  return {
    at: Date.now(),
    now(): Date {
      return new Date(this.at);
    },
  };
}

/** A receiver that can go down (its port closed) and come back on the same port; keeps bodies. */
export interface SwitchableReceiver {
  readonly url: string;
  readonly bodies: string[];
  down(): Promise<void>;
  up(): Promise<void>;
}

/** Starts a {@link SwitchableReceiver} on loopback, answering `{"ok":true}`. */
export async function switchableReceiver(): Promise<SwitchableReceiver> {
  let server: Server | undefined;
  let port = 0;
  const bodies: string[] = [];
  const up = async (): Promise<void> => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        bodies.push(Buffer.concat(chunks).toString());
        res.end('{"ok":true}');
      });
    });
    await new Promise<void>((resolve) => server!.listen(port, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  };
  await up();
  return {
    url: `http://127.0.0.1:${port}`,
    bodies,
    up,
    down: async () => {
      server?.closeAllConnections();
      await new Promise<void>((resolve) => server?.close(() => resolve()));
    },
  };
}

/**
 * The operator's caches as the config server reads them, the published config listening on ports
 * of its own and queueing in `queueDir`: a pod's config binds 15001 and 15006 and queues under
 * /var/lib/hookgate, which test files running side by side would fight over.
 */
function ownPorts(
  caches: Caches,
  queueDir: string,
): Pick<Caches, 'configMaps' | 'secrets' | 'endpoints'> {
  const configMaps = {
    onChange: (handler: Parameters<Caches['configMaps']['onChange']>[0]) =>
      caches.configMaps.onChange(handler),
    onOwnWrite: (handler: Parameters<Caches['configMaps']['onOwnWrite']>[0]) =>
      caches.configMaps.onOwnWrite(handler),
    get: (namespace: string, name: string): KubeObject | undefined => {
      const cm = caches.configMaps.get(namespace, name);
      const text = (cm?.['data'] as Record<string, string> | undefined)?.[CONFIG_KEY];
      if (cm === undefined || text === undefined) return cm;
      const config = JSON.parse(text.replace(/^(#[^\n]*\n)+/, '')) as Record<string, unknown>;
      config['listen'] = { egress: '127.0.0.1:0', ingress: '127.0.0.1:0' };
      config['queue'] = { ...(config['queue'] as object), directory: queueDir };
      return { ...cm, data: { [CONFIG_KEY]: JSON.stringify(config) } };
    },
  } as unknown as Caches['configMaps'];
  return { configMaps, secrets: caches.secrets, endpoints: caches.endpoints };
}

/** The running ground of one test file. */
/** The report's entry for endpoint `name` of the ground's namespace, if it names it. */
export function endpointIn(
  report: SidecarHealthReport,
  name: string,
): SidecarHealthReport['endpoints'][number] | undefined {
  return report.endpoints.find((e) => e.endpoint.endsWith(`/${name}`));
}

export interface HealthGround {
  readonly kube: KubeClients;
  readonly adminConfig: KubeConfig;
  readonly ns: string;
  readonly running: RunningOperator;
  readonly health: DeliveryHealth;
  /** Reports in order of arrival. */
  readonly reports: readonly SidecarHealthReport[];
  /**
   * Resolves at the first report received from now on that satisfies `match`; fails after 50 s
   * naming the last report seen (a bound for a broken run, not a timing assertion).
   */
  nextReport(match: (r: SidecarHealthReport) => boolean): Promise<void>;
  /** The sidecar of pod `app-0` (labels app=shop), streaming from the config server. */
  startSidecar(): Promise<SidecarProcess>;
  stop(): Promise<void>;
}

/** Starts the operator, delivery health on `clock` and the config server in namespace `prefix-…`. */
export async function startHealthGround(prefix: string, clock: TestClock): Promise<HealthGround> {
  const kube = kubeClients();
  const adminConfig = kube.kubeConfig;
  const work = mkdtempSync(join(tmpdir(), `hookgate-${prefix}-`));
  const identity: OperatorIdentity = await createOperatorIdentity(
    adminConfig,
    join(inject('pkiDir'), 'ca.crt'),
  );
  const ns = await createTestNamespace(kube.core, prefix);
  const running = await startOperator(identity, [ns]);
  const client = new KubeClient(await loadClusterAccess(identity.kubeconfigPath));
  // TokenReview and pod reads: the config server's RBAC is not these tests' subject.
  const adminClient = new KubeClient(await loadClusterAccess(inject('kubeconfig')));
  const health = startDeliveryHealth({
    client,
    endpoints: running.operator.caches.endpoints,
    policies: running.operator.caches.policies,
    events: new EventRecorder(client, `${prefix}-test`, systemClock, log),
    isLeader: () => running.operator.isLeader,
    log,
    clock,
    // The test ticks the writer itself, after the report it waits for.
    settings: { tickMs: 3_600_000 },
  });
  const ca = createCertificate({
    commonName: `${prefix}-test-ca`,
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 3_600_000),
    isCA: true,
  });
  const certificate = createCertificate({
    commonName: 'config-server',
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 3_600_000),
    isCA: false,
    hosts: ['127.0.0.1', 'localhost'],
    issuer: ca,
  });
  const reports: SidecarHealthReport[] = [];
  let waiters: { match: (r: SidecarHealthReport) => boolean; resolve: () => void }[] = [];
  const server: ConfigServer = await startConfigServer({
    host: '127.0.0.1',
    port: 0,
    certificate,
    caches: ownPorts(running.operator.caches, join(work, 'queue')),
    authenticator: new SidecarAuthenticator({ client: adminClient, clock: systemClock }),
    ready: () => running.operator.readiness(),
    reports: {
      onReport: (pod, report) => {
        const reply = health.sink.onReport(pod, report);
        reports.push(report);
        const due = waiters.filter((w) => w.match(report));
        waiters = waiters.filter((w) => !due.includes(w));
        for (const w of due) w.resolve();
        return reply;
      },
      writes: () => running.operator.isLeader,
    },
    log,
    registry: new Registry(),
  });
  let sidecar: SidecarProcess | undefined;

  return {
    kube,
    adminConfig,
    ns,
    running,
    health,
    reports,
    nextReport: (match) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(
              new Error(`no matching report in 50 s; last: ${JSON.stringify(reports.at(-1))}`),
            ),
          50_000,
        );
        waiters.push({
          match,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        });
      }),
    startSidecar: async () => {
      // The sidecar's identity: a pod (never scheduled: no node runs it) and a token bound to it.
      await admin(adminConfig, 'POST', `/api/v1/namespaces/${ns}/serviceaccounts`, {
        metadata: { name: 'app' },
      });
      const pod = await admin<{ metadata: { uid: string } }>(
        adminConfig,
        'POST',
        `/api/v1/namespaces/${ns}/pods`,
        {
          metadata: { name: 'app-0', labels: { app: 'shop' } },
          spec: { serviceAccountName: 'app', containers: [{ name: 'app', image: 'app:1' }] },
        },
      );
      const token = await admin<{ status: { token: string } }>(
        adminConfig,
        'POST',
        `/api/v1/namespaces/${ns}/serviceaccounts/app/token`,
        {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenRequest',
          spec: {
            audiences: [SIDECAR_AUDIENCE],
            expirationSeconds: 3600,
            boundObjectRef: {
              kind: 'Pod',
              apiVersion: 'v1',
              name: 'app-0',
              uid: pod.metadata.uid,
            },
          },
        },
      );
      writeFileSync(join(work, 'token'), token.status.token, { mode: 0o600 });
      // The fallback file: used only if the stream gives nothing.
      writeFileSync(
        join(work, 'sidecar.yaml'),
        'listen: { egress: "127.0.0.1:0", ingress: "127.0.0.1:0" }\n',
      );
      sidecar = await startSidecarProcess(join(work, 'sidecar.yaml'), {
        HOOKGATE_CONFIG_SERVER: `https://127.0.0.1:${server.port}`,
        HOOKGATE_CONFIG_SERVER_CA: ca.certPem,
        HOOKGATE_TOKEN_FILE: join(work, 'token'),
        HOOKGATE_CONFIG_SNAPSHOT: join(work, 'snapshot.json'),
        HOOKGATE_HEALTH_REPORT_INTERVAL: '200ms',
      });
      return sidecar;
    },
    stop: async () => {
      await sidecar?.kill();
      await server.close();
      await health.stop();
      await running.stop();
      await client.close();
      await adminClient.close();
      await kube.core.deleteNamespace({ name: ns });
      await identity.remove();
      rmSync(work, { recursive: true, force: true });
    },
  };
}

#!/usr/bin/env node
// hookgate-operator: the control plane. Watches WebhookEndpoints, WebhookPolicies and Secrets,
// publishes one sidecar ConfigMap and Secret per namespace, reports status, and serves /healthz,
// /readyz (API server reachable, caches listed and watched) and /metrics.
import { existsSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { startAdminServer } from '../common/admin.ts';
import { interceptionInitContainer } from '../sidecar/interception/init-container.ts';
import { onShutdown, startProgram } from '../common/cli.ts';
import { createRegistry } from '../common/metrics.ts';
import { USAGE, parseFlags, type OperatorFlags } from './cli.ts';
import { Operator } from './controller.ts';
import { KubeClient } from './kube/client.ts';
import { loadClusterAccess } from './kube/config.ts';
import { ENV_ADMIN_TOKEN, ENV_REDIS_SENTINEL_PASSWORD, ENV_REDIS_URL } from '../common/env.ts';
import { adminTokens, ensureAdminKey } from './console/admin-token.ts';
import { startConsoleFor } from './console/index.ts';
import { CONFIG_MAP_NAME, DEFAULT_LEASE_NAMESPACE, GENERATION_ANNOTATION } from './names.ts';
import { systemClock } from './clock.ts';
import { EventRecorder } from './events.ts';
import { startDeliveryHealth } from './health/index.ts';
import { VERSION } from '../common/version.ts';
import { serviceHosts, startInjector, type Injector } from './webhook/injector.ts';
import type { ServingCertificate } from './certs/manager.ts';
import { SidecarAuthenticator } from './config-server/auth.ts';
import { noopReportSink, type ReportSink } from './config-server/reports.ts';
import { startConfigServer, type ConfigServer } from './config-server/server.ts';
import { CONFIG_SERVICE_NAME, configServerUrl } from './config-server/service.ts';

const IN_CLUSTER_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';
/** How long the admin server waits for the caches before it starts anyway. */
const START_GRACE_MS = 3_000;
/** How long the webhook keeps serving after SIGTERM, while the Service stops routing to it. */
const WEBHOOK_DRAIN_MS = 5_000;

const argv = process.argv.slice(2);
const meta = argv.filter((a) => a === '--help' || a === '--version');
let flags: OperatorFlags | undefined;
if (meta.length === 0) {
  try {
    flags = parseFlags(argv);
  } catch (err) {
    process.stderr.write(`hookgate-operator: ${(err as Error).message}\n`);
    process.exitCode = 2;
  }
}
const start =
  meta.length > 0 || flags !== undefined
    ? startProgram('operator', USAGE, '0.0.0.0:8080', meta)
    : undefined;

if (start !== undefined && flags !== undefined) {
  const { log, admin } = start;
  const client = new KubeClient(await loadClusterAccess(flags.kubeconfig));
  const registry = createRegistry('operator');
  const identity = `${hostname()}_${randomBytes(4).toString('hex')}`;
  const leaseNamespace =
    flags.leaseNamespace ??
    (existsSync(IN_CLUSTER_NAMESPACE)
      ? readFileSync(IN_CLUSTER_NAMESPACE, 'utf8').trim()
      : DEFAULT_LEASE_NAMESPACE);
  // The chart gives the operator HOOKGATE_REDIS_URL from a Secret; --sidecar-redis-url overrides.
  const sidecarRedisUrl = flags.webhook.redisUrl ?? process.env[ENV_REDIS_URL];
  const operatorNamespace =
    process.env['POD_NAMESPACE'] ??
    (existsSync(IN_CLUSTER_NAMESPACE)
      ? readFileSync(IN_CLUSTER_NAMESPACE, 'utf8').trim()
      : DEFAULT_LEASE_NAMESPACE);
  // The console's key to the sidecars (ADR 0023): HOOKGATE_ADMIN_TOKEN, when set, is the one token
  // of sidecars configured by hand; else each namespace gets its own, derived from a key kept in
  // the operator's namespace, published in its sidecar Secret and referenced by the injector.
  const fixedAdminToken = process.env[ENV_ADMIN_TOKEN];
  const sidecarAdminTokens =
    flags.console === undefined || (fixedAdminToken !== undefined && fixedAdminToken !== '')
      ? undefined
      : adminTokens(await ensureAdminKey(client, operatorNamespace));
  const operator = new Operator({
    sidecarRedisUrl,
    sidecarAdminTokens,
    secretAccess:
      flags.secretRole === undefined
        ? undefined
        : {
            role: flags.secretRole,
            serviceAccount: { namespace: operatorNamespace, name: flags.serviceAccount },
          },
    client,
    log,
    registry,
    identity,
    namespaces: flags.namespaces,
    workers: flags.workers,
    watchTimeoutSeconds: flags.watchTimeoutSeconds,
    resyncMs: flags.resyncMs,
    leaderElection: flags.leaderElect
      ? {
          namespace: leaseNamespace,
          name: flags.leaseName,
          identity,
          leaseDurationMs: flags.leaseDurationMs,
          renewDeadlineMs: flags.renewDeadlineMs,
          retryPeriodMs: flags.retryPeriodMs,
        }
      : undefined,
  });
  const started = operator.start().catch((err: unknown) => {
    log.error('operator failed to start', { error: (err as Error).message });
    process.exitCode = 1;
  });
  // The admission webhook (sidecar injection): every replica serves it, leader or not.
  const webhook = flags.webhook;
  let injector: Injector | undefined;
  // The config stream (ADR 0020) serves the webhook's certificate; pods are told its CA bundle.
  const streamTls: { latest?: ServingCertificate; server?: ConfigServer } = {};
  const configStream =
    flags.configServer !== undefined && webhook.listen !== undefined
      ? { url: configServerUrl(operatorNamespace), caBundle: () => streamTls.latest?.caPem }
      : undefined;
  if (flags.configServer !== undefined && webhook.listen === undefined) {
    log.warn('config stream off: it serves the webhook certificate, and --webhook-addr is ""');
  }
  const injectorStarted =
    webhook.listen === undefined
      ? undefined
      : startInjector({
          client,
          log,
          registry,
          host: webhook.listen.host,
          port: webhook.listen.port,
          injector: {
            defaults: webhook.sidecar,
            version: VERSION,
            environment: {
              redis: sidecarRedisUrl !== undefined && sidecarRedisUrl !== '',
              adminToken: sidecarAdminTokens !== undefined,
            },
            configStream,
            interception: interceptionInitContainer,
          },
          configGeneration: (namespace) => {
            const value = operator.caches.configMaps.get(namespace, CONFIG_MAP_NAME)?.metadata
              .annotations?.[GENERATION_ANNOTATION];
            return value === undefined ? undefined : Number(value);
          },
          events: new EventRecorder(client, identity, systemClock, log),
          onCertificate: (certificate) => {
            streamTls.latest = certificate;
            streamTls.server?.setCertificate(certificate);
          },
          certs: {
            mode: webhook.certMode,
            namespace: operatorNamespace,
            secretName: webhook.secret,
            webhookConfigName: webhook.config,
            policy: {
              caValidityMs: webhook.caValidityMs,
              certValidityMs: webhook.certValidityMs,
              hosts: [
                ...serviceHosts(webhook.service, operatorNamespace),
                ...(configStream === undefined
                  ? []
                  : serviceHosts(CONFIG_SERVICE_NAME, operatorNamespace)),
                ...webhook.extraHosts,
              ],
              caPropagationMs: 60_000,
            },
          },
        }).then(
          (started) => {
            injector = started;
          },
          (err: unknown) => {
            log.error('admission webhook failed to start', { error: (err as Error).message });
            process.exitCode = 1;
          },
        );

  // Every replica serves the stream from its own caches, leader or not (ADR 0020).
  const listen = flags.configServer;
  // Health reports from sidecars: every replica aggregates them, the leader writes status (ADR 0024).
  const health =
    configStream === undefined || listen === undefined
      ? undefined
      : startDeliveryHealth({
          client,
          endpoints: operator.caches.endpoints,
          policies: operator.caches.policies,
          events: new EventRecorder(client, identity, systemClock, log),
          isLeader: () => operator.isLeader,
          log,
        });
  const reports: ReportSink = health?.sink ?? noopReportSink;
  const configServerStarted =
    configStream === undefined || listen === undefined || injectorStarted === undefined
      ? undefined
      : injectorStarted.then(async () => {
          if (streamTls.latest === undefined) return; // the webhook failed: logged above
          streamTls.server = await startConfigServer({
            host: listen.host,
            port: listen.port,
            certificate: streamTls.latest,
            caches: operator.caches,
            authenticator: new SidecarAuthenticator({ client, clock: systemClock }),
            ready: () => operator.readiness(),
            reports,
            log: log.child({ component: 'config-server' }),
            registry,
          });
          // A certificate that arrived while the server was starting.
          streamTls.server.setCertificate(streamTls.latest);
        });
  void configServerStarted?.catch((err: unknown) => {
    log.error('config server failed to start', { error: (err as Error).message });
    process.exitCode = 1;
  });

  // A first probe should find the caches listed; an unreachable API server must not keep the
  // admin server (and its explanation of what is wrong) from starting.
  await Promise.race([started, sleep(START_GRACE_MS)]);

  const apiServerReachable = async (): Promise<string | undefined> => {
    try {
      await client.request('GET', '/version', { signal: AbortSignal.timeout(5_000) });
      return undefined;
    } catch (err) {
      return `API server ${client.server} unreachable: ${(err as Error).message}`;
    }
  };
  const adminServer = await startAdminServer(admin.host, admin.port, {
    registry,
    readiness: [
      { name: 'kubernetes', check: apiServerReachable },
      { name: 'caches', check: () => Promise.resolve(operator.readiness()) },
      ...(injectorStarted === undefined
        ? []
        : [
            {
              name: 'webhook',
              check: (): Promise<string | undefined> =>
                Promise.resolve(
                  injector === undefined ? 'admission webhook starting' : injector.readiness(),
                ),
            },
          ]),
      ...(configServerStarted === undefined
        ? []
        : [
            {
              name: 'config-stream',
              check: (): Promise<string | undefined> =>
                Promise.resolve(
                  streamTls.server === undefined ? 'config stream starting' : undefined,
                ),
            },
          ]),
    ],
  });
  log.info('admin server listening', {
    host: admin.host,
    port: adminServer.port,
    apiServer: client.server,
    identity,
    namespaces: flags.namespaces?.join(',') ?? '(all)',
    secrets:
      flags.namespaces !== undefined
        ? 'watched namespaces'
        : flags.secretRole === undefined
          ? 'cluster-wide'
          : `opted-in namespaces (${flags.secretRole})`,
    leaderElection: flags.leaderElect ? `${leaseNamespace}/${flags.leaseName}` : 'off',
  });
  // The web console (ADR 0023): off unless --console-addr names where it listens.
  const consoleServer =
    flags.console === undefined
      ? undefined
      : await startConsoleFor({
          client,
          log,
          host: flags.console.host,
          port: flags.console.port,
          adminToken: sidecarAdminTokens ?? fixedAdminToken,
          // The sidecars keep their history in the Redis they are given: read it there directly.
          historyRedisUrl: sidecarRedisUrl,
          sentinelPassword: process.env[ENV_REDIS_SENTINEL_PASSWORD],
        });
  const reason = await apiServerReachable();
  if (reason === undefined) log.info('connected to the API server', { apiServer: client.server });
  else log.warn('API server not reachable yet', { reason });
  onShutdown(log, async () => {
    // Keep answering reviews while the endpoints controller takes this pod out of the Service:
    // with failurePolicy Fail, a refused connection would fail a pod creation.
    const webhookStopped = (async (): Promise<void> => {
      if (injector === undefined) return;
      await sleep(WEBHOOK_DRAIN_MS);
      await injector.close();
    })();
    await consoleServer?.close();
    // Sidecars keep their config and reconnect to another replica (full jitter).
    await streamTls.server?.close();
    await health?.stop();
    await operator.stop(true);
    await webhookStopped;
    await adminServer.close();
    await client.close();
  });
}

// Delivery health end to end, against the real API server: the operator (in process, under its
// shipped RBAC) publishes an endpoint, the config server streams it to a real sidecar process
// authenticated with a TokenRequest token bound to a pod, the sidecar delivers to a real receiver
// and reports on the channel, and the health writer turns the reports into the endpoint's
// Healthy condition and status.deliveries. Asserted on the order of events: the first report
// after the receiver went down, then the condition; never on a timer.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { SIDECAR_AUDIENCE } from '../../common/config-stream.ts';
import type { SidecarHealthReport } from '../../common/health.ts';
import { createLogger } from '../../common/log.ts';
import { createCertificate } from '../../operator/certs/x509.ts';
import { SidecarAuthenticator } from '../../operator/config-server/auth.ts';
import { startConfigServer, type ConfigServer } from '../../operator/config-server/server.ts';
import type { Caches } from '../../operator/cache.ts';
import { systemClock } from '../../operator/clock.ts';
import { EventRecorder } from '../../operator/events.ts';
import { startDeliveryHealth, type DeliveryHealth } from '../../operator/health/index.ts';
import { KubeClient } from '../../operator/kube/client.ts';
import { loadClusterAccess } from '../../operator/kube/config.ts';
import type { KubeObject } from '../../operator/kube/types.ts';
import { CONFIG_KEY } from '../../operator/names.ts';
import { startSidecarProcess, type SidecarProcess } from '../queue/process.ts';
import {
  admin,
  apply,
  condition,
  createOperatorIdentity,
  endpointManifest,
  eventsFor,
  hookgatePath,
  policyManifest,
  read,
  startOperator,
  type OperatorIdentity,
  type RunningOperator,
} from '../operator/support.ts';
import { createTestNamespace, kubeClients, type KubeClients } from '../support/kube.ts';

const poll = { timeout: 30_000, interval: 100 };
const log = createLogger({}, 'warn', () => undefined);
/** In the endpoint's URL: it must never reach status or Events. */
const URL_SECRET = 's3cret-capability';

/** A clock the test moves: the aggregator's window and the writer's limits run on it. */
const clock = {
  at: Date.now(),
  now(): Date {
    return new Date(this.at);
  },
};

/** A receiver that can go down (its port closed) and come back on the same port. */
async function switchableReceiver(): Promise<{
  url: string;
  down(): Promise<void>;
  up(): Promise<void>;
}> {
  let server: Server | undefined;
  let port = 0;
  const up = async (): Promise<void> => {
    server = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.end('{"ok":true}'));
    });
    await new Promise<void>((resolve) => server!.listen(port, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  };
  await up();
  return {
    url: `http://127.0.0.1:${port}`,
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

describe('delivery health in WebhookEndpoint status', () => {
  let kube: KubeClients;
  let adminConfig: KubeConfig;
  let identity: OperatorIdentity;
  let ns: string;
  let running: RunningOperator;
  let client: KubeClient;
  let adminClient: KubeClient;
  let health: DeliveryHealth;
  let server: ConfigServer;
  let sidecar: SidecarProcess;
  let receiver: Awaited<ReturnType<typeof switchableReceiver>>;
  let work: string;
  /** Reports in order of arrival, and who waits for the next matching one. */
  const reports: SidecarHealthReport[] = [];
  let waiters: { match: (r: SidecarHealthReport) => boolean; resolve: () => void }[] = [];

  /**
   * Resolves at the first report received from now on that satisfies `match`; fails after 50 s
   * naming the last report seen (a bound for a broken run, not a timing assertion).
   */
  const nextReport = (match: (r: SidecarHealthReport) => boolean): Promise<void> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(new Error(`no matching report in 50 s; last: ${JSON.stringify(reports.at(-1))}`)),
        50_000,
      );
      waiters.push({
        match,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      });
    });
  const orders = (r: SidecarHealthReport) =>
    r.endpoints.find((e) => e.endpoint.endsWith('/orders'));
  const endpoint = (): Promise<KubeObject | undefined> =>
    read(adminConfig, hookgatePath(ns, 'webhookendpoints', 'orders'));
  const send = async (name = 'orders'): Promise<number> =>
    (await fetch(`${sidecar.egress}/${name}`, { method: 'POST', body: '{"id":1}' })).status;
  const reasons = async (name: string): Promise<string[]> =>
    (await eventsFor(adminConfig, ns, name)).map((e) => e.reason);

  beforeAll(async () => {
    kube = kubeClients();
    adminConfig = kube.kubeConfig;
    work = mkdtempSync(join(tmpdir(), 'hookgate-health-'));
    identity = await createOperatorIdentity(adminConfig, join(inject('pkiDir'), 'ca.crt'));
    ns = await createTestNamespace(kube.core, 'health');
    running = await startOperator(identity, [ns]);
    client = new KubeClient(await loadClusterAccess(identity.kubeconfigPath));
    // TokenReview and pod reads: the config server's RBAC is not this test's subject.
    adminClient = new KubeClient(await loadClusterAccess(inject('kubeconfig')));
    health = startDeliveryHealth({
      client,
      endpoints: running.operator.caches.endpoints,
      events: new EventRecorder(client, 'health-test', systemClock, log),
      isLeader: () => running.operator.isLeader,
      log,
      clock,
      // The test ticks the writer itself, after the report it waits for.
      settings: { tickMs: 3_600_000 },
    });
    const ca = createCertificate({
      commonName: 'health-test-ca',
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
    server = await startConfigServer({
      host: '127.0.0.1',
      port: 0,
      certificate,
      caches: ownPorts(running.operator.caches, join(work, 'queue')),
      authenticator: new SidecarAuthenticator({ client: adminClient, clock: systemClock }),
      ready: () => running.operator.readiness(),
      reports: {
        onReport: (pod, report) => {
          health.sink.onReport(pod, report);
          reports.push(report);
          const due = waiters.filter((w) => w.match(report));
          waiters = waiters.filter((w) => !due.includes(w));
          for (const w of due) w.resolve();
        },
        writes: () => running.operator.isLeader,
      },
      log,
      registry: new Registry(),
    });

    receiver = await switchableReceiver();
    await apply(
      adminConfig,
      policyManifest(ns, 'loopback', {
        endpointSelector: { matchLabels: { breaker: 'none' } },
        retry: { maxAttempts: 1 },
        destinations: { allowedCIDRs: ['127.0.0.0/8'] },
      }),
    );
    await apply(
      adminConfig,
      endpointManifest(
        ns,
        'orders',
        { direction: 'Egress', url: `${receiver.url}/hooks?token=${URL_SECRET}` },
        { breaker: 'none' },
      ),
    );
    await vi.waitUntil(async () => condition(await endpoint(), 'Ready')?.status === 'True', poll);

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
          boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'app-0', uid: pod.metadata.uid },
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
  });

  afterAll(async () => {
    await sidecar?.kill();
    await server?.close();
    await health?.stop();
    await running?.stop();
    await client?.close();
    await adminClient?.close();
    await receiver?.down().catch(() => undefined);
    await kube.core.deleteNamespace({ name: ns });
    await identity.remove();
    rmSync(work, { recursive: true, force: true });
  });

  it('turns Healthy False within one report of the receiver going down, and True once it recovers', async () => {
    // Healthy while the receiver answers.
    expect(await send()).toBe(200);
    await nextReport((r) => (orders(r)?.delivered ?? 0) >= 1);
    expect(await health.writer.tick()).toBe(1);
    let object = await endpoint();
    expect(condition(object, 'Healthy')).toMatchObject({ status: 'True', reason: 'Delivering' });
    // The reconciler's Ready stays: each writer owns its own entries.
    expect(condition(object, 'Ready')?.status).toBe('True');
    expect(object?.['status']).toMatchObject({
      deliveries: { pods: 1, delivered: 1, failed: 0, successRate: '100%', circuit: 'closed' },
    });

    // The receiver goes down: the next delivery fails, and the first report after it says so.
    await receiver.down();
    expect(await send()).toBeGreaterThanOrEqual(500);
    await nextReport((r) => (orders(r)?.failed ?? 0) >= 1);
    expect(await health.writer.tick()).toBe(1);
    object = await endpoint();
    expect(condition(object, 'Healthy')).toMatchObject({
      status: 'False',
      reason: 'FailingDeliveries',
    });
    expect(object?.['status']).toMatchObject({
      deliveries: {
        delivered: 1,
        failed: 1,
        successRate: '50%',
        lastFailure: { reason: 'connect-error' },
      },
    });
    await expect.poll(() => reasons('orders'), poll).toContain('FailingDeliveries');

    // It comes back; once the failure has left the window, the next report turns it True again.
    await receiver.up();
    clock.at += 61_000;
    expect(await send()).toBe(200);
    await nextReport((r) => (orders(r)?.delivered ?? 0) >= 2);
    expect(await health.writer.tick()).toBe(1);
    object = await endpoint();
    expect(condition(object, 'Healthy')).toMatchObject({ status: 'True', reason: 'Delivering' });
    expect(object?.['status']).toMatchObject({
      deliveries: { delivered: 1, failed: 0, lastFailure: { reason: 'connect-error' } },
    });
    // Events on each flip: the first Delivering, FailingDeliveries, Delivering again.
    await expect
      .poll(
        async () =>
          (await eventsFor(adminConfig, ns, 'orders')).filter((e) => e.reason === 'Delivering')
            .length,
        poll,
      )
      .toBe(2);

    // Nothing of the endpoint's URL (a capability) in status or Events.
    const events = await eventsFor(adminConfig, ns, 'orders');
    expect(JSON.stringify(object?.['status'])).not.toContain(URL_SECRET);
    expect(JSON.stringify(events)).not.toContain(URL_SECRET);
    expect(JSON.stringify(reports)).not.toContain(URL_SECRET);
  });

  it('writes nothing when nothing changed, and at most once per interval while counts move', async () => {
    // Nothing new since the last write: no write.
    await nextReport(() => true);
    expect(await health.writer.tick()).toBe(0);
    // A success changes the counts but not the condition: held back by the per-endpoint limit…
    expect(await send()).toBe(200);
    await nextReport((r) => (orders(r)?.delivered ?? 0) >= 3);
    expect(await health.writer.tick()).toBe(0);
    // …and written once the interval has passed.
    clock.at += 10_000;
    await nextReport(() => true);
    expect(await health.writer.tick()).toBe(1);
    expect((await endpoint())?.['status']).toMatchObject({ deliveries: { delivered: 2 } });
  });

  it('reports an open circuit as CircuitOpen, with Events when it opens and closes', async () => {
    const backend = await switchableReceiver();
    await apply(
      adminConfig,
      policyManifest(ns, 'breaker', {
        endpointSelector: { matchLabels: { breaker: 'one-failure' } },
        retry: { maxAttempts: 1 },
        destinations: { allowedCIDRs: ['127.0.0.0/8'] },
        circuitBreaker: { consecutiveFailures: 1, openDuration: '1s' },
      }),
    );
    await apply(
      adminConfig,
      endpointManifest(
        ns,
        'invoices',
        { direction: 'Egress', url: `${backend.url}/hooks` },
        { breaker: 'one-failure' },
      ),
    );
    const invoices = (r: SidecarHealthReport) =>
      r.endpoints.find((e) => e.endpoint.endsWith('/invoices'));
    // Published, then in force in the sidecar once a report names it.
    await vi.waitUntil(
      async () =>
        condition(
          await read(adminConfig, hookgatePath(ns, 'webhookendpoints', 'invoices')),
          'Ready',
        )?.status === 'True',
      poll,
    );
    await nextReport((r) => invoices(r) !== undefined);
    await backend.down();
    expect(await send('invoices')).toBeGreaterThanOrEqual(500);
    await nextReport((r) => invoices(r)?.circuit === 'open');
    await health.writer.tick();
    let object = await read(adminConfig, hookgatePath(ns, 'webhookendpoints', 'invoices'));
    expect(condition(object, 'Healthy')).toMatchObject({ status: 'False', reason: 'CircuitOpen' });
    expect(object?.['status']).toMatchObject({ deliveries: { circuit: 'open' } });
    await expect.poll(() => reasons('invoices'), poll).toContain('CircuitOpened');

    // Back up: once the open period is over a probe gets through and the breaker closes.
    await backend.up();
    await vi.waitUntil(async () => (await send('invoices')) === 200, poll);
    await nextReport((r) => invoices(r)?.circuit === 'closed');
    await health.writer.tick();
    object = await read(adminConfig, hookgatePath(ns, 'webhookendpoints', 'invoices'));
    expect(object?.['status']).toMatchObject({ deliveries: { circuit: 'closed' } });
    // The failures are still in the window: failing, but no longer for the circuit.
    expect(condition(object, 'Healthy')?.reason).toBe('FailingDeliveries');
    await expect.poll(() => reasons('invoices'), poll).toContain('CircuitClosed');
    await backend.down();
  }, 180_000);
});

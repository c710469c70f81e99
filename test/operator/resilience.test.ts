// What the API server and the network do to watches, done for real: a connection that goes
// silent without closing (the watchdog must notice and list again), and kube-apiserver restarted
// under the operator (it must recover without losing an update).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { KubeObject } from '../../operator/kube/types.ts';
import { adminGet, startControlPlane, type ControlPlane } from '../cluster/controlplane.ts';
import { installCrds } from '../cluster/crds.ts';
import { startProcess, type ManagedProcess } from '../cluster/process.ts';
import { createTestNamespace, kubeClients } from '../support/kube.ts';
import {
  admin,
  apply,
  condition,
  createOperatorIdentity,
  endpointManifest,
  hookgatePath,
  read,
  startOperator,
  type OperatorIdentity,
  type RunningOperator,
} from './support.ts';

/** A TCP proxy whose open connections can be made to go silent without closing. */
class FreezingProxy {
  readonly server: Server;
  #connections = new Set<{ client: Socket; upstream: Socket; frozen: boolean }>();

  private constructor(server: Server) {
    this.server = server;
  }

  static async start(target: URL): Promise<FreezingProxy> {
    const server = createServer();
    const proxy = new FreezingProxy(server);
    server.on('connection', (client) => {
      const upstream = createConnection(Number(target.port), target.hostname);
      const c = { client, upstream, frozen: false };
      proxy.#connections.add(c);
      const close = (): void => {
        client.destroy();
        upstream.destroy();
        proxy.#connections.delete(c);
      };
      // A frozen connection is a black hole: what the server sends, even its closing, never
      // arrives. A new request on it fails at once (a real one would wait for its timeout).
      client.on('data', (d: Buffer) => (c.frozen ? close() : upstream.write(d)));
      upstream.on('data', (d: Buffer) => {
        if (!c.frozen) client.write(d);
      });
      client.on('close', close).on('error', close);
      const upstreamGone = (): void => {
        if (!c.frozen) close();
      };
      upstream.on('close', upstreamGone).on('error', upstreamGone);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return proxy;
  }

  get url(): string {
    return `https://127.0.0.1:${(this.server.address() as { port: number }).port}`;
  }

  /** Silences every open connection; new connections work. */
  freeze(): number {
    for (const c of this.#connections) c.frozen = true;
    return this.#connections.size;
  }

  close(): void {
    for (const c of this.#connections) {
      c.client.destroy();
      c.upstream.destroy();
    }
    this.server.close();
  }
}

const observedGeneration = (o: KubeObject | undefined): number | undefined =>
  (o?.['status'] as { observedGeneration?: number } | undefined)?.observedGeneration;

describe('a watch that goes silent without closing', () => {
  it('is caught by the watchdog; the cache is listed again and the update lands', async () => {
    const kube = kubeClients();
    const adminConfig = kube.kubeConfig;
    const identity = await createOperatorIdentity(adminConfig, join(inject('pkiDir'), 'ca.crt'));
    const ns = await createTestNamespace(kube.core, 'op-stall');
    const proxy = await FreezingProxy.start(new URL(adminConfig.getCurrentCluster()!.server));
    // Server-side watch timeout 2 s plus 3 s grace: a watch silent for 5 s is stalled.
    const running = await startOperator(identity, [ns], {
      server: proxy.url,
      watchTimeoutSeconds: 2,
      watchdogGraceMs: 3_000,
    });
    try {
      const path = hookgatePath(ns, 'webhookendpoints', 'e');
      await apply(
        adminConfig,
        endpointManifest(ns, 'e', { direction: 'Egress', url: 'https://a.example/' }),
      );
      await expect
        .poll(async () => condition(await read(adminConfig, path), 'Ready')?.status, {
          timeout: 20_000,
        })
        .toBe('True');

      expect(proxy.freeze()).toBeGreaterThan(0);
      await apply(
        adminConfig,
        endpointManifest(ns, 'e', { direction: 'Egress', url: 'https://b.example/' }),
      );
      // The frozen watches deliver nothing; the update still lands once they are abandoned.
      await expect
        .poll(async () => observedGeneration(await read(adminConfig, path)), { timeout: 20_000 })
        .toBe(2);
      // The frozen watches were abandoned and restarted: by the watchdog (`stalled`) when they sat
      // silent, or through the error path when the client reused a frozen keep-alive connection
      // and the proxy cut it — which of the two happens first is timing. The watchdog's own
      // deadline is proven with fake timers in operator/kube/informer.test.ts.
      await expect
        .poll(
          () => running.registry.getSingleMetricAsString('hookgate_operator_watch_restarts_total'),
          { timeout: 15_000 },
        )
        .toMatch(/reason="(stalled|error)"} [1-9]/);
    } finally {
      await running.stop();
      proxy.close();
      await kube.core.deleteNamespace({ name: ns });
      await identity.remove();
    }
  }, 60_000);
});

describe('kube-apiserver restarted under the operator', () => {
  let dir: string;
  let controlPlane: ControlPlane;
  let restarted: ManagedProcess | undefined;
  let adminConfig: KubeConfig;
  let identity: OperatorIdentity;
  let running: RunningOperator | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hookgate-restart-'));
    controlPlane = await startControlPlane({ dir });
    await installCrds(controlPlane.kubeconfigPath);
    adminConfig = new KubeConfig();
    adminConfig.loadFromFile(controlPlane.kubeconfigPath);
    identity = await createOperatorIdentity(adminConfig, join(controlPlane.pkiDir, 'ca.crt'));
  }, 120_000);
  afterAll(async () => {
    await running?.stop();
    await restarted?.stop();
    await controlPlane?.stop();
    rmSync(dir, { recursive: true, force: true });
    if (identity !== undefined)
      rmSync(dirname(identity.kubeconfigPath), { recursive: true, force: true });
  }, 120_000);

  /** Stops kube-apiserver and starts it again with the same flags, port and etcd. */
  async function restartApiServer(whileDown: () => Promise<void>): Promise<void> {
    const current = restarted ?? controlPlane.processes.find((p) => p.name === 'kube-apiserver')!;
    const argv = readFileSync(`/proc/${current.pid}/cmdline`, 'utf8')
      .split('\0')
      .filter((a) => a !== '');
    await current.stop();
    await whileDown();
    restarted = startProcess('kube-apiserver', argv[0]!, argv.slice(1), current.logPath);
    await expect
      .poll(
        async () =>
          (
            await adminGet(controlPlane.server, '/readyz', controlPlane.admin).catch(() => ({
              status: 0,
            }))
          ).status,
        {
          timeout: 60_000,
          interval: 250,
        },
      )
      .toBe(200);
  }

  it('recovers without losing an update made as the API server comes back', async () => {
    await admin(adminConfig, 'POST', '/api/v1/namespaces', { metadata: { name: 'shop' } });
    running = await startOperator(identity, ['shop'], {
      maxWatchDownMs: 1_000,
      // A short backoff cap, so the test does not wait out the production maximum of 30 s.
      watchBackoff: { initialMs: 200, maxMs: 2_000 },
    });
    const path = hookgatePath('shop', 'webhookendpoints', 'orders');
    await apply(
      adminConfig,
      endpointManifest('shop', 'orders', { direction: 'Egress', url: 'https://a.example/' }),
    );
    await expect
      .poll(async () => condition(await read(adminConfig, path), 'Ready')?.status, {
        timeout: 20_000,
      })
      .toBe('True');
    expect(running.operator.readiness()).toBeUndefined();

    await restartApiServer(async () => {
      // While it is down the operator says so on /readyz.
      await expect
        .poll(() => running!.operator.readiness(), { timeout: 20_000 })
        .toMatch(/no watch for/);
    });
    // Changes made the moment it is back, before the operator's watches have reconnected.
    await apply(
      adminConfig,
      endpointManifest('shop', 'orders', { direction: 'Egress', url: 'https://b.example/' }),
    );
    await apply(
      adminConfig,
      endpointManifest('shop', 'added', { direction: 'Egress', url: 'https://c.example/' }),
    );

    await expect
      .poll(async () => observedGeneration(await read(adminConfig, path)), { timeout: 40_000 })
      .toBe(2);
    await expect
      .poll(
        async () =>
          condition(
            await read(adminConfig, hookgatePath('shop', 'webhookendpoints', 'added')),
            'Ready',
          )?.status,
        {
          timeout: 40_000,
        },
      )
      .toBe('True');
    await expect.poll(() => running!.operator.readiness(), { timeout: 20_000 }).toBeUndefined();
    const restarts = await running.registry.getSingleMetricAsString(
      'hookgate_operator_watch_restarts_total',
    );
    expect(restarts).toMatch(/reason="error"} [1-9]/);
  }, 150_000);
});

// Issue 15, item 2: two workloads in one namespace, one Redis, buffered ingress. Each sidecar gets
// the queue name the injector gives its pod (HOOKGATE_QUEUE_NAME). Workload A's sidecar is killed
// while its app is down and its webhooks are buffered; while it is gone, B's sidecar must not
// claim them (it would POST them to its own app); once A's sidecar is back, each app has received
// exactly its own webhooks, each once.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decide } from '../../operator/inject/inject.ts';
import { freePort } from '../cluster/process.ts';
import { startRedis, type RedisServer } from '../cluster/redis.ts';
import { send, startApp, type TestApp } from '../ingress/support.ts';
import { startSidecarProcess, type SidecarProcess } from '../queue/process.ts';

const WHSEC = `whsec_${Buffer.alloc(32, 0x15).toString('base64')}`;

/** The env the real injector gives a Deployment's pod (through its ReplicaSet). */
function injectedEnv(deployment: string): Record<string, string> {
  const hash = '5d8f7c9b4';
  const pod: V1Pod = {
    metadata: {
      generateName: `${deployment}-${hash}-`,
      labels: { 'pod-template-hash': hash },
      annotations: { 'hookgate.io/inject': 'true' },
      ownerReferences: [
        {
          apiVersion: 'apps/v1',
          kind: 'ReplicaSet',
          name: `${deployment}-${hash}`,
          uid: randomBytes(8).toString('hex'),
          controller: true,
        },
      ],
    },
    spec: { containers: [{ name: 'app', image: 'app:1' }] },
  };
  const decision = decide(pod, 1, {
    defaults: {
      image: 'ghcr.io/hookgate/sidecar:test',
      cpuRequest: '50m',
      memoryRequest: '64Mi',
      cpuLimit: '1',
      memoryLimit: '256Mi',
      logLevel: 'info',
      drainTimeout: '1s',
    },
    version: 'test',
  });
  if (decision.action !== 'inject') throw new Error(`not injected: ${decision.action}`);
  const front = decision.patch.find((op) => op.path === '/spec/initContainers')!.value as {
    env: { name: string; value?: string }[];
  }[];
  return Object.fromEntries(
    front[0]!.env.filter((e) => e.value !== undefined).map((e) => [e.name, e.value!]),
  );
}

/** A sidecar of one workload: its own app port, the namespace's shared config. */
interface Workload {
  readonly name: string;
  readonly appPort: number;
  readonly env: NodeJS.ProcessEnv;
  sidecar?: SidecarProcess;
  app?: TestApp;
  ingress(): { origin: string };
}

function ingressOf(sidecar: SidecarProcess): { origin: string } {
  const line = sidecar.logs.find((l) => l['msg'] === 'ingress listening');
  return { origin: `http://127.0.0.1:${line!['port'] as number}` };
}

function signed(body: string): Record<string, string> {
  const id = `msg_${randomBytes(8).toString('hex')}`;
  const ts = Math.floor(Date.now() / 1000);
  return {
    'content-type': 'application/json',
    'webhook-id': id,
    'webhook-timestamp': String(ts),
    'webhook-signature': new Webhook(WHSEC).sign(id, new Date(ts * 1000), body),
  };
}

describe('each workload keeps its own buffered webhooks (issue 15, item 2)', () => {
  let dir: string;
  let redis: RedisServer;
  let configPath: string;
  const workloads: Workload[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hookgate-queue-scope-'));
    redis = await startRedis({ dir: join(dir, 'redis') });
    configPath = join(dir, 'sidecar.yaml');
    // One namespace, one published config: both workloads serve the same ingress endpoint.
    writeFileSync(
      configPath,
      [
        'namespace: shop',
        'listen: { egress: "127.0.0.1:0", ingress: "127.0.0.1:0" }',
        'ingress:',
        '  - name: payments',
        '    path: /in/payments',
        '    verify: { scheme: standard-webhooks, secrets: [{ env: WHSEC }] }',
        '    forward: { buffered: true }',
        'queue: { pollInterval: 50ms, lease: 2s }',
        '',
      ].join('\n'),
    );
    for (const name of ['checkout', 'billing']) {
      const appPort = await freePort();
      const injected = injectedEnv(name);
      const env = {
        // What the injector sets that tells workloads apart (the rest is for a real pod).
        HOOKGATE_QUEUE_NAME: injected['HOOKGATE_QUEUE_NAME'],
        HOOKGATE_INTERCEPTION: injected['HOOKGATE_INTERCEPTION'],
        HOOKGATE_CONFIG: configPath,
        HOOKGATE_APP_PORT: String(appPort),
        HOOKGATE_REDIS_URL: redis.url,
        WHSEC,
      };
      const workload: Workload = {
        name,
        appPort,
        env,
        ingress: () => ingressOf(workload.sidecar!),
      };
      workloads.push(workload);
    }
  }, 60_000);

  afterAll(async () => {
    for (const w of workloads) {
      await w.sidecar?.kill();
      await w.app?.close();
    }
    await redis?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the injector names each workload its own queue', () => {
    expect(workloads.map((w) => w.env['HOOKGATE_QUEUE_NAME'])).toEqual([
      'deployment.checkout',
      'deployment.billing',
    ]);
  });

  it(
    'a crash in the middle: each app receives exactly its own webhooks',
    { timeout: 90_000 },
    async () => {
      const [checkout, billing] = workloads as [Workload, Workload];
      for (const w of workloads) w.sidecar = await startSidecarProcess(configPath, w.env);

      // Both apps are down: every verified webhook is buffered (202).
      const bodies = new Map<string, string[]>();
      for (const w of workloads) {
        const list: string[] = [];
        for (let i = 0; i < 3; i++) {
          const body = JSON.stringify({ for: w.name, card: '4242', n: i });
          const reply = await send(w.ingress(), '/in/payments', signed(body), body);
          expect(reply.status).toBe(202);
          list.push(body);
        }
        bodies.set(w.name, list);
      }

      // The crash: checkout's sidecar dies with its webhooks in the queue. Both apps come up.
      await checkout.sidecar!.kill();
      checkout.app = await startApp(checkout.appPort);
      billing.app = await startApp(billing.appPort);

      // Billing's sidecar retries its own (the first retry is ~5 s out) and delivers them...
      await expect
        .poll(() => billing.app!.received.length, { timeout: 30_000, interval: 200 })
        .toBe(3);
      // ...and, polling all along, leaves checkout's alone: past its leases and their retry time.
      await new Promise((r) => setTimeout(r, 3000));
      expect(checkout.app.received.map((r) => r.body.toString())).toEqual([]);

      // Checkout's sidecar comes back and delivers its own.
      checkout.sidecar = await startSidecarProcess(configPath, checkout.env);
      await expect
        .poll(() => checkout.app!.received.length, { timeout: 30_000, interval: 200 })
        .toBe(3);
      await new Promise((r) => setTimeout(r, 1000));
      for (const w of workloads) {
        expect(w.app!.received.map((r) => r.body.toString()).sort()).toEqual(
          [...bodies.get(w.name)!].sort(),
        );
      }
    },
  );
});

// The must-show: 10,000 async webhooks accepted, the sidecar killed with SIGKILL mid-delivery (and,
// separately, Redis killed and restarted with its append-only file), the sidecar started again —
// and every accepted delivery reached a real receiver at least once, counted by webhook-id. Then
// per-endpoint ordering through retries and a crash.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { signalGroup } from '../cluster/process.ts';
import { startRedis, type RedisServer } from '../cluster/redis.ts';
import { uniqueName } from '../support/kube.ts';
import {
  Sender,
  startCountingReceiver,
  startSidecarProcess,
  type CountingReceiver,
  type SidecarProcess,
  writeAsyncConfig as writeConfig,
} from './process.ts';

const TOTAL = 10_000;
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

/** Polls `check` every 100 ms until it holds or `timeoutMs` passes. */
async function until(check: () => boolean, timeoutMs: number, what = ''): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 0;
  while (!check() && Date.now() < deadline) {
    await sleep(100);
    if (process.env['HOOKGATE_TEST_TRACE'] !== undefined && Date.now() - last > 2000) {
      last = Date.now();
      console.log(`waiting for ${what} ${trace()}`);
    }
  }
}

let trace = (): string => '';

interface Backend {
  readonly name: string;
  /** Environment choosing the backend; `restartable` when this test owns the Redis. */
  env(): Promise<{ env: NodeJS.ProcessEnv; redis?: RedisServer }>;
}

const backends: Backend[] = [
  // The embedded default: the append-only queue in the config's queue.directory.
  { name: 'disk', env: () => Promise.resolve({ env: { HOOKGATE_REDIS_URL: '' } }) },
  {
    name: 'redis',
    env: () =>
      Promise.resolve({
        env: { HOOKGATE_REDIS_URL: inject('redisUrl'), HOOKGATE_QUEUE_NAME: uniqueName('crash') },
      }),
  },
];

async function started(
  path: string,
  env: NodeJS.ProcessEnv,
): Promise<{ current: () => SidecarProcess; restart: () => Promise<SidecarProcess> }> {
  let sidecar = await startSidecarProcess(path, env);
  cleanup.push(() => sidecar.kill());
  return {
    current: () => sidecar,
    restart: async () => {
      sidecar = await startSidecarProcess(path, env);
      return sidecar;
    },
  };
}

function receiver(...args: Parameters<typeof startCountingReceiver>): Promise<CountingReceiver> {
  return startCountingReceiver(...args).then((r) => {
    cleanup.push(() => r.close());
    return r;
  });
}

function missing(sender: Sender, r: CountingReceiver): string[] {
  return [...sender.accepted].filter((id) => !r.counts.has(id));
}

describe.each(backends)('crash safety: $name backend', (backend) => {
  it(
    `delivers all ${TOTAL} accepted webhooks across a SIGKILL of the sidecar mid-delivery`,
    { timeout: 120_000 },
    async () => {
      const r = await receiver();
      const { env } = await backend.env();
      const sidecar = await started(writeConfig(r.url), env);
      const sender = new Sender(sidecar.current().egress);
      cleanup.push(() => sender.close());
      const sending = sender.send('/orders', uniqueName('k'), TOTAL, 32);
      trace = () => `accepted ${sender.accepted.size} received ${r.counts.size}`;

      await until(() => r.counts.size >= TOTAL / 5, 60_000);
      await sidecar.current().kill();
      const deliveredBeforeKill = r.counts.size;
      sender.target = (await sidecar.restart()).egress;
      await sending;
      await until(() => missing(sender, r).length === 0, 60_000);

      expect(sender.accepted.size).toBe(TOTAL);
      expect(deliveredBeforeKill).toBeLessThan(TOTAL);
      expect(missing(sender, r)).toEqual([]);
      const duplicates = [...r.counts.values()].reduce((n, c) => n + c - 1, 0);
      console.log(
        `${backend.name} SIGKILL: ${TOTAL} accepted, ${deliveredBeforeKill} delivered before the kill, ${duplicates} delivered twice (at least once)`,
      );
    },
  );

  it('keeps per-endpoint order through retries and a SIGKILL', { timeout: 120_000 }, async () => {
    // Every 3rd delivery fails its first attempt: the line must wait for it.
    const r = await receiver((id, seen) => seen === 0 && Number(id.split('-').at(-1)) % 3 === 0);
    const { env } = await backend.env();
    const sidecar = await started(
      writeConfig(r.url, 'delivery: { mode: async, ordering: per-endpoint }'),
      env,
    );
    const sender = new Sender(sidecar.current().egress);
    cleanup.push(() => sender.close());
    const count = 300;
    // One at a time: accept order is the id order.
    trace = () => `accepted ${sender.accepted.size} received ${r.counts.size}`;
    const sending = sender.send('/orders', uniqueName('o'), count, 1);
    await until(() => r.counts.size >= count / 3, 60_000);
    await sidecar.current().kill();
    sender.target = (await sidecar.restart()).egress;
    await sending;
    await until(() => missing(sender, r).length === 0, 60_000);

    expect(missing(sender, r)).toEqual([]);
    // First successful receipts follow accept order exactly; a redelivery after the crash may
    // repeat the delivery that was in flight, never overtake it.
    expect(r.firsts).toEqual(sender.acceptOrder);
  });
});

describe('crash safety: Redis restarted mid-run (append-only file on)', () => {
  it(
    `delivers all ${TOTAL} accepted webhooks across a Redis SIGKILL and restart`,
    { timeout: 120_000 },
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'hookgate-redis-aof-'));
      let redis = await startRedis({ dir, appendOnly: true });
      cleanup.push(() => redis.stop());
      const r = await receiver();
      const sidecar = await started(writeConfig(r.url), {
        HOOKGATE_REDIS_URL: redis.url,
        HOOKGATE_QUEUE_NAME: uniqueName('aof'),
      });
      const sender = new Sender(sidecar.current().egress);
      cleanup.push(() => sender.close());
      trace = () => `accepted ${sender.accepted.size} received ${r.counts.size}`;
      const sending = sender.send('/orders', uniqueName('k'), TOTAL, 32);

      await until(() => r.counts.size >= TOTAL / 5, 60_000);
      signalGroup(redis.process.pid, 'SIGKILL');
      await until(() => redis.process.exited !== undefined, 10_000);
      const deliveredWhileDown = r.counts.size;
      redis = await startRedis({ dir, appendOnly: true, port: redis.port });
      await sending;
      await until(() => missing(sender, r).length === 0, 60_000);

      expect(sender.accepted.size).toBe(TOTAL);
      expect(deliveredWhileDown).toBeLessThan(TOTAL);
      expect(missing(sender, r)).toEqual([]);
    },
  );
});

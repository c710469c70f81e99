// Redis going away never leaves a sidecar stuck or lying (ADR 0017): while Redis is down /readyz
// says so and an async webhook is answered 503 queue-unavailable, not 202; once Redis is back on
// its port, /readyz is 200 again, accepts resume, and the worker delivers everything accepted
// before and after (the Svix failure: a worker that stopped consuming after a Redis restart).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { signalGroup } from '../cluster/process.ts';
import { startRedis } from '../cluster/redis.ts';
import { uniqueName } from '../support/kube.ts';
import { Sender, startCountingReceiver, startSidecarProcess } from '../queue/process.ts';
import { asyncConfig, lost, settle } from './support.ts';

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

async function until<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

const asyncPost = (egress: string, id: string): Promise<Response> =>
  fetch(`${egress}/orders`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      prefer: 'respond-async',
      'hookgate-delivery-id': id,
    },
    body: JSON.stringify({ id }),
  });

describe('Redis down, then back', () => {
  it(
    'reports not ready and answers 503 while Redis is down; resumes accepting and delivering after',
    { timeout: 90_000 },
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'hookgate-readiness-'));
      let redis = await startRedis({ dir, appendOnly: true });
      cleanup.push(async () => {
        await redis.stop();
        rmSync(dir, { recursive: true, force: true });
      });
      const receiver = await startCountingReceiver();
      cleanup.push(() => receiver.close());
      const sidecar = await startSidecarProcess(asyncConfig(receiver.url), {
        HOOKGATE_REDIS_URL: redis.url,
        HOOKGATE_QUEUE_NAME: uniqueName('ready'),
      });
      cleanup.push(() => sidecar.kill());
      const sender = new Sender(sidecar.egress);
      cleanup.push(() => sender.close());
      await sender.send('/orders', uniqueName('before'), 200, 8);

      signalGroup(redis.process.pid, 'SIGKILL');
      await until('redis gone', () => Promise.resolve(redis.process.exited));
      const notReady = await until('readyz 503', async () => {
        const res = await fetch(`${sidecar.admin}/readyz`);
        const text = await res.text();
        return res.status === 503 ? text : undefined;
      });
      expect(notReady).toMatch(/^not ready: redis: redis unreachable/);
      const refused = await asyncPost(sidecar.egress, uniqueName('while-down'));
      expect(refused.status).toBe(503);
      expect(refused.headers.get('content-type')).toContain('application/problem+json');
      expect(((await refused.json()) as { type: string }).type).toContain('queue-unavailable');

      redis = await startRedis({ dir, appendOnly: true, port: redis.port });
      await until('readyz 200', async () =>
        (await fetch(`${sidecar.admin}/readyz`)).status === 200 ? true : undefined,
      );
      await sender.send('/orders', uniqueName('after'), 200, 8);
      await settle(sender, receiver, 10_000, 30_000);

      expect(sender.accepted.size).toBe(400);
      expect(lost(sender, receiver)).toEqual([]);
    },
  );
});

// Sentinel (a primary, a replica, three sentinels, started here): the sidecar finds the primary
// through the sentinels, follows a failover after the primary is SIGKILLed mid-run, and with
// `?wait-replicas=1` loses no acknowledged webhook. The killed server comes back and the sentinels
// make it the new primary's replica, so replica-wait can be met again.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startRedisSentinel, type RedisSentinelHandle } from '../cluster/redis-ha.ts';
import { uniqueName } from '../support/kube.ts';
import { Sender, startCountingReceiver, startSidecarProcess } from '../queue/process.ts';
import { asyncConfig, lost, settle } from './support.ts';

const TOTAL = 3000;
let sentinel: RedisSentinelHandle;
let dir: string;
const cleanup: (() => Promise<void>)[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hookgate-sentinel-'));
  sentinel = await startRedisSentinel({ dir });
}, 60_000);
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});
afterAll(async () => {
  await sentinel?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('Sentinel', () => {
  it(
    `follows a failover mid-run and delivers all ${TOTAL} accepted webhooks (replica-wait on)`,
    { timeout: 180_000 },
    async () => {
      const receiver = await startCountingReceiver();
      cleanup.push(() => receiver.close());
      const sidecar = await startSidecarProcess(asyncConfig(receiver.url), {
        HOOKGATE_REDIS_URL: `${sentinel.url}?wait-replicas=1&wait-timeout=2s`,
        HOOKGATE_QUEUE_NAME: uniqueName('sentinel'),
      });
      cleanup.push(() => sidecar.kill());
      const sender = new Sender(sidecar.egress);
      cleanup.push(() => sender.close());
      const sending = sender.send('/orders', uniqueName('s'), TOTAL, 32);

      while (sender.accepted.size < TOTAL / 4) await sleep(20);
      const failover = await sentinel.killPrimary();
      const acceptedAtKill = sender.accepted.size;
      await sentinel.restartKilled();
      await sending;
      await settle(sender, receiver, 10_000, 60_000);

      expect(failover.to).not.toBe(failover.from);
      expect(await sentinel.primaryPort()).toBe(failover.to);
      expect(acceptedAtKill).toBeLessThan(TOTAL);
      expect(sender.accepted.size).toBe(TOTAL);
      expect(lost(sender, receiver)).toEqual([]);
      console.log(
        `sentinel failover: primary :${failover.from} killed after ${acceptedAtKill} accepted, :${failover.to} promoted in ${failover.ms} ms; 0 of ${TOTAL} acknowledged webhooks lost`,
      );
    },
  );
});

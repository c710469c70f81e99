// bench/history: the delivery history's own CPU per recorded attempt, without an HTTP server
// around it — the recorder (buffer, building updates: redaction, bodies) over a store that does
// nothing (the baseline), over the disk store and over the Redis store (a real redis-server,
// whose CPU is counted too). Attempts look like bench/egress's: 1 KB JSON bodies, a 2xx answer.
// Prints CPU µs per attempt (user + system, every thread of this process) and each store's share
// over the baseline, and what the disk store's first read after a restart costs (its index built
// from the segments). Run: node bench/history/run.ts (BENCH_ATTEMPTS=n, default 60,000;
// BENCH_SIDECAR_ROOT=path measures another tree's sidecar/, e.g. an older checkout).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { createLogger } from '../../common/log.ts';
import type { AttemptObservation } from '../../sidecar/delivery/observe.ts';
import { RECORDER_SETTINGS, benchAttempt } from './fixture.ts';
import type { HistoryStore } from '../../sidecar/history/store.ts';
import type { EncodedUpdate } from '../../sidecar/history/update.ts';
import type * as RecorderModule from '../../sidecar/history/recorder.ts';
import type * as DiskModule from '../../sidecar/history/disk.ts';
import type * as RedisModule from '../../sidecar/history/redis.ts';
import type * as PlanModule from '../../sidecar/delivery/plan.ts';
import type * as SchemaModule from '../../sidecar/config/schema.ts';
import { systemClock } from '../../sidecar/delivery/delivery.ts';
import { startRedis } from '../../test/cluster/redis.ts';
import { cpuMicros } from '../lib/load.ts';

const root = resolve(process.env['BENCH_SIDECAR_ROOT'] ?? join(import.meta.dirname, '../..'));
const attempts = Number(process.env['BENCH_ATTEMPTS'] ?? 60_000);
const { HistoryRecorder } = (await import(
  join(root, 'sidecar/history/recorder.ts')
)) as typeof RecorderModule;
const { DiskHistoryStore } = (await import(
  join(root, 'sidecar/history/disk.ts')
)) as typeof DiskModule;
const { RedisHistoryStore } = (await import(
  join(root, 'sidecar/history/redis.ts')
)) as typeof RedisModule;
const { compileEndpointPlan } = (await import(
  join(root, 'sidecar/delivery/plan.ts')
)) as typeof PlanModule;
const { Policy } = (await import(join(root, 'sidecar/config/schema.ts'))) as typeof SchemaModule;

const plan = compileEndpointPlan(Policy.parse({}));
const limits = { maxDeliveries: 10_000, maxAgeMs: 72 * 3600_000, maxBytes: 64 * 1024 * 1024 };
const observation = (): AttemptObservation => benchAttempt(plan);

const nullStore: HistoryStore = {
  backend: 'disk',
  append: (_u: readonly EncodedUpdate[]) => Promise.resolve(),
  list: () => Promise.resolve({ items: [] }),
  get: () => Promise.resolve(undefined),
  usage: () => Promise.resolve({ deliveries: 0, bytes: 0 }),
  close: () => Promise.resolve(),
};

/**
 * CPU µs per attempt of this process (and of `extraPids`) while recording `n` attempts, and the
 * share of them the recorder dropped (a store slower than the attempts come: the buffer is full).
 */
async function measure(store: HistoryStore, n: number, extraPids: number[]): Promise<number[]> {
  const registry = new Registry();
  const recorder = new HistoryRecorder({
    ...RECORDER_SETTINGS,
    store,
    clock: systemClock,
    registry,
    log: createLogger({}, 'error'),
  });
  const run = async (count: number): Promise<void> => {
    // 50 attempts per turn of the event loop, as a loaded sidecar sees them between timers.
    for (let i = 0; i < count; i += 50) {
      for (let j = 0; j < 50; j++) recorder.onAttempt(observation());
      await new Promise((r) => setImmediate(r));
    }
    await recorder.flushed();
  };
  await run(Math.min(20_000, n)); // warm-up (and the index filled to its bound)
  const before = [await cpuMicros([process.pid]), await cpuMicros(extraPids)];
  await run(n);
  const after = [await cpuMicros([process.pid]), await cpuMicros(extraPids)];
  await recorder.close();
  const counted = await registry.getSingleMetricAsString('hookgate_history_updates_total');
  const dropped = Number(/result="dropped"\} (\d+)/.exec(counted)?.[1] ?? 0);
  // Warm-up and measured runs together.
  const pushed = Math.min(20_000, n) + n;
  return [(after[0]! - before[0]!) / n, (after[1]! - before[1]!) / n, dropped / pushed];
}

/** The attempts come faster than a slow store takes them: those dropped cost less than the rest. */
const dropNote = (share: number): string =>
  share === 0 ? '' : `; ${(share * 100).toFixed(0)} % of the attempts dropped (buffer full)`;

const dir = mkdtempSync(join(tmpdir(), 'hookgate-bench-history-'));
const redisServer = await startRedis({ dir: join(dir, 'redis') });
try {
  const redis = new Redis(redisServer.url, { enableAutoPipelining: true });
  console.log(
    `bench/history: ${attempts} attempts of 1 KB each, Node ${process.versions.node}, sidecar tree ${root}`,
  );
  const [baseline] = await measure(nullStore, attempts, []);
  const disk = await DiskHistoryStore.open({
    directory: join(dir, 'disk'),
    limits: () => limits,
  });
  const [onDisk, , diskDropped] = await measure(disk, attempts, []);
  // What a reader pays for the disk store's history: open it again and list (the index built
  // from every segment on disk, as the first read after a restart does).
  const readStart = process.cpuUsage();
  const reopened = await DiskHistoryStore.open({
    directory: join(dir, 'disk'),
    limits: () => limits,
  });
  await reopened.list({ limit: 100 });
  const readCpu = process.cpuUsage(readStart);
  const held = await reopened.usage();
  await reopened.close();
  const store = new RedisHistoryStore({ redis, namespace: 'bench', limits: () => limits });
  const [onRedis, redisServerCpu, redisDropped] = await measure(store, attempts, [
    redisServer.process.pid,
  ]);
  redis.disconnect();
  console.log('store      CPU µs/attempt   over the no-op store');
  console.log(`none       ${baseline!.toFixed(2).padStart(14)}   -`);
  console.log(
    `disk       ${onDisk!.toFixed(2).padStart(14)}   +${(onDisk! - baseline!).toFixed(2)}${dropNote(diskDropped!)}`,
  );
  console.log(
    `disk read: open + first list over ${(held.bytes / 2 ** 20).toFixed(0)} MiB on disk: ${((readCpu.user + readCpu.system) / 1000).toFixed(0)} CPU ms (${held.deliveries} deliveries indexed)`,
  );
  console.log(
    `redis      ${onRedis!.toFixed(2).padStart(14)}   +${(onRedis! - baseline!).toFixed(2)} (+ ${redisServerCpu!.toFixed(2)} in redis-server)${dropNote(redisDropped!)}`,
  );
} finally {
  await redisServer.stop();
  rmSync(dir, { recursive: true, force: true });
}

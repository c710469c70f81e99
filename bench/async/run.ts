// bench/async: async egress end to end, per backend (Redis with appendfsync always, the on-disk
// queue), against a baseline measured in the same run: the same 1 KB webhooks sent synchronously
// through the same sidecar (the receiver's answer awaited). For each backend:
// - accepted/s: closed loops POSTing with `Prefer: respond-async` for BENCH_SECONDS, counting 202s
//   (the worker delivers at the same time, as in production);
// - delivered/s: accepted deliveries over the time from the first 202 to the last receipt;
// - latency 202 → receipt (p50/p99) in an open loop at HALF the sync rate measured in the same run
//   (issue 19's target; a fixed rate above sync capacity measures a growing backlog, not latency),
//   by webhook-id, one clock for both ends.
// - CPU µs per delivery (user + system, from /proc) of the sidecar and its Redis: for sync over the
//   sync run, for async from the first accept to the last receipt. On a shared machine throughput
//   swings with the neighbours' load; CPU per delivery shows what the sidecar itself spends.
// The receiver runs in its own process. Prints numbers and ratios; asserts nothing.
// Run: make bench-async   (BENCH_SECONDS=5 BENCH_CONNECTIONS=64; BENCH_RATE=<n>/s pins the latency
// rate instead; BENCH_REDIS_HA=1
// adds a single Redis without persistence, a Redis Cluster and the cluster with replica-wait)
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';
import { startRedis, type RedisServer } from '../../test/cluster/redis.ts';
import { cpuMicros, rssMb } from '../lib/load.ts';
import { startReceiver, waitUp, type Receiver } from '../lib/receiver.ts';
import { writeBenchSidecarConfig } from '../lib/sidecar-config.ts';

const root = resolve(import.meta.dirname, '../..');
const seconds = Number(process.env['BENCH_SECONDS'] ?? 5);
const connections = Number(process.env['BENCH_CONNECTIONS'] ?? 64);
/** A pinned latency rate, or undefined: half the sync rate of the same backend's run. */
const pinnedRate =
  process.env['BENCH_RATE'] === undefined ? undefined : Number(process.env['BENCH_RATE']);
const body = Buffer.from(JSON.stringify({ type: 'order.created', data: 'x'.repeat(1000) }));
const dir = mkdtempSync(join(tmpdir(), 'hookgate-bench-async-'));
const children: ChildProcess[] = [];
const now = (): number => performance.timeOrigin + performance.now();

function start(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  const child = spawn(process.execPath, args, {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, ...env },
  });
  children.push(child);
  return child;
}

/** Closed loops for `seconds`; returns 2xx answers/s and the ids sent with their answer times. */
async function closedLoop(
  url: string,
  prefix: string,
  headers: Record<string, string>,
): Promise<{ rps: number; accepted: Map<string, number>; errors: number }> {
  const target = new URL(url);
  const pool = new Pool(target.origin, { connections, pipelining: 1 });
  const accepted = new Map<string, number>();
  let errors = 0;
  let n = 0;
  const stopAt = performance.now() + seconds * 1000;
  const loop = async (): Promise<void> => {
    while (performance.now() < stopAt) {
      const id = `${prefix}-${n++}`;
      const res = await pool.request({
        path: target.pathname,
        method: 'POST',
        body,
        headers: { 'content-type': 'application/json', 'hookgate-delivery-id': id, ...headers },
      });
      await res.body.dump();
      if (res.statusCode < 300) accepted.set(id, now());
      else errors++;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: connections }, loop));
  const elapsed = (performance.now() - started) / 1000;
  await pool.close();
  return { rps: accepted.size / elapsed, accepted, errors };
}

/** Open loop at `rate`/s for `seconds`; returns each id's 202 time. */
async function atRate(url: string, prefix: string, rate: number): Promise<Map<string, number>> {
  const target = new URL(url);
  const pool = new Pool(target.origin, { connections: 64, pipelining: 1 });
  const accepted = new Map<string, number>();
  const inFlight: Promise<void>[] = [];
  const started = performance.now();
  for (let i = 0; i < rate * seconds; i++) {
    const wait = started + (i * 1000) / rate - performance.now();
    if (wait > 1) await sleep(wait);
    const id = `${prefix}-${i}`;
    inFlight.push(
      pool
        .request({
          path: target.pathname,
          method: 'POST',
          body,
          headers: {
            'content-type': 'application/json',
            'hookgate-delivery-id': id,
            prefer: 'respond-async',
          },
        })
        .then(async (res) => {
          await res.body.dump();
          if (res.statusCode === 202) accepted.set(id, now());
        })
        .catch(() => undefined),
    );
  }
  await Promise.all(inFlight);
  await pool.close();
  return accepted;
}

/** Waits until every accepted id was received (or 60 s pass). */
async function drained(
  receiver: Receiver,
  prefix: string,
  accepted: Map<string, number>,
): Promise<Map<string, number>> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const got = await receiver.receipts(prefix);
    if ([...accepted.keys()].every((id) => got.has(id)) || Date.now() > deadline) return got;
    await sleep(200);
  }
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

interface Row {
  /** The open loop's rate for the latency figures. */
  rate: number;
  accepted: number;
  delivered: number;
  p50: number;
  p99: number;
  missing: number;
  refused: number;
  rss: number;
  /** CPU µs per sync delivery, and per async delivery (sidecar and Redis). */
  syncCpuUs: number;
  asyncCpuUs: number;
}

async function runBackend(
  name: string,
  receiver: Receiver,
  env: NodeJS.ProcessEnv,
  /** The store's own processes (the Redis server), counted in CPU per delivery. */
  storePids: readonly number[],
): Promise<{ row: Row; syncRps: number }> {
  const {
    path: config,
    egressPort,
    adminPort,
  } = await writeBenchSidecarConfig(
    dir,
    name,
    receiver.url,
    'maxPerEndpoint: 1000000, maxTotal: 1000000, maxBytes: 4294967296',
  );
  const sidecar = start([join(root, 'sidecar/main.ts'), '--config', config], {
    HOOKGATE_ADMIN_ADDR: `127.0.0.1:${adminPort}`,
    HOOKGATE_LOG_LEVEL: 'warn',
    HOOKGATE_QUEUE_NAME: `bench-${process.pid}`,
    ...env,
  });
  await waitUp(`http://127.0.0.1:${adminPort}/readyz`);
  const url = `http://127.0.0.1:${egressPort}/bench`;
  try {
    const pids = [sidecar.pid!, ...storePids];
    // Baseline, same sidecar, same run: synchronous delivery.
    const cpu0 = await cpuMicros(pids);
    const sync = await closedLoop(url, `${name}-sync`, {});
    const cpu1 = await cpuMicros(pids);
    const async = await closedLoop(url, `${name}-async`, { prefer: 'respond-async' });
    const first = Math.min(...async.accepted.values());
    const got = await drained(receiver, `${name}-async`, async.accepted);
    const cpu2 = await cpuMicros(pids);
    const last = Math.max(...[...async.accepted.keys()].map((id) => got.get(id) ?? 0));
    const missing = [...async.accepted.keys()].filter((id) => !got.has(id)).length;
    const rate = pinnedRate ?? Math.max(1, Math.round(sync.rps / 2));
    const timed = await atRate(url, `${name}-lat`, rate);
    const latGot = await drained(receiver, `${name}-lat`, timed);
    const lat = [...timed]
      .filter(([id]) => latGot.has(id))
      .map(([id, t]) => latGot.get(id)! - t)
      .sort((a, b) => a - b);
    return {
      syncRps: sync.rps,
      row: {
        rate,
        accepted: async.rps,
        delivered: (async.accepted.size - missing) / ((last - first) / 1000),
        p50: pct(lat, 50),
        p99: pct(lat, 99),
        missing,
        refused: async.errors,
        rss: await rssMb(sidecar.pid!),
        syncCpuUs: (cpu1 - cpu0) / sync.accepted.size,
        asyncCpuUs: (cpu2 - cpu1) / (async.accepted.size - missing),
      },
    };
  } finally {
    sidecar.kill('SIGTERM');
    await new Promise((r) => sidecar.once('exit', r));
  }
}

let redis: RedisServer | undefined;
let stopHa: (() => Promise<void>) | undefined;
try {
  const receiver = await startReceiver();
  children.push(receiver.process);
  redis = await startRedis({ dir: join(dir, 'redis'), appendOnly: true });
  console.log(
    `bench/async: 1 KB webhooks, Standard Webhooks signed, ${connections} connections, ${seconds}s per run, latency at ${pinnedRate === undefined ? 'half the sync rate' : `${pinnedRate}/s`}, Node ${process.versions.node}, ${(await import('node:os')).cpus().length} CPUs`,
  );
  console.log(
    'backend  sync req/s  accepted/s  ×sync  delivered/s  ×sync  lat at/s  p50 ms  p99 ms  missing  refused  RSS MB  CPU µs sync  async',
  );
  const backends: [string, NodeJS.ProcessEnv, number[]][] = [
    ['redis', { HOOKGATE_REDIS_URL: redis.url }, [redis.process.pid]],
    ['disk', { HOOKGATE_REDIS_URL: '' }, []],
  ];
  if (process.env['BENCH_REDIS_HA'] === '1') {
    const ha = await (await import('./redis-ha.ts')).redisHaBackends(dir);
    stopHa = ha.stop;
    // The cluster's nodes are not counted: its CPU column is the sidecar's alone.
    backends.push(
      ...ha.backends.map(([n, e]): [string, NodeJS.ProcessEnv, number[]] => [n, e, []]),
    );
  }
  for (const [name, env, storePids] of backends) {
    const { row: r, syncRps } = await runBackend(name, receiver, env, storePids);
    console.log(
      `${name.padEnd(7)} ${syncRps.toFixed(0).padStart(11)} ${r.accepted.toFixed(0).padStart(11)} ${(r.accepted / syncRps).toFixed(2).padStart(6)} ${r.delivered.toFixed(0).padStart(12)} ${(r.delivered / syncRps).toFixed(2).padStart(6)} ${r.rate.toFixed(0).padStart(9)} ${r.p50.toFixed(1).padStart(7)} ${r.p99.toFixed(1).padStart(7)} ${String(r.missing).padStart(8)} ${String(r.refused).padStart(8)} ${r.rss.toFixed(0).padStart(7)} ${r.syncCpuUs.toFixed(0).padStart(12)} ${r.asyncCpuUs.toFixed(0).padStart(6)}`,
    );
  }
} finally {
  await redis?.stop();
  await stopHa?.();
  for (const c of children) c.kill('SIGTERM');
}

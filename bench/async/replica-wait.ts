// bench/async/replica-wait: what `?wait-replicas=1` costs the accept path, without HTTP or the
// worker in the way: enqueues/s into one queue on a 3 × 2 Redis Cluster from 64 concurrent callers,
// rounds alternating off and on (same cluster, same client settings, same run), so a change in the
// machine's load shows as a change between rounds, not as the cost. Prints each round and the
// on/off ratio of each pair; asserts nothing.
// Run: node bench/async/replica-wait.ts   (BENCH_SECONDS=3 BENCH_ROUNDS=3)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../common/log.ts';
import { RedisQueueStore } from '../../sidecar/queue/redis.ts';
import { ReplicaWait } from '../../sidecar/queue/replica-wait.ts';
import { connectRedis, parseRedisUrl } from '../../sidecar/redis-connect.ts';
import { startRedisCluster } from '../../test/cluster/redis-ha.ts';

const seconds = Number(process.env['BENCH_SECONDS'] ?? 3);
const rounds = Number(process.env['BENCH_ROUNDS'] ?? 3);
const lanes = 64;
const body = Buffer.from(JSON.stringify({ type: 'order.created', data: 'x'.repeat(1000) }));
const dir = mkdtempSync(join(tmpdir(), 'hookgate-bench-wait-'));
const cluster = await startRedisCluster({ dir });
const redis = await connectRedis(parseRedisUrl(cluster.url), {
  log: createLogger({ component: 'bench' }, 'error'),
  name: 'bench redis',
  autoPipelining: true,
});
const limits = { maxPerEndpoint: 10_000_000, maxTotal: 10_000_000, maxBytes: 2 ** 40 };
let n = 0;

async function round(wait: boolean): Promise<number> {
  const store = new RedisQueueStore({
    redis,
    scope: `bench/${wait ? 'on' : 'off'}-${n}`,
    limits,
    consumer: 'bench',
    ...(wait
      ? {
          replicaWait: (key: string) =>
            new ReplicaWait(redis, key, { replicas: 1, timeoutMs: 1000 }),
        }
      : {}),
  });
  let done = 0;
  const stopAt = performance.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (performance.now() < stopAt) {
        await store.enqueue({
          deliveryId: `d-${n++}`,
          endpointName: 'bench',
          url: 'https://receiver.example/hook',
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
          acceptedAt: Date.now(),
          ordered: false,
        });
        done++;
      }
    }),
  );
  return done / ((performance.now() - started) / 1000);
}

try {
  const { loadavg, cpus } = await import('node:os');
  console.log(
    `bench/async/replica-wait: 1 KB deliveries, ${lanes} concurrent enqueues, ${seconds}s rounds, 3 × 2 cluster on loopback, ${cpus().length} CPUs, load ${loadavg()[0]!.toFixed(1)}`,
  );
  for (let r = 0; r < rounds; r++) {
    const off = await round(false);
    const on = await round(true);
    console.log(
      `round ${r + 1}: off ${off.toFixed(0)}/s  wait-replicas=1 ${on.toFixed(0)}/s  on/off ${(on / off).toFixed(2)}`,
    );
  }
  console.log(`load at the end ${loadavg()[0]!.toFixed(1)}`);
} finally {
  redis.disconnect();
  await cluster.stop();
  rmSync(dir, { recursive: true, force: true });
}

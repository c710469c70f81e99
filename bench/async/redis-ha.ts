// bench/async's Redis-at-scale rows (BENCH_REDIS_HA=1 make bench-async): the same run on a single
// Redis without persistence (what the cluster nodes run, so the two compare like for like), on a
// 3 × 2 Redis Cluster, and on the cluster with `?wait-replicas=1` (every 202 waits for the
// replica's acknowledgement: ADR 0017's cost in accepted/s).
import { join } from 'node:path';
import { startRedis } from '../../test/cluster/redis.ts';
import { startRedisCluster } from '../../test/cluster/redis-ha.ts';

/** The extra backends, each a name and the sidecar's environment, and a stop for what they run. */
export async function redisHaBackends(
  dir: string,
): Promise<{ backends: [string, NodeJS.ProcessEnv][]; stop: () => Promise<void> }> {
  const single = await startRedis({ dir: join(dir, 'redis-ram') });
  const cluster = await startRedisCluster({ dir: join(dir, 'redis-cluster') });
  return {
    backends: [
      ['ram', { HOOKGATE_REDIS_URL: single.url }],
      ['cluster', { HOOKGATE_REDIS_URL: cluster.url }],
      ['cl-wait', { HOOKGATE_REDIS_URL: `${cluster.url}?wait-replicas=1&wait-timeout=1s` }],
    ],
    stop: async () => {
      await Promise.all([single.stop(), cluster.stop()]);
    },
  };
}

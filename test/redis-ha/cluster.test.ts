// Every Redis feature on a real Redis Cluster (3 primaries, 3 replicas, started here): the queue's
// scripts keep all their keys on the slot of the queue's hash tag (the whole QueueStore contract
// passes through ioredis' Cluster client), and a run of enqueues, claims and settles, global
// rate-limit takes and de-duplication claims goes on while the slots they use are moved from one
// primary to another (clients meet ASK, then MOVED) — nothing accepted is lost or doubled.
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis, type Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createLogger } from '../../common/log.ts';
import { GlobalRateLimiter } from '../../sidecar/delivery/global-limiter.ts';
import { LocalDedupStore, deliveryKey } from '../../sidecar/ingress/dedup.ts';
import { RedisDedupStore } from '../../sidecar/ingress/dedup-redis.ts';
import { describeQueueStore } from '../../sidecar/queue/contract.ts';
import { QUEUE_KEY_PREFIX, RedisQueueStore } from '../../sidecar/queue/redis.ts';
import type { QueueStore } from '../../sidecar/queue/store.ts';
import { ReplicaWait, ReplicaWaitError } from '../../sidecar/queue/replica-wait.ts';
import { connectRedis, parseRedisUrl, type RedisClient } from '../../sidecar/redis-connect.ts';
import { startRedisCluster, type RedisClusterHandle } from '../cluster/redis-ha.ts';

const log = createLogger({ component: 'cluster-test' }, 'error');
let cluster: RedisClusterHandle;
let dir: string;
const clients: RedisClient[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hookgate-redis-cluster-'));
  cluster = await startRedisCluster({ dir });
}, 60_000);
afterAll(async () => {
  for (const c of clients) c.disconnect();
  await cluster?.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function connect(autoPipelining = true): Promise<Cluster> {
  const client = await connectRedis(parseRedisUrl(cluster.url), {
    log,
    name: 'test redis',
    autoPipelining,
  });
  clients.push(client);
  return client as Cluster;
}

const delivery = (id: string, endpointName = 'orders') => ({
  deliveryId: id,
  endpointName,
  url: 'https://receiver.example/hooks',
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: Buffer.from(JSON.stringify({ id })),
  acceptedAt: Date.now(),
  ordered: false,
});

const limits = { maxPerEndpoint: 100_000, maxTotal: 100_000, maxBytes: 1 << 30 };

describeQueueStore(
  'redis cluster',
  async (l): Promise<QueueStore> =>
    new RedisQueueStore({
      redis: await connect(),
      scope: `contract/${randomBytes(4).toString('hex')}`,
      limits: l,
      consumer: 'contract',
    }),
  { honoursSkipEndpoints: true },
);

describe('queue keys on a Redis Cluster', () => {
  it('keeps every key of one queue in the slot of its hash tag, on one primary', async () => {
    const redis = await connect();
    const scope = `slot/${randomUUID()}`;
    const store = new RedisQueueStore({ redis, scope, limits, consumer: 'c1' });
    for (let i = 0; i < 20; i++)
      await store.enqueue({ ...delivery(`d-${i}`, `ep-${i % 3}`), ordered: i % 2 === 0 });
    const claimed = await store.claim(10, Date.now() + 1000, 30_000);
    expect(claimed.length).toBeGreaterThan(0);
    const at = Date.now();
    for (const [i, d] of claimed.entries()) {
      const kind = i % 3 === 0 ? 'delivered' : i % 3 === 1 ? 'dead' : 'retry';
      await store.settle(
        d.deliveryId,
        { at, durationMs: 1, status: 500 },
        kind === 'retry' ? { kind, at: at + 60_000 } : { kind },
      );
    }
    await store.stats(Date.now());

    const slot = await cluster.keySlot(store.slotKey);
    const owner = await cluster.primaryOf(slot);
    const found: string[] = [];
    for (const node of cluster.nodes.filter((n) => n.alive)) {
      const r = new Redis({ host: '127.0.0.1', port: node.port });
      const keys = await r.keys(`${QUEUE_KEY_PREFIX}{${scope}}*`);
      const replicaOf = /master_port:(\d+)/.exec(await r.info('replication'))?.[1];
      r.disconnect();
      // Only the owner has them, and its replica a copy; no other primary holds a single key.
      if (node === owner) found.push(...keys);
      else if (Number(replicaOf) !== owner.port) expect(keys).toEqual([]);
    }
    // The marker (KEYS[1]), hashes, attempt lists, due/ready/lease/state sets, counters.
    expect(found.length).toBeGreaterThan(20);
    expect(found).toContain(store.slotKey);
    const slots = new Set(await Promise.all(found.map((k) => cluster.keySlot(k))));
    expect([...slots]).toEqual([slot]);
  });
});

describe('a resharding in the middle of a run', () => {
  it(
    'moves the queue, rate-limit and de-duplication slots while they are used; nothing is lost or doubled',
    { timeout: 90_000 },
    async () => {
      const redis = await connect();
      const scope = `reshard/${randomUUID()}`;
      const store = new RedisQueueStore({
        redis,
        scope,
        limits,
        consumer: 'c1',
        timeoutMs: 10_000,
      });
      const limiter = new GlobalRateLimiter({
        redis,
        scopeKey: `reshard/${randomUUID()}`,
        limit: { rate: 1, per: 'minute', burst: 300 },
        failMode: 'closed',
        timeoutMs: 10_000,
      });
      const dedup = new RedisDedupStore({
        redis,
        fallback: new LocalDedupStore({ now: Date.now }),
        timeoutMs: 10_000,
        onRedisError: (err) => errors.push(`dedup: ${err.message}`),
      });
      const dedupScope = `reshard/${randomUUID()}`;
      const errors: string[] = [];

      // At least this many, and 50 more after the last slot moved (so some meet MOVED).
      const total = 600;
      let afterMoves = Infinity;
      const enqueued = new Set<string>();
      const delivered = new Map<string, number>();
      let allowed = 0;
      let dedupClaimed = 0;
      let producing = true;
      const producer = (async () => {
        for (let i = 0; i < total || i < afterMoves; i++) {
          const id = `r-${i}`;
          // A failed call (a redirect limit hit mid-move) is retried, as the app would.
          for (;;) {
            try {
              await store.enqueue(delivery(id, `ep-${i % 4}`));
              enqueued.add(id);
              break;
            } catch (err) {
              errors.push(`enqueue: ${(err as Error).message}`);
              await new Promise((r) => setTimeout(r, 50));
            }
          }
          if ((await limiter.take(Date.now())).allowed) allowed++;
          if ((await dedup.claim(deliveryKey(dedupScope, id), 't', 60_000)) === 'claimed')
            dedupClaimed++;
          if (i % 20 === 0) await new Promise((r) => setTimeout(r, 15));
        }
        producing = false;
      })();
      const consumer = (async () => {
        while (producing || delivered.size < enqueued.size) {
          let batch;
          try {
            batch = await store.claim(50, Date.now(), 30_000);
          } catch (err) {
            errors.push(`claim: ${(err as Error).message}`);
            continue;
          }
          for (const d of batch) {
            delivered.set(d.deliveryId, (delivered.get(d.deliveryId) ?? 0) + 1);
            const at = Date.now();
            for (;;) {
              try {
                await store.settle(
                  d.deliveryId,
                  { at, durationMs: 1, status: 204 },
                  {
                    kind: 'delivered',
                  },
                );
                break;
              } catch (err) {
                errors.push(`settle: ${(err as Error).message}`);
              }
            }
          }
          if (batch.length === 0) await new Promise((r) => setTimeout(r, 20));
        }
      })();

      // Mid-run, one slot after the other.
      while (enqueued.size < total / 4) await new Promise((r) => setTimeout(r, 20));
      const queueSlot = await cluster.keySlot(store.slotKey);
      const moves = [];
      // The queue's slot in one step (its scripts touch keys they do not declare); the single-key
      // scripts' slots the way redis-cli reshards, a few keys at a time through ASK and TRYAGAIN.
      moves.push(await cluster.moveSlot(queueSlot, { mode: 'atomic' }));
      for (const key of [limiter.key, deliveryKey(dedupScope, 'r-0')]) {
        const slot = await cluster.keySlot(key);
        moves.push(await cluster.moveSlot(slot, { mode: 'batched', batch: 2, pauseMs: 300 }));
      }
      const producedWhenMoved = enqueued.size;
      afterMoves = producedWhenMoved + 50;
      await Promise.all([producer, consumer]);

      expect(moves.every((m) => m.from !== m.to)).toBe(true);
      expect((await cluster.primaryOf(queueSlot)).port).toBe(moves[0]!.to.port);
      expect(enqueued.size).toBe(Math.max(total, afterMoves));
      expect([...enqueued].filter((id) => !delivered.has(id))).toEqual([]);
      expect([...delivered.values()].filter((n) => n > 1)).toEqual([]);
      expect((await store.stats(Date.now())).byState).toEqual({ pending: 0, retrying: 0, dead: 0 });
      // The bucket stayed one bucket: exactly its burst passed, never more.
      expect(allowed).toBe(300);
      // Each id claimed exactly once, none answered by the local fallback.
      expect(dedupClaimed).toBe(enqueued.size);
      expect(errors.filter((e) => e.startsWith('dedup'))).toEqual([]);
      console.log(
        `reshard: ${moves.length} slots moved mid-run; ${errors.length} calls retried (${[...new Set(errors.map((e) => e.slice(0, 60)))].join(' | ')})`,
      );
    },
  );
});

describe('replica-wait', () => {
  it('holds the enqueue until the replica acknowledged it on the cluster, and refuses where no replica answers', async () => {
    const redis = await connect();
    const scope = `wait/${randomUUID()}`;
    const store = new RedisQueueStore({
      redis,
      scope,
      limits,
      consumer: 'c1',
      replicaWait: (key) => new ReplicaWait(redis, key, { replicas: 1, timeoutMs: 2000 }),
    });
    const owner = await cluster.primaryOf(await cluster.keySlot(store.slotKey));
    const admin = new Redis({ host: '127.0.0.1', port: owner.port });
    clients.push(admin);
    await admin.config('RESETSTAT');
    // 200 concurrent enqueues: each resolves only after a WAIT that covered it returned 1.
    await Promise.all(Array.from({ length: 200 }, (_, i) => store.enqueue(delivery(`w-${i}`))));
    expect((await store.stats(Date.now())).byState.pending).toBe(200);
    // On the slot's primary, and grouped: far fewer WAITs than enqueues.
    const calls = Number(/cmdstat_wait:calls=(\d+)/.exec(await admin.info('commandstats'))?.[1]);
    expect(calls).toBeGreaterThan(0);
    expect(calls).toBeLessThan(100);
    console.log(`replica-wait: 200 concurrent enqueues covered by ${calls} WAIT calls`);

    // The shared test Redis has no replica: WAIT 1 times out with 0, and the enqueue is refused.
    const single = new Redis(inject('redisUrl'));
    clients.push(single);
    const lonely = new RedisQueueStore({
      redis: single,
      scope: `wait/${randomUUID()}`,
      limits,
      consumer: 'c1',
      replicaWait: (key) => new ReplicaWait(single, key, { replicas: 1, timeoutMs: 50 }),
    });
    const refused = await lonely.enqueue(delivery('w-lonely')).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ReplicaWaitError);
    expect((refused as ReplicaWaitError).code).toBe('ERR_QUEUE_REPLICA_WAIT');
    expect((refused as ReplicaWaitError).statusCode).toBe(503);
    // The delivery is on the primary all the same; a retry with its id is not a second one.
    expect((await lonely.get('w-lonely'))?.deliveryId).toBe('w-lonely');
  });
});

// Last in the file: it kills a primary (and brings the node back as a replica).
describe('a primary killed while 4 sidecars share a rate limit and 2 ingress replicas de-duplicate', () => {
  it(
    'keeps the global limit to its burst (plus what was in flight) and de-duplicates again after the failover',
    { timeout: 90_000 },
    async () => {
      const limit = { rate: 1, per: 'minute' as const, burst: 400 };
      const scopeKey = `failover/${randomUUID()}`;
      // One connection per sidecar; fail closed, so nothing passes while the slot has no primary.
      const limiters = await Promise.all(
        Array.from(
          { length: 4 },
          async () =>
            new GlobalRateLimiter({
              redis: await connect(false),
              scopeKey,
              limit,
              failMode: 'closed',
              timeoutMs: 1000,
            }),
        ),
      );
      const dedupScope = `failover/${randomUUID()}`;
      let fallbacks = 0;
      const replicas = await Promise.all(
        Array.from(
          { length: 2 },
          async () =>
            new RedisDedupStore({
              redis: await connect(false),
              fallback: new LocalDedupStore({ now: Date.now }),
              timeoutMs: 1000,
              onRedisError: () => fallbacks++,
            }),
        ),
      );
      let allowed = 0;
      const duplicates: { id: number; at: number }[] = [];
      let running = true;
      const lanes = limiters.map(async (l) => {
        while (running) {
          if ((await l.take(Date.now())).allowed) allowed++;
          await new Promise((r) => setTimeout(r, 5));
        }
      });
      const dedupLane = (async () => {
        for (let i = 0; running; i++) {
          const key = deliveryKey(dedupScope, `evt-${i}`);
          // The provider's copy arrives at both replicas at once.
          const outcomes = await Promise.all(replicas.map((r) => r.claim(key, `t${i}`, 30_000)));
          if (outcomes.filter((o) => o === 'claimed').length > 1)
            duplicates.push({ id: i, at: Date.now() });
          await Promise.all(
            replicas.map((r, n) =>
              outcomes[n] === 'claimed' ? r.commit(key, 60_000) : Promise.resolve(),
            ),
          );
        }
      })();

      while (allowed < 100) await new Promise((r) => setTimeout(r, 10));
      const failover = await cluster.killPrimaryOf(await cluster.keySlot(limiters[0]!.key));
      const killedAt = Date.now() - failover.ms;
      const recoveredAt = Date.now();
      await cluster.restart(failover.killed);
      const recoveredDuplicatesFrom = Date.now() + 3000;
      await new Promise((r) => setTimeout(r, 6000));
      running = false;
      await Promise.all([...lanes, dedupLane]);

      // The burst was spent across the failover, give or take the one take each sidecar had in
      // flight at the kill: its answer lost though the primary charged it (and ioredis may send it
      // once more to the promoted replica), or charged on the primary alone and not replicated.
      expect(allowed).toBeGreaterThanOrEqual(limit.burst - 2 * limiters.length);
      expect(allowed).toBeLessThanOrEqual(limit.burst + limiters.length);
      // Duplicates only where Redis was away (both replicas fell back to memory), none once the
      // cluster had settled again.
      expect(duplicates.filter((d) => d.at > recoveredDuplicatesFrom)).toEqual([]);
      expect(duplicates.length).toBeLessThanOrEqual(fallbacks);
      console.log(
        `primary :${failover.killed.port} killed, :${failover.promoted.port} promoted in ${failover.ms} ms: ${allowed} of a ${limit.burst} burst allowed across 4 sidecars; ${duplicates.length} duplicate claims across 2 ingress replicas, all between ${new Date(killedAt).toISOString()} and ${new Date(recoveredAt).toISOString()} (${fallbacks} Redis failures fell back to memory)`,
      );
    },
  );
});

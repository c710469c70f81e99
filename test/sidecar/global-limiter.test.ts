// The global rate limit against a real Redis: decisions are atomic across clients, refill like the
// local bucket, leave keys that expire, and survive Redis going away (fail-open by default).
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import {
  GlobalRateLimiter,
  type GlobalRateLimiterOptions,
} from '../../sidecar/delivery/global-limiter.ts';
import { TokenBucket, type RateDecision } from '../../sidecar/delivery/token-bucket.ts';
import { freePort } from '../cluster/process.ts';
import { startRedis } from '../cluster/redis.ts';

describe('GlobalRateLimiter', () => {
  const clients: Redis[] = [];
  const connect = (
    url = inject('redisUrl'),
    options: {
      maxRetriesPerRequest?: number;
      enableOfflineQueue?: boolean;
      lazyConnect?: boolean;
    } = {},
  ): Redis => {
    const client = new Redis(url, { maxRetriesPerRequest: 1, ...options });
    // Failures reach the tests through commands; reconnect errors after a stop are expected.
    client.on('error', () => undefined);
    clients.push(client);
    return client;
  };
  afterAll(() => {
    for (const c of clients) c.disconnect();
  });
  /** A limiter on a scope key no other test uses. */
  const limiter = (
    redis: Redis,
    options: Partial<GlobalRateLimiterOptions> & Pick<GlobalRateLimiterOptions, 'limit'>,
  ): GlobalRateLimiter =>
    new GlobalRateLimiter({ redis, scopeKey: `test/${randomUUID()}`, clock: 'caller', ...options });
  const allowedCount = (decisions: RateDecision[]): number =>
    decisions.filter((d) => d.allowed).length;

  it.each([
    // the caller's clock, frozen: no refill can happen during the storm
    ['caller' as const],
    // Redis TIME: the storm lasts milliseconds, far less than one token's minute
    ['redis' as const],
  ])('lets exactly burst requests through 4 racing clients (clock %s)', async (clock) => {
    const scopeKey = `test/${randomUUID()}`;
    const limit = { rate: 1, per: 'minute' as const, burst: 25 };
    // One limiter per client, as in separate sidecar processes sharing one key.
    const limiters = Array.from(
      { length: 4 },
      () => new GlobalRateLimiter({ redis: connect(), scopeKey, limit, clock, timeoutMs: 5000 }),
    );
    const now = Date.now();
    const decisions = await Promise.all(
      Array.from({ length: 500 }, (_, i) => limiters[i % 4]!.take(now)),
    );
    expect(allowedCount(decisions)).toBe(25);
    for (const d of decisions.filter((d) => !d.allowed)) {
      if (clock === 'caller') expect(d).toEqual({ allowed: false, retryAfterMs: 60_000 });
      else expect(d.retryAfterMs).toBeGreaterThan(55_000);
    }
  });

  it('refills exactly like the local token bucket, decision for decision', async () => {
    const limit = { rate: 10, per: 'second' as const, burst: 3 };
    const global = limiter(connect(), { limit });
    const local = new TokenBucket(limit);
    // A fixed but irregular schedule: bursts, 1 ms gaps, exact refill points, long pauses.
    const gaps = [0, 0, 0, 0, 1, 99, 100, 0, 0, 33, 34, 33, 250, 0, 0, 0, 0, 1000, 1, 0, 0, 0, 7];
    let now = 1_700_000_000_000;
    const seen: [RateDecision, RateDecision][] = [];
    for (const gap of gaps) {
      now += gap;
      seen.push([await global.take(now), local.take(now)]);
    }
    for (const [g, l] of seen) expect(g).toEqual(l);
    expect(seen.slice(0, 6).map(([g]) => g)).toEqual([
      { allowed: true },
      { allowed: true },
      { allowed: true },
      { allowed: false, retryAfterMs: 100 },
      { allowed: false, retryAfterMs: 99 },
      { allowed: true },
    ]);
  });

  it('stores the bucket under hookgate:rl:<scope> with an expiry at the time it would be full', async () => {
    const redis = connect();
    const scopeKey = `test/${randomUUID()}`;
    const global = new GlobalRateLimiter({
      redis,
      scopeKey,
      limit: { rate: 1, per: 'second', burst: 5 },
      clock: 'caller',
    });
    expect(global.key).toBe(`hookgate:rl:${scopeKey}`);
    const now = 1_700_000_000_000;
    await global.take(now);
    expect(await redis.hgetall(global.key)).toEqual({ units: '4000', ts: String(now) });
    // one token short of full: gone in 1 s, when a fresh bucket would look the same
    const ttl = await redis.pttl(global.key);
    expect(ttl).toBeGreaterThan(500);
    expect(ttl).toBeLessThanOrEqual(1000);
    for (let i = 0; i < 4; i++) await global.take(now);
    expect(await redis.pttl(global.key)).toBeGreaterThan(4500);
  });

  it('honours a custom key prefix', async () => {
    const redis = connect();
    const global = limiter(redis, {
      limit: { rate: 1, per: 'second', burst: 1 },
      keyPrefix: 'other:',
    });
    await global.take(Date.now());
    expect(global.key.startsWith('other:test/')).toBe(true);
    expect(await redis.exists(global.key)).toBe(1);
  });

  it('reloads its script after Redis forgot it (EVALSHA → NOSCRIPT → EVAL)', async () => {
    const redis = connect();
    const global = limiter(redis, { limit: { rate: 1, per: 'second', burst: 2 } });
    expect(await global.take(0)).toEqual({ allowed: true });
    await redis.script('FLUSH');
    expect(await global.take(0)).toEqual({ allowed: true });
    expect(await global.take(0)).toEqual({ allowed: false, retryAfterMs: 1000 });
  });

  it('fails open to a local bucket when Redis stops answering, and reports each failure', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hookgate-redis-'));
    const own = await startRedis({ dir });
    try {
      // ioredis's defaults: commands queue while it reconnects, so only the timeout ends them.
      const redis = connect(own.url, { maxRetriesPerRequest: 20 });
      const errors: string[] = [];
      const global = limiter(redis, {
        limit: { rate: 1, per: 'minute', burst: 100 },
        fallbackLimit: { rate: 1, per: 'minute', burst: 2 },
        timeoutMs: 200,
        onRedisError: (err) => errors.push(err.message),
      });
      expect(await global.take(0)).toEqual({ allowed: true });
      expect(errors).toEqual([]);
      await own.stop();
      const decisions = [await global.take(0), await global.take(0), await global.take(0)];
      // the fallback bucket (burst 2) decided, not the global one (burst 100)
      expect(decisions).toEqual([
        { allowed: true },
        { allowed: true },
        { allowed: false, retryAfterMs: 60_000 },
      ]);
      expect(errors).toHaveLength(3);
    } finally {
      await own.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails closed when configured to, with the configured retry hint', async () => {
    // Nothing listens on this port; without an offline queue each command fails at once.
    const redis = connect(`redis://127.0.0.1:${await freePort()}`, {
      enableOfflineQueue: false,
      lazyConnect: true,
    });
    const errors: Error[] = [];
    const global = limiter(redis, {
      limit: { rate: 1, per: 'second', burst: 10 },
      failMode: 'closed',
      failClosedRetryAfterMs: 2500,
      onRedisError: (err) => errors.push(err),
    });
    expect(await global.take(0)).toEqual({ allowed: false, retryAfterMs: 2500 });
    expect(errors).toHaveLength(1);
  });
});

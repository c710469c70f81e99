// The one limiter factory, for egress endpoints and ingress receivers alike: a token bucket per
// pod, or a Redis-shared budget for `scope: global`. It keeps a limiter per key and settings, so a
// reload that leaves them alone keeps the bucket's state, and it says once per key when a global
// limit runs per pod (no Redis) and each time Redis fails (the limiter then counts per pod).
import type { RedisClient } from '../redis-connect.ts';
import type { Logger } from '../../common/log.ts';
import { GlobalRateLimiter } from './global-limiter.ts';
import type { LimitPlan } from './plan.ts';
import { TokenBucket, type RateLimiter } from './token-bucket.ts';

/** Makes and keeps rate limiters. */
export class LimiterFactory {
  readonly #limiters = new Map<string, RateLimiter>();
  readonly #warned = new Set<string>();
  readonly #redis: RedisClient | undefined;
  readonly #log: Logger;

  constructor(redis: RedisClient | undefined, log: Logger) {
    this.#redis = redis;
    this.#log = log;
  }

  /**
   * The limiter of `key` (an endpoint name, used in logs) under `limit`; `scopeKey` names its
   * shared budget in Redis, so two namespaces' "orders" never share one.
   */
  limiter(key: string, scopeKey: string, limit: LimitPlan | undefined): RateLimiter | undefined {
    if (limit === undefined) return undefined;
    const redis = limit.scope === 'global' ? this.#redis : undefined;
    const cacheKey = `${key}|${redis !== undefined}|${JSON.stringify(limit)}`;
    let limiter = this.#limiters.get(cacheKey);
    if (limiter !== undefined) return limiter;
    const bucket = { rate: limit.rate, per: limit.per, burst: limit.burst };
    if (limit.scope === 'global' && redis === undefined && !this.#warned.has(key)) {
      this.#warned.add(key);
      this.#log.warn('global rate limit without HOOKGATE_REDIS_URL: limiting per pod', {
        endpoint: key,
      });
    }
    limiter =
      redis === undefined
        ? new TokenBucket(bucket)
        : new GlobalRateLimiter({
            redis,
            scopeKey,
            limit: bucket,
            onRedisError: (err) =>
              this.#log.warn('global rate limiter: Redis unavailable, limiting per pod', {
                endpoint: key,
                error: err.message,
              }),
          });
    this.#limiters.set(cacheKey, limiter);
    return limiter;
  }
}

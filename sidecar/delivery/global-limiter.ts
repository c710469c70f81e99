// The `global` rate-limit scope: one token bucket per scope key, shared by every sidecar replica
// through Redis. Each decision is ONE round trip: a Lua script reads, refills, takes and writes
// the bucket atomically (Redis runs scripts one at a time), so many processes racing on one key
// can never both spend the last token. The bucket is the same as token-bucket.ts's, in the same
// integer units, so the global and the per-pod scopes decide alike.
//
// Clock. By default the script reads Redis's own `TIME`: every replica then measures refill on
// one clock, and skew between nodes cannot mint tokens. (Since Redis 5 scripts replicate their
// effects, so a non-deterministic TIME before writes is allowed; Redis 7 only works that way.)
// `clock: 'caller'` passes the caller's `now` instead — deterministic, which is what the tests
// use to prove refill exactly; a caller clock that lags only refills less (the script never
// moves a bucket's time backwards).
import { RedisScript, type RedisScriptClient } from '../redis-script.ts';
import {
  PERIOD_MS,
  TokenBucket,
  assertRateLimit,
  type RateDecision,
  type RateLimit,
  type RateLimiter,
} from './token-bucket.ts';

/** Prefix of every rate-limit key in Redis. */
export const RATE_LIMIT_KEY_PREFIX = 'hookgate:rl:';

// KEYS[1] bucket hash {units, ts}; ARGV: periodMs, rate, burst, now ('' = Redis TIME).
// Returns {allowed 0|1, retryAfterMs}. Numbers stay below 1e14, which Lua's %.14g keeps exact.
const TAKE = new RedisScript(`
local period = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local capacity = tonumber(ARGV[3]) * period
local now
if ARGV[4] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
else
  now = tonumber(ARGV[4])
end
local state = redis.call('HMGET', KEYS[1], 'units', 'ts')
local units = tonumber(state[1])
local ts = tonumber(state[2])
if units == nil or ts == nil then
  units = capacity
  ts = now
end
if now > ts then
  local elapsed = math.min(now - ts, math.ceil(capacity / rate))
  units = math.min(capacity, units + elapsed * rate)
  ts = now
end
local allowed = 0
local retry = 0
if units >= period then
  units = units - period
  allowed = 1
else
  retry = math.ceil((period - units) / rate)
end
redis.call('HSET', KEYS[1], 'units', units, 'ts', ts)
-- The key lives until the bucket would be full again; after that a missing key means the same.
redis.call('PEXPIRE', KEYS[1], math.max(1, math.ceil((capacity - units) / rate)))
return {allowed, retry}
`);

/** Options for {@link GlobalRateLimiter}. */
export interface GlobalRateLimiterOptions {
  readonly redis: RedisScriptClient;
  /** What the bucket is shared by, e.g. `<namespace>/<policy>/<endpoint>`. */
  readonly scopeKey: string;
  readonly limit: RateLimit;
  /**
   * When Redis fails or is slower than `timeoutMs`:
   * - `open` (default): decide on a local bucket. A Redis outage must not stop every webhook in
   *   the cluster, and the local bucket still bounds each pod, so receivers see at most
   *   replicas × the pod's limit instead of an unbounded burst.
   * - `closed`: refuse with `failClosedRetryAfterMs`, for receivers whose contractual limit must
   *   never be exceeded even at the price of delivery stopping.
   */
  readonly failMode?: 'open' | 'closed';
  /**
   * The local bucket's limit when failing open (default `limit`; `limit` divided by the replica
   * count keeps the total under it).
   */
  readonly fallbackLimit?: RateLimit;
  /** Retry hint of a fail-closed refusal (default 1000 ms). */
  readonly failClosedRetryAfterMs?: number;
  /** Longest wait for Redis before failing open or closed (default 100 ms). */
  readonly timeoutMs?: number;
  /** Whose clock measures refill: Redis `TIME` (default) or the `now` passed to `take`. */
  readonly clock?: 'redis' | 'caller';
  /** Key prefix (default {@link RATE_LIMIT_KEY_PREFIX}). */
  readonly keyPrefix?: string;
  /** Told about every Redis failure, for logs and metrics; the decision is made regardless. */
  readonly onRedisError?: (error: Error) => void;
}

/** A token bucket shared through Redis; one instance per scope key. */
export class GlobalRateLimiter implements RateLimiter {
  /** The Redis key of this bucket. */
  readonly key: string;
  readonly #options: GlobalRateLimiterOptions;
  readonly #args: readonly (string | number)[];
  readonly #fallback: TokenBucket | undefined;

  constructor(options: GlobalRateLimiterOptions) {
    assertRateLimit(options.limit);
    if (options.scopeKey === '') throw new RangeError('scopeKey must not be empty');
    this.#options = options;
    this.key = (options.keyPrefix ?? RATE_LIMIT_KEY_PREFIX) + options.scopeKey;
    const { rate, per, burst } = options.limit;
    this.#args = [PERIOD_MS[per], rate, burst];
    this.#fallback =
      (options.failMode ?? 'open') === 'open'
        ? new TokenBucket(options.fallbackLimit ?? options.limit)
        : undefined;
  }

  /** Takes one token; `now` (epoch ms) is read by `clock: 'caller'` and by the local fallback. */
  async take(now: number): Promise<RateDecision> {
    try {
      return await this.#takeFromRedis(now);
    } catch (err) {
      this.#options.onRedisError?.(err instanceof Error ? err : new Error(String(err)));
      if (this.#fallback !== undefined) return this.#fallback.take(now);
      return { allowed: false, retryAfterMs: this.#options.failClosedRetryAfterMs ?? 1000 };
    }
  }

  async #takeFromRedis(now: number): Promise<RateDecision> {
    const clockArg = (this.#options.clock ?? 'redis') === 'caller' ? Math.floor(now) : '';
    const args = [this.key, ...this.#args, clockArg] as const;
    const reply = await TAKE.run(this.#options.redis, this.#options.timeoutMs ?? 100, ...args);
    if (!Array.isArray(reply) || typeof reply[0] !== 'number' || typeof reply[1] !== 'number')
      throw new Error(`unexpected rate-limit script reply ${JSON.stringify(reply)}`);
    return reply[0] === 1 ? { allowed: true } : { allowed: false, retryAfterMs: reply[1] };
  }
}

// De-duplication shared by every replica through Redis. Each operation is one atomic script, so
// two replicas racing on one delivery id cannot both claim it. Values: `p:<token>` while a copy
// is with the app, `d` once delivered; the key's expiry is the claim's or the window's.
//
// When Redis fails or is slow the store falls back to the pod's own memory (fail open): a Redis
// outage must not stop webhooks, and duplicates across replicas are then possible, which
// at-least-once webhook delivery already obliges apps to tolerate.
import { RedisScript, type RedisScriptClient } from '../redis-script.ts';
import type { ClaimOutcome, DedupStore } from './dedup.ts';

/** The commands the store needs; an ioredis `Redis` (or `Cluster`) provides them. */
export type RedisEvalClient = RedisScriptClient;

const script = (text: string): RedisScript => new RedisScript(text);

// KEYS[1]; ARGV: claim value, claim TTL ms. Returns the value already there, or nil once claimed.
const CLAIM = script(`
local held = redis.call('GET', KEYS[1])
if held then return held end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
`);
// KEYS[1]; ARGV: window ms.
const COMMIT = script(`
redis.call('SET', KEYS[1], 'd', 'PX', ARGV[1])
return 1
`);
// KEYS[1]; ARGV: claim value. Deletes only our own claim, never a delivered mark or another's.
const RELEASE = script(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`);

/** Options for {@link RedisDedupStore}. */
export interface RedisDedupStoreOptions {
  readonly redis: RedisEvalClient;
  /** Used for every operation Redis fails or does not answer in time. */
  readonly fallback: DedupStore;
  /** Longest wait for Redis per operation (default 250 ms). */
  readonly timeoutMs?: number;
  /** Told about every Redis failure, for logs and metrics. */
  readonly onRedisError?: (error: Error) => void;
}

/** A {@link DedupStore} in Redis, failing open to `fallback`. */
export class RedisDedupStore implements DedupStore {
  readonly #options: RedisDedupStoreOptions;

  /** Creates the store; it owns no connection (the caller closes `redis`). */
  constructor(options: RedisDedupStoreOptions) {
    this.#options = options;
  }

  /** See {@link DedupStore.claim}. */
  async claim(key: string, token: string, claimTtlMs: number): Promise<ClaimOutcome> {
    try {
      const held = await this.#run(CLAIM, key, `p:${token}`, Math.max(1, Math.ceil(claimTtlMs)));
      if (held === null) return 'claimed';
      // ioredis replies with a string, or a Buffer for the *Buffer command variants.
      const value = Buffer.isBuffer(held) ? held.toString() : held;
      return value === 'd' ? 'delivered' : 'in-flight';
    } catch (err) {
      this.#report(err);
      return this.#options.fallback.claim(key, token, claimTtlMs);
    }
  }

  /** See {@link DedupStore.commit}. */
  async commit(key: string, windowMs: number): Promise<void> {
    try {
      await this.#run(COMMIT, key, Math.max(1, Math.ceil(windowMs)));
    } catch (err) {
      this.#report(err);
      // This pod at least remembers it; other replicas may forward a copy again.
      await this.#options.fallback.commit(key, windowMs);
    }
  }

  /** See {@link DedupStore.release}. */
  async release(key: string, token: string): Promise<void> {
    // The claim may have been taken in either place, depending on Redis at that moment.
    await this.#options.fallback.release(key, token);
    try {
      await this.#run(RELEASE, key, `p:${token}`);
    } catch (err) {
      // The claim then expires on its own; until it does, copies are answered as in flight.
      this.#report(err);
    }
  }

  #run(s: RedisScript, key: string, ...args: (string | number)[]): Promise<unknown> {
    return s.run(this.#options.redis, this.#options.timeoutMs ?? 250, key, ...args);
  }

  #report(err: unknown): void {
    this.#options.onRedisError?.(err instanceof Error ? err : new Error(String(err)));
  }
}

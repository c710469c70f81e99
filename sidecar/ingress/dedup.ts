// De-duplication of verified deliveries by the provider's delivery id. A delivery is *claimed*
// before it is forwarded, *committed* (remembered for the endpoint's window) once the app
// answered 2xx, and *released* otherwise, so the provider's retry of a failed delivery goes
// through. The claim makes two copies arriving at once (at two replicas, or one after a provider
// timeout while the first is still with the app) reach the app once, not twice.
import { createHash } from 'node:crypto';

/** Prefix of every de-duplication key, in Redis and in the local store alike. */
export const DEDUP_KEY_PREFIX = 'hookgate:dedup:';

/** What a claim found: the key is now ours, another copy is with the app, or it was delivered. */
export type ClaimOutcome = 'claimed' | 'in-flight' | 'delivered';

/** Where delivery ids are remembered: one pod's memory, or Redis shared by every replica. */
export interface DedupStore {
  /** Claims `key` for `claimTtlMs` (longer than a forward can take) unless it is already held. */
  claim(key: string, token: string, claimTtlMs: number): Promise<ClaimOutcome>;
  /** Remembers `key` as delivered for `windowMs`, replacing the claim. */
  commit(key: string, windowMs: number): Promise<void>;
  /** Drops the claim `token` holds on `key`; a key claimed by someone else is left alone. */
  release(key: string, token: string): Promise<void>;
}

// Delivery ids are opaque provider strings; printable ones up to this length stay readable in
// Redis (`redis-cli --scan`), anything else is hashed so a key's size stays bounded.
const READABLE_ID = /^[\x21-\x7e]{1,128}$/;

const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

/**
 * The key of one delivery: `hookgate:dedup:<scope>:<id>`, plus `:<hash>` of the signature header
 * (`binding`) for schemes whose id is not signed. The hash has a fixed length, so the key reads
 * back unambiguously whatever the id contains.
 */
export function deliveryKey(scope: string, deliveryId: string, binding?: string): string {
  const id = READABLE_ID.test(deliveryId) ? deliveryId : `sha256:${sha256(deliveryId)}`;
  const bound = binding === undefined ? '' : `:${sha256(binding).slice(0, 32)}`;
  return `${DEDUP_KEY_PREFIX}${scope}:${id}${bound}`;
}

/** One remembered key. */
interface Entry {
  readonly state: 'pending' | 'delivered';
  readonly token: string;
  readonly expiresAt: number;
}

/** Options for {@link LocalDedupStore}. */
export interface LocalDedupStoreOptions {
  /** Most keys held; past it the oldest is forgotten (default 100 000, about 20 MB). */
  readonly capacity?: number;
  /** Clock in epoch ms. */
  readonly now: () => number;
}

/**
 * The store of a pod without Redis: a Map in insertion order with per-key expiry. Bounded: past
 * `capacity` the oldest key is forgotten early, trading a rare late duplicate for memory that
 * cannot grow without limit.
 */
export class LocalDedupStore implements DedupStore {
  readonly #entries = new Map<string, Entry>();
  readonly #capacity: number;
  readonly #now: () => number;

  /** Creates an empty store. */
  constructor(options: LocalDedupStoreOptions) {
    const capacity = options.capacity ?? 100_000;
    if (!Number.isSafeInteger(capacity) || capacity < 1) {
      throw new RangeError(`capacity must be a positive integer (got ${capacity})`);
    }
    this.#capacity = capacity;
    this.#now = options.now;
  }

  /** Keys held, expired or not (for tests and metrics). */
  get size(): number {
    return this.#entries.size;
  }

  /** See {@link DedupStore.claim}. */
  claim(key: string, token: string, claimTtlMs: number): Promise<ClaimOutcome> {
    const now = this.#now();
    const entry = this.#entries.get(key);
    if (entry !== undefined && entry.expiresAt > now) {
      return Promise.resolve(entry.state === 'delivered' ? 'delivered' : 'in-flight');
    }
    this.#set(key, { state: 'pending', token, expiresAt: now + claimTtlMs }, now);
    return Promise.resolve('claimed');
  }

  /** See {@link DedupStore.commit}. */
  commit(key: string, windowMs: number): Promise<void> {
    const now = this.#now();
    this.#set(key, { state: 'delivered', token: '', expiresAt: now + windowMs }, now);
    return Promise.resolve();
  }

  /** See {@link DedupStore.release}. */
  release(key: string, token: string): Promise<void> {
    const entry = this.#entries.get(key);
    if (entry?.state === 'pending' && entry.token === token) this.#entries.delete(key);
    return Promise.resolve();
  }

  /** Inserts at the young end, then trims expired keys and the overflow from the old end. */
  #set(key: string, entry: Entry, now: number): void {
    this.#entries.delete(key);
    this.#entries.set(key, entry);
    for (const [oldKey, old] of this.#entries) {
      if (old.expiresAt > now && this.#entries.size <= this.#capacity) break;
      this.#entries.delete(oldKey);
    }
  }
}

// The budget for webhooks that fail verification, kept per endpoint and source address. An
// endpoint's own rate limit is charged only after a request verifies (an unsigned flood must not
// spend a provider's budget); this one sits in front, with the same rate and burst, so that a
// source sending forgeries is slowed before its bodies are read and hashed, while a genuine
// provider sending from another address never shares it. Endpoints without a rate limit have
// neither.
import { parseIp } from '../delivery/ssrf/ip-address.ts';
import { TokenBucket, type RateDecision, type RateLimit } from '../delivery/token-bucket.ts';
import type { IngressEndpoint } from '../config/schema.ts';

/** (Endpoint, source) pairs remembered at most; the least recently charged is forgotten first. */
export const MAX_SOURCES = 10_000;

/** One source's failure budget at one endpoint. */
export interface FailureSource {
  readonly key: string;
  readonly limit: RateLimit;
}

/** The key a peer is counted under: its IPv4 address, or its IPv6 /64 (one host's usual share). */
export function sourceKey(remoteAddress: string | undefined): string {
  const ip = remoteAddress === undefined ? undefined : parseIp(remoteAddress);
  if (ip === undefined) return 'unknown';
  // An IPv4-mapped peer (a dual-stack listener) is its IPv4 address.
  if (ip.family === 6 && ip.value >> 32n === 0xffffn) return `v4:${ip.value & 0xffffffffn}`;
  return ip.family === 4 ? `v4:${ip.value}` : `v6:${(ip.value >> 64n).toString(16)}`;
}

/** The failure budget of `remoteAddress` at an endpoint (`scope`); undefined: not limited. */
export function failureSource(
  scope: string,
  rateLimit: IngressEndpoint['rateLimit'],
  remoteAddress: string | undefined,
): FailureSource | undefined {
  if (rateLimit === undefined) return undefined;
  const limit = {
    rate: rateLimit.rate,
    per: rateLimit.per,
    burst: rateLimit.burst ?? rateLimit.rate,
  };
  return { key: `${scope}|${JSON.stringify(limit)}|${sourceKey(remoteAddress)}`, limit };
}

/** Token buckets of failed verifications, bounded to {@link MAX_SOURCES}. */
export class FailureLimiter {
  readonly #buckets = new Map<string, TokenBucket>();
  readonly #maxSources: number;

  constructor(maxSources = MAX_SOURCES) {
    this.#maxSources = maxSources;
  }

  /** Whether `source` may still send: refused once its failures used the bucket up. Takes nothing. */
  admits(source: FailureSource, now: number): RateDecision {
    const bucket = this.#buckets.get(source.key);
    if (bucket === undefined || bucket.available(now) >= 1) return { allowed: true };
    // With no token there, take refuses and charges nothing: it only says when the next comes.
    return bucket.take(now);
  }

  /** Charges one failed verification to `source`. */
  charge(source: FailureSource, now: number): void {
    let bucket = this.#buckets.get(source.key);
    if (bucket === undefined) {
      bucket = new TokenBucket(source.limit);
      if (this.#buckets.size >= this.#maxSources) {
        const oldest = this.#buckets.keys().next().value;
        if (oldest !== undefined) this.#buckets.delete(oldest);
      }
    } else this.#buckets.delete(source.key);
    // Re-inserted at the end: the Map's order is recency order.
    this.#buckets.set(source.key, bucket);
    bucket.take(now);
  }

  /** Budgets currently remembered (tests). */
  get size(): number {
    return this.#buckets.size;
  }
}

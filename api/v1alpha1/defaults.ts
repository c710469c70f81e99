// The one table of a policy's defaults, bounds and word lists. The API schema (what
// `kubectl explain` prints) interpolates the defaults into its descriptions and enforces the
// bounds; the sidecar schema applies the same defaults and bounds; api/defaults.test.ts proves
// the documented default of every field is the one the sidecar applies.
import { z } from 'zod';

/** Failure classes a policy may retry. */
export const RETRY_ON = ['connect-error', 'timeout', '5xx', '429', '408'] as const;
/** Backoff jitter: `full` spreads each delay over [0, delay], `none` keeps it exact. */
export const JITTER = ['full', 'none'] as const;
/** The unit of a rate limit. */
export const RATE_PER = ['second', 'minute'] as const;
/** Who shares a rate-limit budget: each pod, or every pod through Redis. */
export const RATE_SCOPE = ['pod', 'global'] as const;
/** How the app hands a webhook over. */
export const DELIVERY_MODE = ['sync', 'async'] as const;
/** Whether deliveries to one endpoint keep their accept order. */
export const DELIVERY_ORDERING = ['none', 'per-endpoint'] as const;
/** HMAC hash algorithms (generic HMAC signing and verification). */
export const HMAC_ALGORITHM = ['sha256', 'sha512'] as const;
/** Signature encodings (generic HMAC). */
export const HMAC_ENCODING = ['hex', 'base64'] as const;
/** How outgoing webhooks may be signed (the sidecar adds `none` for unsigned routes). */
export const SIGNING_SCHEMES = ['standard-webhooks', 'github', 'hmac'] as const;
/** How incoming webhooks may be verified. */
export const VERIFY_SCHEMES = [
  'standard-webhooks',
  'github',
  'stripe',
  'shopify',
  'slack',
  'hmac',
  'basic',
  'bearer',
] as const;
/** Which bodies the delivery history keeps: none, cut at maxBodyBytes, or whole. */
export const HISTORY_BODIES = ['none', 'truncated', 'full'] as const;
/** TLS versions an endpoint may require of its receiver (`spec.tls.minVersion`). */
export const TLS_VERSIONS = ['TLSv1.2', 'TLSv1.3'] as const;

/**
 * The defaults of a WebhookEndpoint's credential and lifecycle fields (ADR 0021): documented by
 * the CRD, applied by the sidecar schema.
 */
export const ENDPOINT_DEFAULTS = {
  paused: false,
  tls: { minVersion: 'TLSv1.2' },
  oauth2: {
    /** A cached token is renewed this long before it expires. */
    refreshBefore: '30s',
    /** Lifetime assumed when the token endpoint sends no expires_in. */
    defaultLifetime: '5m',
  },
} as const;

/**
 * Hookgate's own event types (ADR 0025), named as Svix and Convoy name theirs, under `hookgate.`:
 * an egress endpoint lists those it wants in `spec.operationalEvents`.
 */
export const OPERATIONAL_EVENT_TYPES = [
  'hookgate.endpoint.disabled',
  'hookgate.endpoint.enabled',
  'hookgate.circuit.opened',
  'hookgate.circuit.closed',
  'hookgate.delivery.dead_lettered',
  'hookgate.delivery.attempts_exhausted',
] as const;

/**
 * The operational events a sidecar sends itself, one per delivery, the moment it sees them (the
 * operator sends the rest, from the health it aggregates): an async delivery that used up its
 * attempts and was dead-lettered (Svix's `message.attempt.exhausted`).
 */
export const SIDECAR_OPERATIONAL_EVENT_TYPES = ['hookgate.delivery.attempts_exhausted'] as const;

/** What happens to a verified webhook no ingress route takes. */
export const UNROUTED = ['default', 'refuse', 'drop'] as const;

/** The defaults of a WebhookPolicy's fields: documented by the CRD, applied by the sidecar. */
export const POLICY_DEFAULTS = {
  timeout: '10s',
  retry: {
    maxAttempts: 3,
    backoff: { initial: '200ms', max: '10s', multiplier: 2, jitter: 'full' },
    retryOn: RETRY_ON,
    honorRetryAfter: true,
    maxRetryAfter: '1m',
    syncDeadline: '30s',
    schedule: ['0s', '5s', '5m', '30m', '2h', '5h', '10h', '10h'],
  },
  rateLimit: { per: 'second', scope: 'pod' },
  circuitBreaker: { window: '30s', minimumRequests: 20, openDuration: '30s', halfOpenProbes: 1 },
  maxPayloadBytes: 1_048_576,
  delivery: { mode: 'sync', ordering: 'none' },
  history: {
    maxDeliveries: 10_000,
    maxAge: '72h',
    maxBytes: 67_108_864,
    bodies: 'truncated',
    maxBodyBytes: 4096,
  },
} as const;

/** An inclusive integer (or number) range. */
export interface Bound {
  readonly min: number;
  readonly max: number;
}

/** The bounds of a policy's numbers, enforced by both schemas. */
export const POLICY_BOUNDS = {
  maxAttempts: { min: 1, max: 50 },
  multiplier: { min: 1, max: 10 },
  scheduleEntries: { min: 1, max: 30 },
  rate: { min: 1, max: 1_000_000 },
  burst: { min: 1, max: 1_000_000 },
  consecutiveFailures: { min: 1, max: 1000 },
  failureRatePercent: { min: 1, max: 100 },
  minimumRequests: { min: 1, max: 100_000 },
  halfOpenProbes: { min: 1, max: 100 },
  maxPayloadBytes: { min: 1, max: 26_214_400 },
  fanOutMaxEndpoints: { min: 1, max: 10_000 },
  historyMaxDeliveries: { min: 1, max: 1_000_000 },
  historyMaxBytes: { min: 65_536, max: 4_294_967_296 },
  historyMaxBodyBytes: { min: 0, max: 1_048_576 },
  historySecretHeaders: { min: 0, max: 64 },
  deadLettersInARow: { min: 1, max: 100_000 },
} as const satisfies Record<string, Bound>;

/** An integer field within `bound`. */
export function boundedInt(bound: Bound): z.ZodNumber {
  return z.number().int().min(bound.min).max(bound.max);
}

/** A number field within `bound`. */
export function boundedNumber(bound: Bound): z.ZodNumber {
  return z.number().min(bound.min).max(bound.max);
}

/** A default as a description writes it: lists joined with ", ". */
export function formatDefault(value: unknown): string {
  return Array.isArray(value) ? value.map(String).join(', ') : String(value);
}

/** The sentence ending a description: `Default: <value>.` */
export function documentedDefault(value: unknown): string {
  return `Default: ${formatDefault(value)}.`;
}

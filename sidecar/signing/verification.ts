// What every verifier shares: the header lookup, the result shape, and the replay window.
import { SigningError, VERIFY_FAILURE_STATUS, type VerifyFailureCode } from './errors.ts';

/**
 * Request headers as Node's `IncomingHttpHeaders` gives them: lower-case keys, `string` or
 * `string[]` values. Mixed-case keys are found too, for callers that build headers by hand.
 */
export type HeaderBag = Readonly<Record<string, string | readonly string[] | undefined>>;

/** Ingress schemes, as named in `WebhookEndpoint.spec.verify.scheme`. */
export type VerifyScheme =
  | 'standard-webhooks'
  | 'github'
  | 'stripe'
  | 'shopify'
  | 'slack'
  | 'hmac'
  | 'basic-auth'
  | 'bearer-token';

/** An accepted webhook and what the scheme told us about it. */
export interface VerifySuccess {
  readonly ok: true;
  readonly scheme: VerifyScheme;
  /** The provider's delivery id, for de-duplication, when the scheme carries one. */
  readonly deliveryId?: string;
  /** The signed timestamp in unix seconds, when the scheme signs one. */
  readonly timestamp?: number;
}

/** A refused webhook: a stable code, its HTTP status and a reason naming the header. */
export interface VerifyFailure {
  readonly ok: false;
  readonly scheme: VerifyScheme;
  readonly code: VerifyFailureCode;
  readonly statusCode: 400 | 401;
  /** For logs and problem bodies; names headers, never echoes a secret or a signature. */
  readonly reason: string;
}

/** Outcome of one verification. */
export type VerifyResult = VerifySuccess | VerifyFailure;

/**
 * Verifies one incoming webhook over its exact body bytes. `nowMs` is the current time in epoch
 * milliseconds (`Date.now()`), injected so tests and replays are deterministic.
 */
export type Verifier = (headers: HeaderBag, body: Buffer, nowMs: number) => VerifyResult;

/** Replay window when none is configured: five minutes either way, as Standard Webhooks and Stripe use. */
export const DEFAULT_TOLERANCE_SECONDS = 300;

/**
 * Reads one header. Empty values count as absent. Repeated headers are joined with `", "`, which
 * is what Node itself does for repeated custom headers, so the result does not depend on who
 * parsed the request; a repeated signature header then simply fails to match.
 */
export function readHeader(headers: HeaderBag, lowerName: string): string | undefined {
  let value = headers[lowerName];
  if (value === undefined) {
    for (const key of Object.keys(headers)) {
      if (key.toLowerCase() === lowerName) {
        value = headers[key];
        break;
      }
    }
  }
  const joined = typeof value === 'string' ? value : value?.join(', ');
  return joined === undefined || joined === '' ? undefined : joined;
}

/** Builds a failure with the status its code maps to. */
export function fail(scheme: VerifyScheme, code: VerifyFailureCode, reason: string): VerifyFailure {
  return { ok: false, scheme, code, statusCode: VERIFY_FAILURE_STATUS[code], reason };
}

/** Builds a success, leaving out the fields the scheme does not carry. */
export function succeed(
  scheme: VerifyScheme,
  deliveryId: string | undefined,
  timestamp: number | undefined,
): VerifySuccess {
  return {
    ok: true,
    scheme,
    ...(deliveryId === undefined ? {} : { deliveryId }),
    ...(timestamp === undefined ? {} : { timestamp }),
  };
}

/** Parses a unix-seconds timestamp header: decimal digits only, nothing else accepted. */
export function parseUnixSeconds(value: string): number | undefined {
  if (!/^\d{1,15}$/.test(value)) return undefined;
  return Number(value);
}

/** The replay check: undefined when `timestamp` is within `toleranceSeconds` of now, either way. */
export function checkTimestamp(
  scheme: VerifyScheme,
  headerName: string,
  timestamp: number,
  nowMs: number,
  toleranceSeconds: number,
): VerifyFailure | undefined {
  const nowSeconds = Math.floor(nowMs / 1000);
  if (nowSeconds - timestamp > toleranceSeconds) {
    return fail(
      scheme,
      'timestamp_stale',
      `${headerName} is more than ${toleranceSeconds}s in the past`,
    );
  }
  if (timestamp - nowSeconds > toleranceSeconds) {
    return fail(
      scheme,
      'timestamp_future',
      `${headerName} is more than ${toleranceSeconds}s in the future`,
    );
  }
  return undefined;
}

/** Validates a configured tolerance once, at construction; the default applies when unset. */
export function toleranceOption(value: number | undefined, path: string): number {
  if (value === undefined) return DEFAULT_TOLERANCE_SECONDS;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new SigningError(
      'ERR_SIGNING_OPTIONS_INVALID',
      `${path} must be a positive whole number of seconds`,
    );
  }
  return value;
}

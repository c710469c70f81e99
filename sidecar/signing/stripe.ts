// Stripe (ingress only): `Stripe-Signature: t=<unix seconds>,v1=<hex>,v1=<hex>,v0=<hex>` over
// `${t}.${body}`. Stripe keys the HMAC with the whole `whsec_...` string as UTF-8 (it does not
// base64-decode it as Standard Webhooks does). Several v1 entries appear while a secret rolls.
import { hmac, signatureEquals, utf8Keys } from './hmac.ts';
import {
  checkTimestamp,
  fail,
  parseUnixSeconds,
  readHeader,
  succeed,
  toleranceOption,
  type Verifier,
} from './verification.ts';

const SIGNATURE_HEADER = 'stripe-signature';

/** Ingress options: a signature made with any listed secret passes. */
export interface StripeVerifyOptions {
  readonly scheme: 'stripe';
  /** Endpoint signing secrets (`whsec_...`), used as written. */
  readonly secrets: readonly string[];
  /** Replay window in seconds, both directions (default 300, as Stripe's own libraries use). */
  readonly toleranceSeconds?: number | undefined;
}

/** The Stripe event id (`evt_...`) from a verified JSON body, if the body has one. */
function eventId(body: Buffer): string | undefined {
  try {
    const parsed: unknown = JSON.parse(body.toString('utf8'));
    if (typeof parsed === 'object' && parsed !== null && 'id' in parsed) {
      const { id } = parsed;
      if (typeof id === 'string' && id !== '') return id;
    }
  } catch {
    // A body that is not JSON is still a verified webhook; it just has no id to report.
  }
  return undefined;
}

/** Builds the ingress verifier. v0 (test-mode legacy) signatures are ignored. */
export function createStripeVerifier(options: StripeVerifyOptions): Verifier {
  const keys = utf8Keys(options.secrets, 'secrets');
  const tolerance = toleranceOption(options.toleranceSeconds, 'toleranceSeconds');
  const scheme = 'stripe';
  return (headers, body, nowMs) => {
    const header = readHeader(headers, SIGNATURE_HEADER);
    if (header === undefined) {
      return fail(scheme, 'header_missing', 'Stripe-Signature header is missing');
    }
    let t: string | undefined;
    const received: string[] = [];
    for (const item of header.split(',')) {
      const eq = item.indexOf('=');
      if (eq <= 0) {
        return fail(scheme, 'header_malformed', 'Stripe-Signature items must be "<key>=<value>"');
      }
      const name = item.slice(0, eq).trim();
      const value = item.slice(eq + 1).trim();
      if (name === 't') {
        // Two timestamps would make "which one was signed" ambiguous.
        if (t !== undefined) {
          return fail(scheme, 'header_malformed', 'Stripe-Signature has more than one t=');
        }
        t = value;
      } else if (name === 'v1') {
        received.push(value);
      }
    }
    const timestamp = t === undefined ? undefined : parseUnixSeconds(t);
    if (timestamp === undefined) {
      return fail(scheme, 'header_malformed', 'Stripe-Signature has no valid t=<unix seconds>');
    }
    if (received.length === 0) {
      return fail(scheme, 'signature_mismatch', 'Stripe-Signature carries no v1 signature');
    }
    const matched = keys.some((key) => {
      const expected = hmac(key, 'sha256', [`${timestamp}.`, body], 'hex');
      return received.some((candidate) => signatureEquals(candidate, expected));
    });
    if (!matched) {
      return fail(scheme, 'signature_mismatch', 'Stripe-Signature matches no configured secret');
    }
    // Checked after the signature so that 400 always means "authentic, but outside the window".
    const stale = checkTimestamp(scheme, 'Stripe-Signature t=', timestamp, nowMs, tolerance);
    return stale ?? succeed(scheme, eventId(body), timestamp);
  };
}

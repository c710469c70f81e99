// Standard Webhooks (https://www.standardwebhooks.com), the default egress scheme and an ingress
// scheme (Svix sends the same thing under `svix-*` header names). Signed content is
// `${id}.${timestamp}.${body}`; the header lists `v1,<base64>` signatures, one per active secret.
import type { KeyObject } from 'node:crypto';
import { createSecretKey } from 'node:crypto';
import { SigningError } from './errors.ts';
import { hmac, isNonEmptyList, signatureEquals } from './hmac.ts';
import { checkSignInput, type Signer } from './signer.ts';
import {
  checkTimestamp,
  fail,
  parseUnixSeconds,
  readHeader,
  succeed,
  toleranceOption,
  type HeaderBag,
  type Verifier,
  type VerifyFailure,
} from './verification.ts';

const SECRET_PREFIX = 'whsec_';
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
// The spec's recommended key size. We hold our own egress secrets to it; ingress secrets are
// whatever the provider issued, so there any non-empty key is accepted.
const MIN_SIGNING_KEY_BYTES = 24;
const MAX_SIGNING_KEY_BYTES = 64;

/** Egress options: every listed secret signs, so receivers can roll keys without downtime. */
export interface StandardWebhooksSigningOptions {
  readonly scheme: 'standard-webhooks';
  /** Active secrets in `whsec_<base64>` form; several during a key rotation. */
  readonly secrets: readonly string[];
}

/** Ingress options: a signature made with any listed secret passes. */
export interface StandardWebhooksVerifyOptions {
  readonly scheme: 'standard-webhooks';
  /** Accepted secrets in `whsec_<base64>` form; several during a key rotation. */
  readonly secrets: readonly string[];
  /** Replay window in seconds, both directions (default 300). */
  readonly toleranceSeconds?: number | undefined;
}

/** Problems with one `whsec_` secret, or undefined when it is usable. Never quotes the secret. */
function secretProblem(secret: unknown, sizeChecked: boolean): string | undefined {
  if (typeof secret !== 'string' || !secret.startsWith(SECRET_PREFIX)) {
    return `must start with "${SECRET_PREFIX}"`;
  }
  const encoded = secret.slice(SECRET_PREFIX.length);
  if (encoded.length === 0 || !BASE64.test(encoded)) {
    return `must be "${SECRET_PREFIX}" followed by padded standard base64`;
  }
  const bytes =
    (encoded.length / 4) * 3 - (encoded.endsWith('==') ? 2 : encoded.endsWith('=') ? 1 : 0);
  if (sizeChecked && (bytes < MIN_SIGNING_KEY_BYTES || bytes > MAX_SIGNING_KEY_BYTES)) {
    // Not the length it has: a fact about a secret is not for logs (issue 15, item 5).
    return `must decode to ${MIN_SIGNING_KEY_BYTES}-${MAX_SIGNING_KEY_BYTES} bytes`;
  }
  return undefined;
}

/**
 * Decodes `whsec_<base64>` secrets into keys, reporting every bad entry at once (by index, never
 * by value). `forSigning` also enforces the spec's 24-64 byte key size.
 */
export function parseStandardWebhooksSecrets(
  secrets: readonly string[],
  path: string,
  forSigning: boolean,
): readonly KeyObject[] {
  if (!isNonEmptyList(secrets)) {
    throw new SigningError('ERR_SECRET_INVALID', `${path} must list at least one secret`);
  }
  const problems = secrets.flatMap((secret, i) => {
    const problem = secretProblem(secret, forSigning);
    return problem === undefined ? [] : [`${path}[${i}] ${problem}`];
  });
  if (problems.length > 0) throw new SigningError('ERR_SECRET_INVALID', problems.join('; '));
  return Object.freeze(
    secrets.map((s) => createSecretKey(Buffer.from(s.slice(SECRET_PREFIX.length), 'base64'))),
  );
}

/** The `v1,<base64>` signature of one message under one key. */
export function standardWebhooksSignature(
  key: KeyObject,
  deliveryId: string,
  timestamp: number,
  body: Buffer,
): string {
  return `v1,${hmac(key, 'sha256', [`${deliveryId}.${timestamp}.`, body], 'base64')}`;
}

/** Builds the egress signer: `webhook-id`, `webhook-timestamp`, `webhook-signature`. */
export function createStandardWebhooksSigner(options: StandardWebhooksSigningOptions): Signer {
  const keys = parseStandardWebhooksSecrets(options.secrets, 'secrets', true);
  return (input) => {
    checkSignInput(input);
    const { deliveryId, timestamp, body } = input;
    return {
      'webhook-id': deliveryId,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': keys
        .map((key) => standardWebhooksSignature(key, deliveryId, timestamp, body))
        .join(' '),
    };
  };
}

/** Reads `webhook-<name>`, falling back to Svix's `svix-<name>`; returns the name found too. */
function readAliased(
  headers: HeaderBag,
  name: 'id' | 'timestamp' | 'signature',
): { header: string; value: string | undefined } {
  const standard = readHeader(headers, `webhook-${name}`);
  if (standard !== undefined) return { header: `webhook-${name}`, value: standard };
  return { header: `svix-${name}`, value: readHeader(headers, `svix-${name}`) };
}

/** Builds the ingress verifier; accepts the `svix-*` aliases of each header. */
export function createStandardWebhooksVerifier(options: StandardWebhooksVerifyOptions): Verifier {
  const keys = parseStandardWebhooksSecrets(options.secrets, 'secrets', false);
  const tolerance = toleranceOption(options.toleranceSeconds, 'toleranceSeconds');
  const scheme = 'standard-webhooks';
  const missing = (name: string): VerifyFailure =>
    fail(scheme, 'header_missing', `webhook-${name} (or svix-${name}) header is missing`);
  return (headers, body, nowMs) => {
    const id = readAliased(headers, 'id');
    const ts = readAliased(headers, 'timestamp');
    const sig = readAliased(headers, 'signature');
    if (id.value === undefined) return missing('id');
    if (ts.value === undefined) return missing('timestamp');
    if (sig.value === undefined) return missing('signature');
    const deliveryId = id.value;
    const timestamp = parseUnixSeconds(ts.value);
    if (timestamp === undefined) {
      return fail(scheme, 'header_malformed', `${ts.header} is not a unix timestamp in seconds`);
    }
    const received: string[] = [];
    for (const entry of sig.value.split(' ')) {
      if (entry === '') continue;
      const comma = entry.indexOf(',');
      if (comma <= 0) {
        return fail(
          scheme,
          'header_malformed',
          `${sig.header} entries must be "<version>,<signature>"`,
        );
      }
      // Other versions (v1a is asymmetric) are not ours to check; the spec says to skip them.
      if (entry.slice(0, comma) === 'v1') received.push(entry.slice(comma + 1));
    }
    if (received.length === 0) {
      return fail(scheme, 'signature_mismatch', `${sig.header} carries no v1 signature`);
    }
    // Verify the signature before the clock, so a forged request always reads as 401 and a 400
    // means an authentic message outside the window (a replay or a skewed clock).
    const matched = keys.some((key) => {
      const expected = standardWebhooksSignature(key, deliveryId, timestamp, body).slice(3);
      return received.some((candidate) => signatureEquals(candidate, expected));
    });
    if (!matched) {
      return fail(scheme, 'signature_mismatch', `${sig.header} matches no configured secret`);
    }
    return (
      checkTimestamp(scheme, ts.header, timestamp, nowMs, tolerance) ??
      succeed(scheme, deliveryId, timestamp)
    );
  };
}

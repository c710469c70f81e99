// HMAC and comparison primitives every scheme shares. Keys become KeyObjects once, at
// construction, so a request costs only the HMAC itself; every comparison is constant-time.
import {
  createHash,
  createHmac,
  createSecretKey,
  timingSafeEqual,
  type KeyObject,
} from 'node:crypto';
import { SigningError } from './errors.ts';

/** HMAC hash functions a generic scheme may choose. */
export type HmacAlgorithm = 'sha256' | 'sha512';

/** How a signature is written into a header. */
export type SignatureEncoding = 'hex' | 'base64';

/**
 * Turns a UTF-8 secret (GitHub, Stripe, Shopify, Slack, generic HMAC all key the HMAC with the
 * secret's bytes as written) into a key. `path` names the option in the error; the secret is
 * never part of a message.
 */
export function utf8Key(secret: string, path: string): KeyObject {
  if (typeof secret !== 'string' || secret.length === 0) {
    throw new SigningError('ERR_SECRET_INVALID', `${path} must be a non-empty string`);
  }
  return createSecretKey(Buffer.from(secret, 'utf8'));
}

/**
 * True for an array with at least one entry. Takes `unknown` on purpose: options may come from
 * hand-written YAML that escaped the types, and narrowing here would widen the caller's type.
 */
export function isNonEmptyList(value: unknown): boolean {
  return Array.isArray(value) && value.length > 0;
}

/** Builds one key per secret of a non-empty list, naming each by its index on error. */
export function utf8Keys(secrets: readonly string[], path: string): readonly KeyObject[] {
  if (!isNonEmptyList(secrets)) {
    throw new SigningError('ERR_SECRET_INVALID', `${path} must list at least one secret`);
  }
  return Object.freeze(secrets.map((secret, i) => utf8Key(secret, `${path}[${i}]`)));
}

/** HMAC of the concatenation of `parts` (strings as UTF-8, buffers as raw bytes). */
export function hmac(
  key: KeyObject,
  algorithm: HmacAlgorithm,
  parts: readonly (string | Buffer)[],
  encoding: SignatureEncoding,
): string {
  const mac = createHmac(algorithm, key);
  for (const part of parts) mac.update(part);
  return mac.digest(encoding);
}

/**
 * Constant-time equality of a received signature and an expected one. The expected length is
 * public (it follows from the algorithm and encoding), so a length mismatch may return early
 * without telling the sender anything about the secret.
 */
export function signatureEquals(received: string, expected: string): boolean {
  const a = Buffer.from(received, 'utf8');
  const b = Buffer.from(expected, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * A credential (password, bearer token) prepared for constant-time comparison. Comparing
 * SHA-256 digests keeps both sides at 32 bytes, so neither the content nor the length of the
 * configured credential leaks through timing.
 */
export function credentialDigest(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/** Constant-time equality of a received credential and a digest from `credentialDigest`. */
export function credentialEquals(received: string, expectedDigest: Buffer): boolean {
  return timingSafeEqual(credentialDigest(received), expectedDigest);
}

// GitHub-style signatures: `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the body>`, keyed
// with the secret's UTF-8 bytes. Nothing else is signed: no timestamp, no delivery id.
import { hmac, signatureEquals, utf8Key, utf8Keys } from './hmac.ts';
import type { Signer } from './signer.ts';
import { fail, readHeader, succeed, type Verifier } from './verification.ts';

const SIGNATURE_HEADER = 'x-hub-signature-256';
const DELIVERY_HEADER = 'x-github-delivery';
const PREFIX = 'sha256=';

/** Egress options: one secret, since the header carries one signature. */
export interface GitHubSigningOptions {
  readonly scheme: 'github';
  /** The shared secret, used as UTF-8 bytes (as GitHub does). */
  readonly secret: string;
}

/** Ingress options: a signature made with any listed secret passes (rotation). */
export interface GitHubVerifyOptions {
  readonly scheme: 'github';
  /** Accepted webhook secrets, used as UTF-8 bytes. */
  readonly secrets: readonly string[];
}

/** Builds the egress signer: `x-hub-signature-256`. Timestamp and id are not part of the scheme. */
export function createGitHubSigner(options: GitHubSigningOptions): Signer {
  const key = utf8Key(options.secret, 'secret');
  return ({ body }) => ({ [SIGNATURE_HEADER]: PREFIX + hmac(key, 'sha256', [body], 'hex') });
}

/**
 * Builds the ingress verifier. `X-GitHub-Delivery` is reported as the delivery id; note that
 * GitHub does not sign it, and signs no timestamp, so this scheme has no replay window.
 */
export function createGitHubVerifier(options: GitHubVerifyOptions): Verifier {
  const keys = utf8Keys(options.secrets, 'secrets');
  const scheme = 'github';
  return (headers, body) => {
    const header = readHeader(headers, SIGNATURE_HEADER);
    if (header === undefined) {
      return fail(scheme, 'header_missing', 'X-Hub-Signature-256 header is missing');
    }
    if (!header.startsWith(PREFIX)) {
      return fail(scheme, 'header_malformed', 'X-Hub-Signature-256 must start with "sha256="');
    }
    const received = header.slice(PREFIX.length);
    const matched = keys.some((key) =>
      signatureEquals(received, hmac(key, 'sha256', [body], 'hex')),
    );
    if (!matched) {
      return fail(scheme, 'signature_mismatch', 'X-Hub-Signature-256 matches no configured secret');
    }
    return succeed(scheme, readHeader(headers, DELIVERY_HEADER), undefined);
  };
}

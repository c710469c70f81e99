// What every egress signer shares: its input and its output. The clock and the id generator stay
// outside: the pipeline picks the delivery id (stable across retries) and the timestamp.
import { SigningError } from './errors.ts';

/** One outgoing webhook to sign. */
export interface SignInput {
  /** Delivery id, stable across retries; sent as `webhook-id` where the scheme carries one. */
  readonly deliveryId: string;
  /** Signing time in unix seconds (whole number). */
  readonly timestamp: number;
  /** The exact body bytes that will be sent. */
  readonly body: Buffer;
}

/** Signs one webhook and returns the headers to add, with lower-case names. */
export type Signer = (input: SignInput) => Record<string, string>;

/**
 * Rejects inputs that would produce a header no receiver can verify. Cheap enough to run on
 * every call: a fractional timestamp or an id with a space (trimmed by proxies, so the
 * signature no longer matches) is a caller bug worth a throw.
 */
export function checkSignInput(input: SignInput): void {
  if (!Number.isSafeInteger(input.timestamp) || input.timestamp < 0) {
    throw new SigningError(
      'ERR_SIGN_INPUT_INVALID',
      'timestamp must be a whole number of unix seconds',
    );
  }
  if (input.deliveryId.length === 0 || /[\s\p{Cc}]/u.test(input.deliveryId)) {
    throw new SigningError(
      'ERR_SIGN_INPUT_INVALID',
      'deliveryId must be non-empty, without whitespace or control characters',
    );
  }
}

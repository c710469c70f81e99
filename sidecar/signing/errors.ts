// Stable error codes of the signing library. Two kinds: a thrown `SigningError` for bad
// configuration or a programming mistake (caught at startup or config reload), and a returned
// verification failure code for a bad incoming webhook (answered to the sender, never thrown:
// a forged request is an expected event, not an exception).
import { SidecarError } from '../errors.ts';

/** Codes of errors thrown while building a signer or verifier, or while signing. */
export type SigningErrorCode =
  /** A secret is empty or not in the form its scheme requires (`whsec_<base64>`, ...). */
  | 'ERR_SECRET_INVALID'
  /** Options that cannot work together (an unknown placeholder, a missing header name, ...). */
  | 'ERR_SIGNING_OPTIONS_INVALID'
  /** A sign call with an unusable input (a non-integer timestamp, an empty delivery id). */
  | 'ERR_SIGN_INPUT_INVALID';

/**
 * An error thrown by the signing library. Messages name the option path (`secrets[1]`) and never
 * contain a secret. `statusCode` is 500: these are the gateway's own faults, not the sender's.
 */
export class SigningError extends SidecarError<SigningErrorCode> {
  /** Creates an error with a stable `code`; `cause` is kept for logs. */
  constructor(code: SigningErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, 500, message, options);
    this.name = 'SigningError';
  }
}

/** Why an incoming webhook was refused. Stable: used in metrics labels and problem bodies. */
export type VerifyFailureCode =
  /** A header the scheme requires (signature, timestamp, id) is absent or empty. */
  | 'header_missing'
  /** A header is present but cannot be parsed (bad timestamp, missing prefix, no `t=`). */
  | 'header_malformed'
  /** No received signature matches any configured secret. */
  | 'signature_mismatch'
  /** The signed timestamp is older than the tolerance allows (a replay, or a slow queue). */
  | 'timestamp_stale'
  /** The signed timestamp is further in the future than the tolerance allows (clock skew). */
  | 'timestamp_future'
  /** No `Authorization` header, or one for another auth scheme. */
  | 'credentials_missing'
  /** The `Authorization` credentials match none of the configured ones. */
  | 'credentials_invalid';

/**
 * HTTP status per failure code: 401 when the sender did not prove who it is, 400 when the request
 * is authentic-looking but unusable (malformed, or outside the replay window).
 */
export const VERIFY_FAILURE_STATUS = Object.freeze({
  header_missing: 401,
  header_malformed: 400,
  signature_mismatch: 401,
  timestamp_stale: 400,
  timestamp_future: 400,
  credentials_missing: 401,
  credentials_invalid: 401,
} as const satisfies Record<VerifyFailureCode, 400 | 401>);

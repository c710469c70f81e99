// Slack (ingress only): `X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:${ts}:${body}">` with
// `X-Slack-Request-Timestamp: <unix seconds>`, keyed with the signing secret as UTF-8.
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

const SIGNATURE_HEADER = 'x-slack-signature';
const TIMESTAMP_HEADER = 'x-slack-request-timestamp';
const PREFIX = 'v0=';

/** Ingress options: a signature made with any listed secret passes. */
export interface SlackVerifyOptions {
  readonly scheme: 'slack';
  /** Slack app signing secrets, used as UTF-8 bytes. */
  readonly secrets: readonly string[];
  /** Replay window in seconds, both directions (default 300, as Slack recommends). */
  readonly toleranceSeconds?: number | undefined;
}

/** Builds the ingress verifier. Slack sends no delivery id, so none is reported. */
export function createSlackVerifier(options: SlackVerifyOptions): Verifier {
  const keys = utf8Keys(options.secrets, 'secrets');
  const tolerance = toleranceOption(options.toleranceSeconds, 'toleranceSeconds');
  const scheme = 'slack';
  return (headers, body, nowMs) => {
    const header = readHeader(headers, SIGNATURE_HEADER);
    const ts = readHeader(headers, TIMESTAMP_HEADER);
    if (header === undefined) {
      return fail(scheme, 'header_missing', 'X-Slack-Signature header is missing');
    }
    if (ts === undefined) {
      return fail(scheme, 'header_missing', 'X-Slack-Request-Timestamp header is missing');
    }
    const timestamp = parseUnixSeconds(ts);
    if (timestamp === undefined) {
      return fail(
        scheme,
        'header_malformed',
        'X-Slack-Request-Timestamp is not a unix timestamp in seconds',
      );
    }
    if (!header.startsWith(PREFIX)) {
      return fail(scheme, 'header_malformed', 'X-Slack-Signature must start with "v0="');
    }
    const received = header.slice(PREFIX.length);
    const matched = keys.some((key) =>
      signatureEquals(received, hmac(key, 'sha256', [`v0:${ts}:`, body], 'hex')),
    );
    if (!matched) {
      return fail(scheme, 'signature_mismatch', 'X-Slack-Signature matches no configured secret');
    }
    // Checked after the signature so that 400 always means "authentic, but outside the window".
    const stale = checkTimestamp(scheme, 'X-Slack-Request-Timestamp', timestamp, nowMs, tolerance);
    return stale ?? succeed(scheme, undefined, timestamp);
  };
}

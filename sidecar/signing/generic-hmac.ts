// A configurable HMAC scheme, for organisations whose receivers already verify something of their
// own: header name, algorithm, encoding, prefix, and optionally a signed timestamp and id. What is
// signed is a template such as `{timestamp}.{body}`; it is split around `{body}` once, so a
// request costs two short string substitutions and the HMAC.
import type { KeyObject } from 'node:crypto';
import { SigningError } from './errors.ts';
import { hmac, signatureEquals, utf8Key, utf8Keys } from './hmac.ts';
import type { HmacAlgorithm, SignatureEncoding } from './hmac.ts';
import { checkSignInput, type Signer } from './signer.ts';
import {
  checkTimestamp,
  fail,
  parseUnixSeconds,
  readHeader,
  succeed,
  toleranceOption,
  type Verifier,
} from './verification.ts';

/** What both directions of the generic scheme configure. */
export interface HmacSchemeOptions {
  /** Header carrying the signature, such as `X-Signature`. */
  readonly header: string;
  /** Hash function (default `sha256`). */
  readonly algorithm?: HmacAlgorithm | undefined;
  /** Signature encoding (default `hex`). */
  readonly encoding?: SignatureEncoding | undefined;
  /** Text before the signature in the header, such as `sha256=` (default none). */
  readonly prefix?: string | undefined;
  /** Header carrying the unix-seconds timestamp; when set, the timestamp must be signed. */
  readonly timestampHeader?: string | undefined;
  /** Header carrying the delivery id (egress: sent; ingress: reported, and read for `{id}`). */
  readonly idHeader?: string | undefined;
  /**
   * What is signed: a template with `{body}` exactly once and optionally `{timestamp}` and
   * `{id}`. Default `{timestamp}.{body}` with a timestamp header, else `{body}`.
   */
  readonly signedContent?: string | undefined;
}

/** Egress options: one secret, since the header carries one signature. */
export interface HmacSigningOptions extends HmacSchemeOptions {
  readonly scheme: 'hmac';
  /** The shared secret, used as UTF-8 bytes. */
  readonly secret: string;
}

/** Ingress options: a signature made with any listed secret passes. */
export interface HmacVerifyOptions extends HmacSchemeOptions {
  readonly scheme: 'hmac';
  /** Accepted secrets, used as UTF-8 bytes. */
  readonly secrets: readonly string[];
  /** Replay window in seconds, both directions (default 300); only with `timestampHeader`. */
  readonly toleranceSeconds?: number | undefined;
}

/** The options checked and prepared once. */
interface CompiledHmac {
  readonly header: string;
  readonly algorithm: HmacAlgorithm;
  readonly encoding: SignatureEncoding;
  readonly prefix: string;
  readonly timestampHeader: string | undefined;
  readonly idHeader: string | undefined;
  /** The template before and after `{body}`. */
  readonly before: string;
  readonly after: string;
  readonly signsId: boolean;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const PLACEHOLDER = /\{([^{}]*)\}/g;

/** Validates the shared options, listing every problem in one error. */
function compile(options: HmacSchemeOptions): CompiledHmac {
  const problems: string[] = [];
  const headerName = (value: string | undefined, path: string): string | undefined => {
    if (value !== undefined && !TOKEN.test(value)) problems.push(`${path} is not a header name`);
    return value?.toLowerCase();
  };
  const header = headerName(options.header, 'header') ?? '';
  if (options.header === undefined) problems.push('header is required');
  const timestampHeader = headerName(options.timestampHeader, 'timestampHeader');
  const idHeader = headerName(options.idHeader, 'idHeader');
  const named = [header, timestampHeader, idHeader].filter((h) => h !== undefined);
  if (new Set(named).size !== named.length) {
    problems.push('header, timestampHeader and idHeader must be different headers');
  }
  const algorithm = options.algorithm ?? 'sha256';
  if (algorithm !== 'sha256' && algorithm !== 'sha512') {
    problems.push('algorithm must be sha256 or sha512');
  }
  const encoding = options.encoding ?? 'hex';
  if (encoding !== 'hex' && encoding !== 'base64') problems.push('encoding must be hex or base64');
  const template =
    options.signedContent ?? (timestampHeader === undefined ? '{body}' : '{timestamp}.{body}');
  const names = [...template.matchAll(PLACEHOLDER)].map((m) => m[1]);
  for (const name of names) {
    if (name !== 'body' && name !== 'timestamp' && name !== 'id') {
      problems.push(`signedContent has unknown placeholder {${name}}`);
    }
  }
  if (names.filter((n) => n === 'body').length !== 1) {
    problems.push('signedContent must contain {body} exactly once');
  }
  const signsTimestamp = names.includes('timestamp');
  const signsId = names.includes('id');
  // An unsigned timestamp would make the replay window decorative: anyone could move it.
  if (timestampHeader !== undefined && !signsTimestamp) {
    problems.push('signedContent must contain {timestamp} when timestampHeader is set');
  }
  if (signsTimestamp && timestampHeader === undefined) {
    problems.push('signedContent uses {timestamp} but timestampHeader is not set');
  }
  if (signsId && idHeader === undefined) {
    problems.push('signedContent uses {id} but idHeader is not set');
  }
  if (problems.length > 0) {
    throw new SigningError('ERR_SIGNING_OPTIONS_INVALID', problems.join('; '));
  }
  const [before = '', after = ''] = template.split('{body}');
  const prefix = options.prefix ?? '';
  return { header, algorithm, encoding, prefix, timestampHeader, idHeader, before, after, signsId };
}

/** The HMAC of one message, before any prefix is added. */
function signature(key: KeyObject, c: CompiledHmac, ts: string, id: string, body: Buffer): string {
  // Split, then join: a replacement string would expand `$&`, `` $` `` and `$'` in the id, and a
  // second pass would fill a `{id}` that arrived inside the timestamp header (issue 15, item 7).
  const fill = (part: string): string =>
    part
      .split(/(\{timestamp\}|\{id\})/)
      .map((piece) => (piece === '{timestamp}' ? ts : piece === '{id}' ? id : piece))
      .join('');
  return hmac(key, c.algorithm, [fill(c.before), body, fill(c.after)], c.encoding);
}

/** Builds the egress signer: the signature header, plus the timestamp and id headers if set. */
export function createHmacSigner(options: HmacSigningOptions): Signer {
  const c = compile(options);
  const key = utf8Key(options.secret, 'secret');
  return (input) => {
    checkSignInput(input);
    const ts = String(input.timestamp);
    const headers: Record<string, string> = {
      [c.header]: c.prefix + signature(key, c, ts, input.deliveryId, input.body),
    };
    if (c.timestampHeader !== undefined) headers[c.timestampHeader] = ts;
    if (c.idHeader !== undefined) headers[c.idHeader] = input.deliveryId;
    return headers;
  };
}

/** Builds the ingress verifier. Hex signatures are compared case-insensitively. */
export function createHmacVerifier(options: HmacVerifyOptions): Verifier {
  const c = compile(options);
  const keys = utf8Keys(options.secrets, 'secrets');
  const tolerance = toleranceOption(options.toleranceSeconds, 'toleranceSeconds');
  const scheme = 'hmac';
  return (headers, body, nowMs) => {
    const header = readHeader(headers, c.header);
    if (header === undefined)
      return fail(scheme, 'header_missing', `${c.header} header is missing`);
    if (!header.startsWith(c.prefix)) {
      return fail(scheme, 'header_malformed', `${c.header} must start with "${c.prefix}"`);
    }
    let ts = '';
    let timestamp: number | undefined;
    if (c.timestampHeader !== undefined) {
      const value = readHeader(headers, c.timestampHeader);
      if (value === undefined) {
        return fail(scheme, 'header_missing', `${c.timestampHeader} header is missing`);
      }
      timestamp = parseUnixSeconds(value);
      if (timestamp === undefined) {
        return fail(
          scheme,
          'header_malformed',
          `${c.timestampHeader} is not a unix timestamp in seconds`,
        );
      }
      ts = value;
    }
    const id = c.idHeader === undefined ? undefined : readHeader(headers, c.idHeader);
    if (c.signsId && id === undefined) {
      return fail(scheme, 'header_missing', `${c.idHeader} header is missing`);
    }
    const raw = header.slice(c.prefix.length);
    const received = c.encoding === 'hex' ? raw.toLowerCase() : raw;
    const matched = keys.some((key) =>
      signatureEquals(received, signature(key, c, ts, id ?? '', body)),
    );
    if (!matched) {
      return fail(scheme, 'signature_mismatch', `${c.header} matches no configured secret`);
    }
    if (timestamp !== undefined && c.timestampHeader !== undefined) {
      // Checked after the signature so that 400 always means "authentic, but outside the window".
      const stale = checkTimestamp(scheme, c.timestampHeader, timestamp, nowMs, tolerance);
      if (stale !== undefined) return stale;
    }
    return succeed(scheme, id, timestamp);
  };
}

// Shared-credential ingress schemes: HTTP Basic (RFC 7617) and Bearer tokens (RFC 6750). Nothing
// is signed, so there is no replay window; every credential is compared as a SHA-256 digest so
// neither its content nor its length leaks through timing.
import { SigningError } from './errors.ts';
import { credentialDigest, credentialEquals, isNonEmptyList } from './hmac.ts';
import {
  fail,
  readHeader,
  succeed,
  type HeaderBag,
  type Verifier,
  type VerifyFailure,
} from './verification.ts';

/** One accepted username and password. */
export interface BasicCredential {
  readonly username: string;
  readonly password: string;
}

/** Ingress options: any listed credential passes (several while one is rotated). */
export interface BasicAuthVerifyOptions {
  readonly scheme: 'basic-auth';
  readonly credentials: readonly BasicCredential[];
  /** Header carrying the provider's delivery id, reported as `deliveryId` (unsigned). */
  readonly idHeader?: string | undefined;
}

/** Ingress options: any listed token passes (several while one is rotated). */
export interface BearerTokenVerifyOptions {
  readonly scheme: 'bearer-token';
  readonly tokens: readonly string[];
  /** Header carrying the provider's delivery id, reported as `deliveryId` (unsigned). */
  readonly idHeader?: string | undefined;
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** Throws unless `list` is a non-empty array whose entries `valid` accepts; never quotes values. */
function requireList<T>(
  list: readonly T[],
  path: string,
  valid: (item: T) => boolean,
  rule: string,
): void {
  if (!isNonEmptyList(list)) {
    throw new SigningError('ERR_SECRET_INVALID', `${path} must list at least one entry`);
  }
  const bad = list.flatMap((item, i) => (valid(item) ? [] : [`${path}[${i}]`]));
  if (bad.length > 0) {
    throw new SigningError('ERR_SECRET_INVALID', `${bad.join(', ')}: ${rule}`);
  }
}

/**
 * Splits `Authorization: <scheme> <credentials>`; a failure when the header is absent or carries
 * another scheme (both 401, so a client knows to send credentials), the credentials otherwise.
 */
function authorization(
  headers: HeaderBag,
  expected: 'Basic' | 'Bearer',
  scheme: 'basic-auth' | 'bearer-token',
): string | VerifyFailure {
  const header = readHeader(headers, 'authorization');
  if (header === undefined) {
    return fail(scheme, 'credentials_missing', 'Authorization header is missing');
  }
  const space = header.indexOf(' ');
  const given = space < 0 ? header : header.slice(0, space);
  // The auth-scheme token is case-insensitive (RFC 9110 section 11.1).
  if (given.toLowerCase() !== expected.toLowerCase()) {
    return fail(scheme, 'credentials_missing', `Authorization header is not ${expected}`);
  }
  const credentials = space < 0 ? '' : header.slice(space + 1).trim();
  if (credentials === '') {
    return fail(scheme, 'header_malformed', `Authorization ${expected} has no credentials`);
  }
  return credentials;
}

/** Builds the Basic verifier. The password may contain `:`; the username may not (RFC 7617). */
export function createBasicAuthVerifier(options: BasicAuthVerifyOptions): Verifier {
  const isText = (v: unknown): boolean => typeof v === 'string' && v !== '';
  // A username with ":" could never match: the first ":" in the header ends the username.
  requireList(
    options.credentials,
    'credentials',
    (c) => isText(c?.username) && isText(c?.password) && !c.username.includes(':'),
    'username and password must be non-empty, the username without ":"',
  );
  const expected = options.credentials.map((c) => ({
    username: credentialDigest(c.username),
    password: credentialDigest(c.password),
  }));
  const idHeader = options.idHeader?.toLowerCase();
  const scheme = 'basic-auth';
  return (headers) => {
    const credentials = authorization(headers, 'Basic', scheme);
    if (typeof credentials !== 'string') return credentials;
    if (!BASE64.test(credentials)) {
      return fail(scheme, 'header_malformed', 'Authorization Basic credentials are not base64');
    }
    const decoded = Buffer.from(credentials, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) {
      return fail(scheme, 'header_malformed', 'Authorization Basic credentials lack a ":"');
    }
    const username = decoded.slice(0, colon);
    const password = decoded.slice(colon + 1);
    // Both halves are always compared, so timing does not tell which one was wrong.
    const matched = expected.some((c) => {
      const userOk = credentialEquals(username, c.username);
      const passOk = credentialEquals(password, c.password);
      return userOk && passOk;
    });
    if (!matched) {
      return fail(
        scheme,
        'credentials_invalid',
        'Authorization Basic credentials are not accepted',
      );
    }
    return succeed(
      scheme,
      idHeader === undefined ? undefined : readHeader(headers, idHeader),
      undefined,
    );
  };
}

/** Builds the Bearer verifier. */
export function createBearerTokenVerifier(options: BearerTokenVerifyOptions): Verifier {
  requireList(
    options.tokens,
    'tokens',
    (t) => typeof t === 'string' && t !== '',
    'must be non-empty strings',
  );
  const expected = options.tokens.map(credentialDigest);
  const idHeader = options.idHeader?.toLowerCase();
  const scheme = 'bearer-token';
  return (headers) => {
    const token = authorization(headers, 'Bearer', scheme);
    if (typeof token !== 'string') return token;
    if (!expected.some((digest) => credentialEquals(token, digest))) {
      return fail(scheme, 'credentials_invalid', 'Authorization Bearer token is not accepted');
    }
    return succeed(
      scheme,
      idHeader === undefined ? undefined : readHeader(headers, idHeader),
      undefined,
    );
  };
}

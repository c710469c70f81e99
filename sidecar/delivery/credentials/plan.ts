// An endpoint's credentials and TLS settings compiled at load into frozen plans (ADR 0021): the
// secret values read, the durations in milliseconds, the PEM material tried once so a bad
// certificate is a config error with its path, never a failed delivery. Each plan carries a
// digest of what shapes it, so the runtime keeps a token cache or a connection pool across
// reloads exactly as long as nothing it depends on changed, and no value appears in the key.
import { createHash } from 'node:crypto';
import { createSecureContext } from 'node:tls';
import { parseDuration } from '../../../common/duration.ts';
import type { Credentials, SecretSource, TlsSettings } from '../../config/schema.ts';

/** OAuth2 client credentials, compiled. */
export interface OAuth2Plan {
  readonly tokenURL: URL;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly scopes: readonly string[];
  readonly audience: string | undefined;
  readonly refreshBeforeMs: number;
  readonly defaultLifetimeMs: number;
  /** sha256 of every setting above: one token cache per distinct value. */
  readonly digest: string;
}

/** What the credential layer adds to each attempt. */
export interface CredentialPlan {
  /** Lower-case header names and values: basic's Authorization, API keys. */
  readonly headers: Readonly<Record<string, string>>;
  readonly oauth2: OAuth2Plan | undefined;
}

/** TLS towards the receiver, as undici's connector takes it. */
export interface TlsPlan {
  readonly cert: string | undefined;
  readonly key: string | undefined;
  readonly ca: string | undefined;
  readonly servername: string | undefined;
  readonly minVersion: 'TLSv1.2' | 'TLSv1.3';
  /** sha256 of every setting above: one connection pool per distinct value. */
  readonly digest: string;
}

function digestOf(parts: readonly (string | undefined)[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part ?? '\u0001').update('\0');
  return hash.digest('hex');
}

/** Compiles `auth`; `secret` reads a source the loader already read. */
export function compileCredentials(
  auth: Credentials | undefined,
  secret: (source: SecretSource) => string,
): CredentialPlan | undefined {
  if (auth === undefined) return undefined;
  const headers: Record<string, string> = {};
  for (const h of auth.headers) headers[h.name.toLowerCase()] = secret(h.value);
  if (auth.basic !== undefined) {
    const pair = `${secret(auth.basic.username)}:${secret(auth.basic.password)}`;
    headers['authorization'] = `Basic ${Buffer.from(pair, 'utf8').toString('base64')}`;
  }
  let oauth2: OAuth2Plan | undefined;
  if (auth.oauth2 !== undefined) {
    const o = auth.oauth2;
    const clientId = secret(o.clientId);
    const clientSecret = secret(o.clientSecret);
    oauth2 = Object.freeze({
      tokenURL: new URL(o.tokenURL),
      clientId,
      clientSecret,
      scopes: Object.freeze([...o.scopes]),
      audience: o.audience,
      refreshBeforeMs: parseDuration(o.refreshBefore),
      defaultLifetimeMs: parseDuration(o.defaultLifetime),
      digest: digestOf([
        o.tokenURL,
        clientId,
        clientSecret,
        o.scopes.join(' '),
        o.audience,
        o.refreshBefore,
        o.defaultLifetime,
      ]),
    });
  }
  return Object.freeze({ headers: Object.freeze(headers), oauth2 });
}

/**
 * Compiles `tls`; throws an Error naming what is unusable (never the PEM itself) when Node
 * cannot build a TLS context from it: a certificate that is not PEM, a key that does not match.
 */
export function compileTls(
  tls: TlsSettings | undefined,
  secret: (source: SecretSource) => string,
): TlsPlan | undefined {
  if (tls === undefined) return undefined;
  const cert = tls.clientCertificate && secret(tls.clientCertificate.certificate);
  const key = tls.clientCertificate && secret(tls.clientCertificate.key);
  const ca = tls.ca && secret(tls.ca);
  try {
    createSecureContext({
      ...(cert === undefined ? {} : { cert, key }),
      ...(ca === undefined ? {} : { ca }),
      minVersion: tls.minVersion,
    });
  } catch (err) {
    // OpenSSL's reason ("key values mismatch", "no start line") names the fault, not the bytes.
    const reason = String((err as Error).message).split('\n')[0];
    throw new Error(
      `the client certificate, its key or the CA bundle cannot be used (${reason}): store PEM, the key matching the certificate`,
      { cause: err },
    );
  }
  return Object.freeze({
    cert,
    key,
    ca,
    servername: tls.serverName,
    minVersion: tls.minVersion,
    digest: digestOf([cert, key, ca, tls.serverName, tls.minVersion]),
  });
}

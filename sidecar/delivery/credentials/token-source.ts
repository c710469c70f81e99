// OAuth2 client-credentials tokens for one endpoint (RFC 6749 section 4.4): fetched on first
// use, cached until shortly before they expire, shared by every concurrent delivery (one request
// in flight at a time: single-flight), and dropped when the receiver answers 401 so the next ask
// fetches a new one. Failures are TokenErrors whose messages carry the endpoint's status and
// OAuth error code, never the client secret, the token or the response body.
import { SidecarError } from '../../errors.ts';
import type { Clock } from '../delivery.ts';
import type { LentDispatcher } from '../layers/send.ts';
import type { OAuth2Plan } from './plan.ts';

/** Largest token response read. */
export const MAX_TOKEN_RESPONSE_BYTES = 65_536;

/** The token endpoint failed: no token, so nothing was sent to the receiver. */
export class TokenError extends SidecarError<'ERR_TOKEN_ENDPOINT'> {
  constructor(message: string, options?: { cause?: unknown }) {
    super('ERR_TOKEN_ENDPOINT', 502, message, options);
    this.name = 'TokenError';
  }
}

interface CachedToken {
  readonly value: string;
  /** Epoch ms from which the token is renewed before use. */
  readonly renewAt: number;
}

/** An OAuth2 error code as RFC 6749 section 5.2 spells them; anything else is not repeated. */
const ERROR_CODE = /^[\x20-\x21\x23-\x5B\x5D-\x7E]{1,64}$/;

/** Form-encodes a client id or secret for HTTP Basic, as RFC 6749 section 2.3.1 asks. */
function formEncode(value: string): string {
  return encodeURIComponent(value).replaceAll('%20', '+');
}

/** One endpoint's token cache. */
export class TokenSource {
  readonly #plan: OAuth2Plan;
  readonly #dispatcher: LentDispatcher;
  readonly #clock: Clock;
  readonly #timeoutMs: number;
  readonly #onRequest: (result: 'ok' | 'error') => void;
  #cached: CachedToken | undefined;
  #pending: Promise<string> | undefined;

  constructor(
    plan: OAuth2Plan,
    dispatcher: LentDispatcher,
    clock: Clock,
    timeoutMs: number,
    onRequest: (result: 'ok' | 'error') => void = () => undefined,
  ) {
    this.#plan = plan;
    this.#dispatcher = dispatcher;
    this.#clock = clock;
    this.#timeoutMs = timeoutMs;
    this.#onRequest = onRequest;
  }

  /** A token valid for a while yet: the cached one, or the one being fetched, or a new one. */
  token(): Promise<string> {
    const cached = this.#cached;
    if (cached !== undefined && this.#clock.now() < cached.renewAt)
      return Promise.resolve(cached.value);
    this.#pending ??= this.#fetch().then(
      (token) => {
        this.#pending = undefined;
        this.#onRequest('ok');
        return token;
      },
      (err: unknown) => {
        this.#pending = undefined;
        this.#onRequest('error');
        throw err;
      },
    );
    return this.#pending;
  }

  /** The receiver refused `value` (401): forget it, unless a newer token replaced it already. */
  invalidate(value: string): void {
    if (this.#cached?.value === value) this.#cached = undefined;
  }

  async #fetch(): Promise<string> {
    const plan = this.#plan;
    const form = new URLSearchParams({ grant_type: 'client_credentials' });
    if (plan.scopes.length > 0) form.set('scope', plan.scopes.join(' '));
    if (plan.audience !== undefined) form.set('audience', plan.audience);
    const basic = `${formEncode(plan.clientId)}:${formEncode(plan.clientSecret)}`;
    const started = this.#clock.now();
    const dispatcher = this.#dispatcher.acquire();
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), this.#timeoutMs);
    let status: number;
    let text: string;
    try {
      const res = await dispatcher.request({
        origin: plan.tokenURL.origin,
        path: `${plan.tokenURL.pathname}${plan.tokenURL.search}`,
        method: 'POST',
        headers: {
          host: plan.tokenURL.host,
          authorization: `Basic ${Buffer.from(basic, 'utf8').toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
        },
        body: form.toString(),
        signal: abort.signal,
        headersTimeout: this.#timeoutMs,
        bodyTimeout: this.#timeoutMs,
      });
      status = res.statusCode;
      text = await readCapped(res.body as AsyncIterable<Buffer> & { destroy(): void });
    } catch (err) {
      if (err instanceof TokenError) throw err;
      const why = abort.signal.aborted
        ? `no answer within ${this.#timeoutMs} ms`
        : ((err as { code?: string }).code ?? 'connection failed');
      throw new TokenError(`token endpoint ${plan.tokenURL.origin} failed: ${why}`, {
        cause: err,
      });
    } finally {
      clearTimeout(timer);
      this.#dispatcher.release();
    }
    const body = parseJson(text);
    if (status < 200 || status > 299) {
      const code = typeof body?.['error'] === 'string' ? body['error'] : '';
      throw new TokenError(
        `token endpoint ${plan.tokenURL.origin} answered ${status}${ERROR_CODE.test(code) ? ` (${code})` : ''}`,
      );
    }
    const value = body?.['access_token'];
    const type = body?.['token_type'];
    if (typeof value !== 'string' || value === '' || /[\s"]/.test(value))
      throw new TokenError(`token endpoint ${plan.tokenURL.origin} sent no usable access_token`);
    if (type !== undefined && (typeof type !== 'string' || type.toLowerCase() !== 'bearer'))
      throw new TokenError(
        `token endpoint ${plan.tokenURL.origin} sent a token of a type other than Bearer`,
      );
    const expiresIn = body?.['expires_in'];
    const lifetimeMs =
      typeof expiresIn === 'number' && Number.isFinite(expiresIn) && expiresIn > 0
        ? expiresIn * 1000
        : plan.defaultLifetimeMs;
    // A short-lived token is renewed halfway through its life rather than never being cached.
    const margin = Math.min(plan.refreshBeforeMs, lifetimeMs / 2);
    this.#cached = { value, renewAt: started + lifetimeMs - margin };
    return value;
  }
}

async function readCapped(body: AsyncIterable<Buffer> & { destroy(): void }): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > MAX_TOKEN_RESPONSE_BYTES) {
      body.destroy();
      throw new TokenError(`token response over ${MAX_TOKEN_RESPONSE_BYTES} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function parseJson(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

// The last stage: one HTTP request to the receiver through an undici dispatcher whose connector
// is SSRF-guarded. Redirects are not followed (undici never does unless asked). The response body
// is read with a cap, since the app gets it back whole.
import type { Dispatcher } from 'undici';
import { errors } from '../../http-client.ts';
import type { Attempt, AttemptResult, Clock } from '../delivery.ts';
import type { TransportErrorKind } from '../retry-classifier.ts';
import { DestinationNotAllowedError } from '../ssrf/ssrf.ts';

/** Largest receiver response body handed back to the app. */
export const MAX_RESPONSE_BYTES = 1_048_576;

/** Maps an undici / socket error to the retry classes' transport kinds. */
export function transportErrorKind(err: unknown): TransportErrorKind {
  if (err instanceof DestinationNotAllowedError) return 'destination-not-allowed';
  if (err instanceof errors.ConnectTimeoutError) return 'connect-error';
  if (err instanceof errors.HeadersTimeoutError || err instanceof errors.BodyTimeoutError)
    return 'timeout';
  if (err instanceof Error && err.name === 'AbortError') return 'timeout';
  const code = (err as { code?: string }).code;
  switch (code) {
    case 'ECONNREFUSED':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'UND_ERR_CONNECT_TIMEOUT':
      return 'connect-error';
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
    case 'ETIMEDOUT':
      return 'timeout';
    default:
      return 'reset';
  }
}

/** The cause chain's first DestinationNotAllowedError (undici wraps connector errors). */
function destinationRefusal(err: unknown): DestinationNotAllowedError | undefined {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if (e instanceof DestinationNotAllowedError) return e;
  }
  return undefined;
}

/** A dispatcher lent per request (credentials/dispatcher-pool.ts), or a fixed one. */
export interface LentDispatcher {
  acquire(): Dispatcher;
  release(): void;
}

function lent(dispatcher: Dispatcher | LentDispatcher): LentDispatcher {
  if ('acquire' in dispatcher) return dispatcher;
  return { acquire: () => dispatcher, release: () => undefined };
}

/** Sends each attempt with `dispatcher`, giving up after `timeoutMs` or at the deadline. */
export function sendStage(
  source: Dispatcher | LentDispatcher,
  timeoutMs: number,
  clock: Clock,
): Attempt {
  const pool = lent(source);
  return async (delivery): Promise<AttemptResult> => {
    const started = clock.now();
    const dispatcher = pool.acquire();
    const budget = Math.max(1, Math.min(timeoutMs, delivery.deadline - started));
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), budget);
    try {
      const res = await dispatcher.request({
        origin: delivery.url.origin,
        path: `${delivery.url.pathname}${delivery.url.search}`,
        method: delivery.method,
        headers: { ...delivery.headers, host: delivery.url.host },
        body: delivery.body,
        signal: abort.signal,
        headersTimeout: budget,
        bodyTimeout: budget,
      });
      const chunks: Buffer[] = [];
      let size = 0;
      let truncated = false;
      for await (const chunk of res.body as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > MAX_RESPONSE_BYTES) {
          truncated = true;
          res.body.destroy();
          break;
        }
        chunks.push(chunk);
      }
      return {
        kind: 'response',
        status: res.statusCode,
        headers: res.headers as Record<string, string | string[]>,
        body: Buffer.concat(chunks),
        truncated,
        durationMs: clock.now() - started,
      };
    } catch (err) {
      const refusal = destinationRefusal(err);
      const error =
        refusal === undefined
          ? transportErrorKind(abort.signal.aborted ? abort.signal.reason : err)
          : 'destination-not-allowed';
      return {
        kind: 'error',
        error,
        ...(refusal !== undefined ? { range: refusal.range } : {}),
        message:
          refusal?.message ??
          (abort.signal.aborted ? `no response within ${budget} ms` : (err as Error).message),
        durationMs: clock.now() - started,
      };
    } finally {
      clearTimeout(timer);
      pool.release();
    }
  };
}

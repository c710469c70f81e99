// The last stage: one HTTP request to the receiver through an undici dispatcher whose connector
// is SSRF-guarded. Redirects are not followed (undici never does unless asked). The response body
// is read with a cap, since the app gets it back whole.
import type { Dispatcher } from 'undici';
import { errors, kQueuedAbort } from '../../http-client.ts';
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

/** The parts of a response an attempt keeps. */
interface Collected {
  readonly status: number;
  readonly headers: Record<string, string | string[]>;
  readonly body: Buffer;
  readonly truncated: boolean;
}

/** A request's deadline passed (the attempt reports a timeout). */
class DeadlineError extends Error {
  override readonly name = 'AbortError';
}

/**
 * undici's dispatch handler for one attempt: collects the response body (up to
 * {@link MAX_RESPONSE_BYTES}) into one promise and aborts the request once `budget` ms passed,
 * whether it is still queued for a connection, waiting for headers or reading the body. One
 * object, one timer and one promise per attempt — no AbortController, no Readable, no async
 * iterator (ADR 0019).
 */
class ResponseCollector implements Dispatcher.DispatchHandler {
  readonly done: Promise<Collected>;
  timedOut = false;
  #resolve!: (value: Collected) => void;
  #reject!: (err: Error) => void;
  #settled = false;
  #timer: NodeJS.Timeout;
  #controller: Dispatcher.DispatchController | undefined;
  #cancelQueued: ((reason: Error) => void) | undefined;
  #status = 0;
  #headers: Record<string, string | string[]> = {};
  #chunks: Buffer[] = [];
  #size = 0;

  constructor(budget: number) {
    this.done = new Promise<Collected>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    this.#timer = setTimeout(this.#onDeadline, budget);
  }

  /** Pools call this while the request waits for a connection (see http-client.ts). */
  readonly onQueued = (cancel: (reason: Error) => void): void => {
    this.#cancelQueued = cancel;
  };

  readonly #onDeadline = (): void => {
    if (this.#settled) return;
    this.timedOut = true;
    const reason = new DeadlineError('the attempt passed its deadline');
    if (this.#controller !== undefined) this.#controller.abort(reason);
    else if (this.#cancelQueued !== undefined) this.#cancelQueued(reason);
    // Neither yet: the dispatch is still under way; onRequestStart aborts it.
    this.#fail(reason);
  };

  onRequestStart(controller: Dispatcher.DispatchController): void {
    if (this.#settled) {
      controller.abort(new DeadlineError('the attempt passed its deadline'));
      return;
    }
    this.#controller = controller;
    this.#cancelQueued = undefined;
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
  ): void {
    // 1xx (informational) answers are not the response.
    if (statusCode < 200) return;
    this.#status = statusCode;
    this.#headers = headers as Record<string, string | string[]>;
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#settled) return;
    this.#size += chunk.length;
    if (this.#size > MAX_RESPONSE_BYTES) {
      // The app gets the first MAX_RESPONSE_BYTES; the rest is not read.
      this.#succeed(true);
      controller.abort(new Error('response body over the cap'));
      return;
    }
    this.#chunks.push(chunk);
  }

  onResponseEnd(): void {
    this.#succeed(false);
  }

  onResponseError(_controller: Dispatcher.DispatchController | null, err: Error): void {
    this.#fail(err);
  }

  /** The attempt is over: the timer goes. */
  settle(): void {
    this.#settled = true;
    clearTimeout(this.#timer);
  }

  #succeed(truncated: boolean): void {
    if (this.#settled) return;
    this.settle();
    const chunks = this.#chunks;
    this.#resolve({
      status: this.#status,
      headers: this.#headers,
      body: Buffer.concat(chunks),
      truncated,
    });
  }

  #fail(err: Error): void {
    if (this.#settled) return;
    this.settle();
    this.#reject(err);
  }
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
    const url = delivery.url;
    const collector = new ResponseCollector(budget);
    try {
      dispatcher.dispatch(
        {
          origin: url.origin,
          path: `${url.pathname}${url.search}`,
          method: delivery.method,
          // undici writes the origin's host when the headers name none (the app's own Host is
          // never among them: delivery/headers.ts); a configured one is replaced, never sent.
          headers:
            'host' in delivery.headers ? { ...delivery.headers, host: url.host } : delivery.headers,
          body: delivery.body,
          headersTimeout: budget,
          bodyTimeout: budget,
          [kQueuedAbort]: collector.onQueued,
        },
        collector,
      );
      const res = await collector.done;
      return {
        kind: 'response',
        status: res.status,
        headers: res.headers,
        body: res.body,
        truncated: res.truncated,
        durationMs: clock.now() - started,
      };
    } catch (err) {
      const refusal = destinationRefusal(err);
      const timedOut = collector.timedOut;
      return {
        kind: 'error',
        error:
          refusal !== undefined
            ? 'destination-not-allowed'
            : timedOut
              ? 'timeout'
              : transportErrorKind(err),
        ...(refusal !== undefined ? { range: refusal.range } : {}),
        message:
          refusal?.message ??
          (timedOut ? `no response within ${budget} ms` : (err as Error).message),
        durationMs: clock.now() - started,
      };
    } finally {
      collector.settle();
      pool.release();
    }
  };
}

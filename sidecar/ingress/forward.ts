// The last stage: hand a verified webhook to the app on loopback through one pooled undici
// Agent. Only a refused connection is retried, and only briefly: it means the app is still
// starting and never saw the request, so a retry cannot deliver twice. Anything after the
// connection opened (a reset, a timeout) is reported, not retried; the provider retries instead.
import { setTimeout as delay } from 'node:timers/promises';
import type { Dispatcher } from 'undici';
import { Agent } from '../http-client.ts';

/** One request to the app. */
export interface AppRequest {
  /** `http://127.0.0.1:<port>`. */
  readonly origin: string;
  /** Path and query string. */
  readonly path: string;
  readonly headers: Record<string, string | string[]>;
  readonly body: Buffer;
}

/** How a forward ended. */
export type ForwardResult =
  /** The app answered (any status); the caller streams `body` on and must consume it. */
  | {
      readonly kind: 'response';
      readonly statusCode: number;
      readonly headers: Dispatcher.ResponseData['headers'];
      readonly body: Dispatcher.ResponseData['body'];
      readonly attempts: number;
    }
  /** No connection could be made, every retry included. */
  | { readonly kind: 'unreachable'; readonly error: string; readonly attempts: number }
  /** The app did not send its response headers in time. */
  | { readonly kind: 'timeout'; readonly attempts: number }
  /** The connection broke after the request may have reached the app. */
  | { readonly kind: 'failed'; readonly error: string; readonly attempts: number };

/** Options for {@link AppForwarder}. */
export interface AppForwarderOptions {
  /** Longest wait for the app's response headers, and between body chunks (default 30 s). */
  readonly timeoutMs?: number;
  /**
   * Waits between attempts after a refused connection (default 25, 50, 100, 200 ms: under 400 ms
   * in all, short enough to stay inside every provider's own timeout).
   */
  readonly connectRetryDelaysMs?: readonly number[];
  /** How a wait is done; injected so tests need not sleep. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Most connections to one app port (default 128); more requests queue in the pool. */
  readonly connectionsPerOrigin?: number;
}

/** Default waits between attempts on a refused connection. */
export const DEFAULT_CONNECT_RETRY_DELAYS_MS: readonly number[] = Object.freeze([25, 50, 100, 200]);

/** Default wait for the app's response headers. */
export const DEFAULT_FORWARD_TIMEOUT_MS = 30_000;

const errorCode = (err: unknown): string | undefined =>
  typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string'
    ? err.code
    : undefined;

/** Forwards webhooks to the app over pooled keep-alive connections. */
export class AppForwarder {
  readonly #agent: Agent;
  readonly #timeoutMs: number;
  readonly #delays: readonly number[];
  readonly #sleep: (ms: number) => Promise<void>;

  /** Creates the forwarder and its connection pool. */
  constructor(options: AppForwarderOptions = {}) {
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_FORWARD_TIMEOUT_MS;
    this.#delays = options.connectRetryDelaysMs ?? DEFAULT_CONNECT_RETRY_DELAYS_MS;
    this.#sleep = options.sleep ?? ((ms) => delay(ms));
    this.#agent = new Agent({ connections: options.connectionsPerOrigin ?? 128 });
  }

  /** Longest a forward can take before its outcome is known, retries included. */
  get maxDurationMs(): number {
    return this.#timeoutMs + this.#delays.reduce((sum, ms) => sum + ms, 0);
  }

  /** Sends `request`; never throws, every ending is a {@link ForwardResult}. */
  async forward(request: AppRequest): Promise<ForwardResult> {
    for (let attempt = 1; ; attempt++) {
      try {
        const response = await this.#agent.request({
          origin: request.origin,
          path: request.path,
          method: 'POST',
          headers: request.headers,
          body: request.body,
          headersTimeout: this.#timeoutMs,
          bodyTimeout: this.#timeoutMs,
        });
        return {
          kind: 'response',
          statusCode: response.statusCode,
          headers: response.headers,
          body: response.body,
          attempts: attempt,
        };
      } catch (err) {
        const code = errorCode(err);
        const message = err instanceof Error ? err.message : String(err);
        if (code === 'ECONNREFUSED') {
          const wait = this.#delays[attempt - 1];
          if (wait === undefined) return { kind: 'unreachable', error: message, attempts: attempt };
          await this.#sleep(wait);
          continue;
        }
        if (code === 'UND_ERR_HEADERS_TIMEOUT') return { kind: 'timeout', attempts: attempt };
        return { kind: 'failed', error: message, attempts: attempt };
      }
    }
  }

  /** Closes the pool, waiting for requests in progress. */
  close(): Promise<void> {
    return this.#agent.close();
  }
}

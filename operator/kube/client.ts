// A small JSON client for the API server. @kubernetes/client-node's typed clients deserialize into
// class instances (dates become Date objects) while its watch hands out plain JSON; the cache and
// the compare-before-write logic need one form, so everything here is plain JSON, over one
// connection pool for the process.
import { Agent, request } from 'undici';
import { KubeApiError, OperatorError } from '../errors.ts';
import type { ClusterAccess } from './config.ts';
import type { WatchEvent } from './types.ts';

/** Options of one request. */
export interface RequestInit {
  readonly query?: Readonly<Record<string, string | undefined>>;
  readonly body?: unknown;
  readonly contentType?: string;
  readonly signal?: AbortSignal;
  /** Headers besides the credentials (a service proxy's backend may read its own). */
  readonly headers?: Readonly<Record<string, string>>;
  /** For {@link KubeClient.open}: no overall timeout (a long stream); `signal` ends it. */
  readonly stream?: boolean;
}

/** An answer as it arrives: for bodies that are not the API server's JSON. */
export interface OpenResponse {
  readonly statusCode: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: AsyncIterable<Buffer> & { text(): Promise<string> };
}

/** What a {@link KubeClient} counts: every request by verb and answer. */
export type RequestObserver = (method: string, path: string, status: number) => void;

/** Plain-JSON access to the API server of a kubeconfig's current context. */
export class KubeClient {
  readonly server: string;
  #access: ClusterAccess;
  #agent: Agent;
  #timeoutMs: number;
  #observers: RequestObserver[] = [];

  /** A client for `access`; `timeoutMs` bounds each request but watches. */
  constructor(access: ClusterAccess, timeoutMs = 30_000) {
    const tls = access.tls;
    this.#access = access;
    this.server = access.server;
    this.#timeoutMs = timeoutMs;
    this.#agent = new Agent({
      connect: {
        ca: tls.ca,
        cert: tls.cert,
        key: tls.key,
        ...(tls.rejectUnauthorized === undefined
          ? {}
          : { rejectUnauthorized: tls.rejectUnauthorized }),
        ...(tls.servername === undefined ? {} : { servername: tls.servername }),
      },
      // Keep-alive shorter than the API server's idle timeout, as client-go does.
      keepAliveTimeout: 30_000,
    });
  }

  /** Calls `observer` after every answered request (metrics, write counting in tests). */
  observe(observer: RequestObserver): void {
    this.#observers.push(observer);
  }

  async #headers(contentType: string | undefined): Promise<Record<string, string>> {
    // Asked per request: token files and exec plugins rotate credentials.
    const headers: Record<string, string> = {
      accept: 'application/json',
      ...(await this.#access.headers()),
    };
    if (contentType !== undefined) headers['content-type'] = contentType;
    return headers;
  }

  #url(path: string, query: RequestInit['query']): string {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) params.set(k, v);
    const search = params.toString();
    return `${this.server}${path}${search === '' ? '' : `?${search}`}`;
  }

  /** One request, answered as it arrives, whatever its status (a service proxy's, a stream). */
  async open(method: string, path: string, init: RequestInit = {}): Promise<OpenResponse> {
    const timeout = init.stream === true ? undefined : AbortSignal.timeout(this.#timeoutMs);
    const signals = [init.signal, timeout].filter((s): s is AbortSignal => s !== undefined);
    try {
      return await request(this.#url(path, init.query), {
        method: method as 'GET',
        headers: {
          ...init.headers,
          ...(await this.#headers(
            init.body === undefined ? undefined : (init.contentType ?? 'application/json'),
          )),
        },
        body: init.body === undefined ? null : JSON.stringify(init.body),
        dispatcher: this.#agent,
        signal: signals.length === 0 ? null : AbortSignal.any(signals),
        ...(init.stream === true ? { bodyTimeout: 0 } : {}),
      });
    } catch (err) {
      throw new OperatorError(
        'ERR_KUBE_UNREACHABLE',
        503,
        `${method} ${path}: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }

  /** One request; resolves with the parsed body of a 2xx answer, throws `KubeApiError` otherwise. */
  async request<T>(method: string, path: string, init: RequestInit = {}): Promise<T> {
    const response = await this.open(method, path, init);
    const text = await response.body.text();
    for (const observer of this.#observers) observer(method, path, response.statusCode);
    if (response.statusCode >= 300) throw apiError(method, path, response.statusCode, text);
    return (text === '' ? {} : JSON.parse(text)) as T;
  }

  /** Server-side apply of `manifest` at `path` (the object's or its status subresource's). */
  apply<T>(path: string, manifest: object, fieldManager: string): Promise<T> {
    return this.request<T>('PATCH', path, {
      query: { fieldManager, force: 'true' },
      body: manifest,
      contentType: 'application/apply-patch+yaml',
    });
  }

  /**
   * Watches `path` from `resourceVersion`, calling `onEvent` per event, until the server ends the
   * watch (resolves) or it fails (rejects; an `ERROR` event with 410 rejects with
   * `ERR_WATCH_EXPIRED`). `signal` stops it.
   */
  async watch(
    path: string,
    query: Readonly<Record<string, string | undefined>>,
    onEvent: (event: WatchEvent) => void,
    signal: AbortSignal,
    onOpen: () => void = (): void => undefined,
  ): Promise<void> {
    const response = await request(this.#url(path, { ...query, watch: 'true' }), {
      method: 'GET',
      headers: await this.#headers(undefined),
      dispatcher: this.#agent,
      signal,
      // The informer's watchdog decides when silence is too long.
      bodyTimeout: 0,
    });
    if (response.statusCode !== 200) {
      throw apiError('GET', path, response.statusCode, await response.body.text());
    }
    onOpen();
    let pending = '';
    for await (const chunk of response.body) {
      pending += (chunk as Buffer).toString('utf8');
      let newline: number;
      while ((newline = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        if (line.trim() === '') continue;
        const event = JSON.parse(line) as WatchEvent;
        if (event.type === 'ERROR') {
          const status = event.object as { code?: number; reason?: string; message?: string };
          throw new KubeApiError('WATCH', path, status.code ?? 500, status.reason, status.message);
        }
        onEvent(event);
      }
    }
  }

  /** Closes the connection pool, aborting whatever is still in flight. */
  async close(): Promise<void> {
    await this.#agent.destroy();
  }
}

function apiError(method: string, path: string, statusCode: number, text: string): KubeApiError {
  let status: { reason?: string; message?: string } = {};
  try {
    status = JSON.parse(text) as typeof status;
  } catch {
    status = { message: text.slice(0, 200) };
  }
  return new KubeApiError(method, path, statusCode, status.reason, status.message);
}

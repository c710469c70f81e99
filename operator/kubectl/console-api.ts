// The console's JSON API (/api/v1, operator/console/server.ts) as the plugin reaches it: through
// the API server's service proxy, authenticated to the API server with the kubeconfig's own
// credentials and to the console with the user's bearer token in `Hookgate-Authorization` (the
// proxy consumes `Authorization` itself). The API server decides who may reach the Service
// (`get`/`create` on services/proxy); the console's TokenReview + SubjectAccessReview decide what
// they see and may replay (ADR 0023).
import type { KubeClient, OpenResponse } from '../kube/client.ts';
import { CONSOLE_CHANGE_HEADER, CONSOLE_TOKEN_HEADER } from '../console/server.ts';

/** Where the console's Service is. */
export interface ConsoleTarget {
  readonly namespace: string;
  readonly service: string;
  /** The Service port's name. */
  readonly port: string;
}

/** Largest NDJSON line accepted from a watch. */
const MAX_LINE_BYTES = 1024 * 1024;

/** An answer other than 2xx, with what the console (or the API server) said. */
export class ConsoleApiError extends Error {
  readonly status: number;
  /** Who refused: the console itself, or the API server in front of it. */
  readonly from: 'console' | 'apiserver';
  constructor(status: number, from: 'console' | 'apiserver', detail: string) {
    super(detail);
    this.name = 'ConsoleApiError';
    this.status = status;
    this.from = from;
  }
}

/** The console's API through the service proxy. */
export class ConsoleApi {
  readonly #kube: KubeClient;
  readonly #token: string;
  readonly #prefix: string;

  constructor(kube: KubeClient, token: string, target: ConsoleTarget) {
    this.#kube = kube;
    this.#token = token;
    this.#prefix = `/api/v1/namespaces/${encodeURIComponent(target.namespace)}/services/http:${encodeURIComponent(target.service)}:${encodeURIComponent(target.port)}/proxy`;
  }

  async #open(
    method: 'GET' | 'POST',
    path: string,
    query: Readonly<Record<string, string | undefined>>,
    body?: unknown,
    signal?: AbortSignal,
  ): Promise<OpenResponse> {
    const response = await this.#kube.open(method, `${this.#prefix}${path}`, {
      query,
      headers: {
        [CONSOLE_TOKEN_HEADER]: `Bearer ${this.#token}`,
        ...(method === 'POST' ? { [CONSOLE_CHANGE_HEADER]: '1' } : {}),
      },
      ...(body === undefined ? {} : { body }),
      ...(signal === undefined ? {} : { signal, stream: true }),
    });
    if (response.statusCode < 300) return response;
    throw await refusal(response);
  }

  /** GET `path` (under /api/v1); the parsed body. */
  async get<T>(path: string, query: Readonly<Record<string, string | undefined>> = {}): Promise<T> {
    const response = await this.#open('GET', `/api/v1${path}`, query);
    return JSON.parse(await response.body.text()) as T;
  }

  /** POST `body` to `path`; the parsed body of a 2xx, or of a 403 that carries per-id results. */
  async post<T>(path: string, body: unknown): Promise<T> {
    const response = await this.#open('POST', `/api/v1${path}`, {}, body);
    return JSON.parse(await response.body.text()) as T;
  }

  /** Each NDJSON line of a long GET, parsed, until the stream ends or `signal` aborts. */
  async *lines(
    path: string,
    query: Readonly<Record<string, string | undefined>>,
    signal: AbortSignal,
  ): AsyncGenerator<unknown> {
    const response = await this.#open('GET', `/api/v1${path}`, query, undefined, signal);
    let pending = '';
    try {
      for await (const chunk of response.body) {
        pending += chunk.toString('utf8');
        if (pending.length > MAX_LINE_BYTES)
          throw new ConsoleApiError(502, 'console', 'a watch line was larger than 1 MiB');
        let newline: number;
        while ((newline = pending.indexOf('\n')) >= 0) {
          const line = pending.slice(0, newline).trim();
          pending = pending.slice(newline + 1);
          if (line !== '') yield JSON.parse(line) as unknown;
        }
      }
    } catch (err) {
      if (signal.aborted) return;
      throw err;
    }
  }
}

/** The refusal in a non-2xx answer: a console problem document or an API server Status. */
async function refusal(response: OpenResponse): Promise<ConsoleApiError> {
  const text = (await response.body.text()).slice(0, 4096);
  const type = String(response.headers['content-type'] ?? '');
  try {
    const doc = JSON.parse(text) as {
      detail?: string;
      message?: string;
      kind?: string;
      results?: unknown;
    };
    // A replay the console refused for every id answers 403 with per-id results.
    if (doc.results !== undefined)
      return new ConsoleApiError(response.statusCode, 'console', 'forbidden');
    if (type.startsWith('application/problem+json') && typeof doc.detail === 'string')
      return new ConsoleApiError(response.statusCode, 'console', doc.detail);
    if (doc.kind === 'Status' && typeof doc.message === 'string')
      return new ConsoleApiError(response.statusCode, 'apiserver', doc.message);
  } catch {
    // not JSON
  }
  return new ConsoleApiError(response.statusCode, 'apiserver', text.trim() || 'no detail');
}

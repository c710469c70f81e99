// What every ingress test needs: a real app server that records what reaches it, a real ingress
// server on a config built from plain objects, and a client. Everything listens on 127.0.0.1:0.
import { mkdtempSync, rmSync } from 'node:fs';
import {
  createServer,
  request as nodeRequest,
  type IncomingHttpHeaders,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { request } from 'undici';
import { stringify } from 'yaml';
import { createLogger, type Logger } from '../../common/log.ts';
import { parseConfig, type LoadedConfig } from '../../sidecar/config/load.ts';
import {
  startIngressServer,
  type IngressServer,
  type IngressServerOptions,
} from '../../sidecar/ingress/server.ts';

/** One request as the app received it. */
export interface AppRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/** How the app answers; the default is 200 `ok`. */
export type AppResponder = (req: AppRequest, res: ServerResponse) => void;

/** A running app server. */
export interface TestApp {
  readonly port: number;
  /** Every request received, in order. */
  readonly received: AppRequest[];
  /** Replaces how the app answers. */
  respond(responder: AppResponder): void;
  close(): Promise<void>;
}

const okResponder: AppResponder = (_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end('ok');
};

/** Starts an app on 127.0.0.1 (`port` 0 picks a free one). */
export async function startApp(port = 0): Promise<TestApp> {
  const received: AppRequest[] = [];
  let responder = okResponder;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const seen = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks),
      };
      received.push(seen);
      responder(seen, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    received,
    respond: (next) => {
      responder = next;
    },
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Builds a LoadedConfig from a plain object; secrets come from `env` (`{ env: NAME }`). */
export async function loadConfig(
  config: Record<string, unknown>,
  env: Record<string, string> = {},
): Promise<LoadedConfig> {
  const dir = mkdtempSync(join(tmpdir(), 'hookgate-ingress-'));
  try {
    return await parseConfig(stringify(config), 'ingress-test.yaml', dir, env);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Log lines a test can read back. */
export interface CapturedLog {
  readonly log: Logger;
  readonly lines: Record<string, unknown>[];
}

/** A debug-level logger that keeps its lines in memory. */
export function captureLog(): CapturedLog {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({}, 'debug', (line) => {
    lines.push(JSON.parse(line) as Record<string, unknown>);
  });
  return { log, lines };
}

/** A running ingress with what the test may inspect. */
export interface TestIngress extends IngressServer {
  readonly registry: Registry;
  readonly logs: Record<string, unknown>[];
  /** `http://127.0.0.1:<port>`. */
  readonly origin: string;
}

/** Starts an ingress on 127.0.0.1:0 with its own registry and a captured log. */
export async function startIngress(
  config: LoadedConfig | (() => LoadedConfig),
  options: Partial<Omit<IngressServerOptions, 'config'>> & { redis?: Redis } = {},
): Promise<TestIngress> {
  const registry = options.registry ?? new Registry();
  const captured = captureLog();
  const server = await startIngressServer('127.0.0.1', 0, {
    log: captured.log,
    ...options,
    registry,
    config: typeof config === 'function' ? config : () => config,
  });
  return {
    ...server,
    registry,
    logs: captured.lines,
    origin: `http://127.0.0.1:${server.port}`,
  };
}

/** A response as a test reads it. */
export interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly text: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  readonly json: Record<string, unknown> | undefined;
}

/** Sends one request to the ingress. */
export async function send(
  ingress: { origin: string },
  path: string,
  headers: Record<string, string>,
  body: Buffer | string,
  method = 'POST',
): Promise<Reply> {
  const res = await request(ingress.origin + path, { method, headers, body });
  const text = await res.body.text();
  let json: Record<string, unknown> | undefined;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = undefined;
  }
  return { status: res.statusCode, headers: res.headers, text, json };
}

/** The value of `hookgate_ingress_requests_total` for one endpoint and outcome. */
export async function outcomeCount(
  registry: Registry,
  endpoint: string,
  outcome: string,
): Promise<number> {
  const metric = await registry.getSingleMetric('hookgate_ingress_requests_total')?.get();
  const value = metric?.values.find(
    (v) => v.labels['endpoint'] === endpoint && v.labels['outcome'] === outcome,
  );
  return value?.value ?? 0;
}

/**
 * Sends one POST with node:http, which (unlike undici) lets a test send connection-scoped
 * headers such as `Connection` and `Keep-Alive`, as a provider behind an old proxy might.
 */
export function sendWithNodeHttp(
  ingress: { origin: string },
  path: string,
  headers: Record<string, string>,
  body: string,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = nodeRequest(ingress.origin + path, { method: 'POST', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Makes the app hold its next response: resolves `arrived` when the webhook reaches the app, and
 * answers it only when the test calls `release`, so a test can act while a copy is "with the app".
 */
export function holdNextResponse(app: TestApp): {
  arrived: Promise<void>;
  release: (status: number, body?: string) => void;
} {
  let held: ServerResponse | undefined;
  let arrived!: () => void;
  const arrival = new Promise<void>((resolve) => (arrived = resolve));
  app.respond((_req, res) => {
    held = res;
    arrived();
  });
  return {
    arrived: arrival,
    release: (status, body = '') => {
      if (held === undefined) throw new Error('the app has not received the webhook yet');
      held.writeHead(status).end(body);
    },
  };
}

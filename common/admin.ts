// The admin HTTP server both programs run: liveness, readiness with its reason, and Prometheus
// metrics. Readiness is a list of named checks; the first failing one is reported.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer } from './http-server.ts';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

/** One readiness check: resolves to nothing when ready, or to the reason it is not. */
export type ReadinessCheck = () => Promise<string | undefined>;

/** What the admin server serves. */
export interface AdminOptions {
  registry: Registry;
  /** Checked in order on every `/readyz`; the first reason wins. */
  readiness: readonly { name: string; check: ReadinessCheck }[];
  /**
   * A line `/readyz` adds to its answer, ready or not (the sidecar's config generation and where
   * it came from): what a human checking the probe wants next. Never a secret.
   */
  readinessDetail?: () => string | undefined;
  /** Extra routes, such as the sidecar's `/config`: path → JSON body producer. */
  routes?: Readonly<Record<string, () => unknown>>;
  /**
   * Serves any method before the built-in routes (the sidecar's `/queue/` API); returns true when
   * it answered the request.
   */
  handler?: (req: IncomingMessage, res: ServerResponse) => boolean;
}

/** A listening admin server. */
export interface AdminServer {
  readonly server: Server;
  /** The bound port (useful when listening on port 0). */
  readonly port: number;
  close(): Promise<void>;
}

// The admin port is open to the cluster network: a slow or idle client must not hold a socket.
// Admin requests are small, so the bounds are tighter than the ingress port's.
/** Longest wait for a request's headers. */
export const ADMIN_HEADERS_TIMEOUT_MS = 5_000;
/** Longest wait for a whole request. */
export const ADMIN_REQUEST_TIMEOUT_MS = 15_000;
/** Idle keep-alive sockets close after this. */
export const ADMIN_KEEP_ALIVE_MS = 5_000;
/** Sockets open at once; more are closed as they arrive (Prometheus and probes need a few). */
export const ADMIN_MAX_CONNECTIONS = 128;

/** Starts the admin server on `host:port`. */
export async function startAdminServer(
  host: string,
  port: number,
  options: AdminOptions,
): Promise<AdminServer> {
  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    if (options.handler?.(req, res) === true) return;
    const path = new URL(req.url ?? '/', 'http://admin').pathname;
    const send = (status: number, contentType: string, body: string): void => {
      res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store' });
      res.end(body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(405, 'text/plain; charset=utf-8', 'method not allowed\n');
      return;
    }
    void (async (): Promise<void> => {
      switch (path) {
        case '/healthz':
          send(200, 'text/plain; charset=utf-8', 'ok\n');
          return;
        case '/readyz': {
          const detail = options.readinessDetail?.();
          const tail = detail === undefined ? '\n' : `\n${detail}\n`;
          for (const { name, check } of options.readiness) {
            const reason = await check();
            if (reason !== undefined) {
              send(503, 'text/plain; charset=utf-8', `not ready: ${name}: ${reason}${tail}`);
              return;
            }
          }
          send(200, 'text/plain; charset=utf-8', `ok${tail}`);
          return;
        }
        case '/metrics':
          send(200, options.registry.contentType, await options.registry.metrics());
          return;
        default: {
          const route = options.routes?.[path];
          if (route === undefined) send(404, 'text/plain; charset=utf-8', 'not found\n');
          else send(200, 'application/json', JSON.stringify(route()) + '\n');
        }
      }
    })().catch((err: unknown) => {
      send(500, 'text/plain; charset=utf-8', `admin error: ${(err as Error).message}\n`);
    });
  };
  const server = createServer(
    {
      headersTimeout: ADMIN_HEADERS_TIMEOUT_MS,
      requestTimeout: ADMIN_REQUEST_TIMEOUT_MS,
      keepAliveTimeout: ADMIN_KEEP_ALIVE_MS,
      // How often those bounds are checked (default 30 s, which lets a trickle live on).
      connectionsCheckingInterval: 1_000,
    },
    handle,
  );
  server.maxConnections = ADMIN_MAX_CONNECTIONS;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    server,
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

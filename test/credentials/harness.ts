// Test ground for receiver credentials: an in-process egress sidecar whose logs are kept (so a
// test can assert no secret reached them), secret files in a folder of the test's own that a
// rotation rewrites, and receivers that demand credentials.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { createLogger } from '../../common/log.ts';
import { parseConfig, type LoadedConfig } from '../../sidecar/config/load.ts';
import { systemClock } from '../../sidecar/delivery/delivery.ts';
import { startEgressServer, type EgressServer } from '../../sidecar/egress/server.ts';
import { DeliveryQueue, queueLimits } from '../../sidecar/queue/index.ts';
import { RedisQueueStore } from '../../sidecar/queue/redis.ts';

/** A running sidecar egress over a YAML config. */
export interface Sidecar {
  readonly url: string;
  readonly registry: Registry;
  readonly server: EgressServer;
  /** Every log line, JSON. */
  readonly logs: string[];
  /** Secret files live here; write one with {@link Sidecar.writeSecret}. */
  readonly dir: string;
  writeSecret(name: string, value: string): void;
  reload(yaml: string): Promise<void>;
  post(path: string, body?: string, headers?: Record<string, string>): Promise<Response>;
  close(): Promise<void>;
}

/**
 * Starts a sidecar; `secrets` are written before the config is loaded. With `redisUrl`, async
 * deliveries go to a durable queue on that Redis (a scope of the test's own) and its worker.
 */
export async function startSidecar(
  yaml: (dir: string) => string,
  secrets: Record<string, string>,
  redisUrl?: string,
): Promise<Sidecar> {
  const dir = mkdtempSync(join(tmpdir(), 'hookgate-credentials-'));
  const writeSecret = (name: string, value: string): void =>
    writeFileSync(join(dir, name), value, { mode: 0o600 });
  for (const [name, value] of Object.entries(secrets)) writeSecret(name, value);
  let loaded: LoadedConfig = await parseConfig(yaml(dir), 'test.yaml', dir, {});
  const logs: string[] = [];
  const registry = new Registry();
  const log = createLogger({ test: 'credentials' }, 'debug', (line) => logs.push(line));
  const redis = redisUrl === undefined ? undefined : new Redis(redisUrl);
  const queue =
    redis === undefined
      ? undefined
      : new DeliveryQueue({
          store: new RedisQueueStore({
            redis,
            scope: `credentials/${randomBytes(4).toString('hex')}`,
            limits: queueLimits(loaded.config.queue),
            consumer: randomBytes(4).toString('hex'),
          }),
          backend: 'redis',
          settings: loaded.config.queue,
          registry,
          log,
          clock: systemClock,
        });
  const server = await startEgressServer('127.0.0.1', 0, {
    config: () => loaded,
    registry,
    log,
    ...(queue === undefined ? {} : { acceptAsync: queue.accept }),
  });
  queue?.start(() => server.runtime());
  const url = `http://127.0.0.1:${server.port}`;
  return {
    url,
    registry,
    server,
    logs,
    dir,
    writeSecret,
    reload: async (next) => {
      loaded = await parseConfig(next, 'test.yaml', dir, {});
    },
    post: (path, body = '{"type":"order.created"}', headers = {}) =>
      fetch(`${url}${path}`, {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/json', ...headers },
      }),
    close: async () => {
      await server.close(1000, queue?.stopWorker(1000));
      await queue?.close(0);
      redis?.disconnect();
    },
  };
}

/** What a guarded receiver saw of one request. */
export interface Seen {
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
  readonly accepted: boolean;
}

/** A receiver that answers 200 when `check` admits the request's headers, else 401. */
export interface GuardedReceiver {
  readonly url: string;
  readonly seen: Seen[];
  close(): Promise<void>;
}

/** Starts an HTTP receiver on loopback guarded by `check`. */
export async function startGuardedReceiver(
  check: (headers: IncomingMessage['headers']) => boolean,
): Promise<GuardedReceiver> {
  const seen: Seen[] = [];
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const accepted = check(req.headers);
      seen.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), accepted });
      res.statusCode = accepted ? 200 : 401;
      res.end(accepted ? '{"ok":true}' : '{"error":"unauthorized"}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** Sends `count` deliveries, `concurrency` at a time, calling `between` after each `every`. */
export async function load(
  send: () => Promise<Response>,
  count: number,
  concurrency: number,
): Promise<{ status: number; body: string }[]> {
  const results: { status: number; body: string }[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      next++;
      const res = await send();
      results.push({ status: res.status, body: await res.text() });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return results;
}

/** Loopback receivers need the SSRF guard's exception. */
export const LOOPBACK_POLICY = 'policy: { destinations: { allowedCIDRs: ["127.0.0.0/8"] } }';

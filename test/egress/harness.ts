// Test harness for the egress proxy: scripted receivers on loopback, an in-process egress server
// over a config written as YAML, and a clock whose sleeps return at once (recorded, so tests can
// assert the delays) while real requests still run.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { createLogger } from '../../common/log.ts';
import { parseConfig, type LoadedConfig } from '../../sidecar/config/load.ts';
import type { Clock } from '../../sidecar/delivery/delivery.ts';
import { startEgressServer, type EgressServer } from '../../sidecar/egress/server.ts';

/** One request a receiver saw. */
export interface Received {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: Buffer;
}

/** What a scripted receiver does with request number `n` (0-based). */
export type Script = (n: number, req: Received, res: ServerResponse) => void;

/** A receiver on 127.0.0.1 that records requests and answers by script. */
export interface Receiver {
  readonly url: string;
  readonly port: number;
  readonly received: Received[];
  close(): Promise<void>;
}

/** Starts a receiver; the default script answers 200 `{"ok":true}`. */
export async function startReceiver(
  script: Script = (_n, _r, res) => res.end('{"ok":true}'),
): Promise<Receiver> {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const entry = {
        method: req.method ?? '',
        url: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks),
      };
      received.push(entry);
      script(received.length - 1, entry, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    received,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** A clock at real time plus the sleeps it skipped. */
export class SkippingClock implements Clock {
  readonly sleeps: number[] = [];
  #offset = 0;
  now(): number {
    return Date.now() + this.#offset;
  }
  sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
    this.#offset += ms;
    return Promise.resolve();
  }
}

/** A running egress proxy over `yaml`, with its metrics registry and clock. */
export interface Proxy {
  readonly url: string;
  readonly registry: Registry;
  readonly clock: SkippingClock;
  readonly server: EgressServer;
  /** Replaces the configuration in force (what a hot reload does). */
  reload(yaml: string): Promise<void>;
  post(path: string, body?: string, headers?: Record<string, string>): Promise<Response>;
}

/** Secret files the configs refer to, in a folder of their own. */
export const secretsDir = mkdtempSync(join(tmpdir(), 'hookgate-egress-secrets-'));
/** A Standard Webhooks secret (the spec's example key). */
export const WHSEC = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
writeFileSync(join(secretsDir, 'whsec'), WHSEC);
writeFileSync(join(secretsDir, 'old-whsec'), 'whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD');
writeFileSync(join(secretsDir, 'shared'), 'it-is-a-secret');

/** Starts the egress proxy on 127.0.0.1:0 with `yaml` as its config (explicit mode by default). */
export async function startProxy(
  yaml: string,
  interception: 'explicit' | 'transparent' = 'explicit',
): Promise<Proxy> {
  let loaded: LoadedConfig = await parseConfig(yaml, 'test.yaml', secretsDir, {});
  const registry = new Registry();
  const clock = new SkippingClock();
  const server = await startEgressServer('127.0.0.1', 0, {
    config: () => loaded,
    registry,
    log: createLogger({ test: 'egress' }, 'error'),
    clock,
    interception,
  });
  const url = `http://127.0.0.1:${server.port}`;
  return {
    url,
    registry,
    clock,
    server,
    reload: async (next) => {
      loaded = await parseConfig(next, 'test.yaml', secretsDir, {});
    },
    post: (path, body = '{"type":"order.created"}', headers = {}) =>
      fetch(`${url}${path}`, {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/json', ...headers },
      }),
  };
}

/** Allows loopback receivers: the SSRF guard refuses them by default, as it should. */
export const LOOPBACK_ALLOWED = 'destinations: { allowedCIDRs: ["127.0.0.0/8"] }';

// The sidecar as a process for the crash tests: started with --config, killed with SIGKILL, started
// again; a receiver that counts deliveries by webhook-id; and a sender that keeps offering async
// webhooks (with ids of its own, so a resend after a crash is the same delivery) until each is
// answered 202.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, request } from 'undici';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { freePort } from '../cluster/process.ts';
import { LOOPBACK_ALLOWED } from '../egress/harness.ts';

const root = resolve(import.meta.dirname, '../..');

/**
 * A config file in a folder of its own: one endpoint `orders` at `receiverUrl`, signed (the
 * receiver counts by webhook-id, which the signing scheme sends), with `policy`.
 */
export function writeAsyncConfig(
  receiverUrl: string,
  policy = 'delivery: { mode: async }',
): string {
  const dir = mkdtempSync(join(tmpdir(), 'hookgate-crash-'));
  const path = join(dir, 'sidecar.yaml');
  writeFileSync(
    path,
    [
      'listen: { egress: "127.0.0.1:0", ingress: "127.0.0.1:0" }',
      'endpoints:',
      '  - name: orders',
      `    url: ${receiverUrl}/hooks`,
      '    signing: { secrets: [{ source: { env: CRASH_TEST_WHSEC } }] }',
      `    policy: { ${LOOPBACK_ALLOWED}, ${policy}, retry: { schedule: ["0s", "50ms", "100ms", "200ms", "1s"] } }`,
      // A short lease, so the test sees a dead sidecar's work claimed back within seconds.
      `queue: { lease: 2s, pollInterval: 50ms, directory: ${join(dir, 'queue')} }`,
      '',
    ].join('\n'),
  );
  return path;
}

/** A sidecar process. */
export interface SidecarProcess {
  readonly egress: string;
  readonly admin: string;
  readonly child: ChildProcess;
  readonly logs: Record<string, unknown>[];
  /** SIGKILL, and wait until it is gone. */
  kill(): Promise<void>;
}

/** Starts `node sidecar/main.ts --config <file>` and waits until egress listens and /readyz is 200. */
export async function startSidecarProcess(
  configPath: string,
  env: NodeJS.ProcessEnv,
  /** `adminHost`: where the admin API listens besides loopback reach (0.0.0.0: every address). */
  options: { readonly adminHost?: string } = {},
): Promise<SidecarProcess> {
  const adminPort = await freePort();
  const child = spawn(process.execPath, [join(root, 'sidecar/main.ts'), '--config', configPath], {
    env: {
      ...process.env,
      HOOKGATE_ADMIN_ADDR: `${options.adminHost ?? '127.0.0.1'}:${adminPort}`,
      CRASH_TEST_WHSEC: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const logs: Record<string, unknown>[] = [];
  let egressPort = 0;
  createInterface({ input: child.stdout }).on('line', (line) => {
    try {
      const entry = JSON.parse(line) as Record<string, unknown>;
      logs.push(entry);
      if (entry['msg'] === 'egress listening') egressPort = entry['port'] as number;
    } catch {
      // not a log line
    }
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const admin = `http://127.0.0.1:${adminPort}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`sidecar exited with ${child.exitCode}`);
    const status = (await fetch(`${admin}/readyz`).catch(() => undefined))?.status;
    if (status === 200 && egressPort !== 0) break;
    if (Date.now() > deadline) throw new Error('sidecar did not become ready within 20 s');
    await sleep(100);
  }
  return {
    egress: `http://127.0.0.1:${egressPort}`,
    admin,
    child,
    logs,
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** A receiver counting deliveries by webhook-id, in order of arrival. */
export interface CountingReceiver {
  readonly url: string;
  /** webhook-id → times received (answered 2xx). */
  readonly counts: Map<string, number>;
  /** Ids in order of their first 2xx. */
  readonly firsts: string[];
  /** Every request in order of arrival, answered 2xx or not. */
  readonly arrivals: string[];
  close(): Promise<void>;
}

/** Starts a receiver; `fail(id, n)` (n = times this id was seen before) decides a 500. */
export async function startCountingReceiver(
  fail: (id: string, seen: number) => boolean = () => false,
): Promise<CountingReceiver> {
  const counts = new Map<string, number>();
  const seen = new Map<string, number>();
  const firsts: string[] = [];
  const arrivals: string[] = [];
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const id = String(req.headers['webhook-id']);
      const n = seen.get(id) ?? 0;
      seen.set(id, n + 1);
      arrivals.push(id);
      if (fail(id, n)) {
        res.statusCode = 500;
        res.end();
        return;
      }
      const c = counts.get(id) ?? 0;
      if (c === 0) firsts.push(id);
      counts.set(id, c + 1);
      res.end();
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    counts,
    firsts,
    arrivals,
    close: () => {
      server.closeAllConnections();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

/** Offers webhooks until each is accepted (202); survives the sidecar dying under it. */
export class Sender {
  readonly accepted = new Set<string>();
  /** Ids in the order they were first answered 202. */
  readonly acceptOrder: string[] = [];
  target: string;
  readonly #agent = new Agent({ connections: 64, keepAliveTimeout: 10_000 });

  constructor(target: string) {
    this.target = target;
  }

  /** Sends ids `prefix-0` … `prefix-(count-1)` to `/path`, `concurrency` at a time (1: in order). */
  async send(path: string, prefix: string, count: number, concurrency: number): Promise<void> {
    let next = 0;
    const lane = async (): Promise<void> => {
      for (let i = next++; i < count; i = next++) await this.#one(path, `${prefix}-${i}`);
    };
    await Promise.all(Array.from({ length: concurrency }, lane));
  }

  async #one(path: string, id: string): Promise<void> {
    for (;;) {
      try {
        const res = await request(`${this.target}${path}`, {
          method: 'POST',
          body: JSON.stringify({ id }),
          headers: {
            'content-type': 'application/json',
            prefer: 'respond-async',
            'hookgate-delivery-id': id,
          },
          dispatcher: this.#agent,
        });
        await res.body.dump();
        if (res.statusCode === 202) {
          if (!this.accepted.has(id)) this.acceptOrder.push(id);
          this.accepted.add(id);
          return;
        }
      } catch {
        // The sidecar is down (killed) or restarting: offer it again shortly.
      }
      await sleep(50);
    }
  }

  close(): Promise<void> {
    return this.#agent.close();
  }
}

// Ingress hot path: verified webhooks per second through the sidecar against the same webhooks
// sent straight to the app, measured in one run on loopback. A second baseline is a bare Node
// proxy (node:http in, undici out, no verification, no de-dup): the gap between it and the
// sidecar is what Hookgate's own work costs, the rest is the price of any extra hop in Node.
// The app and each proxy run in worker threads, the load generator on the main thread, so the
// proxy competes for CPU as it does in a pod; the ratios, not the absolute figures, are the result.
//
//   node bench/ingress/run.ts [--seconds 5] [--concurrency 32] [--body-bytes 1024]
//
// Each phase warms up for 1 s, then measures for --seconds (shortened so that all phases fit);
// the whole run stops itself after 30 s. The sidecar runs twice: history off, then recording every
// forward to its disk store (a pod's default), for the history's price in the same run. With
// HOOKGATE_REDIS_URL set, one more phase de-duplicates through that Redis.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { Agent, Pool } from 'undici';
import { stringify } from 'yaml';
import { createLogger } from '../../common/log.ts';
import { parseConfig } from '../../sidecar/config/load.ts';
import { systemClock } from '../../sidecar/delivery/delivery.ts';
import { DeliveryObservers } from '../../sidecar/delivery/observe.ts';
import { openHistory } from '../../sidecar/history/open.ts';
import { startIngressServer } from '../../sidecar/ingress/server.ts';
import { createSigner } from '../../sidecar/signing/index.ts';

const SECRET = `whsec_${Buffer.alloc(32, 0x6b).toString('base64')}`;
const HARD_LIMIT_MS = 30_000;
const WARMUP_MS = 1_000;

/** What a worker is asked to be. */
type Role =
  | { role: 'app' }
  | { role: 'bare-proxy'; appPort: number }
  | {
      role: 'sidecar';
      appPort: number;
      redisUrl: string | undefined;
      /** Record every forward into this folder. */ history?: string;
    };

/** Messages between the main thread and the workers. */
type WorkerMessage = { port: number } | { received: number };

/** The app: answers every POST with 200 after reading the body, counts what it got. */
async function runApp(): Promise<void> {
  let received = 0;
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      received++;
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' });
      res.end('ok');
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  parentPort?.on('message', () => parentPort?.postMessage({ received } satisfies WorkerMessage));
  parentPort?.postMessage({ port: (server.address() as AddressInfo).port } satisfies WorkerMessage);
}

/** The baseline proxy: what any Node hop costs, with nothing verified or remembered. */
async function runBareProxy(appPort: number): Promise<void> {
  const agent = new Agent({ connections: 128 });
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      agent
        .request({
          origin: `http://127.0.0.1:${appPort}`,
          path: req.url ?? '/',
          method: 'POST',
          headers: { 'content-type': req.headers['content-type'] ?? 'application/json' },
          body: Buffer.concat(chunks),
        })
        .then(
          (r) => {
            res.writeHead(r.statusCode, { 'content-type': 'text/plain' });
            r.body.pipe(res);
          },
          () => res.writeHead(502).end(),
        );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  parentPort?.postMessage({ port: (server.address() as AddressInfo).port } satisfies WorkerMessage);
}

/**
 * The sidecar: the real ingress server, one Standard Webhooks endpoint; with `history`, every
 * forward recorded to the disk store as a pod records it by default (ADR 0022).
 */
async function runSidecar(
  appPort: number,
  redisUrl: string | undefined,
  history: string | undefined,
): Promise<void> {
  const loaded = await parseConfig(
    stringify({
      history: history === undefined ? { enabled: false } : { directory: history },
      ingress: [
        {
          name: 'bench',
          path: '/hooks/bench',
          verify: { scheme: 'standard-webhooks', secrets: [{ env: 'BENCH_SECRET' }] },
          forward: { port: appPort },
        },
      ],
    }),
    'bench.yaml',
    '.',
    { BENCH_SECRET: SECRET },
  );
  const redis =
    redisUrl === undefined ? undefined : new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  const registry = new Registry();
  const log = createLogger({ program: 'bench' }, 'error');
  const observers = new DeliveryObservers();
  if (history !== undefined)
    await openHistory({
      config: () => loaded,
      redis: undefined,
      observers,
      registry,
      log,
      clock: systemClock,
      pod: 'bench-0',
    });
  const server = await startIngressServer('127.0.0.1', 0, {
    config: () => loaded,
    registry,
    log,
    observers,
    ...(redis === undefined ? {} : { redis }),
  });
  parentPort?.postMessage({ port: server.port } satisfies WorkerMessage);
}

/** Starts this file as a worker in `role` and waits for the port it listens on. */
async function startWorker(role: Role): Promise<{ worker: Worker; port: number }> {
  const worker = new Worker(new URL(import.meta.url), { workerData: role });
  const port = await new Promise<number>((resolve, reject) => {
    worker.once('error', reject);
    worker.once('message', (m: WorkerMessage) => {
      if ('port' in m) resolve(m.port);
    });
  });
  return { worker, port };
}

/** Asks the app worker how many webhooks it received so far. */
function appReceived(app: Worker): Promise<number> {
  return new Promise((resolve) => {
    app.once('message', (m: WorkerMessage) => {
      if ('received' in m) resolve(m.received);
    });
    app.postMessage('count');
  });
}

/** One phase's figures. */
interface PhaseResult {
  readonly name: string;
  readonly completed: number;
  readonly failed: number;
  /** Answered 200, warm-up included: what the app should have received. */
  readonly answered: number;
  readonly perSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

/** Runs closed-loop load (`concurrency` requests always in flight) against `port`. */
async function phase(
  name: string,
  port: number,
  concurrency: number,
  measureMs: number,
  body: Buffer,
): Promise<PhaseResult> {
  const pool = new Pool(`http://127.0.0.1:${port}`, { connections: concurrency });
  // Every request is signed with a fresh id in both phases, so the generator's cost is equal.
  const sign = createSigner({ scheme: 'standard-webhooks', secrets: [SECRET] });
  const latencies: number[] = [];
  let completed = 0;
  let failed = 0;
  let answered = 0;
  let measuring = false;
  const start = performance.now();
  const warmEnd = start + WARMUP_MS;
  const end = warmEnd + measureMs;
  const loop = async (): Promise<void> => {
    for (;;) {
      const sent = performance.now();
      if (sent >= end) return;
      measuring = sent >= warmEnd;
      const headers = sign({
        deliveryId: `msg_${randomUUID()}`,
        timestamp: Math.floor(Date.now() / 1000),
        body,
      });
      const res = await pool.request({
        path: '/hooks/bench',
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body,
      });
      await res.body.dump();
      if (res.statusCode === 200) answered++;
      if (!measuring) continue;
      if (res.statusCode === 200) {
        completed++;
        latencies.push(performance.now() - sent);
      } else {
        failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  await pool.close();
  latencies.sort((a, b) => a - b);
  const at = (q: number): number =>
    latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
  return {
    name,
    completed,
    failed,
    answered,
    perSecond: completed / (measureMs / 1000),
    p50Ms: at(0.5),
    p99Ms: at(0.99),
  };
}

/** Reads `--name value` from the command line. */
function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  const value = i < 0 ? undefined : Number(process.argv[i + 1]);
  return value !== undefined && Number.isFinite(value) && value > 0 ? value : fallback;
}

async function main(): Promise<void> {
  const redisUrl = process.env['HOOKGATE_REDIS_URL'] || undefined;
  const phases = redisUrl === undefined ? 4 : 5;
  // Every phase's warm-up and measurement inside 27 s, leaving room to start and stop.
  const measureMs = Math.min(flag('seconds', 5) * 1000, Math.floor(27_000 / phases) - WARMUP_MS);
  const concurrency = Math.floor(flag('concurrency', 32));
  const bodyBytes = Math.floor(flag('body-bytes', 1024));
  const stop = setTimeout(() => {
    process.stderr.write(`bench: stopped after ${HARD_LIMIT_MS} ms\n`);
    process.exit(1);
  }, HARD_LIMIT_MS);
  stop.unref();
  // A JSON body of the requested size, as a provider would send it.
  const padding = 'x'.repeat(Math.max(0, bodyBytes - 40));
  const body = Buffer.from(JSON.stringify({ type: 'order.created', data: { padding } }));

  const app = await startWorker({ role: 'app' });
  const bare = await startWorker({ role: 'bare-proxy', appPort: app.port });
  const sidecar = await startWorker({ role: 'sidecar', appPort: app.port, redisUrl: undefined });
  const workers = [app.worker, bare.worker, sidecar.worker];
  const results: PhaseResult[] = [];
  results.push(await phase('direct to the app', app.port, concurrency, measureMs, body));
  results.push(await phase('bare Node proxy (no verify)', bare.port, concurrency, measureMs, body));
  const before = await appReceived(app.worker);
  const through = await phase('through the sidecar', sidecar.port, concurrency, measureMs, body);
  results.push(through);
  const forwarded = (await appReceived(app.worker)) - before;
  // The same sidecar recording every forward (a pod's default), to price the history in one run.
  const historyDir = mkdtempSync(join(tmpdir(), 'hookgate-bench-ingress-'));
  const recording = await startWorker({
    role: 'sidecar',
    appPort: app.port,
    redisUrl: undefined,
    history: historyDir,
  });
  workers.push(recording.worker);
  const recorded = await phase(
    'through the sidecar, history on',
    recording.port,
    concurrency,
    measureMs,
    body,
  );
  results.push(recorded);
  if (redisUrl !== undefined) {
    const withRedis = await startWorker({ role: 'sidecar', appPort: app.port, redisUrl });
    workers.push(withRedis.worker);
    results.push(
      await phase(
        'through the sidecar, Redis de-dup',
        withRedis.port,
        concurrency,
        measureMs,
        body,
      ),
    );
  }

  const direct = results[0]!;
  process.stdout.write(
    `ingress bench: Standard Webhooks, ${body.length}-byte body, ${concurrency} in flight, ` +
      `${measureMs / 1000}s measured per phase after ${WARMUP_MS / 1000}s warm-up, loopback\n\n`,
  );
  process.stdout.write(
    `${'phase'.padEnd(36)}${'webhooks/s'.padStart(12)}${'ratio'.padStart(8)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}${'failed'.padStart(8)}\n`,
  );
  for (const r of results) {
    process.stdout.write(
      `${r.name.padEnd(36)}${r.perSecond.toFixed(0).padStart(12)}${(r.perSecond / direct.perSecond).toFixed(2).padStart(8)}` +
        `${r.p50Ms.toFixed(2).padStart(9)}${r.p99Ms.toFixed(2).padStart(9)}${String(r.failed).padStart(8)}\n`,
    );
  }
  const proxy = results[1]!;
  process.stdout.write(
    `\nsidecar: ${(through.perSecond / direct.perSecond).toFixed(2)}x the direct rate, ` +
      `${(through.perSecond / proxy.perSecond).toFixed(2)}x the bare proxy's, ` +
      `+${(through.p50Ms - direct.p50Ms).toFixed(2)} ms at p50 over direct; ` +
      `the app received ${forwarded} webhooks from it for ${through.answered} answered 200\n` +
      `history cost: ×${(recorded.perSecond / through.perSecond).toFixed(3)} (on/off), ` +
      `+${(recorded.p50Ms - through.p50Ms).toFixed(2)} ms at p50\n`,
  );
  await Promise.all(workers.map((w) => w.terminate()));
  rmSync(historyDir, { recursive: true, force: true });
}

if (isMainThread) {
  await main();
} else {
  const role = workerData as Role;
  if (role.role === 'app') await runApp();
  else if (role.role === 'bare-proxy') await runBareProxy(role.appPort);
  else await runSidecar(role.appPort, role.redisUrl, role.history);
}

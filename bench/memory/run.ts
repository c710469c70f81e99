// bench/memory: the compiled sidecar inside a real memory cgroup limited to the injector's default
// `limits.memory` (256Mi), under a saturating load for BENCH_SECONDS (60): closed loops of 1 KB
// synchronous webhooks, 1 KB async webhooks and 1 MiB async webhooks (the default maxPayloadBytes),
// all Standard Webhooks signed, on the embedded disk queue. Samples the sidecar's RSS and the
// group's anonymous memory every 200 ms; afterwards waits for the queue to drain and checks that
// every webhook answered 202 reached the receiver (by webhook-id).
// Prints figures, and FAIL lines (exit status 1) on an OOM kill, a dead sidecar or a lost delivery.
// Needs root (it makes the cgroup under its own, and removes it). Run: make bench-memory
// (BENCH_SECONDS=60 BENCH_SYNC=64 BENCH_ASYNC=64 BENCH_LARGE=16; BENCH_SIDECAR=path/to/main.js
// measures another build the same way, e.g. main's, for a before/after).
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'undici';
import { parseQuantity } from '../../operator/inject/annotations.ts';
import { WEBHOOK_OPTIONS } from '../../operator/webhook/flags.ts';
import { MemoryCgroup } from '../lib/cgroup.ts';
import { startReceiver, waitUp, type Receiver } from '../lib/receiver.ts';
import { writeBenchSidecarConfig } from '../lib/sidecar-config.ts';

const root = resolve(import.meta.dirname, '../..');
const entry = process.env['BENCH_SIDECAR'] ?? join(root, 'dist/sidecar/main.js');
const seconds = Number(process.env['BENCH_SECONDS'] ?? 60);
const loops = {
  sync: Number(process.env['BENCH_SYNC'] ?? 64),
  async: Number(process.env['BENCH_ASYNC'] ?? 64),
  large: Number(process.env['BENCH_LARGE'] ?? 16),
};
const limitBytes = parseQuantity(WEBHOOK_OPTIONS['sidecar-memory-limit'].default)!;
const MB = 1e6;
const MiB = 2 ** 20;
const dir = mkdtempSync(join(tmpdir(), 'hookgate-bench-memory-'));
const small = Buffer.from(JSON.stringify({ type: 'order.created', data: 'x'.repeat(1000) }));
const large = Buffer.from(JSON.stringify({ type: 'export.ready', data: 'y'.repeat(MiB - 64) }));

/** Answers by kind: 2xx, 202, and each problem code the sidecar refused with. */
type Tally = Map<string, number>;
const count = (t: Tally, key: string): void => void t.set(key, (t.get(key) ?? 0) + 1);

/** Closed loops on one kind of request until `stopAt`; returns the ids answered 202. */
async function load(
  url: string,
  kind: keyof typeof loops,
  stopAt: number,
  tally: Tally,
): Promise<string[]> {
  const target = new URL(url);
  const pool = new Pool(target.origin, { connections: loops[kind], pipelining: 1 });
  const accepted: string[] = [];
  let n = 0;
  const loop = async (): Promise<void> => {
    while (performance.now() < stopAt) {
      const id = `${kind}-${n++}`;
      try {
        const res = await pool.request({
          path: target.pathname,
          method: 'POST',
          body: kind === 'large' ? large : small,
          headers: {
            'content-type': 'application/json',
            'hookgate-delivery-id': id,
            ...(kind === 'sync' ? {} : { prefer: 'respond-async' }),
          },
        });
        const text = await res.body.text();
        if (res.statusCode === 202) accepted.push(id);
        if (res.statusCode < 300) count(tally, `${kind} ${res.statusCode}`);
        else {
          const code = (JSON.parse(text || '{}') as { code?: string }).code ?? 'receiver';
          count(tally, `${kind} ${res.statusCode} ${code}`);
          // A refusal carries Retry-After: a real client waits; this one waits a little.
          if (res.statusCode === 503) await sleep(50);
        }
      } catch (err) {
        count(tally, `${kind} error ${(err as Error).message}`);
        await sleep(50);
      }
    }
  };
  await Promise.all(Array.from({ length: loops[kind] }, loop));
  await pool.close();
  return accepted;
}

/** The process's resident set and its anonymous part (resident less file-backed), bytes. */
function residentOf(pid: number): { rss: number; anon: number } {
  const [, resident, shared] = readFileSync(`/proc/${pid}/statm`, 'latin1').split(' ').map(Number);
  return { rss: resident! * 4096, anon: (resident! - shared!) * 4096 };
}
const mb = (bytes: number): string => (bytes / MB).toFixed(1);

/** Peaks of the sidecar's RSS and the group's anonymous memory and usage, sampled until stopped. */
function sampler(
  group: MemoryCgroup,
  pid: number,
): { stop: () => { rss: number; anon: number; groupAnon: number; usage: number } } {
  const peak = { rss: 0, anon: 0, groupAnon: 0, usage: 0 };
  const timer = setInterval(() => {
    try {
      const m = group.memory();
      const own = residentOf(pid);
      peak.rss = Math.max(peak.rss, own.rss);
      peak.anon = Math.max(peak.anon, own.anon);
      peak.groupAnon = Math.max(peak.groupAnon, m.anon);
      peak.usage = Math.max(peak.usage, m.usage);
    } catch {
      // the sidecar is gone: the exit status tells
    }
  }, 200);
  return {
    stop: () => {
      clearInterval(timer);
      return peak;
    },
  };
}

/** The sidecar's own view: V8 heap, Buffers, and the requests it shed by reason (from /metrics). */
async function ownView(admin: string): Promise<string> {
  const text = await (await fetch(`${admin}/metrics`)).text();
  const value = (name: string): number =>
    Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  const shed = [...text.matchAll(/^hookgate_overload_shed_total\{(.*)\} (\S+)$/gm)]
    .map((m) => `${m[1]}: ${m[2]}`)
    .join(', ');
  return `heap used ${mb(value('nodejs_heap_size_used_bytes'))} of ${mb(value('nodejs_heap_size_total_bytes'))} MB, external ${mb(value('nodejs_external_memory_bytes'))} MB; shed ${shed || 'none'}`;
}

/** Waits until every accepted id has arrived, or `ms` pass; returns the ids still missing. */
async function drain(receiver: Receiver, ids: string[], ms: number): Promise<string[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const got = new Map([
      ...(await receiver.receipts('async-')),
      ...(await receiver.receipts('large-')),
    ]);
    const missing = ids.filter((id) => !got.has(id));
    if (missing.length === 0 || Date.now() > deadline) return missing;
    await sleep(500);
  }
}

const failures: string[] = [];
let receiver: Receiver | undefined;
let sidecar: ChildProcess | undefined;
let group: MemoryCgroup | undefined;
try {
  receiver = await startReceiver();
  const {
    path: config,
    egressPort,
    adminPort,
  } = await writeBenchSidecarConfig(dir, 'sidecar', receiver.url);
  group = MemoryCgroup.create(`hookgate-bench-${process.pid}`, limitBytes);
  sidecar = group.spawn(process.execPath, [entry, '--config', config], {
    ...process.env,
    HOOKGATE_ADMIN_ADDR: `127.0.0.1:${adminPort}`,
    HOOKGATE_LOG_LEVEL: 'warn',
    HOOKGATE_REDIS_URL: '',
  });
  let exit: string | undefined;
  sidecar.once('exit', (code, signal) => (exit = signal ?? `status ${code}`));
  const admin = `http://127.0.0.1:${adminPort}`;
  await waitUp(`${admin}/readyz`);
  const url = `http://127.0.0.1:${egressPort}/bench`;
  // One request warms the path, then the process settles: that is the idle figure.
  await fetch(url, { method: 'POST', body: small });
  await sleep(2000);
  const idle = residentOf(sidecar.pid!);
  const idleGroup = group.memory();
  const load1 = loadavg()[0]!;
  console.log(
    `bench/memory: ${entry.replace(`${root}/`, '')} in a memory cgroup v${group.version} limited to ${group.limit() / MiB} MiB (the injector's default), ${seconds}s of ${loops.sync} sync 1 KB + ${loops.async} async 1 KB + ${loops.large} async 1 MiB closed loops, disk queue, Node ${process.versions.node}, ${cpus().length} CPUs, load ${load1.toFixed(1)}`,
  );
  console.log(
    `idle: RSS ${mb(idle.rss)} MB, anonymous ${mb(idle.anon)} MB (cgroup: anon ${mb(idleGroup.anon)} MB, page cache ${mb(idleGroup.file)} MB)`,
  );

  const tally: Tally = new Map();
  const peaks = sampler(group, sidecar.pid!);
  const stopAt = performance.now() + seconds * 1000;
  const started = performance.now();
  const [, asyncIds, largeIds] = await Promise.all([
    load(url, 'sync', stopAt, tally),
    load(url, 'async', stopAt, tally),
    load(url, 'large', stopAt, tally),
  ]);
  const elapsed = (performance.now() - started) / 1000;
  const peak = peaks.stop();
  const endOfLoad = await ownView(admin);
  const accepted = [...asyncIds, ...largeIds];
  console.log(
    `under load: peak RSS ${mb(peak.rss)} MB, anonymous ${mb(peak.anon)} MB; cgroup: peak anon ${mb(peak.groupAnon)} MB, peak usage with page cache ${mb(peak.usage)} MB; load ${loadavg()[0]!.toFixed(1)}`,
  );
  console.log(`  sidecar at the end of the load: ${endOfLoad}`);
  console.log('answers (per second over the run):');
  for (const [key, n] of [...tally].sort()) {
    console.log(
      `  ${key.padEnd(40)} ${String(n).padStart(8)}  ${(n / elapsed).toFixed(0).padStart(6)}/s`,
    );
  }
  const drainStarted = Date.now();
  const missing = exit === undefined ? await drain(receiver, accepted, 180_000) : accepted;
  const after = exit === undefined ? residentOf(sidecar.pid!) : { rss: NaN, anon: NaN };
  const memory = group.memory();
  if (exit === undefined) console.log(`  sidecar after draining: ${await ownView(admin)}`);
  console.log(
    `async accepted ${accepted.length} (${asyncIds.length} of 1 KB, ${largeIds.length} of 1 MiB), delivered ${accepted.length - missing.length}, missing ${missing.length}; drained ${((Date.now() - drainStarted) / 1000).toFixed(1)}s after the load; then RSS ${mb(after.rss)} MB, anonymous ${mb(after.anon)} MB`,
  );
  console.log(
    `OOM kills in the group: ${memory.oomKills}; sidecar ${exit === undefined ? 'still running' : `exited (${exit})`}`,
  );
  if (memory.oomKills > 0) failures.push(`${memory.oomKills} OOM kill(s)`);
  if (exit !== undefined) failures.push(`the sidecar exited during the run (${exit})`);
  if (missing.length > 0) failures.push(`${missing.length} accepted deliveries never arrived`);
} finally {
  if (sidecar?.exitCode === null && sidecar.signalCode === null) {
    sidecar.kill('SIGTERM');
    await new Promise((r) => sidecar!.once('exit', r));
  }
  receiver?.process.kill('SIGTERM');
  await group?.remove();
  rmSync(dir, { recursive: true, force: true });
}
for (const f of failures) console.log(`FAIL: ${f}`);
if (failures.length > 0) process.exitCode = 1;

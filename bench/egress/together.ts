// bench/egress/together.ts: the delivery history's cost measured in one time window. On a machine
// whose speed drifts from one run to the next (this one: the same sidecar 78–166 CPU µs per
// request in back-to-back runs), an on/off pair measured one after the other cannot resolve a few
// microseconds. Here every sidecar runs at once under the same load — the history-off sidecar, the
// same build with history on, and optionally another build with history on
// (BENCH_SIDECAR_BEFORE=path/to/main.js; with BENCH_BEFORE_HISTORY=off that build runs without
// history, the before of a change to the delivery path), and with BENCH_BARE=1 the bare Node proxy signing each
// request as the sidecar does (bench/lib/bare-proxy.ts: issue 19's ceiling, so its ratio to the
// history-off sidecar is read in the same window too) — each from its own closed loops (BENCH_CONNECTIONS,
// default 16, 1 KB POSTs, Standard Webhooks signing, disk store), for BENCH_ROUNDS rounds of
// BENCH_SECONDS; per round it prints each sidecar's CPU µs per request (/proc, every thread) and
// what history adds over the history-off one, then the medians. The first round warms up and is
// left out of the medians. The sidecars share two cores, so every figure is larger than a sidecar
// alone would show (about 1.5 times for three); the differences are what to read.
// Run: make build && BENCH_SIDECAR=dist/sidecar/main.js node bench/egress/together.ts
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from '../../test/cluster/process.ts';
import { cpuMicros, throughput, waitAnswering } from '../lib/load.ts';
import { startReceiver } from '../lib/receiver.ts';

const root = resolve(import.meta.dirname, '../..');
const entry = process.env['BENCH_SIDECAR'] ?? join(root, 'sidecar/main.ts');
const before = process.env['BENCH_SIDECAR_BEFORE'];
/** The before build with history off instead (BENCH_BEFORE_HISTORY=off): issue 19's before/after. */
const beforeOff = process.env['BENCH_BEFORE_HISTORY'] === 'off';
const withBare = process.env['BENCH_BARE'] === '1';
const seconds = Number(process.env['BENCH_SECONDS'] ?? 4);
const rounds = Math.max(2, Number(process.env['BENCH_ROUNDS'] ?? 6));
const connections = Number(process.env['BENCH_CONNECTIONS'] ?? 16);
const body = Buffer.from(
  JSON.stringify({ type: 'order.created', data: 'x'.repeat(1000) }).slice(0, 1024),
);
const dir = mkdtempSync(join(tmpdir(), 'hookgate-bench-together-'));
const children: ChildProcess[] = [];

interface Sidecar {
  readonly name: string;
  readonly pid: number;
  readonly url: string;
  readonly cpu: number[];
}

try {
  const receiver = await startReceiver();
  children.push(receiver.process);
  const secret = join(dir, 'whsec');
  writeFileSync(secret, 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
  const start = async (name: string, main: string, history: boolean): Promise<Sidecar> => {
    const own = join(dir, name);
    mkdirSync(own);
    const egressPort = await freePort();
    writeFileSync(
      join(own, 'config.yaml'),
      `listen: { egress: "127.0.0.1:${egressPort}", ingress: "127.0.0.1:0" }\nendpoints:\n  - name: bench\n    url: ${receiver.url}/hook\n    signing: { secrets: [{ source: { file: ${secret} } }] }\n    policy: { destinations: { allowedCIDRs: ["127.0.0.0/8"] } }\nqueue: { directory: ${join(own, 'queue')} }\nhistory: ${history ? `{ directory: ${join(own, 'history')} }` : '{ enabled: false }'}\n`,
    );
    const child = spawn(process.execPath, [main, '--config', join(own, 'config.yaml')], {
      stdio: 'ignore',
      env: {
        ...process.env,
        HOOKGATE_ADMIN_ADDR: `127.0.0.1:${await freePort()}`,
        HOOKGATE_LOG_LEVEL: 'warn',
      },
    });
    children.push(child);
    const url = `http://127.0.0.1:${egressPort}/bench`;
    await waitAnswering(url);
    return { name, pid: child.pid!, url, cpu: [] };
  };
  const off = await start('off', entry, false);
  const sidecars = [off, await start('on', entry, true)];
  if (before !== undefined)
    sidecars.push(await start(beforeOff ? 'before-off' : 'before-on', before, !beforeOff));
  if (withBare) {
    const port = await freePort();
    const bare = spawn(
      process.execPath,
      [
        join(root, 'bench/lib/bare-proxy.ts'),
        String(port),
        new URL(receiver.url).origin,
        readFileSync(secret, 'utf8'),
      ],
      { stdio: 'ignore' },
    );
    children.push(bare);
    const url = `http://127.0.0.1:${port}/hook`;
    await waitAnswering(url);
    sidecars.push({ name: 'bare-sign', pid: bare.pid!, url, cpu: [] });
  }
  const isBare = (s: Sidecar): boolean => s.name === 'bare-sign';
  /** The sidecars without history: the history's baseline and the bare proxy's comparison. */
  const historyOff = sidecars.filter((s) => s.name === 'off' || s.name === 'before-off');
  const withHistory = (s: Sidecar): boolean => !isBare(s) && !historyOff.includes(s);
  console.log(
    `bench/egress/together: ${sidecars.map((s) => s.name).join(', ')} at once, ${connections} connections each, ${seconds}s rounds, 1 KB POSTs, sidecar ${entry.replace(`${root}/`, '')}${before === undefined ? '' : `, before ${before}`}`,
  );
  for (let round = 1; round <= rounds; round++) {
    const cpuBefore = await Promise.all(sidecars.map((s) => cpuMicros([s.pid])));
    const runs = await Promise.all(
      sidecars.map((s) => throughput(s.url, body, connections, seconds)),
    );
    const cpuAfter = await Promise.all(sidecars.map((s) => cpuMicros([s.pid])));
    sidecars.forEach((s, i) => s.cpu.push((cpuAfter[i]! - cpuBefore[i]!) / runs[i]!.requests));
    console.log(
      `round ${round}${round === 1 ? ' (warm-up)' : ''}: ${sidecars.map((s, i) => `${s.name} ${s.cpu.at(-1)!.toFixed(1)} µs/req at ${runs[i]!.rps.toFixed(0)}/s${!withHistory(s) ? '' : ` (history +${(s.cpu.at(-1)! - off.cpu.at(-1)!).toFixed(1)})`}`).join(', ')}`,
    );
  }
  const median = (xs: number[]): number => {
    const sorted = [...xs].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  };
  for (const s of sidecars) {
    const measured = s.cpu.slice(1);
    const added = measured.map((c, i) => c - off.cpu[i + 1]!);
    // Per round, the bare proxy's CPU per request over a history-off sidecar's: how many requests
    // that sidecar delivers per CPU second relative to the Node ceiling.
    const ratioOf = (other: Sidecar): number =>
      median(measured.map((c, i) => c / other.cpu[i + 1]!));
    console.log(
      `${s.name}: median ${median(measured).toFixed(1)} CPU µs/req${
        !withHistory(s) && !isBare(s)
          ? ''
          : isBare(s)
            ? `; per CPU second, ${historyOff.map((o) => `${o.name} delivers ${ratioOf(o).toFixed(3)}×`).join(', ')} as many requests (issue 19 asks ≥ 0.9)`
            : `, history adds ${median(added).toFixed(1)} (${((median(added) / median(off.cpu.slice(1))) * 100).toFixed(1)} % of the history-off sidecar)`
      }`,
    );
  }
} finally {
  for (const c of children) c.kill('SIGTERM');
}

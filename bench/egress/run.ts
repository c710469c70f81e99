// bench/egress: the same load (1 KB POSTs) sent direct to a receiver with undici, through the
// Hookgate sidecar (Standard Webhooks signing on), through a bare Node proxy (node:http in, undici
// out, nothing else: the Node ceiling, bench/lib/bare-proxy.ts) and through Debian's nginx as a
// plain reverse proxy, and through the bare proxy signing as the sidecar does (`bare-sign`: the
// ceiling for any proxy that signs) — in one run, on loopback; the sidecar twice, with delivery history on (the
// default: every attempt recorded to its disk store) and off (`nohist`). Prints throughput and added p50/p99 latency as
// ratios, each proxy's CPU time per delivery (from /proc, over the throughput run), and the
// each sidecar's peak RSS under that load. Run: make bench-egress (builds, measures the compiled
// sidecar, installs nginx when missing); BENCH_SIDECAR=path/to/main.js measures another build.
// The history's cost alone: BENCH_ONLY=history runs only the sidecar on and off, BENCH_ROUNDS=n
// alternates the pair n times (on, off, then off, on: two shared cores drift, and a pair measured
// back to back in both orders cancels most of it) and prints each round's ratio and the median;
// BENCH_HISTORY_STORES=disk,redis adds a pair on a real Redis (both sidecars given
// HOOKGATE_REDIS_URL, the Redis server's CPU counted with the sidecar's).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from '../../test/cluster/process.ts';
import { startRedis, type RedisServer } from '../../test/cluster/redis.ts';
import {
  childPids,
  cpuMicros,
  latencyAtRate,
  rssMb,
  throughput,
  waitAnswering,
} from '../lib/load.ts';

const root = resolve(import.meta.dirname, '../..');
// `make bench-egress` measures the compiled sidecar, as the image runs it (BENCH_SIDECAR=
// dist/sidecar/main.js after `make build`); run by hand it takes the TypeScript source, which
// costs ~15 MB more resident memory (Node's type stripper) and no CPU per request.
const entry = process.env['BENCH_SIDECAR'] ?? join(root, 'sidecar/main.ts');
const seconds = Number(process.env['BENCH_SECONDS'] ?? 5);
const connections = Number(process.env['BENCH_CONNECTIONS'] ?? 32);
const historyOnly = process.env['BENCH_ONLY'] === 'history';
const rounds = Math.max(1, Number(process.env['BENCH_ROUNDS'] ?? 1));
const stores = (process.env['BENCH_HISTORY_STORES'] ?? 'disk').split(',').filter((s) => s !== '');
const body = Buffer.from(
  JSON.stringify({ type: 'order.created', data: 'x'.repeat(1000) }).slice(0, 1024),
);
const children: ChildProcess[] = [];
const dir = mkdtempSync(join(tmpdir(), 'hookgate-bench-'));
let redis: RedisServer | undefined;

function start(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  const child = spawn(cmd, args, { stdio: 'ignore', env: { ...process.env, ...env } });
  children.push(child);
  return child;
}

try {
  // The receiver runs in its own process so it never shares an event loop with the load.
  const receiverPort = await freePort();
  start(process.execPath, [
    '-e',
    `require('node:http').createServer((q,s)=>{q.resume();q.on('end',()=>s.end('{"ok":true}'))}).listen(${receiverPort},'127.0.0.1')`,
  ]);
  const direct = `http://127.0.0.1:${receiverPort}/hook`;
  await waitAnswering(direct);

  const secret = join(dir, 'whsec');
  writeFileSync(secret, 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
  // One sidecar process per variant, each with folders of its own (queue, history).
  const startSidecar = async (
    name: string,
    history: string,
    env: NodeJS.ProcessEnv = {},
  ): Promise<{ child: ChildProcess; url: string }> => {
    const egressPort = await freePort();
    const config = join(dir, `${name}.yaml`);
    writeFileSync(
      config,
      `listen: { egress: "127.0.0.1:${egressPort}", ingress: "127.0.0.1:0" }\nendpoints:\n  - name: bench\n    url: ${direct}\n    signing: { secrets: [{ source: { file: ${secret} } }] }\n    policy: { destinations: { allowedCIDRs: ["127.0.0.0/8"] } }\nqueue: { directory: ${join(dir, name, 'queue')} }\nhistory: ${history}\n`,
    );
    const child = start(process.execPath, [entry, '--config', config], {
      HOOKGATE_ADMIN_ADDR: `127.0.0.1:${await freePort()}`,
      HOOKGATE_LOG_LEVEL: 'warn',
      ...env,
    });
    const url = `http://127.0.0.1:${egressPort}/bench`;
    await waitAnswering(url);
    return { child, url };
  };
  // Each history pair: the sidecar with history on and off, started alike but for `history`.
  const pairs: { on: string; off: string; extraPids: number[] }[] = [];
  const targets: [string, string, () => Promise<number[]>][] = [];
  for (const store of stores) {
    const env: NodeJS.ProcessEnv = {};
    const extraPids: number[] = [];
    if (store === 'redis') {
      redis ??= await startRedis({ dir: join(dir, 'redis') });
      env['HOOKGATE_REDIS_URL'] = redis.url;
      extraPids.push(redis.process.pid);
    } else if (store !== 'disk') throw new Error(`BENCH_HISTORY_STORES: unknown store ${store}`);
    const on = store === 'disk' ? 'sidecar' : `${store}`;
    const off = store === 'disk' ? 'nohist' : `${store}-off`;
    const withHistory = await startSidecar(on, `{ directory: ${join(dir, on, 'history')} }`, env);
    const without = await startSidecar(off, '{ enabled: false }', env);
    targets.push(
      [on, withHistory.url, () => Promise.resolve([withHistory.child.pid!, ...extraPids])],
      [off, without.url, () => Promise.resolve([without.child.pid!, ...extraPids])],
    );
    pairs.push({ on, off, extraPids });
  }

  if (!historyOnly) {
    const nginxPort = await freePort();
    writeFileSync(
      join(dir, 'nginx.conf'),
      `daemon off; worker_processes 1; pid ${dir}/nginx.pid; error_log ${dir}/nginx-error.log;
  events { worker_connections 1024; }
  http { access_log off; client_body_temp_path ${dir}; proxy_temp_path ${dir};
    upstream r { server 127.0.0.1:${receiverPort}; keepalive 64; }
    server { listen 127.0.0.1:${nginxPort}; location / { proxy_pass http://r; proxy_http_version 1.1; proxy_set_header Connection ""; } } }`,
    );
    const nginx = start('nginx', ['-c', join(dir, 'nginx.conf'), '-p', dir]);
    const viaNginx = `http://127.0.0.1:${nginxPort}/hook`;
    await waitAnswering(viaNginx);

    const barePort = await freePort();
    const bare = start(process.execPath, [
      join(root, 'bench/lib/bare-proxy.ts'),
      String(barePort),
      `http://127.0.0.1:${receiverPort}`,
    ]);
    const viaBare = `http://127.0.0.1:${barePort}/hook`;
    await waitAnswering(viaBare);
    // The same bare proxy signing each request as the sidecar does: the part of the sidecar's
    // price no implementation can skip, so the ceiling a signing proxy can reach on this Node.
    const signPort = await freePort();
    const bareSign = start(process.execPath, [
      join(root, 'bench/lib/bare-proxy.ts'),
      String(signPort),
      `http://127.0.0.1:${receiverPort}`,
      readFileSync(secret, 'utf8'),
    ]);
    const viaBareSign = `http://127.0.0.1:${signPort}/hook`;
    await waitAnswering(viaBareSign);
    // Each target with the processes whose CPU time it costs (none for direct: the receiver's
    // share is the same everywhere).
    const nginxPid = nginx.pid!;
    targets.unshift(['direct', direct, () => Promise.resolve([])]);
    targets.push(
      ['bare', viaBare, () => Promise.resolve([bare.pid!])],
      ['bare-sign', viaBareSign, () => Promise.resolve([bareSign.pid!])],
      ['nginx', viaNginx, async () => [nginxPid, ...(await childPids(nginxPid))]],
    );
  }
  console.log(
    `bench/egress: 1 KB POSTs, ${connections} connections, ${seconds}s per run, Node ${process.versions.node}, sidecar ${entry.replace(`${root}/`, '')}, load ${loadavg()[0]!.toFixed(1)}`,
  );
  type Row = { rps: number; p50: number; p99: number; errors: number; cpuUs: number };
  // Each sidecar's peak RSS during its first throughput run (the saturating load).
  const sidecarNames = new Set(pairs.flatMap((p) => [p.on, p.off]));
  const peakRss = new Map<string, { pid: number; mb: number }>();
  const measure = async (
    name: string,
    url: string,
    pids: () => Promise<number[]>,
  ): Promise<Row> => {
    await throughput(url, body, 4, 1); // warm-up
    const cpuBefore = await cpuMicros(await pids());
    const peak =
      sidecarNames.has(name) && !peakRss.has(name) ? { pid: (await pids())[0]!, mb: 0 } : undefined;
    if (peak !== undefined) peakRss.set(name, peak);
    const sampling =
      peak === undefined
        ? undefined
        : setInterval(() => {
            void rssMb(peak.pid).then((mb) => (peak.mb = Math.max(peak.mb, mb)));
          }, 50);
    const t = await throughput(url, body, connections, seconds);
    clearInterval(sampling);
    const cpuUs = ((await cpuMicros(await pids())) - cpuBefore) / t.requests;
    const l = await latencyAtRate(url, body, 1000, seconds);
    return { rps: t.rps, p50: l.p50, p99: l.p99, errors: t.errors + l.errors, cpuUs };
  };
  // Round 1 measures every target in order; later rounds only the history pairs, alternating.
  const runs: Record<string, Row[]> = {};
  const run = async (name: string): Promise<void> => {
    const [, url, pids] = targets.find((t) => t[0] === name)!;
    const row = await measure(name, url, pids);
    (runs[name] ??= []).push(row);
  };
  for (const [name] of targets) await run(name);
  for (let round = 2; round <= rounds; round++)
    for (const pair of pairs)
      for (const name of round % 2 === 0 ? [pair.off, pair.on] : [pair.on, pair.off])
        await run(name);

  const median = (xs: number[]): number => {
    const sorted = [...xs].sort((a, b) => a - b);
    const mid = Math.floor(sorted.length / 2);
    return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  };
  const d = runs['direct']?.[0];
  const b = runs['bare']?.[0];
  const ratio = (x: number, base: number | undefined, width: number): string =>
    (base === undefined ? '-' : (x / base).toFixed(2)).padStart(width);
  console.log(
    `target       req/s  ×direct  ×bare   CPU µs/req   p50 ms  +p50 ms   p99 ms  +p99 ms  errors   (latency at 1000 req/s${rounds > 1 ? '; history pairs: median of ' + rounds + ' rounds' : ''})`,
  );
  const dp50 = d?.p50 ?? 0;
  const dp99 = d?.p99 ?? 0;
  for (const [name, rs] of Object.entries(runs)) {
    const r: Row = {
      rps: median(rs.map((x) => x.rps)),
      p50: median(rs.map((x) => x.p50)),
      p99: median(rs.map((x) => x.p99)),
      errors: rs.reduce((sum, x) => sum + x.errors, 0),
      cpuUs: median(rs.map((x) => x.cpuUs)),
    };
    console.log(
      `${name.padEnd(11)} ${r.rps.toFixed(0).padStart(6)}  ${ratio(r.rps, d?.rps, 7)}  ${ratio(r.rps, b?.rps, 5)}  ${(name === 'direct' ? '-' : r.cpuUs.toFixed(0)).padStart(11)}  ${r.p50.toFixed(2).padStart(7)}  ${(r.p50 - dp50).toFixed(2).padStart(7)}  ${r.p99.toFixed(2).padStart(7)}  ${(r.p99 - dp99).toFixed(2).padStart(7)}  ${String(r.errors).padStart(6)}`,
    );
  }
  for (const pair of pairs) {
    const on = runs[pair.on]!;
    const off = runs[pair.off]!;
    const label = pair.on === 'sidecar' ? 'disk' : pair.on;
    const per = on.map((r, i) => ({
      rps: r.rps / off[i]!.rps,
      cpu: r.cpuUs - off[i]!.cpuUs,
      p99: r.p99 - off[i]!.p99,
    }));
    if (rounds > 1)
      per.forEach((x, i) =>
        console.log(
          `history cost (${label}) round ${i + 1}: throughput ×${x.rps.toFixed(3)} (on/off), CPU ${x.cpu.toFixed(0)} µs/req, p99 ${x.p99.toFixed(2)} ms`,
        ),
      );
    console.log(
      `history cost (${label})${rounds > 1 ? ' median' : ''}: throughput ×${median(per.map((x) => x.rps)).toFixed(3)} (on/off), CPU ${median(per.map((x) => x.cpu)).toFixed(0)} µs/req${pair.extraPids.length > 0 ? ' (Redis server included)' : ''}, p99 ${median(per.map((x) => x.p99)).toFixed(2)} ms`,
    );
  }
  const bs = runs['bare-sign']?.[0];
  const nohist = runs['nohist'];
  if (b !== undefined && bs !== undefined && nohist !== undefined)
    console.log(
      `signing alone (bare-sign/bare): throughput ×${(bs.rps / b.rps).toFixed(2)}, +${(bs.cpuUs - b.cpuUs).toFixed(0)} CPU µs/req; sidecar without history ×${(median(nohist.map((x) => x.rps)) / bs.rps).toFixed(2)} of bare-sign`,
    );
  for (const [name, peak] of peakRss)
    console.log(
      `${name} RSS: peak ${peak.mb.toFixed(1)} MB during its throughput run, ${(await rssMb(peak.pid)).toFixed(1)} MB after the runs`,
    );
  console.log(`load ${loadavg()[0]!.toFixed(1)}`);
} finally {
  for (const c of children) c.kill('SIGTERM');
  await redis?.stop();
}

// bench/egress: the same load (1 KB POSTs) sent direct to a receiver with undici, through the
// Hookgate sidecar (Standard Webhooks signing on), through a bare Node proxy (node:http in, undici
// out, nothing else: the Node ceiling, bench/lib/bare-proxy.ts) and through Debian's nginx as a
// plain reverse proxy — in one run, on loopback; the sidecar twice, with delivery history on (the
// default: every attempt recorded to its disk store) and off (`nohist`). Prints throughput and added p50/p99 latency as
// ratios, each proxy's CPU time per delivery (from /proc, over the throughput run), and the
// sidecar's peak RSS under that load. Run: make bench-egress (installs nginx when missing;
// BENCH_SIDECAR=path/to/main.js measures another build, e.g. dist/sidecar/main.js).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../../test/cluster/process.ts';
import { childPids, cpuMicros, latencyAtRate, rssMb, throughput } from '../lib/load.ts';

const root = resolve(import.meta.dirname, '../..');
const entry = process.env['BENCH_SIDECAR'] ?? join(root, 'sidecar/main.ts');
const seconds = Number(process.env['BENCH_SECONDS'] ?? 5);
const connections = Number(process.env['BENCH_CONNECTIONS'] ?? 32);
const body = Buffer.from(
  JSON.stringify({ type: 'order.created', data: 'x'.repeat(1000) }).slice(0, 1024),
);
const children: ChildProcess[] = [];
const dir = mkdtempSync(join(tmpdir(), 'hookgate-bench-'));

async function waitHttp(url: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      await fetch(url, { method: 'POST', body: '{}' });
      return;
    } catch {
      await sleep(100);
    }
  }
  throw new Error(`${url} never answered`);
}

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
  await waitHttp(direct);

  const secret = join(dir, 'whsec');
  writeFileSync(secret, 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
  // One sidecar process per variant, each with folders of its own (queue, history).
  const startSidecar = async (
    name: string,
    history: string,
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
    });
    const url = `http://127.0.0.1:${egressPort}/bench`;
    await waitHttp(url);
    return { child, url };
  };
  const { child: sidecar, url: viaSidecar } = await startSidecar(
    'sidecar',
    `{ directory: ${join(dir, 'sidecar', 'history')} }`,
  );
  const { child: noHistory, url: viaNoHistory } = await startSidecar(
    'nohist',
    '{ enabled: false }',
  );

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
  await waitHttp(viaNginx);

  const barePort = await freePort();
  const bare = start(process.execPath, [
    join(root, 'bench/lib/bare-proxy.ts'),
    String(barePort),
    `http://127.0.0.1:${receiverPort}`,
  ]);
  const viaBare = `http://127.0.0.1:${barePort}/hook`;
  await waitHttp(viaBare);

  // Each target with the processes whose CPU time it costs (none for direct: the receiver's
  // share is the same everywhere).
  const nginxPid = nginx.pid!;
  const targets: [string, string, () => Promise<number[]>][] = [
    ['direct', direct, () => Promise.resolve([])],
    ['sidecar', viaSidecar, () => Promise.resolve([sidecar.pid!])],
    ['nohist', viaNoHistory, () => Promise.resolve([noHistory.pid!])],
    ['bare', viaBare, () => Promise.resolve([bare.pid!])],
    ['nginx', viaNginx, async () => [nginxPid, ...(await childPids(nginxPid))]],
  ];
  console.log(
    `bench/egress: 1 KB POSTs, ${connections} connections, ${seconds}s per run, Node ${process.versions.node}, sidecar ${entry.replace(`${root}/`, '')}, load ${loadavg()[0]!.toFixed(1)}`,
  );
  const rows: Record<
    string,
    { rps: number; p50: number; p99: number; errors: number; cpuUs: number }
  > = {};
  let sidecarPeakRss = 0;
  for (const [name, url, pids] of targets) {
    await throughput(url, body, 4, 1); // warm-up
    const cpuBefore = await cpuMicros(await pids());
    const sampling =
      name === 'sidecar'
        ? setInterval(() => {
            void rssMb(sidecar.pid!).then((mb) => (sidecarPeakRss = Math.max(sidecarPeakRss, mb)));
          }, 200)
        : undefined;
    const t = await throughput(url, body, connections, seconds);
    clearInterval(sampling);
    const cpuUs = ((await cpuMicros(await pids())) - cpuBefore) / t.requests;
    const l = await latencyAtRate(url, body, 1000, seconds);
    rows[name] = { rps: t.rps, p50: l.p50, p99: l.p99, errors: t.errors + l.errors, cpuUs };
  }
  const d = rows['direct']!;
  const b = rows['bare']!;
  console.log(
    'target    req/s  ×direct  ×bare   CPU µs/req   p50 ms  +p50 ms   p99 ms  +p99 ms  errors   (latency at 1000 req/s)',
  );
  for (const [name, r] of Object.entries(rows)) {
    console.log(
      `${name.padEnd(8)} ${r.rps.toFixed(0).padStart(6)}  ${(r.rps / d.rps).toFixed(2).padStart(7)}  ${(r.rps / b.rps).toFixed(2).padStart(5)}  ${(name === 'direct' ? '-' : r.cpuUs.toFixed(0)).padStart(11)}  ${r.p50.toFixed(2).padStart(7)}  ${(r.p50 - d.p50).toFixed(2).padStart(7)}  ${r.p99.toFixed(2).padStart(7)}  ${(r.p99 - d.p99).toFixed(2).padStart(7)}  ${String(r.errors).padStart(6)}`,
    );
  }
  const s = rows['sidecar']!;
  const n = rows['nohist']!;
  console.log(
    `history cost: throughput ×${(s.rps / n.rps).toFixed(3)} (on/off), CPU ${(s.cpuUs - n.cpuUs).toFixed(0)} µs/req, p99 ${(s.p99 - n.p99).toFixed(2)} ms`,
  );
  console.log(
    `sidecar RSS: peak ${sidecarPeakRss.toFixed(1)} MB during its throughput run, ${(await rssMb(sidecar.pid!)).toFixed(1)} MB after the runs; load ${loadavg()[0]!.toFixed(1)}`,
  );
} finally {
  for (const c of children) c.kill('SIGTERM');
}

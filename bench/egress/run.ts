// bench/egress: the same load (1 KB POSTs) sent direct to a receiver with undici, through the
// Hookgate sidecar (Standard Webhooks signing on), and through Debian's nginx as a plain reverse
// proxy — in one run, on loopback. Prints throughput and added p50/p99 latency as ratios to direct,
// and the sidecar's RSS. Run: make bench-egress (installs nginx when missing).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../../test/cluster/process.ts';
import { latencyAtRate, rssMb, throughput } from '../lib/load.ts';

const root = resolve(import.meta.dirname, '../..');
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
  const egressPort = await freePort();
  const config = join(dir, 'sidecar.yaml');
  writeFileSync(
    config,
    `listen: { egress: "127.0.0.1:${egressPort}", ingress: "127.0.0.1:0" }\nendpoints:\n  - name: bench\n    url: ${direct}\n    signing: { secrets: [{ source: { file: ${secret} } }] }\n    policy: { destinations: { allowedCIDRs: ["127.0.0.0/8"] } }\n`,
  );
  const sidecar = start(process.execPath, [join(root, 'sidecar/main.ts'), '--config', config], {
    HOOKGATE_ADMIN_ADDR: `127.0.0.1:${await freePort()}`,
    HOOKGATE_LOG_LEVEL: 'warn',
  });
  const viaSidecar = `http://127.0.0.1:${egressPort}/bench`;
  await waitHttp(viaSidecar);

  const nginxPort = await freePort();
  writeFileSync(
    join(dir, 'nginx.conf'),
    `daemon off; worker_processes 1; pid ${dir}/nginx.pid; error_log ${dir}/nginx-error.log;
events { worker_connections 1024; }
http { access_log off; client_body_temp_path ${dir}; proxy_temp_path ${dir};
  upstream r { server 127.0.0.1:${receiverPort}; keepalive 64; }
  server { listen 127.0.0.1:${nginxPort}; location / { proxy_pass http://r; proxy_http_version 1.1; proxy_set_header Connection ""; } } }`,
  );
  start('nginx', ['-c', join(dir, 'nginx.conf'), '-p', dir]);
  const viaNginx = `http://127.0.0.1:${nginxPort}/hook`;
  await waitHttp(viaNginx);

  const targets = { direct, sidecar: viaSidecar, nginx: viaNginx } as const;
  console.log(
    `bench/egress: 1 KB POSTs, ${connections} connections, ${seconds}s per run, Node ${process.versions.node}`,
  );
  const rows: Record<string, { rps: number; p50: number; p99: number; errors: number }> = {};
  for (const [name, url] of Object.entries(targets)) {
    await throughput(url, body, 4, 1); // warm-up
    const t = await throughput(url, body, connections, seconds);
    const l = await latencyAtRate(url, body, 1000, seconds);
    rows[name] = { rps: t.rps, p50: l.p50, p99: l.p99, errors: t.errors + l.errors };
  }
  const d = rows['direct']!;
  console.log(
    'target    req/s    ×direct   p50 ms  +p50 ms   p99 ms  +p99 ms  errors   (latency at 1000 req/s)',
  );
  for (const [name, r] of Object.entries(rows)) {
    console.log(
      `${name.padEnd(8)} ${r.rps.toFixed(0).padStart(7)}  ${(r.rps / d.rps).toFixed(2).padStart(7)}  ${r.p50.toFixed(2).padStart(7)}  ${(r.p50 - d.p50).toFixed(2).padStart(7)}  ${r.p99.toFixed(2).padStart(7)}  ${(r.p99 - d.p99).toFixed(2).padStart(7)}  ${String(r.errors).padStart(6)}`,
    );
  }
  console.log(`sidecar RSS after the runs: ${(await rssMb(sidecar.pid!)).toFixed(1)} MB`);
} finally {
  for (const c of children) c.kill('SIGTERM');
}

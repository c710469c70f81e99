// bench/fanout: deliveries/s for one event fanned out to 100 endpoints, each with its own
// receiver port and its own Standard Webhooks secret, in one run on loopback, against two
// baselines measured in the same run with the same number of deliveries in flight:
//   direct  — the app POSTs to the 100 receivers itself with undici (no sidecar, no signing);
//   named   — the app POSTs 100 times to the sidecar's named route (POST /<endpoint>);
//   fan-out — the app POSTs one event to POST /_events.
// Receivers run in a process of their own, the sidecar in another. Prints numbers and ratios.
// Run: make bench-fanout (BENCH_SECONDS, BENCH_EVENTS_IN_FLIGHT, BENCH_ENDPOINTS, BENCH_ROWS to vary).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Agent, request } from 'undici';
import { freePort } from '../../test/cluster/process.ts';
import { rssMb, waitAnswering } from '../lib/load.ts';

const root = resolve(import.meta.dirname, '../..');
const seconds = Number(process.env['BENCH_SECONDS'] ?? 5);
const inFlight = Number(process.env['BENCH_EVENTS_IN_FLIGHT'] ?? 4);
const width = Number(process.env['BENCH_ENDPOINTS'] ?? 100);
const only = (process.env['BENCH_ROWS'] ?? 'direct,named,fan-out').split(',');
const body = Buffer.from(
  JSON.stringify({ type: 'order.created', data: { id: 'ord_1', pad: 'x'.repeat(900) } }),
);
const children: ChildProcess[] = [];
const dir = mkdtempSync(join(tmpdir(), 'hookgate-bench-fanout-'));

function start(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  const child = spawn(cmd, args, {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, ...env },
  });
  children.push(child);
  return child;
}

/** Runs `oneEvent` from `inFlight` closed loops for `seconds`; returns events and failures. */
async function closedLoop(
  oneEvent: () => Promise<number>,
  runSeconds: number,
): Promise<{ events: number; failures: number; elapsed: number }> {
  const started = performance.now();
  const stopAt = started + runSeconds * 1000;
  let events = 0;
  let failures = 0;
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (performance.now() < stopAt) {
        failures += await oneEvent();
        events++;
      }
    }),
  );
  return { events, failures, elapsed: (performance.now() - started) / 1000 };
}

try {
  // Receivers listen on port 0 (no race for free ports) and report their ports on stdout.
  const receiverProcess = spawn(
    process.execPath,
    [
      '-e',
      `const http=require('node:http');const n=Number(process.argv[1]);const ports=[];for(let i=0;i<n;i++){const s=http.createServer((q,r)=>{q.resume();q.on('end',()=>r.end('{"ok":true}'))});s.listen(0,'127.0.0.1',()=>{ports.push(s.address().port);if(ports.length===n)console.log(JSON.stringify(ports))})}`,
      String(width),
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  children.push(receiverProcess);
  const ports = await new Promise<number[]>((resolvePorts, reject) => {
    let out = '';
    receiverProcess.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('\n')) resolvePorts(JSON.parse(out) as number[]);
    });
    receiverProcess.once('exit', () => reject(new Error('the receivers exited')));
  });
  const receivers = ports.map((p) => `http://127.0.0.1:${p}/hook`);
  for (const r of receivers) await waitAnswering(r);

  const egressPort = await freePort();
  const endpoints = ports.map((_, i) => {
    const file = join(dir, `secret-${i}`);
    writeFileSync(file, `whsec_${randomBytes(24).toString('base64')}`);
    return [
      `  - name: ep-${i}`,
      `    url: ${receivers[i]}`,
      `    signing: { secrets: [{ source: { file: ${file} } }] }`,
      `    eventTypes: ["order.*"]`,
      `    policy: { destinations: { allowedCIDRs: ["127.0.0.0/8"] } }`,
    ].join('\n');
  });
  const config = join(dir, 'sidecar.yaml');
  writeFileSync(
    config,
    `listen: { egress: "127.0.0.1:${egressPort}", ingress: "127.0.0.1:0" }\nendpoints:\n${endpoints.join('\n')}\n`,
  );
  const sidecar = start(process.execPath, [join(root, 'sidecar/main.ts'), '--config', config], {
    HOOKGATE_ADMIN_ADDR: `127.0.0.1:${await freePort()}`,
    HOOKGATE_LOG_LEVEL: 'warn',
  });
  const egress = `http://127.0.0.1:${egressPort}`;
  await waitAnswering(`${egress}/ep-0`);

  // One client pool for every row: as many connections as deliveries in flight.
  const agent = new Agent({ connections: width * inFlight, pipelining: 1 });
  const post = async (url: string, headers: Record<string, string> = {}): Promise<number> => {
    const res = await request(url, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', ...headers },
      dispatcher: agent,
    });
    await res.body.dump();
    return res.statusCode;
  };
  const rows = {
    direct: async (): Promise<number> =>
      (await Promise.all(receivers.map((r) => post(r)))).filter((s) => s >= 300).length,
    named: async (): Promise<number> =>
      (await Promise.all(ports.map((_, i) => post(`${egress}/ep-${i}`)))).filter((s) => s >= 300)
        .length,
    'fan-out': async (): Promise<number> => {
      const res = await request(`${egress}/_events`, {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/json', 'hookgate-event-type': 'order.created' },
        dispatcher: agent,
      });
      const answer = (await res.body.json()) as { deliveries: { status: number }[] };
      if (answer.deliveries.length !== width)
        throw new Error(`fan-out reached ${answer.deliveries.length}`);
      return answer.deliveries.filter((d) => d.status >= 300).length;
    },
  };

  console.log(
    `bench/fanout: one ~1 KB event to ${width} endpoints (own port, own secret each), ${inFlight} events in flight (${width * inFlight} deliveries), ${seconds}s per row, Node ${process.versions.node}`,
  );
  const idleRss = await rssMb(sidecar.pid!);
  const results: Record<string, number> = {};
  console.log('row       events/s  deliveries/s  ×direct  failed deliveries');
  for (const [name, oneEvent] of Object.entries(rows).filter(([n]) => only.includes(n))) {
    await closedLoop(oneEvent, 1); // warm-up: connections, JIT
    const r = await closedLoop(oneEvent, seconds);
    const perSecond = (r.events * width) / r.elapsed;
    results[name] = perSecond;
    console.log(
      `${name.padEnd(8)} ${(r.events / r.elapsed).toFixed(1).padStart(9)}  ${perSecond.toFixed(0).padStart(12)}  ${(perSecond / (results['direct'] ?? NaN)).toFixed(2).padStart(7)}  ${String(r.failures).padStart(17)}`,
    );
  }
  console.log(
    `fan-out / named: ${((results['fan-out'] ?? NaN) / (results['named'] ?? NaN)).toFixed(2)}x; sidecar RSS ${idleRss.toFixed(1)} MB idle, ${(await rssMb(sidecar.pid!)).toFixed(1)} MB after the runs`,
  );
  await agent.close();
} finally {
  for (const c of children) c.kill('SIGTERM');
}

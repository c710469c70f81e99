// bench/memory/idle.ts: the compiled sidecar's idle memory against a bare Node HTTP server in the
// same run. Each is started, sent one request (the sidecar: one signed egress webhook to a
// receiver; its configuration in the form the operator publishes and streams, `#` lines then
// JSON), left to settle, then read from /proc: RSS, its anonymous part, and the modules the
// sidecar loaded (counted by a load hook in the same process). Alternates the two `rounds` times.
// Prints figures and the ratio; asserts nothing.
// Run: make build && node bench/memory/idle.ts   (BENCH_SIDECAR=<dist main.js> BENCH_ROUNDS=3)
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parse } from 'yaml';
import { freePort } from '../../test/cluster/process.ts';
import { startReceiver, waitUp } from '../lib/receiver.ts';
import { writeBenchSidecarConfig } from '../lib/sidecar-config.ts';

const root = resolve(import.meta.dirname, '../..');
const entry = resolve(process.env['BENCH_SIDECAR'] ?? join(root, 'dist/sidecar/main.js'));
const rounds = Number(process.env['BENCH_ROUNDS'] ?? 3);
const dir = mkdtempSync(join(tmpdir(), 'hookgate-bench-idle-'));
/** How long a process is left alone after its request before it is read. */
const SETTLE_MS = 2000;

// A hook that counts the modules the process loads, written out on request (SIGUSR2).
const hook = join(dir, 'count.mjs');
writeFileSync(
  hook,
  [
    "import { registerHooks } from 'node:module';",
    "import { writeFileSync } from 'node:fs';",
    'let n = 0;',
    'registerHooks({ load(url, context, next) { n++; return next(url, context); } });',
    `process.on('SIGUSR2', () => writeFileSync(${JSON.stringify(join(dir, 'modules'))}, String(n)));`,
    '',
  ].join('\n'),
);

interface Resident {
  readonly rss: number;
  readonly anon: number;
}

function residentOf(pid: number): Resident {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string): number =>
    Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1]);
  return { rss: kb('VmRSS') / 1024, anon: kb('RssAnon') / 1024 };
}

async function stop(child: ChildProcess): Promise<void> {
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
}

const BARE = `
const http = require('node:http');
http.createServer((req, res) => { req.resume(); req.on('end', () => res.end('ok')); })
  .listen(Number(process.env.PORT), '127.0.0.1');
`;

async function bare(): Promise<Resident> {
  const port = await freePort();
  const child = spawn(process.execPath, ['-e', BARE], {
    stdio: 'ignore',
    env: { ...process.env, PORT: String(port) },
  });
  try {
    await waitUp(`http://127.0.0.1:${port}/`);
    await (await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: 'x' })).text();
    await sleep(SETTLE_MS);
    return residentOf(child.pid!);
  } finally {
    await stop(child);
  }
}

async function sidecar(receiverUrl: string, n: number): Promise<Resident & { modules: number }> {
  const written = await writeBenchSidecarConfig(dir, `idle-${n}`, receiverUrl);
  const { egressPort, adminPort } = written;
  const path = join(dir, `idle-${n}.json`);
  const doc = parse(readFileSync(written.path, 'utf8')) as unknown;
  writeFileSync(path, `# as hookgate-operator publishes it\n${JSON.stringify(doc)}\n`);
  const child = spawn(process.execPath, ['--import', hook, entry, '--config', path], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: {
      ...process.env,
      HOOKGATE_ADMIN_ADDR: `127.0.0.1:${adminPort}`,
      HOOKGATE_LOG_LEVEL: 'warn',
      HOOKGATE_REDIS_URL: '',
    },
  });
  try {
    await waitUp(`http://127.0.0.1:${adminPort}/readyz`);
    const res = await fetch(`http://127.0.0.1:${egressPort}/bench`, { method: 'POST', body: '{}' });
    await res.text();
    if (res.status !== 200) throw new Error(`the warm-up webhook answered ${res.status}`);
    await sleep(SETTLE_MS);
    const resident = residentOf(child.pid!);
    child.kill('SIGUSR2');
    await sleep(200);
    return { ...resident, modules: Number(readFileSync(join(dir, 'modules'), 'utf8')) };
  } finally {
    await stop(child);
  }
}

const receiver = await startReceiver();
try {
  console.log(
    `bench/memory/idle: ${entry.replace(`${root}/`, '')} (disk queue, one endpoint, one signed webhook) vs a bare node:http server, ${SETTLE_MS} ms after one request, Node ${process.versions.node}`,
  );
  console.log('round  sidecar RSS MB (anon)  modules  bare RSS MB (anon)  ×bare');
  for (let i = 0; i < rounds; i++) {
    const s = await sidecar(receiver.url, i);
    const b = await bare();
    console.log(
      `${String(i + 1).padStart(5)}  ${s.rss.toFixed(1).padStart(14)} (${s.anon.toFixed(1)})  ${String(s.modules).padStart(7)}  ${b.rss.toFixed(1).padStart(11)} (${b.anon.toFixed(1)})  ${(s.rss / b.rss).toFixed(2).padStart(5)}`,
    );
  }
} finally {
  receiver.process.kill('SIGTERM');
}

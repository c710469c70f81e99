// bench/memory/floor.ts: the idle memory a Node process needs for the runtime and the libraries
// the sidecar is built on, before any Hookgate code — the floor under `bench/memory/idle.ts`'s
// figure. Each step is a fresh process that loads one more part the sidecar cannot do without
// (TLS for https receivers and the config stream, an HTTP server, undici's Agent with one
// request sent, prom-client's registry, zod), waits 2 s and reads /proc/self/status. undici is
// loaded from its own files as sidecar/http-client.ts does (not its index: fetch, WebSocket…).
// Prints RSS and its anonymous and file-backed parts per step; asserts nothing.
// Run: node bench/memory/floor.ts   (BENCH_ROUNDS=2)
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

const root = resolve(import.meta.dirname, '../..');
const rounds = Number(process.env['BENCH_ROUNDS'] ?? 2);

// One child program; argv[1] lists the parts to load, comma-separated.
const CHILD = `
const { createRequire } = require('node:module');
const { readFileSync } = require('node:fs');
const load = createRequire(${JSON.stringify(`${root}/package.json`)});
const keep = [];
(async () => {
  for (const part of process.argv[1].split(',')) {
    if (part === 'tls') keep.push(load('node:tls'));
    if (part === 'http') keep.push(load('node:http').createServer(() => {}).listen(0, '127.0.0.1'));
    if (part === 'undici') {
      const Agent = load('undici/lib/dispatcher/agent.js');
      Object.assign(load('undici/lib/dispatcher/dispatcher.js').prototype, load('undici/lib/api/index.js'));
      const agent = new Agent();
      const server = load('node:http').createServer((q, s) => s.end('ok'));
      await new Promise((r) => server.listen(0, '127.0.0.1', r));
      const res = await agent.request({ origin: 'http://127.0.0.1:' + server.address().port, path: '/', method: 'POST', body: '{}' });
      await res.body.text();
      keep.push(agent, server);
    }
    if (part === 'prom-client') keep.push(new (load('prom-client').Registry)());
    if (part === 'zod') keep.push(await import(load.resolve('zod')));
  }
  setTimeout(() => {
    const s = readFileSync('/proc/self/status', 'utf8');
    const kb = (k) => Number(new RegExp(k + ':\\\\s+(\\\\d+)').exec(s)[1]);
    console.log(JSON.stringify({ rss: kb('VmRSS'), anon: kb('RssAnon'), file: kb('RssFile') }));
    process.exit(0);
  }, 2000);
})();
`;

const steps = [
  'http',
  'tls,http',
  'tls,http,undici',
  'tls,http,undici,prom-client',
  'tls,http,undici,prom-client,zod',
];
console.log(
  `bench/memory/floor: idle RSS of a bare Node ${process.versions.node} process per set of parts, 2 s after loading them`,
);
console.log('parts                                     RSS MB   anon MB   file MB');
for (let round = 1; round <= rounds; round++)
  for (const step of steps) {
    const out = spawnSync(process.execPath, ['-e', CHILD, step], { encoding: 'utf8' });
    if (out.status !== 0) throw new Error(`${step}: ${out.stderr}`);
    const m = JSON.parse(out.stdout) as { rss: number; anon: number; file: number };
    const mb = (kb: number): string => (kb / 1024).toFixed(1).padStart(8);
    console.log(
      `${step.replaceAll(',', ' + ').padEnd(40)} ${mb(m.rss)}  ${mb(m.anon)}  ${mb(m.file)}`,
    );
  }

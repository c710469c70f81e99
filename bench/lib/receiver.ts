// A webhook receiver for benchmarks, in a process of its own so it never shares an event loop with
// the load: answers 200 and remembers when each `webhook-id` first arrived (wall clock, ms).
// `GET /?prefix=p` lists the ids that start with `p` and their first-arrival times.
import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../../test/cluster/process.ts';

const RECEIVER = `
const seen = new Map();
require('node:http').createServer((q, s) => {
  if (q.method === 'GET') {
    const prefix = new URL(q.url, 'http://x').searchParams.get('prefix');
    const out = [];
    for (const [id, t] of seen) if (id.startsWith(prefix)) out.push([id, t]);
    s.end(JSON.stringify(out));
    return;
  }
  q.resume();
  q.on('end', () => {
    const id = q.headers['webhook-id'];
    if (!seen.has(id)) seen.set(id, performance.timeOrigin + performance.now());
    s.end('{"ok":true}');
  });
}).listen(Number(process.argv[1]), '127.0.0.1');
`;

/** A running receiver. */
export interface Receiver {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  readonly process: ChildProcess;
  /** The ids received that start with `prefix`, with their first-arrival times. */
  receipts(prefix: string): Promise<Map<string, number>>;
}

/** Waits until `url` answers 2xx to a GET (20 s at most). */
export async function waitUp(url: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if ((await fetch(url).catch(() => undefined))?.ok === true) return;
    await sleep(100);
  }
  throw new Error(`${url} never answered`);
}

/** Starts a receiver on a free loopback port. */
export async function startReceiver(): Promise<Receiver> {
  const port = await freePort();
  const child = spawn(process.execPath, ['-e', RECEIVER, String(port)], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const url = `http://127.0.0.1:${port}`;
  await waitUp(`${url}/?prefix=none`);
  return {
    url,
    process: child,
    async receipts(prefix) {
      const res = await fetch(`${url}/?prefix=${encodeURIComponent(prefix)}`);
      return new Map((await res.json()) as [string, number][]);
    },
  };
}

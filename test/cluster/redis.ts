// A real redis-server (Debian's) on a free loopback port, one per test run or per test that needs
// its own (a restart, persistence).
import { mkdirSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join, resolve } from 'node:path';
import { freePort, startProcess, waitFor, type ManagedProcess } from './process.ts';

/** A running Redis. */
export interface RedisServer {
  /** `redis://127.0.0.1:<port>` — what `HOOKGATE_REDIS_URL` takes. */
  readonly url: string;
  readonly port: number;
  readonly process: ManagedProcess;
  stop(): Promise<void>;
}

/** Options for {@link startRedis}. */
export interface RedisOptions {
  /** Working folder: logs, and the append-only file when `appendOnly` is on. */
  dir: string;
  /** Persist every write (`appendfsync always`), for tests that restart Redis. */
  appendOnly?: boolean;
  /** Reuse this port (to restart a server where clients expect it). */
  port?: number;
  detached?: boolean;
  /** More `redis-server` arguments (cluster mode, `--replicaof`); redis-ha.ts uses them. */
  extraArgs?: readonly string[];
}

/** Sends PING over a raw socket; resolves true on `+PONG`. */
function ping(port: number): Promise<boolean> {
  return new Promise((resolvePing) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.setTimeout(1000);
    socket.once('connect', () => socket.write('PING\r\n'));
    socket.once('data', (data) => {
      socket.destroy();
      resolvePing(data.toString().startsWith('+PONG'));
    });
    socket.once('timeout', () => socket.destroy());
    socket.once('error', () => resolvePing(false));
    socket.once('close', () => resolvePing(false));
  });
}

/** Starts `redis-server` bound to 127.0.0.1 and waits until it answers PING. */
export async function startRedis(options: RedisOptions): Promise<RedisServer> {
  const dir = resolve(options.dir);
  mkdirSync(dir, { recursive: true });
  const port = options.port ?? (await freePort());
  const persistence =
    options.appendOnly === true
      ? ['--appendonly', 'yes', '--appendfsync', 'always']
      : ['--appendonly', 'no'];
  const proc = startProcess(
    'redis-server',
    'redis-server',
    [
      '--bind',
      '127.0.0.1',
      '--port',
      String(port),
      '--dir',
      dir,
      '--save',
      '',
      ...persistence,
      // What the durable queue needs from a production Redis too: never evict queued work.
      '--maxmemory-policy',
      'noeviction',
      '--daemonize',
      'no',
      ...(options.extraArgs ?? []),
    ],
    join(dir, 'redis.log'),
    { detached: options.detached ?? false },
  );
  await waitFor('redis-server PING', async () => ((await ping(port)) ? true : undefined), {
    timeoutMs: 15_000,
    process: proc,
  });
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    process: proc,
    stop: () => proc.stop(),
  };
}

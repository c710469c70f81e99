// One owner per queue directory. Node has no flock(2), so ownership is a file created with O_EXCL
// (`LOCK`: who owns it, refreshed by a heartbeat) plus a Unix socket the owner listens on before
// it creates the file (`owner-<token>.sock`, named in it). On the owner's host — a restarted
// container of the same pod included, whatever its PID namespace — a contender asks that socket:
// only a live owner answers, so the lock of a SIGKILLed sidecar is taken over at once. An owner on
// another host (a shared network volume) is judged by its heartbeat instead.
import { open, readFile, rename, stat, unlink, utimes } from 'node:fs/promises';
import { connect, createServer, type Server } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { DiskQueueError } from './errors.ts';

/** The lock file's name inside the queue directory. */
export const LOCK_FILE = 'LOCK';
interface Owner {
  readonly pid: number;
  readonly host: string;
  /** The socket it listens on in the directory; null when it could not listen (heartbeat only). */
  readonly socket: string | null;
}

/** A held lock. */
export interface OwnerLock {
  /** Stops the heartbeat and the socket and removes the lock file. */
  release(): Promise<void>;
}

/** Options of {@link acquireOwnerLock}. */
export interface OwnerLockOptions {
  /** How often the owner refreshes the lock (default 5s). */
  readonly heartbeatMs?: number;
  /** A lock on another host whose heartbeat is older than this is stale (default 30s). */
  readonly staleAfterMs?: number;
}

function answers(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(socketPath);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function listen(socketPath: string): Promise<Server | undefined> {
  const server = createServer((socket) => socket.destroy());
  return new Promise((resolve) => {
    server.once('error', () => resolve(undefined)); // e.g. a path too long: heartbeat only
    server.listen(socketPath, () => {
      server.unref();
      resolve(server);
    });
  });
}

async function stopListening(server: Server | undefined, socketPath: string): Promise<void> {
  if (server === undefined) return;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await unlink(socketPath).catch(() => undefined);
}

/** Takes the directory's lock or throws ERR_QUEUE_LOCKED naming the owner and the fix. */
export async function acquireOwnerLock(
  dir: string,
  options: OwnerLockOptions = {},
): Promise<OwnerLock> {
  const heartbeatMs = options.heartbeatMs ?? 5000;
  const staleAfterMs = options.staleAfterMs ?? 30_000;
  const path = join(dir, LOCK_FILE);
  const socketName = `owner-${process.pid}-${Math.random().toString(36).slice(2, 10)}.sock`;
  const socketPath = join(dir, socketName);
  const server = await listen(socketPath);
  const self: Owner = {
    pid: process.pid,
    host: hostname(),
    socket: server === undefined ? null : socketName,
  };
  const content = JSON.stringify(self);
  const refuse = async (err: unknown): Promise<never> => {
    await stopListening(server, socketPath);
    throw err;
  };

  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fh = await open(path, 'wx', 0o600);
      try {
        await fh.writeFile(content);
        await fh.sync();
      } finally {
        await fh.close();
      }
      return heldLock(path, content, server, socketPath, heartbeatMs);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') return refuse(err);
    }
    let seen: string;
    let ageMs: number;
    try {
      seen = await readFile(path, 'utf8');
      ageMs = Date.now() - (await stat(path)).mtimeMs;
    } catch {
      continue; // released meanwhile: try again
    }
    let owner: Owner | undefined;
    try {
      owner = JSON.parse(seen) as Owner;
    } catch {
      owner = undefined; // a crash while writing the lock: nobody owns it
    }
    let alive: boolean;
    if (owner === undefined) alive = false;
    else if (owner.host === self.host && typeof owner.socket === 'string') {
      alive = await answers(join(dir, owner.socket));
    } else alive = ageMs <= staleAfterMs;
    if (alive) {
      return refuse(
        new DiskQueueError(
          'ERR_QUEUE_LOCKED',
          `queue directory ${dir} is owned by process ${owner!.pid} on ${owner!.host} ` +
            `(lock file ${path}, refreshed ${Math.round(ageMs / 1000)}s ago): only one process may ` +
            `own a queue directory. Give each sidecar its own directory (an emptyDir or a per-pod ` +
            `volume); if that process is gone, its lock goes stale ${staleAfterMs / 1000}s after ` +
            `its last refresh, or delete ${path}.`,
        ),
      );
    }
    // Take over: move the stale lock aside (only one contender's rename succeeds), make sure it
    // was the stale one we judged and not a fresh lock someone just took, then retry the create.
    const aside = `${path}.stale-${process.pid}-${Date.now()}`;
    try {
      await rename(path, aside);
    } catch {
      continue;
    }
    const moved = await readFile(aside, 'utf8').catch(() => '');
    if (moved !== seen) {
      await rename(aside, path).catch(() => undefined);
      continue;
    }
    await unlink(aside).catch(() => undefined);
    if (typeof owner?.socket === 'string') {
      await unlink(join(dir, owner.socket)).catch(() => undefined); // the dead owner's
    }
  }
  return refuse(
    new DiskQueueError(
      'ERR_QUEUE_LOCKED',
      `queue directory ${dir}: could not take the lock ${path}; another process keeps taking it`,
    ),
  );
}

function heldLock(
  path: string,
  content: string,
  server: Server | undefined,
  socketPath: string,
  heartbeatMs: number,
): OwnerLock {
  const timer = setInterval(() => {
    const now = new Date();
    utimes(path, now, now).catch(() => undefined);
  }, heartbeatMs);
  timer.unref();
  return {
    async release(): Promise<void> {
      clearInterval(timer);
      const current = await readFile(path, 'utf8').catch(() => '');
      if (current === content) await unlink(path).catch(() => undefined);
      await stopListening(server, socketPath);
    },
  };
}

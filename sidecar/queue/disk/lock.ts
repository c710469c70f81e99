// One owner per queue directory. Node has no flock(2), so the lock is a file created with O_EXCL
// holding who owns it, refreshed by a heartbeat. A lock is stale when its owner is provably gone
// (same host and PID namespace, and that PID is dead or is another process now) or, when we
// cannot see the owner's processes (another pod or PID namespace), when its heartbeat stopped.
import { readFileSync, readlinkSync } from 'node:fs';
import { open, readFile, rename, unlink, utimes, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { DiskQueueError } from './errors.ts';

/** The lock file's name inside the queue directory. */
export const LOCK_FILE = 'LOCK';

interface Owner {
  readonly pid: number;
  readonly host: string;
  /** The PID namespace (`readlink /proc/self/ns/pid`), '' where there is no /proc. */
  readonly pidNamespace: string;
  /** The process's start time in clock ticks since boot (/proc/<pid>/stat field 22), '' without /proc. */
  readonly startTime: string;
}

/** A held lock. */
export interface OwnerLock {
  /** Stops the heartbeat and removes the lock file. */
  release(): Promise<void>;
}

/** Options of {@link acquireOwnerLock}. */
export interface OwnerLockOptions {
  /** How often the owner refreshes the lock (default 5s). */
  readonly heartbeatMs?: number;
  /** A lock whose heartbeat is older than this is stale when its owner cannot be checked (default 30s). */
  readonly staleAfterMs?: number;
}

function startTimeOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // fields after the command (which may contain spaces) start after the last ')'
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function me(): Owner {
  let pidNamespace = '';
  try {
    pidNamespace = readlinkSync('/proc/self/ns/pid');
  } catch {
    // no /proc: liveness falls back to the heartbeat
  }
  return {
    pid: process.pid,
    host: hostname(),
    pidNamespace,
    startTime: startTimeOf(process.pid) ?? '',
  };
}

/** Whether the recorded owner is certainly gone (true), certainly alive (false), or unknown. */
function ownerGone(owner: Owner, self: Owner): boolean | undefined {
  if (owner.host !== self.host || owner.pidNamespace === '') return undefined;
  if (owner.pidNamespace !== self.pidNamespace) return undefined;
  const now = startTimeOf(owner.pid);
  return now === undefined || now !== owner.startTime;
}

/** Takes the directory's lock or throws ERR_QUEUE_LOCKED naming the owner and the fix. */
export async function acquireOwnerLock(
  dir: string,
  options: OwnerLockOptions = {},
): Promise<OwnerLock> {
  const heartbeatMs = options.heartbeatMs ?? 5000;
  const staleAfterMs = options.staleAfterMs ?? 30_000;
  const path = join(dir, LOCK_FILE);
  const self = me();
  const content = JSON.stringify(self);

  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fh = await open(path, 'wx', 0o600);
      try {
        await fh.writeFile(content);
        await fh.sync();
      } finally {
        await fh.close();
      }
      return heldLock(path, content, heartbeatMs);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
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
    const gone = owner === undefined ? true : (ownerGone(owner, self) ?? ageMs > staleAfterMs);
    if (!gone) {
      throw new DiskQueueError(
        'ERR_QUEUE_LOCKED',
        `queue directory ${dir} is owned by process ${owner!.pid} on ${owner!.host} ` +
          `(lock file ${path}, refreshed ${Math.round(ageMs / 1000)}s ago): only one process may ` +
          `own a queue directory. Give each sidecar its own directory (an emptyDir or a per-pod ` +
          `volume); if that process is gone, its lock goes stale ${staleAfterMs / 1000}s after ` +
          `its last refresh, or delete ${path}.`,
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
  }
  throw new DiskQueueError(
    'ERR_QUEUE_LOCKED',
    `queue directory ${dir}: could not take the lock ${path}; another process keeps taking it`,
  );
}

function heldLock(path: string, content: string, heartbeatMs: number): OwnerLock {
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
    },
  };
}

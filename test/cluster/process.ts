// Child processes of the test ground (etcd, kube-apiserver, controller-manager, redis-server):
// started in their own process group with output to a log file, stopped with SIGTERM and, past a
// grace period, SIGKILL; a process that dies early is reported with the tail of its log.
import { spawn } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** A started server process. */
export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logPath: string;
  /** Set once the process has exited, with its code or signal. */
  readonly exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  /** Stops the process group: SIGTERM, then SIGKILL after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

/** Options for {@link startProcess}. */
export interface StartProcessOptions {
  /** Leave the process running after this Node process exits (for `make cluster-up`). */
  detached?: boolean;
  env?: NodeJS.ProcessEnv;
}

const owned = new Set<number>();
let exitHookInstalled = false;

/** Kills every attached child if the test process dies without running its teardown. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const pid of owned) signalGroup(pid, 'SIGKILL');
  });
}

/** Sends a signal to a process group, ignoring one that is already gone. */
export function signalGroup(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw err;
  }
}

/** Starts `command` with its output appended to `logPath`. */
export function startProcess(
  name: string,
  command: string,
  args: readonly string[],
  logPath: string,
  options: StartProcessOptions = {},
): ManagedProcess {
  const fd = openSync(logPath, 'a');
  const child = spawn(command, args, {
    stdio: ['ignore', fd, fd],
    detached: true,
    env: options.env ?? process.env,
  });
  closeSync(fd);
  if (child.pid === undefined) throw new Error(`${name}: could not start ${command}`);
  const pid = child.pid;
  let exited: ManagedProcess['exited'];
  const exitedPromise = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      owned.delete(pid);
      resolve();
    });
  });
  child.once('error', () => undefined);
  if (options.detached === true) {
    child.unref();
  } else {
    owned.add(pid);
    installExitHook();
  }
  return {
    name,
    pid,
    logPath,
    get exited() {
      return exited;
    },
    async stop(graceMs = 10_000): Promise<void> {
      if (exited !== undefined) return;
      signalGroup(pid, 'SIGTERM');
      const killed = await Promise.race([
        exitedPromise.then(() => false),
        sleep(graceMs).then(() => true),
      ]);
      if (killed) {
        signalGroup(pid, 'SIGKILL');
        await exitedPromise;
      }
    },
  };
}

/** The last `lines` lines of a log file, for error messages. */
export function logTail(logPath: string, lines = 20): string {
  try {
    return readFileSync(logPath, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * Polls `check` until it returns a value, the process dies or `timeoutMs` passes. Errors thrown by
 * `check` count as "not yet"; the last one is reported on timeout.
 */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  options: { timeoutMs: number; process?: ManagedProcess; intervalMs?: number },
): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  let lastError: unknown;
  for (;;) {
    const proc = options.process;
    if (proc?.exited !== undefined) {
      throw new Error(
        `${proc.name} exited (${JSON.stringify(proc.exited)}) while waiting for ${what}; log ${proc.logPath}:\n${logTail(proc.logPath)}`,
      );
    }
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const detail = proc === undefined ? '' : `; log ${proc.logPath}:\n${logTail(proc.logPath)}`;
      throw new Error(
        `timed out after ${options.timeoutMs} ms waiting for ${what}` +
          (lastError instanceof Error ? ` (last error: ${lastError.message})` : '') +
          detail,
      );
    }
    await sleep(options.intervalMs ?? 200);
  }
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port);
        else reject(new Error('no port assigned'));
      });
    });
  });
}

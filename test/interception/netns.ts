// A two-namespace lab for the transparent-interception test: a "pod" namespace and a "world"
// namespace joined by one veth pair, with only the addresses the test assigns (10.250.0.0/30 and
// fd00:4867::/64; the namespaces reach nothing else, so these never meet the machine's network).
// Names are unique per run; `destroy` removes everything and is safe to call after a half setup.
// Per-namespace /etc/hosts uses iproute2's convention: `ip netns exec NAME` bind-mounts
// /etc/netns/NAME/hosts over /etc/hosts in the process's own mount namespace, so the machine's
// /etc/hosts is never touched.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { existsSync, mkdirSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const exec = promisify(execFile);

/** Runs a command; the error carries its stderr. */
export async function run(command: string, args: readonly string[]): Promise<string> {
  try {
    const { stdout } = await exec(command, [...args], { encoding: 'utf8' });
    return stdout;
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`${command} ${args.join(' ')}: ${e.stderr?.trim() || e.message}`, {
      cause: err,
    });
  }
}

/** Addresses the lab assigns. */
export const POD_IP = '10.250.0.1';
/** The world end of the veth pair. */
export const WORLD_IP = '10.250.0.2';
/** IPv6 of the pod end (no DAD, usable at once). */
export const POD_IP6 = 'fd00:4867::1';
/** IPv6 of the world end. */
export const WORLD_IP6 = 'fd00:4867::2';

/** One JSON-lines peer process (test/interception/fixtures/peer.ts) in a namespace. */
export class Peer {
  readonly events: Record<string, unknown>[] = [];
  readonly #child: ChildProcess;
  readonly #waiters: { match: (e: Record<string, unknown>) => boolean; done: () => void }[] = [];
  #nextId = 1;
  stderr = '';

  constructor(child: ChildProcess) {
    this.#child = child;
    child.stderr?.on('data', (c: Buffer) => (this.stderr += c.toString()));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let event: Record<string, unknown>;
      try {
        event = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      this.events.push(event);
      for (const w of [...this.#waiters]) {
        if (w.match(event)) {
          this.#waiters.splice(this.#waiters.indexOf(w), 1);
          w.done();
        }
      }
    });
  }

  /** Resolves with the first event (past or future) matching `match`. */
  waitFor(
    match: (e: Record<string, unknown>) => boolean,
    what: string,
    timeoutMs = 45_000,
  ): Promise<Record<string, unknown>> {
    const found = this.events.find(match);
    if (found !== undefined) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`timed out waiting for ${what}; stderr: ${this.stderr}`)),
        timeoutMs,
      );
      const exited = (): void =>
        reject(new Error(`peer exited waiting for ${what}: ${this.stderr}`));
      this.#child.once('exit', exited);
      this.#waiters.push({
        match,
        done: () => {
          clearTimeout(timer);
          this.#child.off('exit', exited);
          resolve(this.events.find(match)!);
        },
      });
    });
  }

  /** Sends one HTTP request from inside the namespace; resolves with the response or error. */
  request(command: {
    url: string;
    method?: string;
    headers?: Record<string, string>;
    body?: string;
  }): Promise<Record<string, unknown>> {
    const id = this.#nextId++;
    this.#child.stdin!.write(`${JSON.stringify({ id, ...command })}\n`);
    return this.waitFor(
      (e) => e['id'] === id && (e['event'] === 'response' || e['event'] === 'error'),
      `the answer to ${command.method ?? 'POST'} ${command.url}`,
    );
  }

  /** Requests `server` received so far. */
  received(server: string): Record<string, unknown>[] {
    return this.events.filter((e) => e['event'] === 'received' && e['server'] === server);
  }

  kill(): void {
    this.#child.kill('SIGKILL');
  }
}

/** The pod and world namespaces, their veth pair and the pod's hosts file. */
export class NetnsLab {
  readonly pod: string;
  readonly world: string;
  readonly #suffix = randomBytes(3).toString('hex');
  readonly #children: ChildProcess[] = [];
  #createdEtcNetns = false;

  constructor() {
    this.pod = `hg-pod-${process.pid}-${this.#suffix}`;
    this.world = `hg-world-${process.pid}-${this.#suffix}`;
  }

  /** Creates both namespaces, links them, and gives the pod a hosts file mapping `names`. */
  async create(hostsInPod: readonly string[]): Promise<void> {
    // Interface names are limited to 15 characters.
    const vPod = `hgp${this.#suffix}`;
    const vWorld = `hgw${this.#suffix}`;
    await run('ip', ['netns', 'add', this.pod]);
    await run('ip', ['netns', 'add', this.world]);
    await run('ip', ['link', 'add', vPod, 'type', 'veth', 'peer', 'name', vWorld]);
    await run('ip', ['link', 'set', vPod, 'netns', this.pod]);
    await run('ip', ['link', 'set', vWorld, 'netns', this.world]);
    for (const [ns, dev, v4, v6] of [
      [this.pod, vPod, POD_IP, POD_IP6],
      [this.world, vWorld, WORLD_IP, WORLD_IP6],
    ] as const) {
      await run('ip', ['-n', ns, 'addr', 'add', `${v4}/30`, 'dev', dev]);
      await run('ip', ['-n', ns, 'addr', 'add', `${v6}/64`, 'dev', dev, 'nodad']);
      await run('ip', ['-n', ns, 'link', 'set', dev, 'up']);
      await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    }
    this.#createdEtcNetns = !existsSync('/etc/netns');
    mkdirSync(this.#etcDir, { recursive: true });
    writeFileSync(
      join(this.#etcDir, 'hosts'),
      `127.0.0.1 localhost\n::1 localhost\n${hostsInPod.map((name) => `${WORLD_IP} ${name}`).join('\n')}\n`,
    );
  }

  get #etcDir(): string {
    return join('/etc/netns', this.pod);
  }

  /** Starts `argv` in namespace `ns` (through `ip netns exec`, so the hosts file applies). */
  spawn(ns: string, argv: readonly string[], env: NodeJS.ProcessEnv = process.env): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', ns, ...argv], {
      env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.#children.push(child);
    return child;
  }

  /** Removes processes, namespaces (and with them the veth pair) and the hosts file. */
  async destroy(): Promise<void> {
    for (const child of this.#children) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    await Promise.all(
      this.#children.map((c) =>
        c.exitCode !== null || c.signalCode !== null
          ? Promise.resolve()
          : new Promise<void>((resolve) => c.once('exit', () => resolve())),
      ),
    );
    for (const ns of [this.pod, this.world]) {
      await run('ip', ['netns', 'del', ns]).catch(() => undefined);
    }
    rmSync(this.#etcDir, { recursive: true, force: true });
    // The folder itself only when this lab made it and nobody else put anything in it since.
    if (this.#createdEtcNetns) {
      try {
        rmdirSync('/etc/netns');
      } catch {
        // Not empty: another lab (or the machine) uses it.
      }
    }
  }
}

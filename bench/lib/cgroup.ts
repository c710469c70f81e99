// A memory cgroup for one benchmark run, made under the cgroup this process is in (never at the
// root, so it nests inside whatever limits the machine already has) and removed afterwards.
// cgroup v1 (`memory.limit_in_bytes`) and v2 (`memory.max`); swap is capped too, so going over the
// limit means reclaim or the OOM killer, as in a pod. Needs root.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** One reading of the group's memory. */
export interface CgroupMemory {
  /** Charged now (anonymous memory and page cache), bytes. */
  usage: number;
  /** Anonymous memory (what reclaim cannot drop), bytes. */
  anon: number;
  /** Page cache charged to the group, bytes. */
  file: number;
  /** Processes the kernel's OOM killer killed in the group. */
  oomKills: number;
}

/** A memory cgroup with a limit. */
export class MemoryCgroup {
  readonly dir: string;
  readonly version: 1 | 2;

  private constructor(dir: string, version: 1 | 2) {
    this.dir = dir;
    this.version = version;
  }

  /** Creates `name` under this process's own memory cgroup with `limitBytes`. */
  static create(name: string, limitBytes: number): MemoryCgroup {
    const lines = readFileSync('/proc/self/cgroup', 'utf8').split('\n');
    const v1 = lines.map((l) => /^\d+:(?:[^:]*,)?memory(?:,[^:]*)?:(.*)$/.exec(l)).find((m) => m);
    const v2 = lines.map((l) => /^0::(.*)$/.exec(l)).find((m) => m);
    let group: MemoryCgroup;
    if (v1 !== undefined && v1 !== null) {
      group = new MemoryCgroup(join('/sys/fs/cgroup/memory', v1[1]!, name), 1);
    } else if (v2 !== undefined && v2 !== null) {
      group = new MemoryCgroup(join('/sys/fs/cgroup', v2[1]!, name), 2);
    } else {
      throw new Error('no memory cgroup in /proc/self/cgroup: run on Linux with cgroups mounted');
    }
    try {
      mkdirSync(group.dir);
    } catch (err) {
      throw new Error(
        `cannot create ${group.dir} (${(err as Error).message}): run as root; on cgroup v2 the parent needs "+memory" in cgroup.subtree_control`,
        { cause: err },
      );
    }
    if (group.version === 1) {
      group.#write('memory.limit_in_bytes', limitBytes);
      // memory+swap no higher than memory: the group cannot escape its limit into swap.
      if (existsSync(join(group.dir, 'memory.memsw.limit_in_bytes')))
        group.#write('memory.memsw.limit_in_bytes', limitBytes);
    } else {
      group.#write('memory.max', limitBytes);
      if (existsSync(join(group.dir, 'memory.swap.max'))) group.#write('memory.swap.max', 0);
    }
    return group;
  }

  #write(file: string, value: number): void {
    writeFileSync(join(this.dir, file), String(value));
  }

  #read(file: string): string {
    return readFileSync(join(this.dir, file), 'utf8');
  }

  #field(file: string, key: string): number {
    const match = new RegExp(`^${key} (\\d+)$`, 'm').exec(this.#read(file));
    return Number(match?.[1] ?? 0);
  }

  /** The limit the kernel holds the group to, bytes. */
  limit(): number {
    return Number(this.#read(this.version === 1 ? 'memory.limit_in_bytes' : 'memory.max'));
  }

  /** The group's memory now. */
  memory(): CgroupMemory {
    if (this.version === 1) {
      return {
        usage: Number(this.#read('memory.usage_in_bytes')),
        anon: this.#field('memory.stat', 'rss'),
        file: this.#field('memory.stat', 'cache'),
        oomKills: this.#field('memory.oom_control', 'oom_kill'),
      };
    }
    return {
      usage: Number(this.#read('memory.current')),
      anon: this.#field('memory.stat', 'anon'),
      file: this.#field('memory.stat', 'file'),
      oomKills: this.#field('memory.events', 'oom_kill'),
    };
  }

  /** Starts `command` inside the group: the shell joins it, then execs, so no instant runs outside. */
  spawn(command: string, args: readonly string[], env: NodeJS.ProcessEnv): ChildProcess {
    return spawn(
      '/bin/sh',
      ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', this.dir, command, ...args],
      { stdio: ['ignore', 'ignore', 'inherit'], env },
    );
  }

  /** Removes the group; its processes must have ended. Retries while the kernel lets go of them. */
  async remove(): Promise<void> {
    for (let i = 0; i < 50; i++) {
      try {
        rmdirSync(this.dir);
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    throw new Error(`could not remove ${this.dir}: a process is still in it`);
  }
}

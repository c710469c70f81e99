// The container's memory limit, which the sidecar sizes its V8 heap and its load shedding from.
// In order: HOOKGATE_MEMORY_LIMIT (the injector sets it from the container's limits.memory through
// the downward API), else the memory cgroup the process is in — v2 `memory.max`, v1
// `memory.limit_in_bytes`, the tightest along the path to the root — else none (no limit).
// The file reads come in as a function so tests can lay out any cgroup tree.
import { readFileSync } from 'node:fs';
import { ENV_MEMORY_LIMIT } from '../../common/env.ts';

/** Reads a file as text, or undefined when it cannot be read. */
export type ReadText = (path: string) => string | undefined;

/** Where the limit came from, for the start-up log. */
export type LimitSource = 'env' | 'cgroup-v2' | 'cgroup-v1';

/** A memory limit in bytes and its source. */
export interface MemoryLimit {
  readonly bytes: number;
  readonly source: LimitSource;
}

/** Values at or above this are "no limit" (cgroup v1 writes PAGE_COUNTER_MAX pages, ~2^63). */
const UNLIMITED = 2 ** 62;

/** Kubernetes quantity suffixes the variable accepts, for a hand-written value. */
const SUFFIX: Readonly<Record<string, number>> = {
  '': 1,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  k: 1e3,
  M: 1e6,
  G: 1e9,
};

/** The system's reader: undefined for a missing or unreadable file. */
export const readText: ReadText = (path) => {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
};

/**
 * Parses HOOKGATE_MEMORY_LIMIT: bytes (what the downward API writes) or a quantity such as
 * `256Mi`. The error names the variable and the fix.
 */
export function parseMemoryLimit(value: string): number {
  const match = /^(\d+)(Ki|Mi|Gi|k|M|G)?$/.exec(value.trim());
  const bytes = match === null ? NaN : Number(match[1]) * SUFFIX[match[2] ?? '']!;
  if (!Number.isSafeInteger(bytes) || bytes < 32 * 2 ** 20) {
    throw new Error(
      `${ENV_MEMORY_LIMIT}="${value}" is not a memory limit: give bytes or a quantity of at least 32Mi (e.g. 268435456 or 256Mi)`,
    );
  }
  return bytes;
}

/** The tightest finite limit in `files` read under each directory from `dir` up to `root`. */
function tightest(read: ReadText, root: string, dir: string, file: string): number | undefined {
  let best: number | undefined;
  const parts = dir.split('/').filter((p) => p !== '');
  for (let depth = parts.length; depth >= 0; depth--) {
    const text = read(`${root}/${parts.slice(0, depth).join('/')}/${file}`.replace('//', '/'));
    const value = text === undefined ? NaN : Number(text.trim());
    // v2 writes "max" for none, which is NaN here; v1 writes a huge number.
    if (Number.isFinite(value) && value > 0 && value < UNLIMITED) {
      best = best === undefined ? value : Math.min(best, value);
    }
  }
  return best;
}

/**
 * The memory limit this process runs under, or undefined when none is set. `/proc/self/cgroup`
 * gives the process's cgroup path: `0::/path` (v2, `memory.max` under /sys/fs/cgroup) or
 * `N:memory:/path` (v1, `memory.limit_in_bytes` under /sys/fs/cgroup/memory). Inside a container
 * with its own cgroup namespace the path is `/` and the container's own files are the root's.
 */
export function detectMemoryLimit(
  env: NodeJS.ProcessEnv = process.env,
  read: ReadText = readText,
): MemoryLimit | undefined {
  const fromEnv = env[ENV_MEMORY_LIMIT];
  if (fromEnv !== undefined && fromEnv !== '') {
    return { bytes: parseMemoryLimit(fromEnv), source: 'env' };
  }
  const lines = (read('/proc/self/cgroup') ?? '').split('\n');
  const v1 = lines.map((l) => /^\d+:(?:[^:]*,)?memory(?:,[^:]*)?:(.*)$/.exec(l)).find((m) => m);
  if (v1 !== undefined && v1 !== null) {
    const bytes = tightest(read, '/sys/fs/cgroup/memory', v1[1]!, 'memory.limit_in_bytes');
    return bytes === undefined ? undefined : { bytes, source: 'cgroup-v1' };
  }
  const v2 = lines.map((l) => /^0::(.*)$/.exec(l)).find((m) => m);
  if (v2 !== undefined && v2 !== null) {
    const bytes = tightest(read, '/sys/fs/cgroup', v2[1]!, 'memory.max');
    return bytes === undefined ? undefined : { bytes, source: 'cgroup-v2' };
  }
  return undefined;
}

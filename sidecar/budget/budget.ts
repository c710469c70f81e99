// The sidecar's memory budget: from the container's memory limit, the V8 heap sizes the process
// starts with and the levels at which it sheds load. Pure: a limit in, numbers out (ADR 0016).
//
// Why these shares of the limit: a Node process needs ~45-60 MB outside the V8 heap before it does
// anything (code, the binary's pages, OpenSSL, libuv); request and response bodies are Buffers,
// outside the heap too. So the old generation gets 40 % of the limit, the young generation a small
// size (a bigger one mostly moves garbage into RSS sooner), Buffers a quarter, and shedding
// starts on whichever of the three is reached first, or when anonymous memory (what the kernel
// cannot reclaim: file-backed pages such as the node binary's are dropped before any OOM kill)
// reaches 80 % of the limit.
import type { MemoryLimit } from './memory-limit.ts';

/** What the sidecar assumes when no limit is found: the injector's default `limits.memory`. */
export const DEFAULT_MEMORY_LIMIT_BYTES = 256 * 2 ** 20;

const MiB = 2 ** 20;

/** Heap sizes and shedding levels for one memory limit. */
export interface MemoryBudget {
  /** The limit the budget is for, in bytes. */
  readonly limitBytes: number;
  /** Where it came from; `default` when nothing set one. */
  readonly source: MemoryLimit['source'] | 'default';
  /** `--max-old-space-size`, MiB. */
  readonly oldSpaceMb: number;
  /** `--max-semi-space-size`, MiB. */
  readonly semiSpaceMb: number;
  /** Shed new requests while anonymous resident memory is at or above this many bytes… */
  readonly shedAnonBytes: number;
  /** …until it falls below this (hysteresis, so the answer does not flap per request). */
  readonly resumeAnonBytes: number;
  /** Shed while Buffers (bodies in flight, cached queue bodies) hold this many bytes or more… */
  readonly shedBufferBytes: number;
  /** …until they hold less than this. */
  readonly resumeBufferBytes: number;
  /** Shed while V8's used heap is at or above this share of its limit (live data near the ceiling). */
  readonly shedHeapRatio: number;
  /** …until it falls below this share. */
  readonly resumeHeapRatio: number;
}

/** The budget for `limit` (or for the injector's default when there is none). */
export function memoryBudget(limit: MemoryLimit | undefined): MemoryBudget {
  const limitBytes = limit?.bytes ?? DEFAULT_MEMORY_LIMIT_BYTES;
  return {
    limitBytes,
    source: limit?.source ?? 'default',
    oldSpaceMb: Math.max(24, Math.floor((limitBytes * 0.4) / MiB)),
    // One MiB of semi-space per 64 MiB of limit, 1 to 8: measured on the egress path at 256 MiB,
    // 1 MiB cost ~30 % more CPU per request in scavenges, 16 MiB (V8's default) ~20 MB more RSS
    // for no CPU saved over 4 MiB (ADR 0016).
    semiSpaceMb: Math.min(8, Math.max(1, Math.floor(limitBytes / (64 * MiB)))),
    shedAnonBytes: Math.floor(limitBytes * 0.8),
    resumeAnonBytes: Math.floor(limitBytes * 0.7),
    shedBufferBytes: Math.floor(limitBytes * 0.25),
    resumeBufferBytes: Math.floor(limitBytes * 0.15),
    shedHeapRatio: 0.85,
    resumeHeapRatio: 0.7,
  };
}

/** Node flags that already size the heap: when the operator of the pod set any, theirs win. */
const HEAP_FLAG = /--max-old-space-size|--max-semi-space-size|--max-heap-size/;

/**
 * The V8 flags to start with for `budget`, or an empty list when the process already runs with
 * heap flags of its own (from its command line or NODE_OPTIONS).
 */
export function heapFlags(
  budget: MemoryBudget,
  execArgv: readonly string[],
  nodeOptions: string | undefined,
): string[] {
  if (execArgv.some((a) => HEAP_FLAG.test(a)) || HEAP_FLAG.test(nodeOptions ?? '')) return [];
  return [
    `--max-old-space-size=${budget.oldSpaceMb}`,
    `--max-semi-space-size=${budget.semiSpaceMb}`,
    // The overload guard collects garbage before it sheds (overload.ts).
    '--expose-gc',
  ];
}

/**
 * glibc malloc settings the process starts with, where the pod sets none. Two arenas instead of
 * eight per core keep freed memory from scattering across threads; a fixed mmap threshold stops
 * glibc raising it after the first large free (up to 32 MiB), which would leave every later 1 MiB
 * body in the heap, resident long after it is freed.
 */
export function mallocEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const wanted = { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072' };
  return Object.fromEntries(Object.entries(wanted).filter(([name]) => env[name] === undefined));
}

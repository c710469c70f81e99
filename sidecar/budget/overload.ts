// Load shedding by memory: while the process is near its budget (ADR 0016), new egress and ingress
// requests get `503` with `Retry-After` and the problem `overloaded` before any body is read or any
// work is queued, so the sidecar refuses cleanly rather than being OOM-killed with deliveries in
// flight. The state is sampled on a timer (/proc/self/statm, Buffer bytes and V8's heap statistics),
// so a request pays one boolean test.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import { getHeapStatistics } from 'node:v8';
import { Counter, Gauge, type Registry } from 'prom-client';
import { ENV_MEMORY_LIMIT } from '../../common/env.ts';
import type { Logger } from '../../common/log.ts';
import { ConfigError } from '../errors.ts';
import { problem, sendProblem } from '../problem.ts';
import { memoryBudget, type MemoryBudget } from './budget.ts';
import { detectMemoryLimit } from './memory-limit.ts';

/** One reading of the process's memory. */
export interface MemorySample {
  /** Anonymous resident memory, bytes: the resident set less its file-backed pages. */
  readonly anonBytes: number;
  /** Bytes held by ArrayBuffers and Buffers, outside the V8 heap. */
  readonly bufferBytes: number;
  /** V8 heap in use, bytes (live data and not yet collected garbage). */
  readonly heapUsedBytes: number;
  /** V8's heap ceiling, bytes. */
  readonly heapLimitBytes: number;
}

/** Why the guard sheds, or undefined while it admits. */
export type ShedReason = 'memory' | 'buffers' | 'heap' | undefined;

const PAGE_BYTES = 4096;

/** Resident minus file-backed pages (/proc/self/statm); the whole resident set off Linux. */
function anonResident(): number {
  try {
    const [, resident, shared] = readFileSync('/proc/self/statm', 'latin1').split(' ').map(Number);
    return (resident! - shared!) * PAGE_BYTES;
  } catch {
    return process.memoryUsage.rss();
  }
}

/** The process's own memory, now. */
export function sampleProcessMemory(): MemorySample {
  const heap = getHeapStatistics();
  return {
    anonBytes: anonResident(),
    bufferBytes: process.memoryUsage().arrayBuffers,
    heapUsedBytes: heap.used_heap_size,
    heapLimitBytes: heap.heap_size_limit,
  };
}

const DETAIL = {
  memory: 'resident memory',
  buffers: 'bodies held in memory',
  heap: 'V8 heap',
} as const;

/** The `gc` function `--expose-gc` puts on the global object, if the process has it. */
function exposedGc(): (() => void) | undefined {
  const gc = (globalThis as { gc?: () => void }).gc;
  return typeof gc === 'function' ? () => gc() : undefined;
}

/** Bodies up to this size are drained so the connection stays usable; bigger ones close it. */
const DRAIN_LIMIT_BYTES = 64 * 1024;

/** What the guard reads and may do; the defaults are the process's own. */
export interface OverloadGuardOptions {
  /** Reads the process's memory. */
  readonly sample?: () => MemorySample;
  /**
   * A full garbage collection (`gc`, exposed by the heap flags the sidecar starts with): a reading
   * over a level may be garbage — Buffers of finished requests wait for V8's next major GC — so
   * the guard collects once before it sheds, and sheds only for memory still live after it.
   */
  readonly collect?: (() => void) | undefined;
  /** Clock in ms: a collection runs at most once per COLLECT_INTERVAL_MS. */
  readonly now?: () => number;
}

/** At most one forced collection per second: while really overloaded, ~2-5 % of a core. */
const COLLECT_INTERVAL_MS = 1000;

/** Decides, from memory samples, whether new requests are shed. */
export class OverloadGuard {
  readonly #budget: MemoryBudget;
  readonly #sample: () => MemorySample;
  readonly #collect: (() => void) | undefined;
  readonly #now: () => number;
  #lastCollect = -Infinity;
  #reason: ShedReason;
  #timer: NodeJS.Timeout | undefined;
  #shed: Counter<'listener' | 'reason'> | undefined;

  constructor(budget: MemoryBudget, options: OverloadGuardOptions = {}) {
    this.#budget = budget;
    this.#sample = options.sample ?? sampleProcessMemory;
    this.#collect = 'collect' in options ? options.collect : exposedGc();
    this.#now = options.now ?? Date.now;
  }

  /** Why requests are being shed now, or undefined. */
  get reason(): ShedReason {
    return this.#reason;
  }

  /**
   * Takes a sample and decides; over a level, first collects garbage (when it may) and decides
   * again on what is live, from the upper levels only.
   */
  update(): ShedReason {
    const reason = this.decide(this.#sample());
    const now = this.#now();
    if (reason === undefined || this.#collect === undefined) return reason;
    if (now - this.#lastCollect < COLLECT_INTERVAL_MS) return reason;
    this.#lastCollect = now;
    this.#collect();
    this.#reason = undefined;
    return this.decide(this.#sample());
  }

  /**
   * Moves between admitting and shedding on one sample: shed at the budget's upper levels, admit
   * again only once every reading is below its lower level (no flapping per request).
   */
  decide(sample: MemorySample): ShedReason {
    const b = this.#budget;
    const heapRatio = sample.heapUsedBytes / sample.heapLimitBytes;
    if (sample.anonBytes >= b.shedAnonBytes) this.#reason = 'memory';
    else if (sample.bufferBytes >= b.shedBufferBytes) this.#reason = 'buffers';
    else if (heapRatio >= b.shedHeapRatio) this.#reason = 'heap';
    else if (
      sample.anonBytes < b.resumeAnonBytes &&
      sample.bufferBytes < b.resumeBufferBytes &&
      heapRatio < b.resumeHeapRatio
    )
      this.#reason = undefined;
    return this.#reason;
  }

  /** Samples every `intervalMs` (the timer does not keep the process alive) and exports metrics. */
  start(registry: Registry, intervalMs = 100): void {
    this.#shed = new Counter({
      name: 'hookgate_overload_shed_total',
      help: 'Requests refused with 503 overloaded because the sidecar was near its memory budget.',
      labelNames: ['listener', 'reason'],
      registers: [registry],
    });
    new Gauge({
      name: 'hookgate_memory_limit_bytes',
      help: 'The memory limit the sidecar sized its heap and load shedding for.',
      registers: [registry],
    }).set(this.#budget.limitBytes);
    this.update();
    this.#timer = setInterval(() => this.update(), intervalMs);
    this.#timer.unref();
  }

  /** Stops sampling. */
  stop(): void {
    clearInterval(this.#timer);
  }

  /**
   * Answers `503 overloaded` and returns true while shedding; otherwise returns false and the
   * caller goes on. `listener` labels the metric (`egress`, `ingress`).
   */
  refuse(listener: string, req: IncomingMessage, res: ServerResponse): boolean {
    const reason = this.#reason;
    if (reason === undefined) return false;
    this.#shed?.inc({ listener, reason });
    // A small unread body is drained so the kept-alive connection can carry the retry.
    const declared = Number(req.headers['content-length'] ?? NaN);
    const drain = Number.isFinite(declared) && declared <= DRAIN_LIMIT_BYTES;
    if (drain) req.resume();
    sendProblem(
      res,
      problem(
        'overloaded',
        `the sidecar is near its memory budget (${DETAIL[reason]}); nothing was accepted, send it again after Retry-After`,
        { retryAfterMs: 1000 },
      ),
      {},
      !drain,
    );
    return true;
  }
}

/**
 * The proxy's half: the budget for this process's limit, its load-shedding guard sampling and
 * exporting metrics, and one log line saying what the heap was sized for.
 */
export function startOverloadGuard(registry: Registry, log: Logger): OverloadGuard {
  let limit;
  try {
    limit = detectMemoryLimit();
  } catch (err) {
    throw new ConfigError(ENV_MEMORY_LIMIT, [(err as Error).message]);
  }
  const budget = memoryBudget(limit);
  const guard = new OverloadGuard(budget);
  guard.start(registry);
  log.info('memory budget', {
    limitBytes: budget.limitBytes,
    source: budget.source,
    heapLimitBytes: getHeapStatistics().heap_size_limit,
    shedAboveAnonBytes: budget.shedAnonBytes,
    shedAboveBufferBytes: budget.shedBufferBytes,
  });
  return guard;
}

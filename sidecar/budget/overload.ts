// Load shedding by memory: while the process is near its budget (ADR 0016), new egress and ingress
// requests get `503` with `Retry-After` and the problem `overloaded` before any body is read or any
// work is queued, so the sidecar refuses cleanly rather than being OOM-killed with deliveries in
// flight. The state is sampled on a timer (a read of the resident set and V8's heap statistics),
// so a request pays one boolean test.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { getHeapStatistics } from 'node:v8';
import { Counter, Gauge, type Registry } from 'prom-client';
import { ENV_MEMORY_LIMIT } from '../../common/env.ts';
import type { Logger } from '../../common/log.ts';
import { ConfigError } from '../errors.ts';
import { sendProblem } from '../problem.ts';
import { memoryBudget, type MemoryBudget } from './budget.ts';
import { detectMemoryLimit } from './memory-limit.ts';

/** One reading of the process's memory. */
export interface MemorySample {
  /** Resident set, bytes. */
  readonly rssBytes: number;
  /** V8 heap in use, bytes (live data and not yet collected garbage). */
  readonly heapUsedBytes: number;
  /** V8's heap ceiling, bytes. */
  readonly heapLimitBytes: number;
}

/** Why the guard sheds, or undefined while it admits. */
export type ShedReason = 'rss' | 'heap' | undefined;

/** The process's own memory, now. */
export function sampleProcessMemory(): MemorySample {
  const heap = getHeapStatistics();
  return {
    rssBytes: process.memoryUsage.rss(),
    heapUsedBytes: heap.used_heap_size,
    heapLimitBytes: heap.heap_size_limit,
  };
}

/** Bodies up to this size are drained so the connection stays usable; bigger ones close it. */
const DRAIN_LIMIT_BYTES = 64 * 1024;

/** Decides, from memory samples, whether new requests are shed. */
export class OverloadGuard {
  readonly #budget: MemoryBudget;
  readonly #sample: () => MemorySample;
  #reason: ShedReason;
  #timer: NodeJS.Timeout | undefined;
  #shed: Counter<'listener' | 'reason'> | undefined;

  constructor(budget: MemoryBudget, sample: () => MemorySample = sampleProcessMemory) {
    this.#budget = budget;
    this.#sample = sample;
  }

  /** Why requests are being shed now, or undefined. */
  get reason(): ShedReason {
    return this.#reason;
  }

  /**
   * Takes a sample and moves between admitting and shedding: shed at the budget's upper levels,
   * admit again only once every reading is below its lower level.
   */
  update(sample: MemorySample = this.#sample()): ShedReason {
    const b = this.#budget;
    const heapRatio = sample.heapUsedBytes / sample.heapLimitBytes;
    if (sample.rssBytes >= b.shedRssBytes) this.#reason = 'rss';
    else if (heapRatio >= b.shedHeapRatio) this.#reason = 'heap';
    else if (sample.rssBytes < b.resumeRssBytes && heapRatio < b.resumeHeapRatio)
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
      {
        type: 'overloaded',
        title: 'Overloaded',
        status: 503,
        detail: `the sidecar is near its memory budget (${reason === 'rss' ? 'resident memory' : 'V8 heap'}); nothing was accepted, send it again after Retry-After`,
        retryAfterMs: 1000,
      },
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
    shedAboveRssBytes: budget.shedRssBytes,
  });
  return guard;
}

// The work queue, keyed by namespace (the unit that compiles to one ConfigMap). A key is queued at
// most once however many events arrive; a key being processed is never processed twice at once,
// and events during processing queue it again afterwards. A failing key waits longer each time
// (per key, so one broken namespace does not slow the others) until it succeeds.

/** Timers the queue uses; tests pass fake ones or use fake timers. */
export interface QueueTimers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Options for {@link WorkQueue}. */
export interface WorkQueueOptions {
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
  readonly timers?: QueueTimers;
  /** Called whenever the number of waiting keys changes. */
  readonly onDepth?: (depth: number) => void;
}

const realTimers: QueueTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** A de-duplicating work queue with per-key exponential backoff. */
export class WorkQueue {
  #queue: string[] = [];
  #queued = new Set<string>();
  #processing = new Set<string>();
  #dirty = new Set<string>();
  #failures = new Map<string, number>();
  #delayed = new Map<string, unknown>();
  #waiters: ((key: string | undefined) => void)[] = [];
  #shutDown = false;
  #initialMs: number;
  #maxMs: number;
  #timers: QueueTimers;
  #onDepth: (depth: number) => void;

  constructor(options: WorkQueueOptions = {}) {
    this.#initialMs = options.initialBackoffMs ?? 100;
    this.#maxMs = options.maxBackoffMs ?? 60_000;
    this.#timers = options.timers ?? realTimers;
    this.#onDepth = options.onDepth ?? ((): void => undefined);
  }

  /** Keys waiting to be processed. */
  get depth(): number {
    return this.#queue.length;
  }

  /** True when nothing is queued, delayed or being processed. */
  get idle(): boolean {
    return this.#queue.length === 0 && this.#processing.size === 0 && this.#delayed.size === 0;
  }

  /** Queues `key` unless it is already waiting. */
  add(key: string): void {
    if (this.#shutDown) return;
    if (this.#processing.has(key)) {
      // Handled after the current run: the run may have read the cache before this change.
      this.#dirty.add(key);
      return;
    }
    if (this.#queued.has(key)) return;
    const delayed = this.#delayed.get(key);
    if (delayed !== undefined) {
      // A fresh change is worth trying now rather than at the end of the backoff.
      this.#timers.clearTimeout(delayed);
      this.#delayed.delete(key);
    }
    this.#queued.add(key);
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) {
      this.#queued.delete(key);
      this.#processing.add(key);
      waiter(key);
      return;
    }
    this.#queue.push(key);
    this.#onDepth(this.#queue.length);
  }

  /** The next key to process, waiting for one; undefined once the queue is shut down. */
  get(): Promise<string | undefined> {
    if (this.#shutDown) return Promise.resolve(undefined);
    const key = this.#queue.shift();
    if (key !== undefined) {
      this.#queued.delete(key);
      this.#processing.add(key);
      this.#onDepth(this.#queue.length);
      return Promise.resolve(key);
    }
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /**
   * Marks `key` processed. `failed`: retry it after its backoff (doubling per failure); else
   * forget its failures. A key changed while it was processed is queued again at once.
   */
  done(key: string, failed: boolean): void {
    this.#processing.delete(key);
    if (failed) {
      const failures = (this.#failures.get(key) ?? 0) + 1;
      this.#failures.set(key, failures);
      if (this.#dirty.delete(key)) {
        this.add(key);
        return;
      }
      const ms = Math.min(this.#initialMs * 2 ** (failures - 1), this.#maxMs);
      this.#delayed.set(
        key,
        this.#timers.setTimeout(() => {
          this.#delayed.delete(key);
          this.add(key);
        }, ms),
      );
      return;
    }
    this.#failures.delete(key);
    if (this.#dirty.delete(key)) this.add(key);
  }

  /** How many times in a row `key` has failed. */
  failures(key: string): number {
    return this.#failures.get(key) ?? 0;
  }

  /** Stops handing out keys; waiting `get` calls resolve with undefined. */
  shutDown(): void {
    this.#shutDown = true;
    for (const handle of this.#delayed.values()) this.#timers.clearTimeout(handle);
    this.#delayed.clear();
    for (const waiter of this.#waiters.splice(0)) waiter(undefined);
  }
}

// Group commit for store calls: requests that arrive while earlier batches are in flight are sent
// together as the next batch, so under load N accepts (or settlements) cost one script and one
// round trip instead of N, and when idle a lone request leaves at the end of its event-loop turn
// (no timer, so the batching adds no latency of its own). The same rule as the disk writer's group
// commit and the replica wait: the wait for the batch in flight is the window that fills the next.

/** Sends one batch; resolves with one result per item, in order. */
export type FlushBatch<I, R> = (items: readonly I[]) => Promise<readonly R[]>;

/** How a {@link Batcher} sends. */
export interface BatcherOptions {
  /** Items per batch at most; more wait for the next one. */
  readonly maxItems: number;
  /**
   * Batches in flight at once. Two keep the connection busy: one is on the wire while the next
   * fills, and Redis runs them in order.
   */
  readonly maxInFlight: number;
}

interface Waiting<I, R> {
  readonly item: I;
  readonly resolve: (result: R) => void;
  readonly reject: (err: unknown) => void;
}

/** Gathers single calls into batches for `flush`. */
export class Batcher<I, R> {
  readonly #flush: FlushBatch<I, R>;
  readonly #o: BatcherOptions;
  #waiting: Waiting<I, R>[] = [];
  #inFlight = 0;
  #scheduled = false;

  constructor(flush: FlushBatch<I, R>, options: BatcherOptions) {
    if (!Number.isSafeInteger(options.maxItems) || options.maxItems < 1)
      throw new TypeError(`maxItems must be a positive integer, got ${options.maxItems}`);
    if (!Number.isSafeInteger(options.maxInFlight) || options.maxInFlight < 1)
      throw new TypeError(`maxInFlight must be a positive integer, got ${options.maxInFlight}`);
    this.#flush = flush;
    this.#o = options;
  }

  /** Items waiting for a batch (not yet sent). */
  get waiting(): number {
    return this.#waiting.length;
  }

  /** Adds one item; resolves with its result once its batch returned, rejects if the batch failed. */
  add(item: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.#waiting.push({ item, resolve, reject });
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#scheduled || this.#inFlight >= this.#o.maxInFlight) return;
    this.#scheduled = true;
    // The end of this turn: every request parsed in the same turn joins the batch.
    setImmediate(() => {
      this.#scheduled = false;
      this.#send();
    });
  }

  #send(): void {
    while (this.#waiting.length > 0 && this.#inFlight < this.#o.maxInFlight) {
      // While one is in flight, the next waits to fill unless a whole batch is already waiting.
      if (this.#inFlight > 0 && this.#waiting.length < this.#o.maxItems) return;
      const batch = this.#waiting.splice(0, this.#o.maxItems);
      this.#inFlight++;
      void this.#run(batch).finally(() => {
        this.#inFlight--;
        if (this.#waiting.length > 0) this.#schedule();
      });
    }
  }

  async #run(batch: readonly Waiting<I, R>[]): Promise<void> {
    let results: readonly R[];
    try {
      results = await this.#flush(batch.map((w) => w.item));
      if (results.length !== batch.length)
        throw new Error(`a batch of ${batch.length} returned ${results.length} results`);
    } catch (err) {
      for (const w of batch) w.reject(err);
      return;
    }
    batch.forEach((w, i) => w.resolve(results[i]!));
  }
}

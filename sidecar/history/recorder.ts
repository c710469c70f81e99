// The history recorder: a delivery observer that costs a request one push. The observer call
// keeps a reference to what it saw (the delivery and the attempt's result, both immutable) on a
// bounded buffer — capped by count and by the bytes those references hold; past either cap the
// oldest unwritten one is dropped and counted, never waited for — and a writer a few
// milliseconds later turns the whole batch into updates (update.ts: redaction, bodies as the
// policy says) and hands it to the store in one call: one file write, or one Redis round trip.
// Live-tail listeners hear each update as its batch is written.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { HistoryUpdate } from '../../common/history.ts';
import type { Logger } from '../../common/log.ts';
import type { Clock } from '../delivery/delivery.ts';
import type { AttemptObservation, DeliveryEnd, DeliveryObserver } from '../delivery/observe.ts';
import type { HistoryStore } from './store.ts';
import { attemptUpdate, endUpdate, type UpdateSource } from './update.ts';

/** Updates written to the store in one call at most. */
const BATCH = 512;
/**
 * How long observations gather before a write: one write per many deliveries under load, but
 * short, because what waits is the delivery's and the answer's objects, and whatever is still
 * waiting when V8 scavenges is copied (and, waiting longer, promoted). Measured on the egress
 * path under load (ADR 0022, "Cost"): 10 ms cost ~5 CPU µs per request more than 3–5 ms; 1 ms
 * or less pays for the extra writes.
 */
const GATHER_MS = 5;
/** What a buffered observation holds besides its bodies (objects, headers), roughly. */
const OVERHEAD_BYTES = 512;

const gather = (): Promise<void> => new Promise<void>((resolve) => setTimeout(resolve, GATHER_MS));

/** What the recorder needs. */
export interface HistoryRecorderOptions {
  readonly store: HistoryStore;
  readonly source: UpdateSource;
  /** Observations waiting to be written at most. */
  readonly bufferSize: number;
  /** Bytes (bodies and overhead) the waiting observations may hold at most. */
  readonly bufferBytes: number;
  readonly clock: Clock;
  readonly registry: Registry;
  readonly log: Logger;
}

/** One observation waiting to be written: an attempt, or an async delivery's death. */
type Pending =
  | { readonly attempt: AttemptObservation; readonly bytes: number }
  | { readonly end: DeliveryEnd; readonly bytes: number };

/** Records every attempt into a history store. */
export class HistoryRecorder implements DeliveryObserver {
  readonly store: HistoryStore;
  readonly #o: HistoryRecorderOptions;
  #buffer: Pending[] = [];
  #bufferedBytes = 0;
  readonly #listeners = new Set<(u: HistoryUpdate) => void>();
  readonly #updates: Counter<'result'>;
  #writing: Promise<void> | undefined;
  #failures = 0;

  constructor(options: HistoryRecorderOptions) {
    this.#o = options;
    this.store = options.store;
    this.#updates = new Counter({
      name: 'hookgate_history_updates_total',
      help: 'Delivery history updates by result: recorded, dropped (buffer full: the oldest unwritten goes) or failed (store error).',
      labelNames: ['result'],
      registers: [options.registry],
    });
    const buffered = (): number => this.#buffer.length;
    new Gauge({
      name: 'hookgate_history_buffered',
      help: 'Delivery history updates waiting to be written.',
      registers: [options.registry],
      collect() {
        this.set(buffered());
      },
    });
  }

  onAttempt(observation: AttemptObservation): void {
    const r = observation.result;
    const bytes =
      OVERHEAD_BYTES +
      (observation.attempt === 1 ? observation.delivery.body.length : 0) +
      (r.kind === 'response' ? r.body.length : 0);
    this.#push({ attempt: observation, bytes });
  }

  onDeliveryEnd(end: DeliveryEnd): void {
    // Only a death adds to what the attempts told (endUpdate).
    if (end.outcome === 'dead') this.#push({ end, bytes: OVERHEAD_BYTES });
  }

  /** Hears every update as it is written (the live tail); returns the unsubscription. */
  subscribe(listener: (u: HistoryUpdate) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #push(pending: Pending): void {
    this.#buffer.push(pending);
    this.#bufferedBytes += pending.bytes;
    // Full: the oldest waiting observation makes room (the newest says more about now).
    while (
      this.#buffer.length > this.#o.bufferSize ||
      (this.#bufferedBytes > this.#o.bufferBytes && this.#buffer.length > 1)
    ) {
      this.#bufferedBytes -= this.#buffer.shift()!.bytes;
      this.#updates.inc({ result: 'dropped' });
    }
    // Written a moment later: the request's answer goes first, updates go in batches.
    this.#writing ??= gather().then(() => this.#drain());
  }

  #take(): Pending[] {
    if (this.#buffer.length <= BATCH) {
      const all = this.#buffer;
      this.#buffer = [];
      this.#bufferedBytes = 0;
      return all;
    }
    const batch = this.#buffer.splice(0, BATCH);
    for (const p of batch) this.#bufferedBytes -= p.bytes;
    return batch;
  }

  async #drain(): Promise<void> {
    while (this.#buffer.length > 0) {
      const batch = this.#take();
      const updates: HistoryUpdate[] = [];
      for (const p of batch) {
        const update =
          'attempt' in p
            ? attemptUpdate(p.attempt, this.#o.source)
            : endUpdate(p.end, this.#o.source);
        if (update !== undefined) updates.push(update);
      }
      for (const listener of this.#listeners)
        for (const u of updates) {
          try {
            listener(u);
          } catch {
            // a tail that cannot take an update misses it; the batch is still written
          }
        }
      try {
        await this.store.append(updates, this.#o.clock.now());
        this.#updates.inc({ result: 'recorded' }, updates.length);
        this.#failures = 0;
      } catch (err) {
        this.#updates.inc({ result: 'failed' }, updates.length);
        this.#failures++;
        if (this.#failures === 1 || this.#failures % 100 === 0)
          this.#o.log.warn('delivery history not written', {
            error: (err as Error).message,
            updates: updates.length,
            failures: this.#failures,
          });
      }
      // Under load more arrived during the write. Taking them at once would make a write per
      // write's latency (a small batch every fraction of a millisecond, each one a round trip
      // to the thread pool or to Redis); they gather again instead, unless a full batch waits.
      if (this.#buffer.length > 0 && this.#buffer.length < BATCH) await gather();
    }
    this.#writing = undefined;
  }

  /** Resolves once every update pushed so far is written (or failed). */
  async flushed(): Promise<void> {
    while (this.#writing !== undefined) await this.#writing;
  }

  /** Writes what is buffered, then closes the store. */
  async close(): Promise<void> {
    await this.flushed();
    await this.store.close();
  }
}

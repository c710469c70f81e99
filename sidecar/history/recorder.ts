// The history recorder: a delivery observer that never holds a request up. Each attempt becomes
// an update (update.ts) pushed onto a bounded buffer — full, it is dropped and counted — and a
// writer drains the buffer into the store in batches off the request path. Live-tail listeners
// hear each update as it is recorded.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { HistoryUpdate } from '../../common/history.ts';
import type { Logger } from '../../common/log.ts';
import type { Clock } from '../delivery/delivery.ts';
import type { AttemptObservation, DeliveryEnd, DeliveryObserver } from '../delivery/observe.ts';
import type { HistoryStore } from './store.ts';
import { attemptUpdate, endUpdate, type UpdateSource } from './update.ts';

/** Updates written to the store in one call at most. */
const BATCH = 512;
/** How long updates gather before a write: one write per many deliveries under load. */
const GATHER_MS = 25;

/** What the recorder needs. */
export interface HistoryRecorderOptions {
  readonly store: HistoryStore;
  readonly source: UpdateSource;
  /** Updates waiting to be written at most. */
  readonly bufferSize: number;
  readonly clock: Clock;
  readonly registry: Registry;
  readonly log: Logger;
}

/** Records every attempt into a history store. */
export class HistoryRecorder implements DeliveryObserver {
  readonly store: HistoryStore;
  readonly #o: HistoryRecorderOptions;
  readonly #buffer: HistoryUpdate[] = [];
  readonly #listeners = new Set<(u: HistoryUpdate) => void>();
  readonly #updates: Counter<'result'>;
  #writing: Promise<void> | undefined;
  #failures = 0;

  constructor(options: HistoryRecorderOptions) {
    this.#o = options;
    this.store = options.store;
    this.#updates = new Counter({
      name: 'hookgate_history_updates_total',
      help: 'Delivery history updates by result: recorded, dropped (buffer full) or failed (store error).',
      labelNames: ['result'],
      registers: [options.registry],
    });
    const buffer = this.#buffer;
    new Gauge({
      name: 'hookgate_history_buffered',
      help: 'Delivery history updates waiting to be written.',
      registers: [options.registry],
      collect() {
        this.set(buffer.length);
      },
    });
  }

  onAttempt(observation: AttemptObservation): void {
    this.#push(attemptUpdate(observation, this.#o.source));
  }

  onDeliveryEnd(end: DeliveryEnd): void {
    const update = endUpdate(end, this.#o.source);
    if (update !== undefined) this.#push(update);
  }

  /** Hears every update as it is recorded (the live tail); returns the unsubscription. */
  subscribe(listener: (u: HistoryUpdate) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #push(update: HistoryUpdate): void {
    if (this.#buffer.length >= this.#o.bufferSize) {
      this.#updates.inc({ result: 'dropped' });
      return;
    }
    this.#buffer.push(update);
    for (const listener of this.#listeners) listener(update);
    // Written a moment later: the request's answer goes first, updates go in batches.
    this.#writing ??= new Promise<void>((resolve) => setTimeout(resolve, GATHER_MS)).then(() =>
      this.#drain(),
    );
  }

  async #drain(): Promise<void> {
    while (this.#buffer.length > 0) {
      const batch = this.#buffer.splice(0, BATCH);
      try {
        await this.store.append(batch, this.#o.clock.now());
        this.#updates.inc({ result: 'recorded' }, batch.length);
        this.#failures = 0;
      } catch (err) {
        this.#updates.inc({ result: 'failed' }, batch.length);
        this.#failures++;
        if (this.#failures === 1 || this.#failures % 100 === 0)
          this.#o.log.warn('delivery history not written', {
            error: (err as Error).message,
            updates: batch.length,
            failures: this.#failures,
          });
      }
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

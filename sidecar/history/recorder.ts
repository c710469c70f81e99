// The history recorder: a delivery observer that costs a request the encoding of its update
// (update.ts: redaction, bodies as the policy says, one JSON text) and one push. The encoded
// updates wait on a bounded buffer — capped by count and by their bytes; past either cap the
// oldest unwritten one is dropped and counted, never waited for — and a writer a few
// milliseconds later hands the whole batch to the store in one call: one file write, or one
// Redis round trip. Live-tail listeners hear each update as its batch is written.
import { Counter, Gauge, type Registry } from 'prom-client';
import type { HistoryUpdate } from '../../common/history.ts';
import type { Logger } from '../../common/log.ts';
import type { Clock } from '../delivery/delivery.ts';
import type { AttemptObservation, DeliveryEnd, DeliveryObserver } from '../delivery/observe.ts';
import type { HistoryStore } from './store.ts';
import { UpdateEncoder, jsonText, type EncodedUpdate, type UpdateSource } from './update.ts';

/** Updates written to the store in one call at most. */
const BATCH = 512;
/**
 * How long updates gather before a write: one write per many deliveries under load, and short,
 * because whatever still waits when V8 scavenges is copied (ADR 0022, "Cost").
 */
const GATHER_MS = 5;
/** What a buffered update holds besides its bytes (the object, its fields), roughly. */
const OVERHEAD_BYTES = 64;

/** What an update waiting in the buffer holds, roughly. */
function bytesOf(u: EncodedUpdate): number {
  return OVERHEAD_BYTES + u.bytes.length;
}

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

/** Records every attempt into a history store. */
export class HistoryRecorder implements DeliveryObserver {
  readonly store: HistoryStore;
  readonly #o: HistoryRecorderOptions;
  readonly #encoder: UpdateEncoder;
  #buffer: EncodedUpdate[] = [];
  #bufferedBytes = 0;
  readonly #listeners = new Set<(u: HistoryUpdate) => void>();
  readonly #updates: Counter<'result'>;
  #writing: Promise<void> | undefined;
  #failures = 0;

  constructor(options: HistoryRecorderOptions) {
    this.#o = options;
    this.store = options.store;
    this.#encoder = new UpdateEncoder(options.source, {
      rawBodies: options.store.backend === 'disk',
    });
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
    this.#push(this.#encoder.attempt(observation));
  }

  onDeliveryEnd(end: DeliveryEnd): void {
    // Only a death adds to what the attempts told.
    const update = this.#encoder.end(end);
    if (update !== undefined) this.#push(update);
  }

  /** Hears every update as it is written (the live tail); returns the unsubscription. */
  subscribe(listener: (u: HistoryUpdate) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #push(update: EncodedUpdate): void {
    this.#buffer.push(update);
    this.#bufferedBytes += bytesOf(update);
    // Full: the oldest waiting update makes room (the newest says more about now).
    while (
      this.#buffer.length > this.#o.bufferSize ||
      (this.#bufferedBytes > this.#o.bufferBytes && this.#buffer.length > 1)
    ) {
      this.#bufferedBytes -= bytesOf(this.#buffer.shift()!);
      this.#updates.inc({ result: 'dropped' });
    }
    // Written a moment later: the request's answer goes first, updates go in batches.
    this.#writing ??= gather().then(() => this.#drain());
  }

  #take(): EncodedUpdate[] {
    if (this.#buffer.length <= BATCH) {
      const all = this.#buffer;
      this.#buffer = [];
      this.#bufferedBytes = 0;
      return all;
    }
    const batch = this.#buffer.splice(0, BATCH);
    for (const u of batch) this.#bufferedBytes -= bytesOf(u);
    return batch;
  }

  async #drain(): Promise<void> {
    while (this.#buffer.length > 0) {
      const updates = this.#take();
      if (this.#listeners.size > 0) this.#tell(updates);
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

  /** Tells the live tails (parsed once for all of them: tails are rare, updates are not). */
  #tell(updates: readonly EncodedUpdate[]): void {
    for (const encoded of updates) {
      const u = JSON.parse(jsonText(encoded)) as HistoryUpdate;
      for (const listener of this.#listeners) {
        try {
          listener(u);
        } catch {
          // a tail that cannot take an update misses it; the batch is still written
        }
      }
    }
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

// The writer loop with group commit. Records that arrive while a write + fdatasync is in flight
// form the next batch (up to MAX_BATCH_BYTES): one write, one fdatasync, then each record's
// `apply` runs in order and its caller resolves, so nothing is visible or acknowledged before it
// is on disk. Between two batches no write is in flight: the store starts compactions there.
import type { Logger } from '../../../common/log.ts';
import { DiskQueueError } from './errors.ts';
import type { EncodedRecord } from './record.ts';
import { MAX_BATCH_BYTES, writeAll, type Segment } from './segment.ts';

/** Runs once the record is on disk, with where it landed. */
export type ApplyWritten = (offset: number, segment: Segment) => void;

interface PendingWrite {
  readonly buf: readonly Buffer[];
  readonly length: number;
  readonly apply: ApplyWritten;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
}

/** What the writer needs from the store. */
export interface LogWriterOptions {
  /** Off: one fdatasync per record (the benchmark's baseline). */
  readonly groupCommit: boolean;
  /** The segment to append to now. */
  readonly active: () => Segment;
  /** Runs before each batch, with no write in flight. */
  readonly between: () => Promise<void>;
  /** Bytes made durable. */
  readonly onWritten: (bytes: number) => void;
  readonly logger?: Logger | undefined;
}

/** Appends records to the active segment, durably, in order. */
export class LogWriter {
  readonly #o: LogWriterOptions;
  readonly #queue: PendingWrite[] = [];
  #queuedBytes = 0;
  #running: Promise<void> | undefined;
  #failure: DiskQueueError | undefined;

  constructor(options: LogWriterOptions) {
    this.#o = options;
  }

  /** Bytes waiting for the next batch. */
  get queuedBytes(): number {
    return this.#queuedBytes;
  }

  /** Set once a write or fdatasync failed: every later append rejects with it. */
  get failure(): DiskQueueError | undefined {
    return this.#failure;
  }

  /** Appends a record; resolves once it is on disk and applied. */
  append(record: EncodedRecord, apply: ApplyWritten): Promise<void> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    return new Promise<void>((resolve, reject) => {
      this.#queue.push({ buf: record.buffers, length: record.length, apply, resolve, reject });
      this.#queuedBytes += record.length;
      this.kick();
    });
  }

  /** Runs the loop if it is not running (also to give `between` a turn). */
  kick(): void {
    if (this.#running !== undefined) return;
    this.#running = this.#loop().finally(() => {
      this.#running = undefined;
      // a record may have arrived between the loop's last check and here
      if (this.#queue.length > 0 && this.#failure === undefined) this.kick();
    });
  }

  /** Resolves once nothing is queued or being written. */
  async idle(): Promise<void> {
    while (this.#running !== undefined) await this.#running;
  }

  async #loop(): Promise<void> {
    for (;;) {
      await this.#o.between();
      if (this.#queue.length === 0 || this.#failure !== undefined) return;
      let n = 0;
      let bytes = 0;
      const cap = this.#o.groupCommit ? MAX_BATCH_BYTES : 0;
      do {
        bytes += this.#queue[n]!.length;
        n++;
      } while (n < this.#queue.length && bytes + this.#queue[n]!.length <= cap);
      const batch = this.#queue.splice(0, n);
      this.#queuedBytes -= bytes;
      const segment = this.#o.active();
      const start = segment.size;
      try {
        await writeAll(
          segment.fh,
          Buffer.concat(
            batch.flatMap((w) => w.buf),
            bytes,
          ),
          start,
        );
        await segment.fh.datasync();
      } catch (err) {
        await this.#fail(err, segment, start, batch);
        return;
      }
      segment.size = start + bytes;
      this.#o.onWritten(bytes);
      let offset = start;
      for (const w of batch) {
        w.apply(offset, segment);
        offset += w.length;
        w.resolve();
      }
    }
  }

  /** A failed write or fdatasync: the file's state is unknown, so refuse further writes. */
  async #fail(err: unknown, segment: Segment, start: number, batch: PendingWrite[]): Promise<void> {
    const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
    this.#failure = new DiskQueueError(
      'ERR_QUEUE_STORAGE',
      `writing the queue log ${segment.path} failed (${code}); the queue refuses writes until ` +
        `the sidecar restarts (recovery cuts off the partial write)`,
      { cause: err, file: segment.path, offset: start },
    );
    this.#o.logger?.error('queue write failed', { file: segment.path, code });
    await segment.fh.truncate(start).catch(() => undefined);
    for (const w of [...batch, ...this.#queue.splice(0)]) w.reject(this.#failure);
    this.#queuedBytes = 0;
  }
}

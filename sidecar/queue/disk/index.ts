// The embedded queue backend: an append-only log in a directory on the pod's own disk. This file
// composes the parts and implements the QueueStore contract on them:
// - record.ts: CRC-framed records (put, settle, replay, purge);
// - writer.ts: the group-commit loop: `enqueue` resolves only once its record is fdatasync'd;
// - state.ts: the in-memory index (what is stored, due, leased), changed only by written records;
// - recover.ts: opening replays snapshot + logs, cuts off a torn tail, reports damage;
// - compact.ts: live deliveries rewritten to a snapshot, switched in atomically;
// - lock.ts: one owner per directory.
// Leases and `defer` live in memory: they die with the process, which makes every leased delivery
// due again on restart (at-least-once). See docs/adr/0007-disk-queue.md.
import { mkdir } from 'node:fs/promises';
import type { Logger } from '../../../common/log.ts';
import {
  QueueFullError,
  type AttemptRecord,
  type DeliveryFilter,
  type NewDelivery,
  type QueuedDelivery,
  type QueueLimits,
  type QueueStats,
  type QueueStore,
  type SettleRequest,
  type Settlement,
} from '../store.ts';
import { capture, retire, writeSnapshot, type CompactionStep } from './compact.ts';
import { DiskQueueError } from './errors.ts';
import { acquireOwnerLock, type OwnerLock, type OwnerLockOptions } from './lock.ts';
import {
  HEADER_BYTES,
  RecordType,
  decodePut,
  encodeJson,
  encodePut,
  type PurgePayload,
  type PutMeta,
  type ReadRecord,
  type ReplayPayload,
  type SettlePayload,
} from './record.ts';
import { recoverDirectory, type Truncation } from './recover.ts';
import { createLog, readBody, type Segment } from './segment.ts';
import { QueueIndex, entryOf, headerBytes, type Entry } from './state.ts';
import { LogWriter } from './writer.ts';

export type { CompactionStep } from './compact.ts';
export { DiskQueueError } from './errors.ts';

/** Options of {@link openDiskStore}. */
export interface DiskStoreOptions {
  /** The queue directory; created when missing. Only one process may own it. */
  readonly dir: string;
  readonly limits: QueueLimits;
  /**
   * Bytes the log may take on disk, dead weight included (default 2 × `limits.maxBytes` + 64 MiB).
   * Past it `enqueue` refuses with the `bytes` bound and a compaction starts.
   */
  readonly maxDiskBytes?: number;
  /** One write + fsync for every record that waited on the previous fsync (default true). */
  readonly groupCommit?: boolean;
  /** Bodies kept in memory after enqueue so the worker's claim does not read them back (default 16 MiB). */
  readonly bodyCacheBytes?: number;
  /**
   * Dead letters kept (default 100,000): past it the ones that died first are purged, with a
   * warning, so a receiver that stays down cannot grow the index (about 520 B each) without end.
   */
  readonly maxDeadLetters?: number;
  /** `retryAfterMs` of a QueueFullError (default 1000). */
  readonly retryAfterMs?: number;
  /** Compaction starts once the log is at least this big (default min(64 MiB, maxDiskBytes / 4))… */
  readonly compactMinBytes?: number;
  /** …and at least this share of it is dead weight (default 0.5). */
  readonly compactDeadRatio?: number;
  readonly lock?: OwnerLockOptions;
  readonly logger?: Logger;
  /** Test hook: runs at each compaction step (a crash test kills the process there). */
  readonly onCompactionStep?: (step: CompactionStep) => void | Promise<void>;
}

/** What opening found on disk. */
export interface RecoveryReport {
  readonly segments: number;
  readonly records: number;
  readonly deliveries: number;
  /** A torn tail cut off the last log: where and how many bytes. */
  readonly truncated?: Truncation;
}

/** The disk backend: the QueueStore contract plus what its operators and tests need. */
export interface DiskQueueStore extends QueueStore {
  claim(
    max: number,
    now: number,
    leaseMs: number,
    skipEndpoints?: ReadonlySet<string>,
  ): Promise<QueuedDelivery[]>;
  /** Ends a lease without an attempt; due again at `at`. Memory only: a restart makes it due now. */
  defer(deliveryId: string, at: number): Promise<void>;
  /** Compacts the log now and resolves when done. */
  compact(): Promise<void>;
  /** Bytes of log files on disk. */
  readonly diskBytes: number;
  /** Dead letters purged because there were more than `maxDeadLetters`, since open. */
  readonly evictedDeadLetters: number;
  readonly recovery: RecoveryReport;
}

function positiveInteger(value: number | undefined, field: string): void {
  if (value !== undefined && (!Number.isSafeInteger(value) || value <= 0)) {
    throw new TypeError(`${field} must be a positive integer, got ${String(value)}`);
  }
}

/** Opens (creating or recovering) the queue in `options.dir`. */
export async function openDiskStore(options: DiskStoreOptions): Promise<DiskQueueStore> {
  if (typeof options.dir !== 'string' || options.dir === '') {
    throw new TypeError('dir must name the queue directory, e.g. /var/lib/hookgate/queue');
  }
  positiveInteger(options.limits.maxPerEndpoint, 'limits.maxPerEndpoint');
  positiveInteger(options.limits.maxTotal, 'limits.maxTotal');
  positiveInteger(options.limits.maxBytes, 'limits.maxBytes');
  positiveInteger(options.maxDiskBytes, 'maxDiskBytes');
  positiveInteger(options.compactMinBytes, 'compactMinBytes');
  positiveInteger(options.maxDeadLetters, 'maxDeadLetters');
  let lock: OwnerLock;
  try {
    await mkdir(options.dir, { recursive: true, mode: 0o700 });
    lock = await acquireOwnerLock(options.dir, options.lock);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (err instanceof DiskQueueError || code === undefined) throw err;
    throw new DiskQueueError(
      'ERR_QUEUE_STORAGE',
      `cannot use the queue directory ${options.dir} (${code}): mount a writable volume there ` +
        `(an emptyDir, or a per-pod volume to survive the pod) or set queue.directory`,
      { cause: err },
    );
  }
  try {
    return await DiskStore.recover(options, lock);
  } catch (err) {
    await lock.release();
    throw err;
  }
}

class DiskStore implements DiskQueueStore {
  readonly #dir: string;
  readonly #limits: QueueLimits;
  readonly #maxDiskBytes: number;
  readonly #retryAfterMs: number;
  readonly #maxDeadLetters: number;
  #evictedDeadLetters = 0;
  readonly #compactMinBytes: number;
  readonly #compactDeadRatio: number;
  readonly #logger: Logger | undefined;
  readonly #onStep: ((step: CompactionStep) => void | Promise<void>) | undefined;
  readonly #lock: OwnerLock;
  readonly #index: QueueIndex<Segment>;
  #segments: Segment[] = [];
  #active!: Segment;
  #diskBytes = 0;
  #seq = 0;
  #recovery!: RecoveryReport;

  readonly #writer: LogWriter;
  #closed = false;

  // bounds: enqueues written but not yet applied count as stored
  readonly #inflight = new Map<string, Promise<void>>();
  readonly #reservedByEndpoint = new Map<string, number>();
  #reservedTotal = 0;
  #reservedBytes = 0;

  // compaction
  #compaction: Promise<void> | undefined;
  #forceCompaction = false;
  #diskPressure = false;
  #compactionWaiters: (() => void)[] = [];
  #compactionPausedUntil = 0;

  private constructor(options: DiskStoreOptions, lock: OwnerLock) {
    this.#dir = options.dir;
    this.#limits = options.limits;
    this.#maxDiskBytes = options.maxDiskBytes ?? 2 * options.limits.maxBytes + (64 << 20);
    this.#retryAfterMs = options.retryAfterMs ?? 1000;
    this.#maxDeadLetters = options.maxDeadLetters ?? 100_000;
    this.#compactMinBytes =
      options.compactMinBytes ?? Math.min(64 << 20, Math.floor(this.#maxDiskBytes / 4));
    this.#compactDeadRatio = options.compactDeadRatio ?? 0.5;
    this.#logger = options.logger;
    this.#onStep = options.onCompactionStep;
    this.#lock = lock;
    this.#index = new QueueIndex<Segment>(options.bodyCacheBytes ?? 16 << 20);
    this.#writer = new LogWriter({
      groupCommit: options.groupCommit ?? true,
      active: () => this.#active,
      between: async () => {
        if (this.#compactionWanted()) await this.#startCompaction();
      },
      onWritten: (bytes) => (this.#diskBytes += bytes),
      logger: options.logger,
    });
  }

  /** Replays the directory into a new store. */
  static async recover(options: DiskStoreOptions, lock: OwnerLock): Promise<DiskStore> {
    const store = new DiskStore(options, lock);
    const found = await recoverDirectory(
      options.dir,
      (segment, record) => store.#replayRecord(segment, record),
      options.logger,
    );
    store.#segments = found.segments;
    const last = found.segments[found.segments.length - 1];
    if (last?.kind === 'log') {
      store.#active = last;
    } else {
      try {
        store.#active = await createLog(options.dir, (last?.n ?? 0) + 1);
      } catch (err) {
        await Promise.all(found.segments.map((s) => s.fh.close().catch(() => undefined)));
        throw err;
      }
      store.#segments.push(store.#active);
    }
    store.#diskBytes = store.#segments.reduce((sum, s) => sum + s.size, 0);
    store.#seq = store.#index.maxSeq;
    store.#trimDeadLetters(); // a lowered bound, or a purge the crash kept from the disk
    const counts = store.#index.stats(0).byState;
    store.#recovery = {
      segments: store.#segments.length,
      records: found.records,
      deliveries: counts.pending + counts.retrying + counts.dead,
      ...(found.truncated === undefined ? {} : { truncated: found.truncated }),
    };
    return store;
  }

  get diskBytes(): number {
    return this.#diskBytes;
  }

  get evictedDeadLetters(): number {
    return this.#evictedDeadLetters;
  }

  get recovery(): RecoveryReport {
    return this.#recovery;
  }

  // ---- QueueStore ----

  async enqueue(delivery: NewDelivery): Promise<void> {
    this.#usable();
    const id = delivery.deliveryId;
    // the same id again (the app retried its request) is the same delivery: stored once
    if (this.#index.get(id) !== undefined) return;
    const inflight = this.#inflight.get(id);
    if (inflight !== undefined) return inflight;

    const ep = delivery.endpointName;
    const bytes = delivery.body.length + headerBytes(delivery.headers);
    const reservedHere = this.#reservedByEndpoint.get(ep) ?? 0;
    if (this.#index.activeOf(ep) + reservedHere >= this.#limits.maxPerEndpoint) {
      throw new QueueFullError('endpoint', this.#retryAfterMs);
    }
    if (this.#index.active + this.#reservedTotal >= this.#limits.maxTotal) {
      throw new QueueFullError('total', this.#retryAfterMs);
    }
    if (this.#index.bytes + this.#reservedBytes + bytes > this.#limits.maxBytes) {
      throw new QueueFullError('bytes', this.#retryAfterMs);
    }
    const seq = ++this.#seq;
    const meta: PutMeta = {
      id,
      ep,
      url: delivery.url,
      m: delivery.method,
      h: delivery.headers,
      at: delivery.acceptedAt,
      o: delivery.ordered,
      s: seq,
      st: 'pending',
      n: delivery.acceptedAt,
      a: [],
      r: 0,
    };
    const record = encodePut(meta, delivery.body);
    if (this.#diskBytes + this.#writer.queuedBytes + record.length > this.#maxDiskBytes) {
      this.#diskPressure = true;
      this.#writer.kick();
      throw new QueueFullError('bytes', this.#retryAfterMs);
    }

    this.#reservedByEndpoint.set(ep, reservedHere + 1);
    this.#reservedTotal++;
    this.#reservedBytes += bytes;
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      const left = (this.#reservedByEndpoint.get(ep) ?? 1) - 1;
      if (left === 0) this.#reservedByEndpoint.delete(ep);
      else this.#reservedByEndpoint.set(ep, left);
      this.#reservedTotal--;
      this.#reservedBytes -= bytes;
      this.#inflight.delete(id);
    };
    const written = this.#writer.append(record, (offset, segment) => {
      release();
      const body = { segment, offset: offset + record.bodyOffset, length: delivery.body.length };
      this.#index.put(entryOf(meta, body, record.length), delivery.body);
    });
    const done = written.catch((err: unknown) => {
      release();
      throw err;
    });
    this.#inflight.set(id, done);
    return done;
  }

  // The writer's group commit already puts every record that waits on one fdatasync into the
  // next: a batch here is the same records handed over at once.
  enqueueMany(deliveries: readonly NewDelivery[]): Promise<(QueueFullError | undefined)[]> {
    return Promise.all(
      deliveries.map((d) =>
        this.enqueue(d).then(
          () => undefined,
          (err: unknown) => {
            if (err instanceof QueueFullError) return err;
            throw err;
          },
        ),
      ),
    );
  }

  claim(
    max: number,
    now: number,
    leaseMs: number,
    skipEndpoints?: ReadonlySet<string>,
  ): Promise<QueuedDelivery[]> {
    this.#usable();
    const entries = this.#index.claim(max, now, leaseMs, skipEndpoints);
    return Promise.all(entries.map((e) => this.#materialize(e)));
  }

  async settle(deliveryId: string, attempt: AttemptRecord, next: Settlement): Promise<void> {
    this.#usable();
    if (this.#index.get(deliveryId) === undefined) return; // purged while in flight
    const payload: SettlePayload = { id: deliveryId, a: attempt, x: next };
    const record = encodeJson(RecordType.settle, payload);
    await this.#writer.append(record, () => {
      this.#index.settle(deliveryId, attempt, next, record.length);
      if (next.kind === 'dead') this.#trimDeadLetters();
    });
  }

  async settleMany(settlements: readonly SettleRequest[]): Promise<void> {
    await Promise.all(settlements.map((s) => this.settle(s.deliveryId, s.attempt, s.next)));
  }

  defer(deliveryId: string, at: number): Promise<void> {
    this.#usable();
    this.#index.defer(deliveryId, at);
    return Promise.resolve();
  }

  get(deliveryId: string): Promise<QueuedDelivery | undefined> {
    this.#usable();
    const e = this.#index.get(deliveryId);
    return e === undefined ? Promise.resolve(undefined) : this.#materialize(e);
  }

  list(filter: DeliveryFilter, limit: number): Promise<QueuedDelivery[]> {
    this.#usable();
    const found = this.#index.matching(filter).slice(0, Math.max(0, limit));
    return Promise.all(found.map((e) => this.#materialize(e)));
  }

  async replay(
    filter: DeliveryFilter & { readonly deliveryId?: string },
    now: number,
  ): Promise<number> {
    this.#usable();
    if (filter.state !== undefined && filter.state !== 'dead') return 0;
    const ids = this.#index
      .matching({ ...filter, state: 'dead' })
      .map((e) => e.delivery.deliveryId);
    if (ids.length === 0) return 0;
    const payload: ReplayPayload = { ids, now };
    await this.#writer.append(encodeJson(RecordType.replay, payload), () =>
      this.#index.replay(ids, now),
    );
    return ids.length;
  }

  async purge(filter: DeliveryFilter & { readonly deliveryId?: string }): Promise<number> {
    this.#usable();
    const ids = this.#index.matching(filter).map((e) => e.delivery.deliveryId);
    if (ids.length === 0) return 0;
    const payload: PurgePayload = { ids };
    await this.#writer.append(encodeJson(RecordType.purge, payload), () => this.#index.purge(ids));
    return ids.length;
  }

  stats(now: number): Promise<QueueStats> {
    this.#usable();
    return Promise.resolve(this.#index.stats(now));
  }

  async compact(): Promise<void> {
    this.#usable();
    if (this.#compaction !== undefined) await this.#compaction;
    await new Promise<void>((resolve) => {
      this.#compactionWaiters.push(resolve);
      this.#forceCompaction = true;
      this.#writer.kick();
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#writer.idle();
    if (this.#compaction !== undefined) await this.#compaction;
    for (const resolve of this.#compactionWaiters.splice(0)) resolve();
    await Promise.all(this.#segments.map((s) => s.fh.close().catch(() => undefined)));
    await this.#lock.release();
  }

  // ---- reading ----

  #usable(): void {
    if (this.#closed) {
      throw new DiskQueueError('ERR_QUEUE_CLOSED', `the queue in ${this.#dir} is closed`);
    }
  }

  async #materialize(e: Entry<Segment>): Promise<QueuedDelivery> {
    // copy the fields now: a settlement may change them while the body is read
    const head = {
      ...e.delivery,
      state: e.state,
      nextAttemptAt: e.nextAttemptAt,
      attempts: e.attempts,
      replays: e.replays,
    };
    const body = e.cached ?? (await this.#readBodyOf(e));
    return { ...head, body };
  }

  async #readBodyOf(e: Entry<Segment>): Promise<Buffer> {
    const loc = e.body;
    try {
      return await readBody(loc);
    } catch (err) {
      // compaction moved the body (and closed the old file) while we read it
      if (e.body !== loc) return readBody(e.body);
      throw err;
    }
  }

  /** Keeps at most `maxDeadLetters`: the evicted ones leave memory now, their purge follows. */
  #trimDeadLetters(): void {
    const ids = this.#index.evictDeadLetters(this.#maxDeadLetters);
    if (ids.length === 0) return;
    this.#evictedDeadLetters += ids.length;
    this.#logger?.warn('dead letters over the bound; purged the oldest', {
      dir: this.#dir,
      evicted: ids.length,
      maxDeadLetters: this.#maxDeadLetters,
    });
    // a purge is idempotent, so it may follow the index (a crash before it is durable only
    // brings them back until the next trim)
    const payload: PurgePayload = { ids };
    this.#writer
      .append(encodeJson(RecordType.purge, payload), () => undefined)
      .catch(() => undefined);
  }

  // ---- compaction ----

  #compactionWanted(): boolean {
    if (this.#compaction !== undefined || this.#closed || this.#writer.failure !== undefined) {
      return false;
    }
    if (this.#forceCompaction) return true;
    if (Date.now() < this.#compactionPausedUntil) return false;
    const dead = this.#diskBytes - this.#index.recordBytes;
    // out of disk: worth it when a tenth is dead weight (a log full of live data is just full)
    if (this.#diskPressure && dead >= this.#diskBytes * 0.1) return true;
    return (
      this.#diskBytes >= this.#compactMinBytes && dead >= this.#diskBytes * this.#compactDeadRatio
    );
  }

  /**
   * Runs inside the writer loop, between batches, so the index equals exactly the records in the
   * segments being replaced: rolls to a new log, captures the live state, then lets the copy run
   * while writes go on.
   */
  async #startCompaction(): Promise<void> {
    this.#forceCompaction = false;
    this.#diskPressure = false;
    const waiters = this.#compactionWaiters.splice(0);
    const covered = this.#active.n;
    try {
      const next = await createLog(this.#dir, covered + 1);
      this.#segments.push(next);
      this.#active = next;
    } catch (err) {
      this.#logger?.warn('queue compaction could not start', {
        dir: this.#dir,
        code: (err as NodeJS.ErrnoException).code,
      });
      this.#compactionPausedUntil = Date.now() + 10_000; // do not spin on a failing disk
      for (const resolve of waiters) resolve();
      return;
    }
    const captured = capture(this.#index);
    await this.#onStep?.('rolled');
    this.#compaction = this.#compactInto(covered, captured)
      .catch((err: unknown) => {
        if (this.#closed) return; // stopped by close(); the next open deletes the partial copy
        this.#logger?.warn('queue compaction failed; the old log stays', {
          dir: this.#dir,
          code: (err as NodeJS.ErrnoException).code,
          error: (err as Error).message,
        });
      })
      .finally(() => {
        this.#compaction = undefined;
        for (const resolve of waiters) resolve();
        // a compaction asked for while this one ran
        if (this.#compactionWaiters.length > 0 || this.#forceCompaction) this.#writer.kick();
      });
  }

  async #compactInto(covered: number, captured: ReturnType<typeof capture>): Promise<void> {
    const step = async (name: CompactionStep): Promise<void> => {
      await this.#onStep?.(name);
    };
    const { segment: snapshot, bodyOffsets } = await writeSnapshot(
      this.#dir,
      covered,
      captured,
      () => this.#closed,
      step,
    );
    // switch: bodies of the captured deliveries now come from the snapshot
    const old = this.#segments.filter((s) => s.n <= covered);
    const oldSet = new Set(old);
    captured.forEach((c, i) => {
      const e = c.entry;
      if (!e.removed && oldSet.has(e.body.segment)) {
        e.body = { segment: snapshot, offset: bodyOffsets[i]!, length: e.body.length };
      }
    });
    this.#segments = [snapshot, ...this.#segments.filter((s) => s.n > covered)];
    this.#diskBytes = this.#segments.reduce((sum, s) => sum + s.size, 0);
    await retire(this.#dir, old, step);
    this.#logger?.info('queue compacted', {
      dir: this.#dir,
      deliveries: captured.length,
      bytes: snapshot.size,
    });
  }

  // ---- recovery ----

  #replayRecord(segment: Segment, record: ReadRecord): void {
    switch (record.type) {
      case RecordType.put: {
        const { meta, bodyStart } = decodePut(record.payload);
        const bodyOffset = record.offset + HEADER_BYTES + bodyStart;
        const length = record.payload.length - bodyStart;
        this.#index.put(entryOf(meta, { segment, offset: bodyOffset, length }, record.length));
        break;
      }
      case RecordType.settle: {
        const p = JSON.parse(record.payload.toString('utf8')) as SettlePayload;
        this.#index.settle(p.id, p.a, p.x, record.length);
        break;
      }
      case RecordType.replay: {
        const p = JSON.parse(record.payload.toString('utf8')) as ReplayPayload;
        this.#index.replay(p.ids, p.now);
        break;
      }
      case RecordType.purge: {
        const p = JSON.parse(record.payload.toString('utf8')) as PurgePayload;
        this.#index.purge(p.ids);
        break;
      }
    }
  }
}

// The embedded history backend: append-only segment files of HistoryUpdate JSON lines in the
// pod's emptyDir, the oldest segment deleted past the byte bound or the age bound. In memory only
// an index bounded by maxDeliveries: each delivery's summary (for server-side filtering) and where
// its lines are (for reading one record back). On open the index is rebuilt from the segments.
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { acquireOwnerLock, type OwnerLock } from '../queue/disk/lock.ts';
import {
  advanceSummary,
  foldHistory,
  matchesQuery,
  type DeliveryRecord,
  type DeliverySummary,
  type HistoryPage,
  type HistoryQuery,
  type HistoryUpdate,
} from '../../common/history.ts';
import {
  MAX_PAGE,
  decodeCursor,
  encodeCursor,
  isAfterCursor,
  type HistoryLimits,
  type HistoryStore,
  type HistoryUsage,
} from './store.ts';

/** Smallest segment: fewer, larger files are cheaper to append to and to delete. */
const MIN_SEGMENT_BYTES = 64 * 1024;
/** Segments a byte bound is split into: the bound is kept to within one eighth. */
const SEGMENTS_PER_BOUND = 8;
/** The encoding buffer: a batch of 512 updates of a few KB each fits. */
const SCRATCH_BYTES = 2 * 1024 * 1024;
const SEGMENT_FILE = /^history-(\d{8})\.jsonl$/;

interface Location {
  readonly segment: number;
  readonly offset: number;
  readonly length: number;
}

/**
 * One delivery in the index. The first line's place is kept inline; only a delivery with more
 * lines (retries, async attempts) gets an array of the others: most deliveries take one attempt.
 */
class Entry {
  summary: DeliverySummary;
  readonly firstAt: number;
  readonly segment: number;
  readonly offset: number;
  readonly length: number;
  more: Location[] | undefined;

  constructor(summary: DeliverySummary, firstAt: number, first: Location) {
    this.summary = summary;
    this.firstAt = firstAt;
    this.segment = first.segment;
    this.offset = first.offset;
    this.length = first.length;
    this.more = undefined;
  }

  /** Where every line of the delivery is, oldest first. */
  locations(): Location[] {
    const first = { segment: this.segment, offset: this.offset, length: this.length };
    return this.more === undefined ? [first] : [first, ...this.more];
  }
}

interface Segment {
  readonly number: number;
  bytes: number;
  newestAt: number;
}

/** Options of the disk store. */
export interface DiskHistoryOptions {
  /** A folder of its own (created when missing), e.g. /var/lib/hookgate/history. */
  readonly directory: string;
  /** Read at every append, so a reload's new bounds apply at once. */
  readonly limits: () => HistoryLimits;
}

const segmentName = (n: number): string => `history-${String(n).padStart(8, '0')}.jsonl`;

/** History in segment files on the pod's disk. */
export class DiskHistoryStore implements HistoryStore {
  readonly backend = 'disk' as const;
  readonly #dir: string;
  readonly #limits: () => HistoryLimits;
  /** Insertion order is first-update order: the oldest delivery is the first key. */
  readonly #entries = new Map<string, Entry>();
  readonly #segments: Segment[] = [];
  #file: FileHandle | undefined;
  #chain: Promise<void> = Promise.resolve();
  #lock: OwnerLock | undefined;
  /** Where a batch's lines are encoded before their one write; reused batch after batch. */
  #scratch = Buffer.allocUnsafe(SCRATCH_BYTES);

  private constructor(options: DiskHistoryOptions) {
    this.#dir = options.directory;
    this.#limits = options.limits;
  }

  /**
   * Opens the store in `directory`, indexing the segments already there. One process per folder:
   * a second one is refused (the queue's owner lock), never allowed to interleave its segments.
   */
  static async open(options: DiskHistoryOptions): Promise<DiskHistoryStore> {
    const store = new DiskHistoryStore(options);
    mkdirSync(options.directory, { recursive: true, mode: 0o700 });
    store.#lock = await acquireOwnerLock(options.directory);
    store.#recover();
    return store;
  }

  #recover(): void {
    const numbers = readdirSync(this.#dir)
      .map((f) => SEGMENT_FILE.exec(f)?.[1])
      .filter((n): n is string => n !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
    for (const number of numbers) {
      const segment: Segment = { number, bytes: 0, newestAt: 0 };
      this.#segments.push(segment);
      const data = readFileSync(join(this.#dir, segmentName(number)));
      let offset = 0;
      while (offset < data.length) {
        const end = data.indexOf(0x0a, offset);
        // A line cut short by a crash ends the segment; the next append starts a new one.
        if (end === -1) break;
        try {
          const update = JSON.parse(data.subarray(offset, end).toString('utf8')) as HistoryUpdate;
          this.#index(update, { segment: number, offset, length: end - offset }, segment);
        } catch {
          // an unreadable line is skipped, the rest of the segment still counts
        }
        offset = end + 1;
      }
      segment.bytes = data.length;
    }
  }

  #index(update: HistoryUpdate, location: Location, segment: Segment): void {
    const at = Date.parse(update.at);
    const entry = this.#entries.get(update.deliveryId);
    if (entry === undefined)
      this.#entries.set(
        update.deliveryId,
        new Entry(advanceSummary(undefined, update), at, location),
      );
    else {
      entry.summary = advanceSummary(entry.summary, update);
      (entry.more ??= []).push(location);
    }
    if (at > segment.newestAt) segment.newestAt = at;
  }

  append(updates: readonly HistoryUpdate[], now: number): Promise<void> {
    const run = this.#chain.then(() => this.#append(updates, now));
    this.#chain = run.catch(() => undefined);
    return run;
  }

  async #append(updates: readonly HistoryUpdate[], now: number): Promise<void> {
    const limits = this.#limits();
    // An eighth of the bound, at least 64 KiB unless the bound itself is that small.
    const segmentBytes = Math.floor(
      Math.max(
        Math.min(MIN_SEGMENT_BYTES, limits.maxBytes / 4),
        limits.maxBytes / SEGMENTS_PER_BOUND,
      ),
    );
    // Each line encoded once, straight into one buffer: one write for the batch (per segment).
    let start = 0;
    let end = 0;
    for (const update of updates) {
      let segment = this.#segments.at(-1);
      if (segment === undefined || this.#file === undefined || segment.bytes >= segmentBytes) {
        await this.#flush(start, end);
        start = end = 0;
        segment = await this.#rotate();
      }
      const line = JSON.stringify(update);
      // UTF-8 takes at most three bytes per UTF-16 unit.
      if (end + line.length * 3 + 1 > this.#scratch.length) {
        await this.#flush(start, end);
        start = end = 0;
        if (line.length * 3 + 1 > this.#scratch.length)
          this.#scratch = Buffer.allocUnsafe(line.length * 3 + 1);
      }
      const length = this.#scratch.write(line, end);
      this.#scratch[end + length] = 0x0a;
      end += length + 1;
      this.#index(update, { segment: segment.number, offset: segment.bytes, length }, segment);
      segment.bytes += length + 1;
    }
    await this.#flush(start, end);
    this.#enforce(limits, now);
  }

  /** Writes scratch[start, end): appends are chained, so the buffer is free again after. */
  async #flush(start: number, end: number): Promise<void> {
    if (end > start) await this.#file!.write(this.#scratch, start, end - start);
  }

  async #rotate(): Promise<Segment> {
    await this.#file?.close();
    const number = (this.#segments.at(-1)?.number ?? 0) + 1;
    this.#file = await open(join(this.#dir, segmentName(number)), 'a', 0o600);
    const segment: Segment = { number, bytes: 0, newestAt: 0 };
    this.#segments.push(segment);
    return segment;
  }

  /** Applies the bounds: old segments go whole, then the index is trimmed to the count. */
  #enforce(limits: HistoryLimits, now: number): void {
    const cutoff = now - limits.maxAgeMs;
    let total = this.#segments.reduce((sum, s) => sum + s.bytes, 0);
    while (this.#segments.length > 1) {
      const oldest = this.#segments[0]!;
      if (total <= limits.maxBytes && oldest.newestAt >= cutoff) break;
      total -= oldest.bytes;
      this.#dropSegment(oldest);
    }
    for (const entry of this.#entries.values()) {
      if (this.#entries.size <= limits.maxDeliveries && entry.firstAt >= cutoff) break;
      this.#entries.delete(entry.summary.deliveryId);
    }
  }

  #dropSegment(segment: Segment): void {
    this.#segments.shift();
    // A delivery with a line in a deleted segment goes whole: never a record with a hole in it.
    // Its first line is in the oldest segment (later lines only follow it), and the index is in
    // first-line order: those deliveries are the index's first entries.
    for (const entry of this.#entries.values()) {
      if (entry.segment > segment.number) break;
      this.#entries.delete(entry.summary.deliveryId);
    }
    rmSync(join(this.#dir, segmentName(segment.number)), { force: true });
  }

  // eslint-disable-next-line @typescript-eslint/require-await -- a bad cursor rejects, like Redis's
  async list(query: HistoryQuery): Promise<HistoryPage> {
    const cursor = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
    const limit = Math.min(MAX_PAGE, query.limit);
    const matched: { at: number; id: string; summary: DeliverySummary }[] = [];
    for (const [id, entry] of this.#entries) {
      if (!isAfterCursor(entry.firstAt, id, cursor) || !matchesQuery(entry.summary, query))
        continue;
      matched.push({ at: entry.firstAt, id, summary: entry.summary });
    }
    matched.sort((a, b) => b.at - a.at || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
    const page = matched.slice(0, limit);
    const last = page.at(-1);
    return {
      items: page.map((m) => m.summary),
      ...(matched.length > limit && last !== undefined
        ? { nextCursor: encodeCursor({ at: last.at, key: last.id }) }
        : {}),
    };
  }

  async get(deliveryId: string): Promise<DeliveryRecord | undefined> {
    const entry = this.#entries.get(deliveryId);
    if (entry === undefined) return undefined;
    await this.#chain;
    const updates: HistoryUpdate[] = [];
    try {
      for (const location of entry.locations()) {
        const file = await open(join(this.#dir, segmentName(location.segment)), 'r');
        try {
          const buffer = Buffer.alloc(location.length);
          await file.read(buffer, 0, location.length, location.offset);
          updates.push(JSON.parse(buffer.toString('utf8')) as HistoryUpdate);
        } finally {
          await file.close();
        }
      }
    } catch (err) {
      // Its segment was deleted by the bounds while we read: it is gone.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    return foldHistory(updates);
  }

  usage(): Promise<HistoryUsage> {
    return Promise.resolve({
      deliveries: this.#entries.size,
      bytes: this.#segments.reduce((sum, s) => sum + s.bytes, 0),
    });
  }

  async close(): Promise<void> {
    await this.#chain;
    await this.#file?.close();
    this.#file = undefined;
    await this.#lock?.release();
    this.#lock = undefined;
  }
}

// The embedded history backend: append-only segment files of HistoryUpdate JSON lines (each
// followed by the raw bytes of the bodies it counts) in the pod's emptyDir, the oldest segment
// deleted past the byte bound or the age bound. Writing only appends what the recorder encoded:
// recording is on every delivery's path, reading is rare (the console, the plugin, the admin
// API). So the index (each delivery's summary, for server-side filters, and where its records
// are, for reading one back) is built on the first read and caught up from the segments' new
// bytes on each later one; the count and age bounds apply to it then, and it never holds more
// than maxDeliveries. Opening reads no segment: only their sizes.
import { mkdirSync, readdirSync, rmSync, statSync, writeSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { acquireOwnerLock, type OwnerLock } from '../queue/disk/lock.ts';
import {
  advanceSummary,
  bodyText,
  foldHistory,
  matchesQuery,
  type AttemptRecord,
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
import type { EncodedUpdate } from './update.ts';

/** Smallest segment: fewer, larger files are cheaper to append to and to delete. */
const MIN_SEGMENT_BYTES = 64 * 1024;
/** Segments a byte bound is split into: the bound is kept to within one eighth. */
const SEGMENTS_PER_BOUND = 8;
/** The encoding buffer: a batch of 512 updates of a few KB each fits. */
const SCRATCH_BYTES = 2 * 1024 * 1024;
/**
 * A batch is written in one call on the event loop's own thread: a write into the page cache of
 * the pod's emptyDir takes tens of microseconds, and a write through the thread pool costs more
 * than it does (waking a worker and being woken again: ~2 CPU µs per 2 KB update against ~0.8
 * here, ADR 0022 "Cost"). A write that took longer than this (the disk behind the page cache is
 * not keeping up) sends the writes through the thread pool for POOL_WRITES_MS, so that a slow
 * disk never holds deliveries up.
 */
const SLOW_WRITE_MS = 10;
const POOL_WRITES_MS = 60_000;
/** What a catch-up reads at once; a longer line grows it. */
const READ_CHUNK_BYTES = 1024 * 1024;
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

/** A segment as the writer knows it: what the bounds need, nothing about its lines. */
interface Segment {
  readonly number: number;
  /** Bytes written (whole lines, once their write completed): what a reader may read. */
  bytes: number;
  /** The newest line's time (epoch ms); the age bound deletes by it. */
  newestAt: number;
}

/** Options of the disk store. */
export interface DiskHistoryOptions {
  /** A folder of its own (created when missing), e.g. /var/lib/hookgate/history. */
  readonly directory: string;
  /** Read at every append and every read, so a reload's new bounds apply at once. */
  readonly limits: () => HistoryLimits;
  /** A write slower than this sends writes through the thread pool for a while (default 10 ms). */
  readonly slowWriteMs?: number;
}

const segmentName = (n: number): string => `history-${String(n).padStart(8, '0')}.jsonl`;

/** History in segment files on the pod's disk. */
export class DiskHistoryStore implements HistoryStore {
  readonly backend = 'disk' as const;
  readonly #dir: string;
  readonly #limits: () => HistoryLimits;
  readonly #segments: Segment[] = [];
  /** The segment the file is open on; undefined until the first append (then a new segment). */
  #writing: Segment | undefined;
  #file: FileHandle | undefined;
  #chain: Promise<void> = Promise.resolve();
  #lock: OwnerLock | undefined;
  /** Until when (performance.now()) writes go through the thread pool: the disk was slow. */
  #poolUntil = 0;
  readonly #slowWriteMs: number;
  /** Where a batch's lines are gathered before their one write; reused batch after batch. */
  #scratch = Buffer.allocUnsafe(SCRATCH_BYTES);
  /** The latest append's `now`: the age bound of what a read returns. */
  #now = 0;
  /** The read side, built at the first read. */
  readonly #index = new LazyIndex();
  /** Catch-ups run one after the other; each reads what the one before left. */
  #reading: Promise<void> = Promise.resolve();

  private constructor(options: DiskHistoryOptions) {
    this.#dir = options.directory;
    this.#limits = options.limits;
    this.#slowWriteMs = options.slowWriteMs ?? SLOW_WRITE_MS;
  }

  /**
   * Opens the store in `directory`, taking note of the segments already there (their lines are
   * read at the first read). One process per folder: a second one is refused (the queue's owner
   * lock), never allowed to interleave its segments.
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
      // The last write's time stands for the newest line's (it is never earlier). A line cut
      // short by a crash stays at the end of its segment, which is never appended to again: the
      // first append opens a new one.
      const stat = statSync(join(this.#dir, segmentName(number)));
      this.#segments.push({
        number,
        bytes: stat.size,
        newestAt: stat.mtimeMs,
      });
    }
  }

  append(updates: readonly EncodedUpdate[], now: number): Promise<void> {
    const run = this.#chain.then(() => this.#append(updates, now));
    this.#chain = run.catch(() => undefined);
    return run;
  }

  async #append(updates: readonly EncodedUpdate[], now: number): Promise<void> {
    const limits = this.#limits();
    if (now > this.#now) this.#now = now;
    // An eighth of the bound, at least 64 KiB unless the bound itself is that small.
    const segmentBytes = Math.floor(
      Math.max(
        Math.min(MIN_SEGMENT_BYTES, limits.maxBytes / 4),
        limits.maxBytes / SEGMENTS_PER_BOUND,
      ),
    );
    // Every line into one buffer: one write for the batch (per segment).
    let segment = this.#writing;
    let end = 0;
    for (const update of updates) {
      if (segment === undefined || segment.bytes + end >= segmentBytes) {
        if (segment !== undefined) await this.#flush(segment, end);
        end = 0;
        segment = await this.#rotate();
      }
      // The line, and the raw bodies' bytes it counts after its newline when it has any.
      const record = update.bytes;
      const newline = update.jsonBytes === record.length;
      const size = record.length + (newline ? 1 : 0);
      if (end + size > this.#scratch.length) {
        await this.#flush(segment, end);
        end = 0;
        if (size > this.#scratch.length) this.#scratch = Buffer.allocUnsafe(size);
      }
      this.#scratch.set(record, end);
      end += record.length;
      if (newline) this.#scratch[end++] = 0x0a;
      if (update.at > segment.newestAt) segment.newestAt = update.at;
    }
    if (segment !== undefined) await this.#flush(segment, end);
    this.#enforce(limits, now);
  }

  /**
   * Writes scratch[0, end) to `segment` (appends are chained, so the buffer is free again after);
   * its bytes count for readers once written. A failed write leaves the segment behind: the next
   * append starts a new one, so a line it cut short is never followed by another.
   */
  async #flush(segment: Segment, end: number): Promise<void> {
    if (end === 0) return;
    const file = this.#file!;
    try {
      const started = performance.now();
      if (started < this.#poolUntil) {
        for (let at = 0; at < end;)
          at += (await file.write(this.#scratch, at, end - at)).bytesWritten;
      } else {
        for (let at = 0; at < end;) at += writeSync(file.fd, this.#scratch, at, end - at);
        if (performance.now() - started > this.#slowWriteMs)
          this.#poolUntil = performance.now() + POOL_WRITES_MS;
      }
    } catch (err) {
      await this.#file?.close().catch(() => undefined);
      this.#file = this.#writing = undefined;
      throw err;
    }
    segment.bytes += end;
  }

  async #rotate(): Promise<Segment> {
    await this.#file?.close();
    this.#file = this.#writing = undefined;
    const number = (this.#segments.at(-1)?.number ?? 0) + 1;
    this.#file = await open(join(this.#dir, segmentName(number)), 'a', 0o600);
    const segment: Segment = { number, bytes: 0, newestAt: 0 };
    this.#segments.push(segment);
    this.#writing = segment;
    return segment;
  }

  /** Old segments go whole past the byte or age bound; the index forgets them at its next read. */
  #enforce(limits: HistoryLimits, now: number): void {
    const cutoff = now - limits.maxAgeMs;
    let total = this.#segments.reduce((sum, s) => sum + s.bytes, 0);
    while (this.#segments.length > 1) {
      const oldest = this.#segments[0]!;
      if (total <= limits.maxBytes && oldest.newestAt >= cutoff) break;
      total -= oldest.bytes;
      this.#segments.shift();
      rmSync(join(this.#dir, segmentName(oldest.number)), { force: true });
    }
  }

  /** Brings the index up to every line written so far, then applies the bounds to it. */
  #catchUp(): Promise<LazyIndex> {
    const run = this.#reading.then(() =>
      this.#index.catchUp(this.#dir, this.#segments, this.#writing, this.#bounds()),
    );
    this.#reading = run.catch(() => undefined);
    return run.then(() => this.#index);
  }

  #bounds(): IndexBounds {
    const limits = this.#limits();
    return {
      maxDeliveries: limits.maxDeliveries,
      cutoff: this.#now === 0 ? -Infinity : this.#now - limits.maxAgeMs,
      oldestSegment: () => this.#segments[0]?.number ?? Infinity,
    };
  }

  async list(query: HistoryQuery): Promise<HistoryPage> {
    const cursor = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
    const limit = Math.min(MAX_PAGE, query.limit);
    const index = await this.#catchUp();
    const matched: { at: number; id: string; summary: DeliverySummary }[] = [];
    for (const [id, entry] of index.entries) {
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
    await this.#chain;
    const entry = (await this.#catchUp()).entries.get(deliveryId);
    if (entry === undefined) return undefined;
    const updates: HistoryUpdate[] = [];
    try {
      for (const location of entry.locations()) {
        const file = await open(join(this.#dir, segmentName(location.segment)), 'r');
        try {
          const buffer = Buffer.alloc(location.length);
          await file.read(buffer, 0, location.length, location.offset);
          updates.push(readRecord(buffer));
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

  async usage(): Promise<HistoryUsage> {
    const index = await this.#catchUp();
    return {
      deliveries: index.entries.size,
      bytes: this.#segments.reduce((sum, s) => sum + s.bytes, 0),
    };
  }

  async close(): Promise<void> {
    await this.#chain;
    await this.#reading;
    await this.#file?.close();
    this.#file = this.#writing = undefined;
    await this.#lock?.release();
    this.#lock = undefined;
  }
}

/**
 * A line as the disk store writes it: an update whose kept bodies follow the line as raw bytes
 * (counted here), or (updates built as objects, and lines written before 2026-12-04) hold them.
 */
type DiskLine = HistoryUpdate & {
  requestBodyBytes?: number;
  attempt?: AttemptRecord & { responseBodyBytes?: number };
};

/**
 * The update in data[start, end), or undefined for an unreadable line (skipped, the rest of the
 * segment still counts): not JSON, or body counts that are not byte counts.
 */
function parseLine(data: Buffer, start: number, end: number): DiskLine | undefined {
  let line: DiskLine;
  try {
    line = JSON.parse(data.toString('utf8', start, end)) as DiskLine;
  } catch {
    return undefined;
  }
  const counts = [line.requestBodyBytes, line.attempt?.responseBodyBytes];
  return counts.every((n) => n === undefined || (Number.isSafeInteger(n) && n >= 0))
    ? line
    : undefined;
}

/** The bytes of the raw bodies that follow `line`. */
function rawBytesOf(line: DiskLine): number {
  return (line.requestBodyBytes ?? 0) + (line.attempt?.responseBodyBytes ?? 0);
}

/** One record's bytes (its line, then the raw bodies it counts) as the update it holds. */
function readRecord(bytes: Buffer): HistoryUpdate {
  const newline = bytes.indexOf(0x0a);
  const line = JSON.parse(
    (newline === -1 ? bytes : bytes.subarray(0, newline)).toString('utf8'),
  ) as DiskLine;
  let at = newline + 1;
  const take = (n: number, truncated: boolean | undefined): ReturnType<typeof bodyText> => {
    const shown = bodyText(bytes.subarray(at, at + n), truncated ?? false);
    at += n;
    return shown;
  };
  const { requestBodyBytes, attempt, ...rest } = line;
  const update: Writable<HistoryUpdate> = rest;
  if (requestBodyBytes !== undefined) {
    const body = take(requestBodyBytes, line.requestBodyTruncated);
    update.requestBody = body.text;
    update.requestBodyEncoding = body.encoding;
  }
  if (attempt !== undefined) {
    const { responseBodyBytes, ...record } = attempt;
    const kept: Writable<AttemptRecord> = record;
    if (responseBodyBytes !== undefined) {
      const body = take(responseBodyBytes, attempt.responseBodyTruncated);
      kept.responseBody = body.text;
      kept.responseBodyEncoding = body.encoding;
    }
    update.attempt = kept;
  }
  return update;
}

/** A type's fields made writable. */
type Writable<T> = { -readonly [K in keyof T]: T[K] };

/** What the index keeps, as of a read. */
interface IndexBounds {
  readonly maxDeliveries: number;
  /** Deliveries whose first update is before this (epoch ms) are forgotten. */
  readonly cutoff: number;
  /** The oldest segment still on disk, asked again after every await (the writer deletes). */
  readonly oldestSegment: () => number;
}

/**
 * The read side's index: deliveries in first-line order (the oldest is the first key), and how
 * far each segment has been read. Bounded by maxDeliveries, also while it is being built.
 */
class LazyIndex {
  readonly entries = new Map<string, Entry>();
  /** Segment number → bytes read (always at a line's start). */
  readonly #read = new Map<number, number>();
  #buffer: Buffer | undefined;

  /** Reads every segment's bytes past what was read before, whole lines only. */
  async catchUp(
    dir: string,
    segments: readonly Segment[],
    writing: Segment | undefined,
    bounds: IndexBounds,
  ): Promise<void> {
    // A snapshot: the writer may add and delete segments while this reads.
    for (const segment of [...segments]) {
      const size = segment.bytes;
      let offset = this.#read.get(segment.number) ?? 0;
      if (offset >= size) continue;
      let file: FileHandle;
      try {
        file = await open(join(dir, segmentName(segment.number)), 'r');
      } catch (err) {
        // Deleted by the bounds before we got to it: its deliveries are gone (pruned below).
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw err;
      }
      try {
        offset = await this.#readSegment(file, segment, offset, size, bounds);
      } finally {
        await file.close();
      }
      // Only the segment being written grows; a cut-short line at the end of another (a crash)
      // never completes, so it is not read again.
      this.#read.set(segment.number, segment === writing ? offset : size);
    }
    this.#prune(bounds);
  }

  async #readSegment(
    file: FileHandle,
    segment: Segment,
    from: number,
    size: number,
    bounds: IndexBounds,
  ): Promise<number> {
    let offset = from;
    this.#buffer ??= Buffer.allocUnsafe(READ_CHUNK_BYTES);
    while (offset < size) {
      const want = Math.min(this.#buffer.length, size - offset);
      const { bytesRead } = await file.read(this.#buffer, 0, want, offset);
      if (bytesRead === 0) break;
      const data = this.#buffer;
      let start = 0;
      for (;;) {
        const end = start < bytesRead ? data.indexOf(0x0a, start) : -1;
        if (end === -1 || end >= bytesRead) break;
        const line = parseLine(data, start, end);
        // A record is its line and the raw bodies it counts: read on when they are not all here.
        const recordEnd = end + 1 + (line === undefined ? 0 : rawBytesOf(line));
        if (recordEnd > bytesRead) break;
        if (line !== undefined)
          this.#add(line, {
            segment: segment.number,
            offset: offset + start,
            length: recordEnd - start,
          });
        start = recordEnd;
      }
      if (start === 0) {
        // No whole record in a full buffer: a longer one than it holds, read again with room.
        if (bytesRead < want || offset + bytesRead >= size) break;
        this.#buffer = Buffer.allocUnsafe(this.#buffer.length * 2);
        continue;
      }
      offset += start;
      this.#read.set(segment.number, offset);
      this.#prune(bounds);
    }
    return offset;
  }

  #add(update: HistoryUpdate, location: Location): void {
    const entry = this.entries.get(update.deliveryId);
    // A delivery's first line is its attempt 1 (every line of a disk store comes from this pod).
    // A later line of a delivery the index does not know is what is left of one whose start went
    // with a deleted segment, or past the count or the age: never a record with a hole.
    if (entry === undefined && update.attempt?.attempt !== 1) return;
    if (entry === undefined)
      this.entries.set(
        update.deliveryId,
        new Entry(advanceSummary(undefined, update), Date.parse(update.at), location),
      );
    else {
      entry.summary = advanceSummary(entry.summary, update);
      (entry.more ??= []).push(location);
    }
  }

  /**
   * Forgets, oldest first: deliveries with a line in a deleted segment (whole: never a record
   * with a hole; their first line is in the oldest segment and they are the first entries),
   * then past the age and the count. Also forgets read offsets of deleted segments.
   */
  #prune(bounds: IndexBounds): void {
    const oldest = bounds.oldestSegment();
    for (const number of this.#read.keys()) if (number < oldest) this.#read.delete(number);
    for (const [id, entry] of this.entries) {
      if (
        entry.segment >= oldest &&
        entry.firstAt >= bounds.cutoff &&
        this.entries.size <= bounds.maxDeliveries
      )
        break;
      this.entries.delete(id);
    }
  }
}

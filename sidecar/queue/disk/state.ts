// The in-memory index of the disk queue: what is stored, what is due, what is leased. Pure logic,
// no I/O: the store applies a record here once it is on disk (and on recovery, record by record),
// so memory always equals the committed log plus the leases, which live in memory only.
//
// Scheduling: each endpoint has a heap of its claimable deliveries (all unordered ones that are
// due-able, plus only the head of its ordered FIFO); a top-level heap orders endpoints by their
// earliest due delivery, so claim can skip an endpoint in O(log n). Heaps delete lazily: a node
// whose version no longer matches its entry's is dropped when it surfaces.
import type {
  AttemptRecord,
  DeliveryFilter,
  DeliveryState,
  NewDelivery,
  QueueStats,
  Settlement,
} from '../store.ts';
import { MinHeap } from './heap.ts';
import type { PutMeta } from './record.ts';

/** Where a body lies on disk. `segment` is the log's own handle type. */
export interface BodyLocation<S> {
  readonly segment: S;
  readonly offset: number;
  readonly length: number;
}

/** A stored delivery as the index keeps it (body on disk, maybe cached). */
export interface Entry<S> {
  readonly delivery: Omit<NewDelivery, 'body'>;
  /** Accept order. */
  readonly seq: number;
  state: DeliveryState;
  nextAttemptAt: number;
  attempts: readonly AttemptRecord[];
  replays: number;
  body: BodyLocation<S>;
  cached: Buffer | undefined;
  /** Bytes of body and headers, counted against `maxBytes`. */
  readonly bytes: number;
  /** Approximate bytes of its records on disk, for the compaction trigger. */
  recordBytes: number;
  /** Epoch ms the lease ends; 0 when not leased. */
  leaseUntil: number;
  version: number;
  removed: boolean;
}

interface DueNode<S> {
  readonly entry: Entry<S>;
  readonly version: number;
  readonly at: number;
  readonly seq: number;
}

interface EndpointQueue<S> {
  readonly name: string;
  readonly due: MinHeap<DueNode<S>>;
  /** Ordered deliveries that are pending or retrying, in accept order. */
  readonly fifo: Entry<S>[];
  readonly counts: Record<DeliveryState, number>;
  readyVersion: number;
  /** The due node registered in the top-level heap, if any. */
  readyNode: DueNode<S> | undefined;
}

interface ReadyNode<S> {
  readonly queue: EndpointQueue<S>;
  readonly version: number;
  readonly at: number;
  readonly seq: number;
}

interface LeaseNode<S> {
  readonly entry: Entry<S>;
  readonly version: number;
  readonly until: number;
}

const earlier = (a: { at: number; seq: number }, b: { at: number; seq: number }): boolean =>
  a.at < b.at || (a.at === b.at && a.seq < b.seq);

/** Bytes of headers as counted against `maxBytes`. */
export function headerBytes(headers: Readonly<Record<string, string>>): number {
  let n = 0;
  for (const [k, v] of Object.entries(headers)) n += Buffer.byteLength(k) + Buffer.byteLength(v);
  return n;
}

// Endpoint names, methods and URLs repeat across deliveries; records read back from disk would
// otherwise hold a copy each. Capped, so many distinct URLs (dynamic destinations) cannot grow it.
const interned = new Map<string, string>();
const MAX_INTERNED = 10_000;
function intern(value: string): string {
  const known = interned.get(value);
  if (known !== undefined) return known;
  if (interned.size < MAX_INTERNED) interned.set(value, value);
  return value;
}
const NO_ATTEMPTS: readonly AttemptRecord[] = Object.freeze([]);

/** An index entry for a put record's metadata whose body lies at `body`. */
export function entryOf<S>(meta: PutMeta, body: BodyLocation<S>, recordLength: number): Entry<S> {
  return {
    delivery: {
      deliveryId: meta.id,
      endpointName: intern(meta.ep),
      url: intern(meta.url),
      method: intern(meta.m),
      headers: meta.h,
      acceptedAt: meta.at,
      ordered: meta.o,
    },
    seq: meta.s,
    state: meta.st,
    nextAttemptAt: meta.n,
    attempts: meta.a.length === 0 ? NO_ATTEMPTS : meta.a,
    replays: meta.r,
    body,
    cached: undefined,
    bytes: body.length + headerBytes(meta.h),
    recordBytes: recordLength,
    leaseUntil: 0,
    version: 0,
    removed: false,
  };
}

/** Whether an entry matches a list/replay/purge filter. */
export function matches<S>(
  entry: Entry<S>,
  filter: DeliveryFilter & { readonly deliveryId?: string },
): boolean {
  const d = entry.delivery;
  return (
    (filter.deliveryId === undefined || d.deliveryId === filter.deliveryId) &&
    (filter.endpointName === undefined || d.endpointName === filter.endpointName) &&
    (filter.state === undefined || entry.state === filter.state) &&
    (filter.acceptedFrom === undefined || d.acceptedAt >= filter.acceptedFrom) &&
    (filter.acceptedTo === undefined || d.acceptedAt < filter.acceptedTo)
  );
}

/** The queue's index. */
export class QueueIndex<S> {
  readonly #entries = new Map<string, Entry<S>>();
  readonly #endpoints = new Map<string, EndpointQueue<S>>();
  readonly #ready = new MinHeap<ReadyNode<S>>(earlier);
  readonly #leases = new MinHeap<LeaseNode<S>>((a, b) => a.until < b.until);
  readonly #counts: Record<DeliveryState, number> = { pending: 0, retrying: 0, dead: 0 };
  #bytes = 0;
  #recordBytes = 0;
  /** Dead letters in the order they died (replayed or purged ones are skipped when met). */
  #deadOrder: { readonly entry: Entry<S>; readonly diedAt: number }[] = [];
  #deadHead = 0;
  /** Leases in force (the lease heap also holds ended ones until they surface). */
  #leased = 0;
  #maxSeq = 0;
  // bodies kept in memory after enqueue so an immediate claim does not read the disk
  #cache: Entry<S>[] = [];
  #cacheHead = 0;
  #cachedCount = 0;
  #cacheBytes = 0;
  readonly #cacheLimit: number;

  constructor(cacheLimitBytes: number) {
    this.#cacheLimit = cacheLimitBytes;
  }

  /** Bytes of bodies and headers stored. */
  get bytes(): number {
    return this.#bytes;
  }
  /** Approximate bytes of live records (what a compaction would keep). */
  get recordBytes(): number {
    return this.#recordBytes;
  }
  /** The highest accept sequence seen. */
  get maxSeq(): number {
    return this.#maxSeq;
  }
  /** Pending + retrying deliveries in all. */
  get active(): number {
    return this.#counts.pending + this.#counts.retrying;
  }
  /** Pending + retrying deliveries of one endpoint. */
  activeOf(endpointName: string): number {
    const q = this.#endpoints.get(endpointName);
    return q === undefined ? 0 : q.counts.pending + q.counts.retrying;
  }

  /** One entry. */
  get(deliveryId: string): Entry<S> | undefined {
    return this.#entries.get(deliveryId);
  }

  /** Entries matching a filter, oldest accepted first. */
  matching(filter: DeliveryFilter & { readonly deliveryId?: string }): Entry<S>[] {
    let found: Entry<S>[];
    if (filter.deliveryId !== undefined) {
      const e = this.#entries.get(filter.deliveryId);
      found = e !== undefined && matches(e, filter) ? [e] : [];
    } else {
      found = [];
      for (const e of this.#entries.values()) if (matches(e, filter)) found.push(e);
    }
    return found.sort((a, b) => a.delivery.acceptedAt - b.delivery.acceptedAt || a.seq - b.seq);
  }

  /** Every entry in accept order, for compaction. */
  all(): Entry<S>[] {
    return [...this.#entries.values()].sort((a, b) => a.seq - b.seq);
  }

  /** Adds a delivery (enqueue committed, or a put record replayed). */
  put(entry: Entry<S>, body?: Buffer): void {
    const old = this.#entries.get(entry.delivery.deliveryId);
    if (old !== undefined) this.#remove(old);
    this.#entries.set(entry.delivery.deliveryId, entry);
    if (entry.seq > this.#maxSeq) this.#maxSeq = entry.seq;
    this.#bytes += entry.bytes;
    this.#recordBytes += entry.recordBytes;
    const q = this.#queue(entry.delivery.endpointName);
    this.#count(q, entry.state, 1);
    if (entry.delivery.ordered && entry.state !== 'dead') this.#fifoInsert(q, entry);
    if (entry.state === 'dead') this.#died(entry);
    this.#schedule(entry);
    if (body !== undefined) this.#cacheBody(entry, body);
  }

  /** Records an attempt and its outcome (settle committed). */
  settle(deliveryId: string, attempt: AttemptRecord, next: Settlement, recordBytes: number): void {
    const e = this.#entries.get(deliveryId);
    if (e === undefined) return;
    e.attempts = [...e.attempts, attempt];
    e.recordBytes += recordBytes;
    this.#recordBytes += recordBytes;
    this.#endLease(e);
    const q = this.#queue(e.delivery.endpointName);
    if (next.kind === 'delivered') {
      this.#remove(e);
    } else if (next.kind === 'retry') {
      this.#setState(q, e, 'retrying');
      e.nextAttemptAt = next.at;
      this.#schedule(e);
    } else {
      this.#setState(q, e, 'dead');
      e.nextAttemptAt = attempt.at + attempt.durationMs;
      this.#died(e);
      this.#uncache(e);
      if (e.delivery.ordered) this.#fifoRemove(q, e);
      this.#refresh(q);
    }
  }

  /**
   * Removes the dead letters that died first until at most `max` remain (memory bound, like a
   * dead-letter queue's max-length with drop-head); returns their ids for the purge record.
   */
  evictDeadLetters(max: number): string[] {
    const evicted: string[] = [];
    while (this.#counts.dead > max && this.#deadHead < this.#deadOrder.length) {
      const { entry, diedAt } = this.#deadOrder[this.#deadHead++]!;
      // replayed (and maybe dead again later), or purged, since: not this death
      if (entry.removed || entry.state !== 'dead' || entry.nextAttemptAt !== diedAt) continue;
      evicted.push(entry.delivery.deliveryId);
      this.#remove(entry);
    }
    if (this.#deadHead > 1024 && this.#deadHead * 2 > this.#deadOrder.length) {
      this.#deadOrder = this.#deadOrder.slice(this.#deadHead);
      this.#deadHead = 0;
    }
    return evicted;
  }

  #died(e: Entry<S>): void {
    this.#deadOrder.push({ entry: e, diedAt: e.nextAttemptAt });
  }

  /** Ends a lease without an attempt; the delivery is due at `at` (memory only). */
  defer(deliveryId: string, at: number): void {
    const e = this.#entries.get(deliveryId);
    if (e === undefined || e.state === 'dead') return;
    this.#endLease(e);
    e.nextAttemptAt = at;
    this.#schedule(e);
    this.#refresh(this.#queue(e.delivery.endpointName));
  }

  /** Moves dead deliveries back to pending, due at `now` (replay committed). */
  replay(deliveryIds: readonly string[], now: number): void {
    for (const id of deliveryIds) {
      const e = this.#entries.get(id);
      if (e === undefined || e.state !== 'dead') continue;
      const q = this.#queue(e.delivery.endpointName);
      this.#setState(q, e, 'pending');
      e.nextAttemptAt = now;
      e.replays++;
      e.version++;
      if (e.delivery.ordered) this.#fifoInsert(q, e);
      this.#schedule(e);
    }
  }

  /** Deletes deliveries (purge committed). */
  purge(deliveryIds: readonly string[]): void {
    for (const id of deliveryIds) {
      const e = this.#entries.get(id);
      if (e !== undefined) this.#remove(e);
    }
  }

  /** Leases up to `max` due deliveries, oldest due first, skipping the named endpoints. */
  claim(max: number, now: number, leaseMs: number, skip?: ReadonlySet<string>): Entry<S>[] {
    this.#expireLeases(now);
    const out: Entry<S>[] = [];
    const held: EndpointQueue<S>[] = [];
    while (out.length < max) {
      const node = this.#ready.peek();
      if (node === undefined) break;
      const q = node.queue;
      if (node.version !== q.readyVersion) {
        this.#ready.pop();
        continue;
      }
      if (node.at > now) break;
      this.#ready.pop();
      q.readyNode = undefined;
      if (skip?.has(q.name)) {
        held.push(q);
        continue;
      }
      const top = this.#cleanTop(q);
      if (top !== undefined && top.at <= now) {
        q.due.pop();
        const e = top.entry;
        e.leaseUntil = now + leaseMs;
        e.version++;
        this.#leases.push({ entry: e, version: e.version, until: e.leaseUntil });
        this.#leased++;
        out.push(e);
      }
      this.#refresh(q);
    }
    for (const q of held) this.#refresh(q);
    this.#pruneStale();
    return out;
  }

  /**
   * Settled leases and superseded schedule entries stay in their heaps until they surface, which
   * for a 60s lease or a 10h retry is a long time: rebuild a heap once most of it is stale.
   */
  #pruneStale(): void {
    if (this.#leases.size > 2 * this.#leased + 1024) {
      this.#leases.prune((n) => n.version === n.entry.version && !n.entry.removed);
      this.#leased = this.#leases.size;
    }
    if (this.#ready.size > 2 * this.#endpoints.size + 1024) {
      this.#ready.prune((n) => n.version === n.queue.readyVersion);
    }
  }

  /** Counts for metrics and the admin API. */
  stats(now: number): QueueStats {
    const byEndpoint: Record<string, Record<DeliveryState, number>> = {};
    for (const q of this.#endpoints.values()) {
      if (q.counts.pending + q.counts.retrying + q.counts.dead > 0) {
        byEndpoint[q.name] = { ...q.counts };
      }
    }
    let oldest = Infinity;
    for (const e of this.#entries.values()) {
      if (e.state !== 'dead' && e.delivery.acceptedAt < oldest) oldest = e.delivery.acceptedAt;
    }
    return {
      byState: { ...this.#counts },
      byEndpoint,
      oldestPendingAgeMs: oldest === Infinity ? 0 : Math.max(0, now - oldest),
    };
  }

  /** Bodies cached in memory, in bytes. */
  get cachedBytes(): number {
    return this.#cacheBytes;
  }

  #queue(name: string): EndpointQueue<S> {
    let q = this.#endpoints.get(name);
    if (q === undefined) {
      q = {
        name,
        due: new MinHeap<DueNode<S>>(earlier),
        fifo: [],
        counts: { pending: 0, retrying: 0, dead: 0 },
        readyVersion: 0,
        readyNode: undefined,
      };
      this.#endpoints.set(name, q);
    }
    return q;
  }

  #count(q: EndpointQueue<S>, state: DeliveryState, delta: number): void {
    q.counts[state] += delta;
    this.#counts[state] += delta;
  }

  #setState(q: EndpointQueue<S>, e: Entry<S>, state: DeliveryState): void {
    this.#count(q, e.state, -1);
    e.state = state;
    this.#count(q, state, 1);
  }

  #endLease(e: Entry<S>): void {
    if (e.leaseUntil !== 0) this.#leased--;
    e.leaseUntil = 0;
    e.version++;
  }

  /** Makes an entry claimable if it may be: waiting, not leased, and the head when ordered. */
  #schedule(e: Entry<S>): void {
    if (e.removed || e.state === 'dead' || e.leaseUntil !== 0) return;
    const q = this.#queue(e.delivery.endpointName);
    if (e.delivery.ordered && q.fifo[0] !== e) return;
    q.due.push({ entry: e, version: e.version, at: e.nextAttemptAt, seq: e.seq });
    this.#refresh(q);
  }

  #cleanTop(q: EndpointQueue<S>): DueNode<S> | undefined {
    for (;;) {
      const top = q.due.peek();
      if (top === undefined || top.version === top.entry.version) return top;
      q.due.pop();
    }
  }

  /** Keeps the endpoint's node in the top-level heap in step with its earliest due delivery. */
  #refresh(q: EndpointQueue<S>): void {
    if (q.due.size > 2 * (q.counts.pending + q.counts.retrying) + 64) {
      q.due.prune((n) => n.version === n.entry.version);
    }
    const top = this.#cleanTop(q);
    if (top === q.readyNode) return;
    q.readyVersion++;
    q.readyNode = top;
    if (top !== undefined) {
      this.#ready.push({ queue: q, version: q.readyVersion, at: top.at, seq: top.seq });
    }
  }

  #expireLeases(now: number): void {
    for (;;) {
      const top = this.#leases.peek();
      if (top === undefined || top.until > now) return;
      this.#leases.pop();
      const e = top.entry;
      if (top.version !== e.version || e.removed) continue;
      this.#endLease(e);
      this.#schedule(e);
    }
  }

  #fifoInsert(q: EndpointQueue<S>, e: Entry<S>): void {
    const fifo = q.fifo;
    if (fifo.length === 0 || fifo[fifo.length - 1]!.seq < e.seq) {
      fifo.push(e);
      return;
    }
    let lo = 0;
    let hi = fifo.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (fifo[mid]!.seq < e.seq) lo = mid + 1;
      else hi = mid;
    }
    const oldHead = fifo[0];
    fifo.splice(lo, 0, e);
    // a new head displaces the old one from the due heap (unless it is in flight)
    if (lo === 0 && oldHead !== undefined && oldHead.leaseUntil === 0) {
      oldHead.version++;
      this.#refresh(q);
    }
  }

  #fifoRemove(q: EndpointQueue<S>, e: Entry<S>): void {
    const i = q.fifo.indexOf(e);
    if (i === -1) return;
    q.fifo.splice(i, 1);
    if (i === 0 && q.fifo[0] !== undefined) this.#schedule(q.fifo[0]);
  }

  #remove(e: Entry<S>): void {
    const q = this.#queue(e.delivery.endpointName);
    if (e.leaseUntil !== 0) this.#leased--;
    e.removed = true;
    e.version++;
    this.#entries.delete(e.delivery.deliveryId);
    this.#count(q, e.state, -1);
    this.#bytes -= e.bytes;
    this.#recordBytes -= e.recordBytes;
    this.#uncache(e);
    if (e.delivery.ordered) this.#fifoRemove(q, e);
    this.#refresh(q);
  }

  #cacheBody(e: Entry<S>, body: Buffer): void {
    if (body.length > this.#cacheLimit) return;
    e.cached = body;
    this.#cacheBytes += body.length;
    this.#cachedCount++;
    this.#cache.push(e);
    while (this.#cacheBytes > this.#cacheLimit && this.#cacheHead < this.#cache.length) {
      this.#uncache(this.#cache[this.#cacheHead++]!);
    }
    // entries delivered meanwhile leave holes: rebuild when holes outnumber cached bodies
    if (this.#cache.length - this.#cacheHead > 2 * this.#cachedCount + 1024) {
      this.#cache = this.#cache.slice(this.#cacheHead).filter((c) => c.cached !== undefined);
      this.#cacheHead = 0;
    }
  }

  #uncache(e: Entry<S>): void {
    if (e.cached === undefined) return;
    this.#cacheBytes -= e.cached.length;
    this.#cachedCount--;
    e.cached = undefined;
  }
}

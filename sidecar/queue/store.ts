// The durable delivery queue's storage contract. Two backends implement it: Redis (shared by the
// replicas of one app) and an append-only log on the pod's own disk (the embedded default). The
// worker that delivers in the background, the egress server's 202 path and the admin API talk
// only to this interface, so both backends behave alike and one contract test suite judges both.
//
// Semantics every backend keeps:
// - `enqueue` resolves only once the delivery is durable (Redis: written with persistence on;
//   disk: fsync'd, group commit allowed). Past a bound it rejects with QueueFullError and stores
//   nothing.
// - `claim` leases due deliveries to one consumer for `leaseMs`; a lease that is not settled in
//   time (the consumer died) makes the delivery claimable again: at-least-once.
// - Ordered endpoints (`ordered: true`) hand out only their head: the oldest accepted delivery that
//   is neither delivered nor dead, and only when it is due and not leased. A failing head blocks
//   that endpoint only.
// - Delivered deliveries leave the queue (counted, not kept); dead ones stay until purged or
//   replayed, with their attempt history.
import { SidecarError } from '../errors.ts';

/** Where a delivery is in its life. */
export type DeliveryState = 'pending' | 'retrying' | 'dead';

/** One attempt's outcome, kept with the delivery for the dead-letter history. */
export interface AttemptRecord {
  /** Epoch ms the attempt started. */
  readonly at: number;
  /** Receiver's HTTP status, when one answered. */
  readonly status?: number;
  /** Transport or gateway error code (`timeout`, `connect-refused`, `circuit-open`…), when no status. */
  readonly error?: string;
  readonly durationMs: number;
}

/** What the egress server hands to the queue at accept time. */
export interface NewDelivery {
  /** Stable for the delivery's whole life, replays included; sent as `webhook-id`. */
  readonly deliveryId: string;
  readonly endpointName: string;
  /** Absolute target URL (endpoint URL plus extra path, or the dynamic destination). */
  readonly url: string;
  readonly method: string;
  /** End-to-end headers for the receiver; signature headers are added at each attempt. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
  /** Epoch ms the sidecar accepted it (answered 202). */
  readonly acceptedAt: number;
  /** Deliver in accept order with the endpoint's other ordered deliveries. */
  readonly ordered: boolean;
}

/** A stored delivery. */
export interface QueuedDelivery extends NewDelivery {
  readonly state: DeliveryState;
  /** Epoch ms the next attempt is due (pending/retrying); for dead ones, when it died. */
  readonly nextAttemptAt: number;
  readonly attempts: readonly AttemptRecord[];
  /** Times this delivery was replayed from the dead letters. */
  readonly replays: number;
  /**
   * Optional: epoch ms of the last replay. Attempts before it do not count against the schedule,
   * so a replayed delivery gets the whole schedule again (without it: one more attempt).
   */
  readonly lastReplayedAt?: number;
}

/** How one attempt ended, as the worker decided it. */
export type Settlement =
  | { readonly kind: 'delivered' }
  | { readonly kind: 'retry'; readonly at: number }
  | { readonly kind: 'dead' };

/** One settlement of a batch: what `settle` takes, as one value. */
export interface SettleRequest {
  readonly deliveryId: string;
  readonly attempt: AttemptRecord;
  readonly next: Settlement;
}

/** Filter for listing and purging. */
export interface DeliveryFilter {
  readonly endpointName?: string;
  readonly state?: DeliveryState;
  /** Only deliveries accepted at or after this epoch ms. */
  readonly acceptedFrom?: number;
  /** Only deliveries accepted before this epoch ms. */
  readonly acceptedTo?: number;
}

/** Queue depth and age, for metrics and the admin API. */
export interface QueueStats {
  readonly byState: Readonly<Record<DeliveryState, number>>;
  readonly byEndpoint: Readonly<Record<string, Readonly<Record<DeliveryState, number>>>>;
  /** Age in ms of the oldest pending or retrying delivery at `now`; 0 when none. */
  readonly oldestPendingAgeMs: number;
}

/** Bounds past which `enqueue` refuses (backpressure). */
export interface QueueLimits {
  /** Pending + retrying deliveries per endpoint. */
  readonly maxPerEndpoint: number;
  /** Pending + retrying deliveries in all. */
  readonly maxTotal: number;
  /** Stored bytes of bodies and headers in all (disk backend: also bounds the log on disk). */
  readonly maxBytes: number;
}

/** The storage behind the durable queue. */
export interface QueueStore {
  /** Stores a new delivery durably; rejects with QueueFullError past a bound, storing nothing. */
  enqueue(delivery: NewDelivery): Promise<void>;
  /**
   * Stores several deliveries in one step (Redis: one script, one round trip), each judged against
   * the bounds in order as if enqueued one after the other. Resolves per delivery, in order: `undefined`
   * once it is durable, or the QueueFullError that refused it (nothing of it stored). Rejects
   * only when the store failed, and then none of them may be taken as durable.
   */
  enqueueMany(deliveries: readonly NewDelivery[]): Promise<(QueueFullError | undefined)[]>;
  /**
   * Leases up to `max` due deliveries at `now` to this consumer for `leaseMs`. `skipEndpoints`
   * (optional to honour) names endpoints the worker cannot start now (at their concurrency bound):
   * a backend that honours it hands their share to other endpoints, so one slow receiver cannot
   * fill the worker with deliveries it can only hold.
   */
  claim(
    max: number,
    now: number,
    leaseMs: number,
    skipEndpoints?: ReadonlySet<string>,
  ): Promise<QueuedDelivery[]>;
  /** Records an attempt of a leased delivery and what follows it; ends the lease. */
  settle(deliveryId: string, attempt: AttemptRecord, next: Settlement): Promise<void>;
  /** `settle` for several leased deliveries in one step (Redis: one script, one round trip). */
  settleMany(settlements: readonly SettleRequest[]): Promise<void>;
  /**
   * Optional. Ends the lease of a delivery WITHOUT recording an attempt and makes it due at `at`:
   * for local refusals (rate limited, circuit open) and for deliveries handed back on shutdown,
   * which must not burn the retry schedule or fill the attempt history. A backend without it gets
   * `settle` with a `retry` and an attempt whose `error` is the local reason (the worker does not
   * count those against the schedule).
   */
  defer?(deliveryId: string, at: number): Promise<void>;
  /** One stored delivery, or undefined. */
  get(deliveryId: string): Promise<QueuedDelivery | undefined>;
  /** Stored deliveries matching the filter, oldest accepted first, at most `limit`. */
  list(filter: DeliveryFilter, limit: number): Promise<QueuedDelivery[]>;
  /** Moves dead deliveries matching the filter back to pending, due at `now`; returns how many. */
  replay(filter: DeliveryFilter & { readonly deliveryId?: string }, now: number): Promise<number>;
  /** Deletes deliveries matching the filter; returns how many. */
  purge(filter: DeliveryFilter & { readonly deliveryId?: string }): Promise<number>;
  stats(now: number): Promise<QueueStats>;
  close(): Promise<void>;
}

/** `enqueue` past a bound: the egress server answers 503 with Retry-After. */
export class QueueFullError extends SidecarError<'ERR_QUEUE_FULL'> {
  /** Which bound: `endpoint`, `total` or `bytes`. */
  readonly bound: 'endpoint' | 'total' | 'bytes';
  readonly retryAfterMs: number;

  constructor(bound: 'endpoint' | 'total' | 'bytes', retryAfterMs: number) {
    super('ERR_QUEUE_FULL', 503, `the delivery queue is full (${bound} bound); retry later`);
    this.name = 'QueueFullError';
    this.bound = bound;
    this.retryAfterMs = retryAfterMs;
  }
}

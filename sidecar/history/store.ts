// The history store's interface: the recorder appends updates (common/history.ts), the admin API
// and the console list and read folded records. Two backends, one contract (contract.ts): Redis
// when the sidecar has it (readers may read it directly), else capped segment files on the pod's
// emptyDir. Both are bounded by count, bytes and age; neither holds history unbounded in memory.
import type { DeliveryRecord, HistoryPage, HistoryQuery } from '../../common/history.ts';
import type { EncodedUpdate } from './update.ts';

/** How much history a store keeps; the oldest deliveries go first past any bound. */
export interface HistoryLimits {
  readonly maxDeliveries: number;
  readonly maxAgeMs: number;
  readonly maxBytes: number;
}

/** What a store holds now. */
export interface HistoryUsage {
  readonly deliveries: number;
  readonly bytes: number;
}

/** Largest page a list returns. */
export const MAX_PAGE = 1000;

/** Records a list reads past its filters before it answers with a cursor to go on from. */
export const SCAN_BUDGET = 5000;

/** A delivery-history backend. */
export interface HistoryStore {
  readonly backend: 'redis' | 'disk';
  /** Appends updates (as the recorder encoded them) in order, then applies the bounds as of `now` (epoch ms). */
  append(updates: readonly EncodedUpdate[], now: number): Promise<void>;
  /** Deliveries matching `query`, newest first (by first update), paged by an opaque cursor. */
  list(query: HistoryQuery): Promise<HistoryPage>;
  /** One delivery folded from its updates, or undefined. */
  get(deliveryId: string): Promise<DeliveryRecord | undefined>;
  usage(): Promise<HistoryUsage>;
  close(): Promise<void>;
}

/** A cursor's content: the last item's first-update time and its key in the store's order. */
export interface CursorPosition {
  readonly at: number;
  readonly key: string;
}

/** Opaque cursor text of a position. */
export function encodeCursor(p: CursorPosition): string {
  return Buffer.from(JSON.stringify([p.at, p.key])).toString('base64url');
}

/** The position of a cursor, or a RangeError naming the fix. */
export function decodeCursor(cursor: string): CursorPosition {
  try {
    const [at, key] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown[];
    if (typeof at === 'number' && typeof key === 'string') return { at, key };
  } catch {
    // reported below
  }
  throw new RangeError('cursor is not one this API gave out: pass nextCursor back unchanged');
}

/** Whether (at, key) comes after `cursor` in newest-first order (ties: key descending). */
export function isAfterCursor(
  at: number,
  key: string,
  cursor: CursorPosition | undefined,
): boolean {
  if (cursor === undefined) return true;
  return at < cursor.at || (at === cursor.at && key < cursor.key);
}

// The live tail's one source: poll the deliveries a filter selects and yield each one whose
// attempts or outcome changed since the last poll. The page's server-sent events and the JSON
// API's NDJSON watch (`kubectl hookgate deliveries -w`) are two framings of this one loop.
import type { ConsoleUser } from './auth.ts';
import type { ConsoleData, DeliveryFilter } from './data.ts';
import type { ListedDelivery } from './sidecars.ts';

/** How often the sidecars are asked again. */
export const WATCH_POLL_MS = 2_000;
/** Deliveries read per poll. */
const POLL_LIMIT = 100;
/** The first poll shows only the newest few; later polls show every change. */
const FIRST_POLL_SHOWN = 20;

/** One thing a watch reports. */
export type WatchChange =
  | { readonly type: 'delivery'; readonly delivery: ListedDelivery }
  | { readonly type: 'problem'; readonly detail: string };

/** Changes of the deliveries `filter` selects (cursor ignored), until `signal` aborts. */
export async function* deliveryChanges(
  data: ConsoleData,
  user: ConsoleUser,
  filter: DeliveryFilter,
  signal: AbortSignal,
  pollMs: number = WATCH_POLL_MS,
): AsyncGenerator<WatchChange> {
  const seen = new Map<string, string>();
  let first = true;
  while (!signal.aborted) {
    try {
      const page = await data.deliveries(user, { ...filter, cursor: undefined, limit: POLL_LIMIT });
      // Oldest first, so a reader appends in the order things happened.
      for (const [i, d] of page.items.map((x, n) => [n, x] as const).reverse()) {
        const key = `${d.namespace}/${d.deliveryId}`;
        const state = `${d.attempts}/${d.outcome}/${d.lastAttemptAt}`;
        if (seen.get(key) === state) continue;
        seen.set(key, state);
        if (!first || i < FIRST_POLL_SHOWN) yield { type: 'delivery', delivery: d };
      }
      first = false;
    } catch (err) {
      yield { type: 'problem', detail: (err as Error).message };
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, pollMs);
      timer.unref();
      signal.addEventListener('abort', done, { once: true });
      function done(): void {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      }
    });
  }
}

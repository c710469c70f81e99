// The HistoryStore contract as a test suite: `describeHistoryStore` judges any backend (segment
// files on disk, Redis) against what store.ts promises, so the backends cannot drift apart. Time
// is in the data (`at`) and in `append`'s `now`, never slept on.
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { HistoryUpdate, Outcome } from '../../common/history.ts';
import type { HistoryLimits, HistoryStore } from './store.ts';
import { encodeUpdate } from './update.ts';

/** A fresh, empty store with these bounds, and a way to open it again on the same data. */
export interface OpenedHistoryStore {
  readonly store: HistoryStore;
  readonly reopen: () => Promise<HistoryStore>;
}

/** Opens a fresh store; the suite closes what it opened after each test. */
export type HistoryStoreFactory = (limits: HistoryLimits) => Promise<OpenedHistoryStore>;

/** An epoch ms far from 0, so that `0` and `undefined` mistakes show. */
export const T0 = 1_767_225_600_000;

/** Bounds no test that is not about bounds reaches. */
export const roomyHistoryLimits: HistoryLimits = {
  maxDeliveries: 100_000,
  maxAgeMs: 30 * 24 * 3600_000,
  maxBytes: 256 * 1024 * 1024,
};

/** Appends updates built as objects, encoded as the recorder encodes a death. */
export function put(
  store: HistoryStore,
  updates: readonly HistoryUpdate[],
  now: number,
): Promise<void> {
  return store.append(updates.map(encodeUpdate), now);
}

/** Builds updates with ids unique across runs (a shared Redis keeps old keys). */
export function updateMaker(): (
  n: number,
  overrides?: Partial<HistoryUpdate> & { attemptNo?: number; status?: number },
) => HistoryUpdate {
  const run = randomBytes(4).toString('hex');
  return (n, overrides = {}) => {
    const { attemptNo = 1, status = 200, ...rest } = overrides;
    const at = new Date(T0 + n * 1000 + attemptNo).toISOString();
    return {
      deliveryId: `msg_${run}_${n}`,
      namespace: 'shop',
      endpoint: 'orders',
      direction: 'egress',
      eventType: 'order.created',
      mode: 'sync',
      outcome: status < 300 ? 'delivered' : 'failed',
      pod: 'shop-7d9f',
      at,
      url: 'https://receiver.example/hooks',
      method: 'POST',
      requestHeaders: { 'content-type': 'application/json', 'webhook-signature': '[redacted]' },
      requestBody: `{"n":${n}}`,
      attempt: { attempt: attemptNo, at, latencyMs: 12, status, responseBody: 'ok' },
      ...rest,
    };
  };
}

/** Registers the contract tests for one backend. */
export function describeHistoryStore(name: string, factory: HistoryStoreFactory): void {
  describe(`HistoryStore contract: ${name}`, () => {
    const open: HistoryStore[] = [];
    const fresh = async (
      limits: HistoryLimits = roomyHistoryLimits,
    ): Promise<OpenedHistoryStore> => {
      const opened = await factory(limits);
      open.push(opened.store);
      return {
        store: opened.store,
        reopen: async () => {
          const again = await opened.reopen();
          open.push(again);
          return again;
        },
      };
    };
    afterEach(async () => {
      await Promise.all(open.splice(0).map((s) => s.close()));
    });
    const ids = (items: readonly { deliveryId: string }[]): string[] =>
      items.map((i) => i.deliveryId);

    it('folds a delivery from its updates: request from the first, attempts in order, outcome from the last', async () => {
      const { store } = await fresh();
      const u = updateMaker();
      await put(
        store,
        [
          u(1, { attemptNo: 1, status: 503, outcome: 'retrying', mode: 'async' }),
          u(1, { attemptNo: 2, status: 500, outcome: 'retrying', mode: 'async' }),
        ],
        T0,
      );
      await put(
        store,
        [u(1, { attemptNo: 3, status: 200, outcome: 'delivered', mode: 'async' })],
        T0,
      );
      const record = await store.get(u(1).deliveryId);
      expect(record).toMatchObject({
        deliveryId: u(1).deliveryId,
        endpoint: 'orders',
        outcome: 'delivered',
        mode: 'async',
        attempts: 3,
        lastStatus: 200,
        requestBody: '{"n":1}',
        requestHeaders: { 'webhook-signature': '[redacted]' },
      });
      expect(record!.attemptLog.map((a) => a.status)).toEqual([503, 500, 200]);
      expect(record!.firstAttemptAt).toBe(u(1, { attemptNo: 1 }).at);
      expect(await store.get('msg_never_recorded')).toBeUndefined();
    });

    it('an update without an attempt changes the outcome only (an async delivery turned dead)', async () => {
      const { store } = await fresh();
      const u = updateMaker();
      const failed = u(1, { status: 500, outcome: 'retrying', mode: 'async' });
      const dead: HistoryUpdate = { ...failed, outcome: 'dead', problem: 'dead-lettered' };
      delete (dead as { attempt?: unknown }).attempt;
      await put(store, [failed, dead], T0);
      const record = await store.get(failed.deliveryId);
      expect(record).toMatchObject({
        outcome: 'dead',
        problem: 'dead-lettered',
        attempts: 1,
        lastStatus: 500,
      });
      const page = await store.list({ limit: 10 });
      expect(ids(page.items)).toEqual([failed.deliveryId]);
    });

    it('lists newest first, each delivery once, without requests or attempts', async () => {
      const { store } = await fresh();
      const u = updateMaker();
      await put(store, [u(1), u(2, { status: 500 }), u(2, { attemptNo: 2 }), u(3)], T0);
      const page = await store.list({ limit: 10 });
      expect(ids(page.items)).toEqual([u(3).deliveryId, u(2).deliveryId, u(1).deliveryId]);
      expect(page.items[1]).toMatchObject({ attempts: 2, outcome: 'delivered' });
      expect(page.items[0]).not.toHaveProperty('requestHeaders');
      expect(page.items[0]).not.toHaveProperty('attemptLog');
      expect(page.nextCursor).toBeUndefined();
    });

    // Each row: a filter, and which of the five deliveries below it keeps.
    it.each([
      ['endpoint', { endpoint: 'invoices' }, [4]],
      ['eventType', { eventType: 'order.paid' }, [3]],
      ['outcome', { outcome: 'failed' as Outcome }, [5, 2]],
      ['direction', { direction: 'ingress' as const }, [5]],
      ['from (inclusive)', { from: T0 + 3000 }, [5, 4, 3]],
      ['to (exclusive)', { to: T0 + 3000 }, [2, 1]],
      ['endpoint and outcome together', { endpoint: 'orders', outcome: 'failed' as Outcome }, [2]],
    ])('filters by %s on the server', async (_name, filter, kept) => {
      const { store } = await fresh();
      const u = updateMaker();
      await put(
        store,
        [
          u(1),
          u(2, { status: 500 }),
          u(3, { eventType: 'order.paid' }),
          u(4, { endpoint: 'invoices' }),
          u(5, { direction: 'ingress', endpoint: 'github', status: 502 }),
        ],
        T0,
      );
      const page = await store.list({ limit: 10, ...filter });
      expect(ids(page.items)).toEqual(kept.map((n) => u(n).deliveryId));
    });

    it('pages by cursor: every delivery exactly once, also when several share a millisecond', async () => {
      const { store } = await fresh();
      const u = updateMaker();
      const same = new Date(T0 + 50_000).toISOString();
      const updates = Array.from({ length: 23 }, (_, i) =>
        i % 3 === 0 ? u(i + 1, { at: same }) : u(i + 1),
      );
      await put(store, updates, T0);
      const seen: string[] = [];
      let cursor: string | undefined;
      for (let pages = 0; pages < 20; pages++) {
        const page = await store.list({ limit: 5, ...(cursor !== undefined ? { cursor } : {}) });
        seen.push(...ids(page.items));
        cursor = page.nextCursor;
        if (cursor === undefined) break;
      }
      expect(seen).toHaveLength(23);
      expect(new Set(seen).size).toBe(23);
      await expect(store.list({ limit: 5, cursor: 'not-a-cursor' })).rejects.toThrow(RangeError);
    });

    it('keeps at most maxDeliveries, the newest', async () => {
      const { store } = await fresh({ ...roomyHistoryLimits, maxDeliveries: 5 });
      const u = updateMaker();
      for (let n = 1; n <= 12; n++) await put(store, [u(n)], T0 + 20_000);
      const page = await store.list({ limit: 100 });
      expect(ids(page.items)).toEqual([12, 11, 10, 9, 8].map((n) => u(n).deliveryId));
      expect((await store.usage()).deliveries).toBe(5);
      expect(await store.get(u(1).deliveryId)).toBeUndefined();
    });

    it('forgets deliveries older than maxAge at the next append', async () => {
      const { store } = await fresh({ ...roomyHistoryLimits, maxAgeMs: 60_000 });
      const u = updateMaker();
      await put(store, [u(1), u(2)], T0 + 2000);
      expect((await store.list({ limit: 10 })).items).toHaveLength(2);
      // An hour later the two are past their age; the new one stays.
      await put(store, [u(3600)], T0 + 3600_000);
      const page = await store.list({ limit: 10 });
      expect(ids(page.items)).toEqual([u(3600).deliveryId]);
      expect(await store.get(u(1).deliveryId)).toBeUndefined();
    });

    it('stays within maxBytes, dropping the oldest', async () => {
      const maxBytes = 64 * 1024;
      const { store } = await fresh({ ...roomyHistoryLimits, maxBytes });
      const u = updateMaker();
      const body = 'x'.repeat(1000);
      for (let n = 1; n <= 300; n++) await put(store, [u(n, { requestBody: body })], T0 + 400_000);
      const usage = await store.usage();
      expect(usage.bytes).toBeLessThanOrEqual(maxBytes);
      expect(usage.deliveries).toBeGreaterThan(10);
      expect(usage.deliveries).toBeLessThan(300);
      const newest = await store.list({ limit: 1 });
      expect(ids(newest.items)).toEqual([u(300).deliveryId]);
      expect(await store.get(u(1).deliveryId)).toBeUndefined();
    });

    it('keeps the history across a restart', async () => {
      const { store, reopen } = await fresh();
      const u = updateMaker();
      await put(store, [u(1, { status: 500 }), u(1, { attemptNo: 2 }), u(2)], T0);
      await store.close();
      const again = await reopen();
      expect(ids((await again.list({ limit: 10 })).items)).toEqual([
        u(2).deliveryId,
        u(1).deliveryId,
      ]);
      expect((await again.get(u(1).deliveryId))?.attemptLog.map((a) => a.status)).toEqual([
        500, 200,
      ]);
    });
  });
}

// The QueueStore contract as a test suite: `describeQueueStore` judges any backend (the disk log,
// Redis) against the semantics store.ts promises, so the backends cannot drift apart. Time is
// passed in (`now` to claim, replay and stats; `acceptedAt` and retry times in the data), never
// slept on, so the suite runs the same against a backend with or without its own clock.
import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import {
  QueueFullError,
  type AttemptRecord,
  type NewDelivery,
  type QueueLimits,
  type QueueStore,
} from './store.ts';

/**
 * The optional parts of the contract (claim's `skipEndpoints`, `defer`), typed here so the suite
 * also compiles against a store.ts that predates them.
 */
type WithOptionals = QueueStore & {
  claim(
    max: number,
    now: number,
    leaseMs: number,
    skipEndpoints?: ReadonlySet<string>,
  ): ReturnType<QueueStore['claim']>;
  defer?(deliveryId: string, at: number): Promise<void>;
};

/** Opens a fresh, empty store with these bounds; the suite closes it after each test. */
export type QueueStoreFactory = (limits: QueueLimits) => Promise<QueueStore>;

/** What a backend declares about the optional parts of the contract. */
export interface QueueStoreSuiteOptions {
  /** The backend honours `claim`'s `skipEndpoints` (optional in the contract). */
  readonly honoursSkipEndpoints?: boolean;
}

/** Roomy bounds for the tests that are not about bounds. */
export const roomyLimits: QueueLimits = {
  maxPerEndpoint: 10_000,
  maxTotal: 10_000,
  maxBytes: 64 * 1024 * 1024,
};

/** An epoch ms far from 0 so that `0` and `undefined` mistakes show. */
export const T0 = 1_767_225_600_000;

/** Builds deliveries with ids unique across suite runs (a shared Redis keeps old keys). */
export function deliveryMaker(): (overrides?: Partial<NewDelivery>) => NewDelivery {
  const run = randomBytes(4).toString('hex');
  let n = 0;
  return (overrides = {}) => {
    n++;
    return {
      deliveryId: `msg_${run}_${n}`,
      endpointName: 'orders',
      url: `https://receiver.example/hooks/${n}`,
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-n': String(n) },
      body: Buffer.from(JSON.stringify({ n })),
      acceptedAt: T0 + n,
      ordered: false,
      ...overrides,
    };
  };
}

const failed = (at: number, status = 500): AttemptRecord => ({ at, status, durationMs: 12 });

/** Registers the contract tests for one backend. */
export function describeQueueStore(
  name: string,
  factory: QueueStoreFactory,
  options: QueueStoreSuiteOptions = {},
): void {
  describe(`QueueStore contract: ${name}`, () => {
    const open: QueueStore[] = [];
    const fresh = async (limits: QueueLimits = roomyLimits): Promise<WithOptionals> => {
      const store = (await factory(limits)) as WithOptionals;
      open.push(store);
      return store;
    };
    afterEach(async () => {
      for (const store of open.splice(0)) await store.close();
    });

    const ids = (list: readonly { deliveryId: string }[]): string[] =>
      list.map((d) => d.deliveryId);

    describe('enqueue, claim, settle', () => {
      it('stores a delivery whole and hands it out once it is due', async () => {
        const store = await fresh();
        const make = deliveryMaker();
        const d = make({ body: Buffer.from([0, 1, 2, 255]), headers: { 'x-a': 'é' } });
        await store.enqueue(d);

        const got = await store.get(d.deliveryId);
        expect(got).toMatchObject({
          deliveryId: d.deliveryId,
          endpointName: d.endpointName,
          url: d.url,
          method: d.method,
          headers: d.headers,
          acceptedAt: d.acceptedAt,
          ordered: false,
          state: 'pending',
          attempts: [],
          replays: 0,
        });
        expect(Buffer.compare(got!.body, d.body)).toBe(0);

        const claimed = await store.claim(10, d.acceptedAt, 30_000);
        expect(ids(claimed)).toEqual([d.deliveryId]);
        expect(Buffer.compare(claimed[0]!.body, d.body)).toBe(0);
        expect(claimed[0]!.headers).toEqual(d.headers);
      });

      it('returns undefined for a delivery it never stored', async () => {
        const store = await fresh();
        expect(await store.get('msg_never')).toBeUndefined();
      });

      it('hands out at most `max` deliveries and each one to one consumer only', async () => {
        const store = await fresh();
        const make = deliveryMaker();
        const all = Array.from({ length: 5 }, () => make());
        for (const d of all) await store.enqueue(d);

        const first = await store.claim(3, T0 + 100, 30_000);
        const second = await store.claim(10, T0 + 100, 30_000);
        expect(first).toHaveLength(3);
        expect(second).toHaveLength(2);
        expect(new Set([...ids(first), ...ids(second)])).toEqual(new Set(ids(all)));
        expect(await store.claim(10, T0 + 100, 30_000)).toEqual([]);
      });

      it('keeps every one of many concurrent enqueues', async () => {
        const store = await fresh();
        const make = deliveryMaker();
        const all = Array.from({ length: 200 }, () => make());
        await Promise.all(all.map((d) => store.enqueue(d)));
        const listed = await store.list({}, 1000);
        expect(new Set(ids(listed))).toEqual(new Set(ids(all)));
      });

      it('makes a delivery whose lease ran out claimable again (the consumer died)', async () => {
        const store = await fresh();
        const d = deliveryMaker()();
        await store.enqueue(d);

        expect(ids(await store.claim(1, T0 + 10, 1000))).toEqual([d.deliveryId]);
        // still leased a millisecond before the lease ends
        expect(await store.claim(1, T0 + 1009, 1000)).toEqual([]);
        expect(ids(await store.claim(1, T0 + 1010, 1000))).toEqual([d.deliveryId]);
      });

      it('forgets a delivered delivery', async () => {
        const store = await fresh();
        const d = deliveryMaker()();
        await store.enqueue(d);
        await store.claim(1, T0 + 10, 1000);
        await store.settle(
          d.deliveryId,
          { at: T0 + 10, status: 200, durationMs: 5 },
          {
            kind: 'delivered',
          },
        );

        expect(await store.get(d.deliveryId)).toBeUndefined();
        // not even once its old lease would have run out
        expect(await store.claim(10, T0 + 60_000, 1000)).toEqual([]);
        expect((await store.stats(T0 + 60_000)).byState).toEqual({
          pending: 0,
          retrying: 0,
          dead: 0,
        });
      });

      it('schedules a retry: not due before its time, due at it, attempt kept', async () => {
        const store = await fresh();
        const d = deliveryMaker()();
        await store.enqueue(d);
        await store.claim(1, T0 + 10, 1000);
        await store.settle(d.deliveryId, failed(T0 + 10, 503), { kind: 'retry', at: T0 + 5000 });

        const got = await store.get(d.deliveryId);
        expect(got).toMatchObject({ state: 'retrying', nextAttemptAt: T0 + 5000 });
        expect(got!.attempts).toEqual([failed(T0 + 10, 503)]);
        // the settlement ended the lease: the retry time alone decides
        expect(await store.claim(1, T0 + 4999, 1000)).toEqual([]);
        const again = await store.claim(1, T0 + 5000, 1000);
        expect(ids(again)).toEqual([d.deliveryId]);
        expect(again[0]!.attempts).toHaveLength(1);
      });

      it('moves a delivery to the dead letters with its whole attempt history', async () => {
        const store = await fresh();
        const d = deliveryMaker()();
        await store.enqueue(d);
        const history: AttemptRecord[] = [
          { at: T0 + 10, status: 500, durationMs: 40 },
          { at: T0 + 5010, error: 'timeout', durationMs: 10_000 },
          { at: T0 + 20_010, error: 'connect-refused', durationMs: 1 },
        ];
        await store.claim(1, T0 + 10, 1000);
        await store.settle(d.deliveryId, history[0]!, { kind: 'retry', at: T0 + 5010 });
        await store.claim(1, T0 + 5010, 1000);
        await store.settle(d.deliveryId, history[1]!, { kind: 'retry', at: T0 + 20_010 });
        await store.claim(1, T0 + 20_010, 1000);
        await store.settle(d.deliveryId, history[2]!, { kind: 'dead' });

        const dead = await store.get(d.deliveryId);
        expect(dead).toMatchObject({ state: 'dead', deliveryId: d.deliveryId });
        expect(dead!.attempts).toEqual(history);
        expect(Buffer.compare(dead!.body, d.body)).toBe(0);
        expect(await store.claim(10, T0 + 10_000_000, 1000)).toEqual([]);
        expect(ids(await store.list({ state: 'dead' }, 10))).toEqual([d.deliveryId]);
      });

      it('ignores a settlement for a delivery that was purged while in flight', async () => {
        const store = await fresh();
        const d = deliveryMaker()();
        await store.enqueue(d);
        await store.claim(1, T0 + 10, 1000);
        await store.purge({ deliveryId: d.deliveryId });
        await store.settle(d.deliveryId, failed(T0 + 10), { kind: 'retry', at: T0 + 20 });
        expect(await store.get(d.deliveryId)).toBeUndefined();
        expect(await store.claim(10, T0 + 100_000, 1000)).toEqual([]);
      });
    });

    describe('batches', () => {
      it('enqueueMany judges each delivery in order against the bounds the earlier ones left', async () => {
        const store = await fresh({ maxPerEndpoint: 2, maxTotal: 100, maxBytes: 1 << 20 });
        const make = deliveryMaker();
        const [a1, a2, a3] = [1, 2, 3].map(() => make({ endpointName: 'full' }));
        const b1 = make({ endpointName: 'other' });
        const results = await store.enqueueMany([a1!, a2!, a3!, b1]);
        // the third of `full` meets the bound the first two filled; `other` is not held back by it
        expect(results.map((r) => r?.bound)).toEqual([undefined, undefined, 'endpoint', undefined]);
        expect(results[2]).toBeInstanceOf(QueueFullError);
        expect(await store.get(a3!.deliveryId)).toBeUndefined();
        expect(new Set(ids(await store.list({}, 10)))).toEqual(
          new Set([a1!.deliveryId, a2!.deliveryId, b1.deliveryId]),
        );
        const stored = await store.get(a1!.deliveryId);
        expect(stored).toMatchObject({ url: a1!.url, headers: a1!.headers, state: 'pending' });
        expect(Buffer.compare(stored!.body, a1!.body)).toBe(0);
      });

      it('enqueueMany stores an id given twice once, and an empty batch is no call', async () => {
        const store = await fresh();
        const d = deliveryMaker()();
        expect(await store.enqueueMany([d, { ...d, body: Buffer.from('other') }])).toEqual([
          undefined,
          undefined,
        ]);
        expect(await store.enqueueMany([])).toEqual([]);
        expect(ids(await store.list({}, 10))).toEqual([d.deliveryId]);
        expect(Buffer.compare((await store.get(d.deliveryId))!.body, d.body)).toBe(0);
      });

      it('settleMany settles each leased delivery as its own settle would', async () => {
        const store = await fresh();
        const make = deliveryMaker();
        const [ok, again, gone] = [1, 2, 3].map(() => make());
        await store.enqueueMany([ok!, again!, gone!]);
        expect(await store.claim(10, T0 + 10, 60_000)).toHaveLength(3);
        await store.settleMany([
          {
            deliveryId: ok!.deliveryId,
            attempt: { at: T0 + 10, status: 200, durationMs: 5 },
            next: { kind: 'delivered' },
          },
          {
            deliveryId: again!.deliveryId,
            attempt: failed(T0 + 10, 503),
            next: { kind: 'retry', at: T0 + 5000 },
          },
          { deliveryId: gone!.deliveryId, attempt: failed(T0 + 10), next: { kind: 'dead' } },
        ]);
        expect(await store.get(ok!.deliveryId)).toBeUndefined();
        expect(await store.get(again!.deliveryId)).toMatchObject({
          state: 'retrying',
          nextAttemptAt: T0 + 5000,
          attempts: [failed(T0 + 10, 503)],
        });
        expect(await store.get(gone!.deliveryId)).toMatchObject({
          state: 'dead',
          attempts: [failed(T0 + 10)],
        });
        // every lease ended: only the retry comes back, at its time
        expect(await store.claim(10, T0 + 4999, 60_000)).toEqual([]);
        expect(ids(await store.claim(10, T0 + 5000, 60_000))).toEqual([again!.deliveryId]);
        await store.settleMany([]);
      });
    });

    describe('ordered endpoints', () => {
      it('hand out only their head; other endpoints and unordered deliveries go on', async () => {
        const store = await fresh();
        const make = deliveryMaker();
        const a1 = make({ endpointName: 'a', ordered: true });
        const a2 = make({ endpointName: 'a', ordered: true });
        const a3 = make({ endpointName: 'a', ordered: true });
        const aFree = make({ endpointName: 'a', ordered: false });
        const b1 = make({ endpointName: 'b', ordered: true });
        const b2 = make({ endpointName: 'b', ordered: true });
        for (const d of [a1, a2, a3, aFree, b1, b2]) await store.enqueue(d);

        const lease = 60_000;
        const first = await store.claim(10, T0 + 100, lease);
        expect(new Set(ids(first))).toEqual(new Set([a1, aFree, b1].map((d) => d.deliveryId)));
        // a leased head blocks its endpoint
        expect(await store.claim(10, T0 + 100, lease)).toEqual([]);

        // a failing head blocks only its own endpoint
        await store.settle(a1.deliveryId, failed(T0 + 100), { kind: 'retry', at: T0 + 5000 });
        await store.settle(
          b1.deliveryId,
          { at: T0 + 100, status: 204, durationMs: 3 },
          {
            kind: 'delivered',
          },
        );
        expect(ids(await store.claim(10, T0 + 200, lease))).toEqual([b2.deliveryId]);
        expect(await store.claim(10, T0 + 4999, lease)).toEqual([]);

        // the retried head comes back first, then the rest in accept order
        expect(ids(await store.claim(10, T0 + 5000, lease))).toEqual([a1.deliveryId]);
        await store.settle(
          a1.deliveryId,
          { at: T0 + 5000, status: 200, durationMs: 3 },
          {
            kind: 'delivered',
          },
        );
        expect(ids(await store.claim(10, T0 + 5000, lease))).toEqual([a2.deliveryId]);
      });

      it('move on to the next delivery when the head dies, and after a lease runs out keep the head', async () => {
        const store = await fresh();
        const make = deliveryMaker();
        const [x1, x2, x3] = [1, 2, 3].map(() => make({ endpointName: 'x', ordered: true }));
        for (const d of [x1!, x2!, x3!]) await store.enqueue(d);

        expect(ids(await store.claim(10, T0 + 10, 1000))).toEqual([x1!.deliveryId]);
        // the consumer died: the head comes back, the next one still waits
        expect(ids(await store.claim(10, T0 + 1010, 1000))).toEqual([x1!.deliveryId]);
        await store.settle(x1!.deliveryId, failed(T0 + 1010), { kind: 'dead' });
        expect(ids(await store.claim(10, T0 + 1010, 1000))).toEqual([x2!.deliveryId]);
      });
    });

    describe('replay', () => {
      const killed = async (store: QueueStore, d: NewDelivery, at: number): Promise<void> => {
        await store.enqueue(d);
        const got = await store.claim(1, at, 1000);
        expect(ids(got)).toEqual([d.deliveryId]);
        await store.settle(d.deliveryId, failed(at), { kind: 'dead' });
      };

      it('moves one dead delivery back to pending with its id, history and a replay count', async () => {
        const store = await fresh();
        const d = deliveryMaker()();
        await killed(store, d, T0 + 10);

        expect(await store.replay({ deliveryId: d.deliveryId }, T0 + 50_000)).toBe(1);
        const back = await store.get(d.deliveryId);
        expect(back).toMatchObject({ state: 'pending', replays: 1, deliveryId: d.deliveryId });
        expect(back!.attempts).toEqual([failed(T0 + 10)]);
        expect(await store.claim(1, T0 + 49_999, 1000)).toEqual([]);
        const again = await store.claim(1, T0 + 50_000, 1000);
        expect(ids(again)).toEqual([d.deliveryId]);

        await store.settle(d.deliveryId, failed(T0 + 50_000), { kind: 'dead' });
        expect(await store.replay({ deliveryId: d.deliveryId }, T0 + 60_000)).toBe(1);
        expect(await store.get(d.deliveryId)).toMatchObject({ replays: 2, state: 'pending' });
        expect((await store.get(d.deliveryId))!.attempts).toHaveLength(2);
      });

      it('replays nothing that is not dead', async () => {
        const store = await fresh();
        const d = deliveryMaker()();
        await store.enqueue(d);
        expect(await store.replay({ deliveryId: d.deliveryId }, T0 + 10)).toBe(0);
        expect(await store.replay({ deliveryId: 'msg_never' }, T0 + 10)).toBe(0);
        expect(await store.get(d.deliveryId)).toMatchObject({ state: 'pending', replays: 0 });
      });

      it("replays an endpoint's dead letters accepted in a time range, and only those", async () => {
        const store = await fresh();
        const make = deliveryMaker();
        const early = make({ endpointName: 'e', acceptedAt: T0 + 1000 });
        const inside1 = make({ endpointName: 'e', acceptedAt: T0 + 2000 });
        const inside2 = make({ endpointName: 'e', acceptedAt: T0 + 2999 });
        const atEnd = make({ endpointName: 'e', acceptedAt: T0 + 3000 });
        const other = make({ endpointName: 'f', acceptedAt: T0 + 2500 });
        const alive = make({ endpointName: 'e', acceptedAt: T0 + 2600 });
        for (const d of [early, inside1, inside2, atEnd, other]) await killed(store, d, T0 + 4000);
        await store.enqueue(alive);

        const n = await store.replay(
          { endpointName: 'e', acceptedFrom: T0 + 2000, acceptedTo: T0 + 3000 },
          T0 + 9000,
        );
        expect(n).toBe(2);
        expect(ids(await store.list({ state: 'pending' }, 10))).toEqual([
          inside1.deliveryId,
          alive.deliveryId,
          inside2.deliveryId,
        ]);
        expect(ids(await store.list({ state: 'dead' }, 10))).toEqual([
          early.deliveryId,
          other.deliveryId,
          atEnd.deliveryId,
        ]);
      });

      it('puts a replayed delivery of an ordered endpoint back in accept order', async () => {
        const store = await fresh();
        const make = deliveryMaker();
        const o1 = make({ endpointName: 'o', ordered: true });
        const o2 = make({ endpointName: 'o', ordered: true });
        await killed(store, o1, T0 + 10);
        await store.enqueue(o2);
        expect(await store.replay({ deliveryId: o1.deliveryId }, T0 + 20)).toBe(1);
        // the older delivery is the head again
        expect(ids(await store.claim(10, T0 + 20, 1000))).toEqual([o1.deliveryId]);
      });
    });

    describe('purge', () => {
      it('deletes one delivery, or those matching a filter, and says how many', async () => {
        const store = await fresh();
        const make = deliveryMaker();
        const d1 = make({ endpointName: 'p' });
        const d2 = make({ endpointName: 'p' });
        const d3 = make({ endpointName: 'q' });
        const d4 = make({ endpointName: 'p' });
        for (const d of [d1, d2, d3, d4]) await store.enqueue(d);
        await store.claim(10, T0 + 100, 1000);
        await store.settle(d4.deliveryId, failed(T0 + 100), { kind: 'dead' });

        expect(await store.purge({ deliveryId: d1.deliveryId })).toBe(1);
        expect(await store.purge({ deliveryId: d1.deliveryId })).toBe(0);
        expect(await store.purge({ endpointName: 'p', state: 'dead' })).toBe(1);
        expect(ids(await store.list({}, 10))).toEqual([d2.deliveryId, d3.deliveryId]);
        expect(await store.purge({ endpointName: 'p' })).toBe(1);
        expect(ids(await store.list({}, 10))).toEqual([d3.deliveryId]);
        expect(await store.purge({})).toBe(1);
        expect(await store.list({}, 10)).toEqual([]);
        expect(await store.claim(10, T0 + 100_000, 1000)).toEqual([]);
      });
    });

    describe('list', () => {
      it('filters by endpoint, state and accept time, oldest accepted first, at most `limit`', async () => {
        const store = await fresh();
        const make = deliveryMaker();
        const retrying = make({ endpointName: 'l', acceptedAt: T0 + 400 });
        await store.enqueue(retrying);
        await store.claim(10, T0 + 500, 1000);
        await store.settle(retrying.deliveryId, failed(T0 + 500), {
          kind: 'retry',
          at: T0 + 9000,
        });
        // enqueued out of accept order: list sorts by acceptedAt
        const late = make({ endpointName: 'l', acceptedAt: T0 + 300 });
        const early = make({ endpointName: 'l', acceptedAt: T0 + 100 });
        const middle = make({ endpointName: 'm', acceptedAt: T0 + 200 });
        for (const d of [late, early, middle]) await store.enqueue(d);

        const cases: [Parameters<QueueStore['list']>[0], number, NewDelivery[]][] = [
          // everything, in accept order
          [{}, 10, [early, middle, late, retrying]],
          // the limit keeps the oldest
          [{}, 2, [early, middle]],
          // one endpoint
          [{ endpointName: 'l' }, 10, [early, late, retrying]],
          // one state
          [{ state: 'retrying' }, 10, [retrying]],
          [{ state: 'pending', endpointName: 'l' }, 10, [early, late]],
          // acceptedFrom is inclusive, acceptedTo exclusive
          [{ acceptedFrom: T0 + 200, acceptedTo: T0 + 400 }, 10, [middle, late]],
          [{ state: 'dead' }, 10, []],
        ];
        for (const [filter, limit, want] of cases) {
          expect(ids(await store.list(filter, limit)), JSON.stringify(filter)).toEqual(ids(want));
        }
      });
    });

    describe('stats', () => {
      it('counts by state and endpoint and ages the oldest waiting delivery', async () => {
        const store = await fresh();
        const make = deliveryMaker();
        const a = make({ endpointName: 'sa', acceptedAt: T0 + 1000 });
        const b = make({ endpointName: 'sa', acceptedAt: T0 + 2000 });
        const c = make({ endpointName: 'sb', acceptedAt: T0 + 3000 });
        const empty = await store.stats(T0);
        expect(empty.byState).toEqual({ pending: 0, retrying: 0, dead: 0 });
        expect(empty.oldestPendingAgeMs).toBe(0);

        for (const d of [a, b, c]) await store.enqueue(d);
        await store.claim(10, T0 + 3000, 1000);
        await store.settle(a.deliveryId, failed(T0 + 3000), { kind: 'dead' });
        await store.settle(b.deliveryId, failed(T0 + 3000), { kind: 'retry', at: T0 + 9000 });
        await store.settle(
          c.deliveryId,
          { at: T0 + 3000, status: 200, durationMs: 1 },
          {
            kind: 'delivered',
          },
        );
        const c2 = make({ endpointName: 'sb', acceptedAt: T0 + 4000 });
        await store.enqueue(c2);

        const stats = await store.stats(T0 + 10_000);
        expect(stats.byState).toEqual({ pending: 1, retrying: 1, dead: 1 });
        expect(stats.byEndpoint['sa']).toEqual({ pending: 0, retrying: 1, dead: 1 });
        expect(stats.byEndpoint['sb']).toEqual({ pending: 1, retrying: 0, dead: 0 });
        // the dead one is older but no longer waits: b is the oldest waiting
        expect(stats.oldestPendingAgeMs).toBe(8000);
      });
    });

    describe('bounds', () => {
      it('refuses past the per-endpoint bound, storing nothing; other endpoints go on', async () => {
        const store = await fresh({ maxPerEndpoint: 2, maxTotal: 100, maxBytes: 1 << 20 });
        const make = deliveryMaker();
        const [e1, e2, e3] = [1, 2, 3].map(() => make({ endpointName: 'full' }));
        await store.enqueue(e1!);
        await store.enqueue(e2!);
        const err = await store.enqueue(e3!).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(QueueFullError);
        expect(err).toMatchObject({ code: 'ERR_QUEUE_FULL', bound: 'endpoint' });
        expect((err as QueueFullError).retryAfterMs).toBeGreaterThan(0);
        expect(await store.get(e3!.deliveryId)).toBeUndefined();
        expect(await store.list({}, 10)).toHaveLength(2);
        await store.enqueue(make({ endpointName: 'other' }));

        // a dead letter no longer counts against the bound
        await store.claim(10, T0 + 100, 1000);
        await store.settle(e1!.deliveryId, failed(T0 + 100), { kind: 'dead' });
        await store.enqueue(e3!);
        expect(await store.get(e3!.deliveryId)).toMatchObject({ state: 'pending' });
      });

      it('refuses past the total bound', async () => {
        const store = await fresh({ maxPerEndpoint: 100, maxTotal: 3, maxBytes: 1 << 20 });
        const make = deliveryMaker();
        for (const ep of ['t1', 't2', 't3']) await store.enqueue(make({ endpointName: ep }));
        const d = make({ endpointName: 't4' });
        await expect(store.enqueue(d)).rejects.toMatchObject({ bound: 'total' });
        expect(await store.get(d.deliveryId)).toBeUndefined();
        expect((await store.stats(T0)).byState.pending).toBe(3);
      });

      it('refuses past the byte bound, counting dead letters until they are purged', async () => {
        const store = await fresh({ maxPerEndpoint: 100, maxTotal: 100, maxBytes: 10_000 });
        const make = deliveryMaker();
        const big = (): NewDelivery => make({ body: Buffer.alloc(4000, 'x'), headers: {} });
        const b1 = big();
        await store.enqueue(b1);
        await store.enqueue(big());
        const b3 = big();
        await expect(store.enqueue(b3)).rejects.toMatchObject({ bound: 'bytes' });
        expect(await store.get(b3.deliveryId)).toBeUndefined();

        const [victim] = await store.claim(1, T0 + 100_000, 1000);
        await store.settle(victim!.deliveryId, failed(T0 + 100_000), { kind: 'dead' });
        await expect(store.enqueue(b3)).rejects.toMatchObject({ bound: 'bytes' });
        expect(await store.purge({ state: 'dead' })).toBe(1);
        await store.enqueue(b3);
      });
    });

    if (options.honoursSkipEndpoints) {
      it('claim skips the endpoints it is told to skip and hands their share to others', async () => {
        const store = await fresh();
        const make = deliveryMaker();
        const slow = Array.from({ length: 5 }, () => make({ endpointName: 'slow' }));
        const fast = make({ endpointName: 'fast' });
        for (const d of [...slow, fast]) await store.enqueue(d);
        expect(ids(await store.claim(1, T0 + 100, 1000, new Set(['slow'])))).toEqual([
          fast.deliveryId,
        ]);
        expect(await store.claim(5, T0 + 100, 1000)).toHaveLength(5);
      });
    }

    it('defer, when offered, ends the lease without an attempt and sets the due time', async () => {
      const store = await fresh();
      if (!store.defer) return;
      const make = deliveryMaker();
      const d = make({ endpointName: 'o', ordered: true });
      const next = make({ endpointName: 'o', ordered: true });
      await store.enqueue(d);
      await store.enqueue(next);
      await store.claim(1, T0 + 10, 60_000);
      await store.defer(d.deliveryId, T0 + 2000);

      const got = await store.get(d.deliveryId);
      expect(got).toMatchObject({ state: 'pending', attempts: [] });
      // still the head: a deferred head keeps blocking its ordered endpoint
      expect(await store.claim(10, T0 + 1999, 60_000)).toEqual([]);
      expect(ids(await store.claim(10, T0 + 2000, 60_000))).toEqual([d.deliveryId]);
    });
  });
}

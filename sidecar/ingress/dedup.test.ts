import { describe, expect, it } from 'vitest';
import { deliveryKey, LocalDedupStore } from './dedup.ts';

describe('deliveryKey', () => {
  it.each([
    // a signed id (Standard Webhooks, Stripe): the id alone, readable
    {
      scope: 'shop/orders',
      id: 'msg_2bVx',
      binding: undefined,
      key: 'hookgate:dedup:shop/orders:msg_2bVx',
    },
    // no namespace in the config: the endpoint name alone scopes it
    { scope: 'orders', id: 'evt_1', binding: undefined, key: 'hookgate:dedup:orders:evt_1' },
  ])('keys $id under $scope', ({ scope, id, binding, key }) => {
    expect(deliveryKey(scope, id, binding)).toBe(key);
  });

  it('binds an unsigned id to a fixed-length hash of the signature header', () => {
    const a = deliveryKey('gh', '72d3162e', 'sha256=aaaa');
    const b = deliveryKey('gh', '72d3162e', 'sha256=bbbb');
    expect(a).toMatch(/^hookgate:dedup:gh:72d3162e:[0-9a-f]{32}$/);
    // same id, another signature: another delivery as far as de-duplication goes
    expect(a).not.toBe(b);
    expect(deliveryKey('gh', '72d3162e', 'sha256=aaaa')).toBe(a);
  });

  it.each([
    // spaces and control characters never reach a Redis key
    'id with spaces',
    'tab\tid',
    // non-ASCII
    'caf\u00e9',
    // longer than 128 characters
    'x'.repeat(129),
  ])('hashes an id that is not short printable ASCII: %j', (id) => {
    expect(deliveryKey('s', id)).toMatch(/^hookgate:dedup:s:sha256:[0-9a-f]{64}$/);
  });

  it('keeps ids of different scopes apart', () => {
    expect(deliveryKey('ns/a', 'x')).not.toBe(deliveryKey('ns/b', 'x'));
  });
});

describe('LocalDedupStore', () => {
  const clock = (start = 1_000_000): { now: () => number; advance: (ms: number) => void } => {
    let t = start;
    return { now: () => t, advance: (ms) => (t += ms) };
  };

  it('claims a new key, reports it in flight, then delivered once committed', async () => {
    const c = clock();
    const store = new LocalDedupStore({ now: c.now });
    expect(await store.claim('k', 't1', 1000)).toBe('claimed');
    expect(await store.claim('k', 't2', 1000)).toBe('in-flight');
    await store.commit('k', 60_000);
    expect(await store.claim('k', 't3', 1000)).toBe('delivered');
  });

  it('forgets a delivered key when its window ends, not a millisecond before', async () => {
    const c = clock();
    const store = new LocalDedupStore({ now: c.now });
    await store.claim('k', 't', 1000);
    await store.commit('k', 60_000);
    c.advance(59_999);
    expect(await store.claim('k', 't', 1000)).toBe('delivered');
    c.advance(1);
    expect(await store.claim('k', 't', 1000)).toBe('claimed');
  });

  it('lets an abandoned claim expire, so a crashed forward does not block the id for ever', async () => {
    const c = clock();
    const store = new LocalDedupStore({ now: c.now });
    await store.claim('k', 't1', 5000);
    c.advance(5000);
    expect(await store.claim('k', 't2', 5000)).toBe('claimed');
  });

  it('releases only the claim the token holds', async () => {
    const store = new LocalDedupStore({ now: clock().now });
    await store.claim('k', 'mine', 1000);
    await store.release('k', 'someone-else');
    expect(await store.claim('k', 'x', 1000)).toBe('in-flight');
    await store.release('k', 'mine');
    expect(await store.claim('k', 'x', 1000)).toBe('claimed');
  });

  it('never releases a delivered key', async () => {
    const store = new LocalDedupStore({ now: clock().now });
    await store.claim('k', 'mine', 1000);
    await store.commit('k', 60_000);
    await store.release('k', 'mine');
    expect(await store.claim('k', 'x', 1000)).toBe('delivered');
  });

  it('holds at most capacity keys, forgetting the oldest first', async () => {
    const store = new LocalDedupStore({ now: clock().now, capacity: 3 });
    for (const key of ['a', 'b', 'c', 'd']) {
      await store.claim(key, 't', 1000);
      await store.commit(key, 60_000);
    }
    expect(store.size).toBe(3);
    expect(await store.claim('a', 't', 1000)).toBe('claimed');
    expect(await store.claim('d', 't', 1000)).toBe('delivered');
  });

  it('drops expired keys as new ones arrive', async () => {
    const c = clock();
    const store = new LocalDedupStore({ now: c.now });
    for (let i = 0; i < 100; i++) await store.commit(`old-${i}`, 1000);
    c.advance(1000);
    await store.claim('new', 't', 1000);
    expect(store.size).toBe(1);
  });

  it.each([0, -1, 1.5])('refuses a capacity of %d', (capacity) => {
    expect(() => new LocalDedupStore({ now: () => 0, capacity })).toThrow(RangeError);
  });
});

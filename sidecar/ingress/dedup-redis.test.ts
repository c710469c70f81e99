// The fallback logic of the Redis store against a scripted client; the scripts themselves run
// against a real Redis in test/ingress/dedup-redis.test.ts.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LocalDedupStore } from './dedup.ts';
import { RedisDedupStore, type RedisEvalClient } from './dedup-redis.ts';

/** A client whose every call is answered by `reply`, recording what was called. */
function scripted(reply: (command: 'evalsha' | 'eval') => Promise<unknown>): {
  client: RedisEvalClient;
  calls: string[];
} {
  const calls: string[] = [];
  return {
    calls,
    client: {
      evalsha: () => {
        calls.push('evalsha');
        return reply('evalsha');
      },
      eval: () => {
        calls.push('eval');
        return reply('eval');
      },
    },
  };
}

describe('RedisDedupStore', () => {
  it.each([
    // the key was free: our claim is in
    { reply: null, outcome: 'claimed' },
    // delivered earlier
    { reply: 'd', outcome: 'delivered' },
    // someone's claim
    { reply: 'p:0b6f', outcome: 'in-flight' },
    // the Buffer variant of the same reply
    { reply: Buffer.from('d'), outcome: 'delivered' },
  ])('maps the claim reply $reply to $outcome', async ({ reply, outcome }) => {
    const { client } = scripted(() => Promise.resolve(reply));
    const store = new RedisDedupStore({
      redis: client,
      fallback: new LocalDedupStore({ now: () => 0 }),
    });
    expect(await store.claim('k', 't', 1000)).toBe(outcome);
  });

  it('loads the script with EVAL when Redis forgot it (NOSCRIPT)', async () => {
    const { client, calls } = scripted((command) =>
      command === 'evalsha'
        ? Promise.reject(new Error('NOSCRIPT No matching script'))
        : Promise.resolve(null),
    );
    const store = new RedisDedupStore({
      redis: client,
      fallback: new LocalDedupStore({ now: () => 0 }),
    });
    expect(await store.claim('k', 't', 1000)).toBe('claimed');
    expect(calls).toEqual(['evalsha', 'eval']);
  });

  it('falls back to the local store on an error and reports it', async () => {
    const errors: string[] = [];
    const fallback = new LocalDedupStore({ now: () => 0 });
    const { client } = scripted(() => Promise.reject(new Error('connection is closed')));
    const store = new RedisDedupStore({
      redis: client,
      fallback,
      onRedisError: (err) => errors.push(err.message),
    });
    expect(await store.claim('k', 't', 1000)).toBe('claimed');
    await store.commit('k', 60_000);
    expect(await store.claim('k', 't2', 1000)).toBe('delivered');
    expect(errors).toEqual([
      'connection is closed',
      'connection is closed',
      'connection is closed',
    ]);
  });

  afterEach(() => {
    vi.useRealTimers();
  });

  it('falls back when Redis does not answer within timeoutMs', async () => {
    vi.useFakeTimers();
    const errors: string[] = [];
    const { client } = scripted(() => new Promise(() => undefined));
    const store = new RedisDedupStore({
      redis: client,
      fallback: new LocalDedupStore({ now: () => 0 }),
      timeoutMs: 250,
      onRedisError: (err) => errors.push(err.message),
    });
    const claim = store.claim('k', 't', 1000);
    await vi.advanceTimersByTimeAsync(249);
    expect(errors).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(await claim).toBe('claimed');
    expect(errors).toEqual(['Redis did not answer within 250 ms']);
  });

  it('releases a claim taken in the fallback even when Redis works again', async () => {
    let redisUp = false;
    const fallback = new LocalDedupStore({ now: () => 0 });
    const { client } = scripted(() =>
      redisUp ? Promise.resolve(0) : Promise.reject(new Error('down')),
    );
    const store = new RedisDedupStore({ redis: client, fallback });
    await store.claim('k', 'mine', 1000);
    redisUp = true;
    await store.release('k', 'mine');
    expect(await fallback.claim('k', 'other', 1000)).toBe('claimed');
  });
});

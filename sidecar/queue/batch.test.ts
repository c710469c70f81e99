// The Batcher on a flush the test holds open: batches form from what arrived while the one before
// was in flight (order of events, no timers), results go back to their own callers, a failed
// batch fails only its own items.
import { describe, expect, it } from 'vitest';
import { Batcher } from './batch.ts';

/** A flush that records each batch and returns only when the test releases it. */
function heldFlush(): {
  flush: (items: readonly number[]) => Promise<readonly string[]>;
  batches: number[][];
  release: (i: number, error?: Error) => void;
} {
  const batches: number[][] = [];
  const gates: { resolve: () => void; reject: (e: Error) => void }[] = [];
  return {
    batches,
    flush: async (items) => {
      batches.push([...items]);
      await new Promise<void>((resolve, reject) => gates.push({ resolve, reject }));
      return items.map((n) => `r${n}`);
    },
    release: (i, error) => (error ? gates[i]!.reject(error) : gates[i]!.resolve()),
  };
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('Batcher', () => {
  it('sends what one turn gathered as one batch, and what came meanwhile as the next', async () => {
    const held = heldFlush();
    const batcher = new Batcher(held.flush, { maxItems: 100, maxInFlight: 2 });
    const first = [1, 2, 3].map((n) => batcher.add(n));
    await turn();
    expect(held.batches).toEqual([[1, 2, 3]]);
    // arriving while the first is in flight: they wait for it rather than leave one by one
    const second = [4, 5].map((n) => batcher.add(n));
    await turn();
    expect(held.batches).toEqual([[1, 2, 3]]);
    expect(batcher.waiting).toBe(2);
    held.release(0);
    expect(await Promise.all(first)).toEqual(['r1', 'r2', 'r3']);
    await turn();
    expect(held.batches).toEqual([
      [1, 2, 3],
      [4, 5],
    ]);
    held.release(1);
    expect(await Promise.all(second)).toEqual(['r4', 'r5']);
  });

  it('splits at maxItems and keeps up to maxInFlight batches on the wire', async () => {
    const held = heldFlush();
    const batcher = new Batcher(held.flush, { maxItems: 2, maxInFlight: 2 });
    const all = [1, 2, 3, 4, 5].map((n) => batcher.add(n));
    await turn();
    // a full backlog uses the second slot; the remainder waits for a slot
    expect(held.batches).toEqual([
      [1, 2],
      [3, 4],
    ]);
    held.release(0);
    await turn();
    await turn();
    // a lone item waits to fill while a batch is still in flight…
    expect(held.batches).toHaveLength(2);
    held.release(1);
    await turn();
    await turn();
    // …and leaves once none is
    expect(held.batches[2]).toEqual([5]);
    held.release(2);
    expect(await Promise.all(all)).toEqual(['r1', 'r2', 'r3', 'r4', 'r5']);
  });

  it('rejects every item of a failed batch, and only those', async () => {
    const held = heldFlush();
    const batcher = new Batcher(held.flush, { maxItems: 100, maxInFlight: 1 });
    const failing = [1, 2].map((n) => batcher.add(n));
    await turn();
    const later = batcher.add(3);
    held.release(0, new Error('redis went away'));
    for (const p of failing) await expect(p).rejects.toThrow('redis went away');
    await turn();
    held.release(1);
    expect(await later).toBe('r3');
  });

  it('rejects a batch whose flush returned the wrong number of results', async () => {
    const batcher = new Batcher((items: readonly number[]) => Promise.resolve(items.slice(1)), {
      maxItems: 10,
      maxInFlight: 1,
    });
    await expect(Promise.all([batcher.add(1), batcher.add(2)])).rejects.toThrow(
      'a batch of 2 returned 1 results',
    );
  });

  it.each([
    // each row: a bound that cannot work, refused at construction
    [{ maxItems: 0, maxInFlight: 1 }, 'maxItems'],
    [{ maxItems: 1, maxInFlight: 0 }, 'maxInFlight'],
    [{ maxItems: 1.5, maxInFlight: 1 }, 'maxItems'],
  ])('refuses %o', (options, field) => {
    expect(() => new Batcher(() => Promise.resolve([]), options)).toThrow(field);
  });
});

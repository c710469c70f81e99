import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { WorkQueue } from './queue.ts';

describe('WorkQueue', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('hands out each key once however often it is added', async () => {
    const queue = new WorkQueue();
    for (const key of ['a', 'b', 'a', 'a', 'b']) queue.add(key);
    expect(queue.depth).toBe(2);
    expect([await queue.get(), await queue.get()]).toEqual(['a', 'b']);
  });

  it('never hands out a key being processed; a change meanwhile queues it after', async () => {
    const queue = new WorkQueue();
    queue.add('a');
    const key = await queue.get();
    queue.add('a');
    expect(queue.depth).toBe(0);
    queue.done(key!, false);
    expect(queue.depth).toBe(1);
    expect(await queue.get()).toBe('a');
  });

  it('backs off per key, doubling up to the maximum, and forgets on success', async () => {
    const queue = new WorkQueue({ initialBackoffMs: 100, maxBackoffMs: 350 });
    const delays: number[] = [];
    for (let attempt = 0; attempt < 4; attempt++) {
      if (attempt === 0) queue.add('broken');
      const started = Date.now();
      const key = await (attempt === 0 ? queue.get() : advanceUntilQueued(queue));
      if (attempt > 0) delays.push(Date.now() - started);
      queue.done(key!, true);
    }
    expect(delays).toEqual([100, 200, 350]);
    expect(queue.failures('broken')).toBe(4);
    await advanceUntilQueued(queue).then((key) => queue.done(key!, false));
    expect(queue.failures('broken')).toBe(0);
  });

  it('does not slow other keys while one backs off', async () => {
    const queue = new WorkQueue({ initialBackoffMs: 10_000 });
    queue.add('broken');
    queue.done((await queue.get())!, true);
    queue.add('healthy');
    expect(await queue.get()).toBe('healthy');
  });

  it('retries a backing-off key at once when it changes again', async () => {
    const queue = new WorkQueue({ initialBackoffMs: 10_000 });
    queue.add('a');
    queue.done((await queue.get())!, true);
    expect(queue.depth).toBe(0);
    queue.add('a');
    expect(queue.depth).toBe(1);
  });

  it('wakes a waiting worker, and releases it with undefined on shut-down', async () => {
    const queue = new WorkQueue();
    const waiting = queue.get();
    queue.add('x');
    expect(await waiting).toBe('x');
    const idle = queue.get();
    queue.shutDown();
    expect(await idle).toBeUndefined();
  });
});

/** Advances fake time 50 ms at a time until the queue hands out a key. */
async function advanceUntilQueued(queue: WorkQueue): Promise<string | undefined> {
  while (queue.depth === 0) await vi.advanceTimersByTimeAsync(50);
  return queue.get();
}

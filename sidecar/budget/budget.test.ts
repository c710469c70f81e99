import { describe, expect, it } from 'vitest';
import { heapFlags, mallocEnv, memoryBudget } from './budget.ts';

const MiB = 2 ** 20;

describe('memoryBudget', () => {
  it('sizes the heap and the shedding levels from the limit', () => {
    const b = memoryBudget({ bytes: 256 * MiB, source: 'cgroup-v1' });
    expect(b).toMatchObject({
      limitBytes: 256 * MiB,
      source: 'cgroup-v1',
      oldSpaceMb: 102,
      semiSpaceMb: 4,
    });
    // shedding starts at 80 % anonymous memory or a quarter of the limit in Buffers
    expect(b.shedAnonBytes).toBe(Math.floor(256 * MiB * 0.8));
    expect(b.shedBufferBytes).toBe(64 * MiB);
    expect(b.resumeAnonBytes).toBeLessThan(b.shedAnonBytes);
    expect(b.resumeBufferBytes).toBeLessThan(b.shedBufferBytes);
    // the heap ceiling (old + 3 semi-spaces) and the Buffer level fit under the anonymous level
    expect((b.oldSpaceMb + 3 * b.semiSpaceMb) * MiB + b.shedBufferBytes).toBeLessThan(
      b.shedAnonBytes,
    );
  });

  it('without a limit, budgets for the injector’s default 256 MiB', () => {
    expect(memoryBudget(undefined)).toMatchObject({ limitBytes: 256 * MiB, source: 'default' });
  });

  it('keeps a floor for the heap on a tiny limit and bigger young spaces on a big one', () => {
    expect(memoryBudget({ bytes: 32 * MiB, source: 'env' })).toMatchObject({
      oldSpaceMb: 24,
      semiSpaceMb: 1,
    });
    expect(memoryBudget({ bytes: 4096 * MiB, source: 'env' })).toMatchObject({
      oldSpaceMb: 1638,
      semiSpaceMb: 8,
    });
  });
});

describe('heapFlags', () => {
  const budget = memoryBudget({ bytes: 256 * MiB, source: 'env' });

  it('gives the flags for the budget', () => {
    expect(heapFlags(budget, [], undefined)).toEqual([
      '--max-old-space-size=102',
      '--max-semi-space-size=4',
      '--expose-gc',
    ]);
  });

  it.each([
    // the process already runs with them (the second start after the re-exec)
    [['--max-old-space-size=102', '--max-semi-space-size=1'], undefined],
    // the pod's own choice on the command line
    [['--max-semi-space-size=4'], undefined],
    // or in NODE_OPTIONS
    [[], '--max-old-space-size=512'],
  ])('none when heap flags are already set (%j, %j)', (execArgv, nodeOptions) => {
    expect(heapFlags(budget, execArgv, nodeOptions)).toEqual([]);
  });
});

describe('mallocEnv', () => {
  it('sets two arenas and a fixed mmap threshold, keeping any value the pod set', () => {
    expect(mallocEnv({})).toEqual({ MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072' });
    expect(mallocEnv({ MALLOC_ARENA_MAX: '4' })).toEqual({ MALLOC_MMAP_THRESHOLD_: '131072' });
  });
});

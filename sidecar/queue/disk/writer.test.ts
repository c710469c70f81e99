// The writer loop: group commit shares one fdatasync among the enqueues that wait together, and a
// failed fdatasync stops all writes (the file's state is unknown) until a reopen recovers.
// FileHandle's datasync is wrapped to count calls and to fail on demand.
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { deliveryMaker, roomyLimits } from '../contract.ts';
import { MinHeap } from './heap.ts';
import { openDiskStore } from './index.ts';

const probe = await open(import.meta.filename, 'r');
const FileHandle = Object.getPrototypeOf(probe) as { datasync: () => Promise<void> };
await probe.close();
const realDatasync = FileHandle.datasync;
let datasyncs = 0;
let failNext: NodeJS.ErrnoException | undefined;
FileHandle.datasync = function (this: unknown): Promise<void> {
  datasyncs++;
  if (failNext !== undefined) {
    const err = failNext;
    failNext = undefined;
    return Promise.reject(err);
  }
  return realDatasync.call(this);
};
afterEach(() => {
  failNext = undefined;
});

const dirs: string[] = [];
afterAll(async () => {
  FileHandle.datasync = realDatasync;
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});
const newDir = async (): Promise<string> => {
  const dir = await mkdtemp(join(tmpdir(), 'hookgate-queue-'));
  dirs.push(dir);
  return dir;
};

describe('group commit', () => {
  it.each([
    // on: the enqueues that arrive during one fdatasync share the next one
    { groupCommit: true, shared: true },
    // off (the benchmark's baseline): one fdatasync per enqueue
    { groupCommit: false, shared: false },
  ])('groupCommit $groupCommit', async ({ groupCommit, shared }) => {
    const store = await openDiskStore({ dir: await newDir(), limits: roomyLimits, groupCommit });
    const make = deliveryMaker();
    const before = datasyncs;
    await Promise.all(Array.from({ length: 200 }, () => store.enqueue(make())));
    const used = datasyncs - before;
    if (shared) expect(used).toBeLessThan(20);
    else expect(used).toBe(200);
    await store.close();
  });
});

describe('a failed fdatasync', () => {
  it('fails the waiting enqueues and every later write, and a reopen recovers', async () => {
    const dir = await newDir();
    const store = await openDiskStore({ dir, limits: roomyLimits });
    const make = deliveryMaker();
    const kept = make();
    await store.enqueue(kept);

    failNext = Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' });
    const lost = make();
    await expect(store.enqueue(lost)).rejects.toMatchObject({ code: 'ERR_QUEUE_STORAGE' });
    await expect(store.enqueue(make())).rejects.toMatchObject({ code: 'ERR_QUEUE_STORAGE' });
    // reading still works
    expect(await store.get(kept.deliveryId)).toBeDefined();
    await store.close();

    const again = await openDiskStore({ dir, limits: roomyLimits });
    expect(await again.get(kept.deliveryId)).toBeDefined();
    // the refused one was cut off with the partial write: the app's retry stores it
    expect(await again.get(lost.deliveryId)).toBeUndefined();
    await again.enqueue(lost);
    await again.close();
  });
});

describe('MinHeap', () => {
  it('pops in order and keeps order after pruning', () => {
    const heap = new MinHeap<number>((a, b) => a < b);
    const values = [5, 3, 9, 1, 7, 2, 8, 6, 4, 0];
    for (const v of values) heap.push(v);
    heap.prune((v) => v % 2 === 0);
    const out: number[] = [];
    for (let v = heap.pop(); v !== undefined; v = heap.pop()) out.push(v);
    expect(out).toEqual([0, 2, 4, 6, 8]);
  });
});

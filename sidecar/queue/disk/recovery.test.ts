// What only the disk backend promises: everything survives a restart (SIGKILL included), a torn
// tail is cut off while damage in the middle is reported, compaction loses nothing at any step,
// the log stays within its bounds, and one process owns a directory.
import { spawn } from 'node:child_process';
import {
  mkdtemp,
  readdir,
  readFile,
  rm,
  stat,
  truncate,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, describe, expect, it } from 'vitest';
import { T0, deliveryMaker, roomyLimits } from '../contract.ts';
import type { QueuedDelivery, QueueLimits } from '../store.ts';
import { openDiskStore, type DiskQueueStore, type DiskStoreOptions } from './index.ts';

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});
const newDir = async (): Promise<string> => {
  const dir = await mkdtemp(join(tmpdir(), 'hookgate-queue-'));
  dirs.push(dir);
  return dir;
};
const opened = (
  dir: string,
  more: Partial<DiskStoreOptions> & { limits?: QueueLimits } = {},
): Promise<DiskQueueStore> => openDiskStore({ dir, limits: roomyLimits, ...more });

const childScript = join(import.meta.dirname, 'crash-child.ts');
const logs = async (dir: string): Promise<string[]> =>
  (await readdir(dir)).filter((n) => n.endsWith('.seg')).sort();

/** Everything a store holds, bodies included, as comparable plain data. */
const everything = async (store: DiskQueueStore): Promise<unknown[]> =>
  (await store.list({}, 1_000_000)).map((d: QueuedDelivery) => ({
    ...d,
    body: d.body.toString('base64'),
  }));

/** A store with every kind of record: delivered, retrying, dead with history, replayed, purged. */
async function populate(store: DiskQueueStore, count = 60): Promise<void> {
  const make = deliveryMaker();
  for (let i = 0; i < count; i++) {
    await store.enqueue(
      make({
        endpointName: `ep${i % 3}`,
        ordered: i % 3 === 0,
        body: Buffer.alloc(100 + i, i),
      }),
    );
  }
  let round = 0;
  for (const d of await store.claim(count, T0 + 1_000_000, 60_000)) {
    round++;
    const attempt = { at: T0 + 1_000_000, status: 500, durationMs: round };
    if (round % 4 === 0) await store.settle(d.deliveryId, attempt, { kind: 'retry', at: T0 + 2e6 });
    else if (round % 4 === 1) await store.settle(d.deliveryId, attempt, { kind: 'dead' });
    else await store.settle(d.deliveryId, { ...attempt, status: 200 }, { kind: 'delivered' });
  }
  const [dead1, dead2] = await store.list({ state: 'dead' }, 2);
  await store.replay({ deliveryId: dead1!.deliveryId }, T0 + 3e6);
  await store.purge({ deliveryId: dead2!.deliveryId });
}

describe('restart', () => {
  it('finds every delivery with its state, history, replays and order after a reopen', async () => {
    const dir = await newDir();
    const store = await opened(dir);
    await populate(store);
    const before = await everything(store);
    const statsBefore = await store.stats(T0 + 5e6);
    await store.close();

    const again = await opened(dir);
    expect(await everything(again)).toEqual(before);
    expect(await again.stats(T0 + 5e6)).toEqual(statsBefore);
    expect(again.recovery.truncated).toBeUndefined();
    await again.close();
  });

  it('drops leases with the process: a claimed, unsettled delivery is due again at once', async () => {
    const dir = await newDir();
    const store = await opened(dir);
    const d = deliveryMaker()({ endpointName: 'o', ordered: true });
    await store.enqueue(d);
    expect(await store.claim(1, T0 + 10, 3_600_000)).toHaveLength(1);
    await store.close();

    const again = await opened(dir);
    expect((await again.claim(1, T0 + 10, 1000)).map((x) => x.deliveryId)).toEqual([d.deliveryId]);
    await again.close();
  });

  it('stores a repeated delivery id once', async () => {
    const dir = await newDir();
    const store = await opened(dir);
    const d = deliveryMaker()();
    await Promise.all([store.enqueue(d), store.enqueue(d)]);
    await store.enqueue(d);
    expect(await store.list({}, 10)).toHaveLength(1);
    await store.close();
  });

  it('keeps every acknowledged delivery when the process is SIGKILLed mid-stream', async () => {
    const dir = await newDir();
    const child = spawn(process.execPath, [childScript, 'enqueue', dir, '100000'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const acknowledged = new Set<string>();
    const claimed = new Set<string>();
    const delivered = new Set<string>();
    const exited = new Promise((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
    for await (const line of createInterface({ input: child.stdout })) {
      const [kind, id] = line.split(' ');
      if (kind === 'A') acknowledged.add(id!);
      if (kind === 'C') claimed.add(id!);
      if (kind === 'D') delivered.add(id!);
      if (acknowledged.size === 3000) child.kill('SIGKILL');
    }
    expect(await exited).toBe('SIGKILL');

    const store = await opened(dir);
    const stored = new Set((await store.list({}, 1_000_000)).map((d) => d.deliveryId));
    // a delivery claimed when the kill came may or may not have its settlement on disk
    const missing = [...acknowledged].filter((id) => !claimed.has(id) && !stored.has(id));
    expect(missing, 'acknowledged, not delivered, not stored').toEqual([]);
    // a durable "delivered" is never delivered again
    expect(
      [...delivered].filter((id) => stored.has(id)),
      'delivered yet stored',
    ).toEqual([]);
    expect(acknowledged.size).toBeGreaterThanOrEqual(3000);
    // and the check above judged many: those acknowledged and never claimed
    expect([...acknowledged].filter((id) => !claimed.has(id)).length).toBeGreaterThan(500);
    await store.close();
  });

  it('keeps an ordered endpoint in accept order through retries and a SIGKILL', async () => {
    const dir = await newDir();
    const count = 600;
    const child = spawn(process.execPath, [childScript, 'ordered', dir, String(count)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const sent: number[] = [];
    const exited = new Promise((resolve) => child.once('exit', (_code, signal) => resolve(signal)));
    for await (const line of createInterface({ input: child.stdout })) {
      if (line.startsWith('S ')) sent.push(Number(line.slice(6)));
      if (sent.length === 300) child.kill('SIGKILL');
    }
    expect(await exited).toBe('SIGKILL');

    // the restarted sidecar goes on from the head
    const store = await opened(dir);
    let now = 3_000_000_000;
    for (let d = (await store.claim(10, now, 1000))[0]; d !== undefined;) {
      expect(await store.claim(10, now, 1000)).toEqual([]); // only the head is out
      sent.push(Number(d.deliveryId.slice(4)));
      await store.settle(
        d.deliveryId,
        { at: now, status: 200, durationMs: 1 },
        {
          kind: 'delivered',
        },
      );
      now += 10;
      d = (await store.claim(10, now, 1000))[0];
    }
    await store.close();
    // a retry or a redelivery after the crash repeats the head; nothing else comes out of order
    const distinct = sent.filter((n, i) => i === 0 || n !== sent[i - 1]);
    expect(distinct).toEqual(Array.from({ length: count }, (_, i) => i));
  });
});

describe('damage', () => {
  it('cuts off a torn last record and goes on appending', async () => {
    const dir = await newDir();
    const store = await opened(dir);
    const make = deliveryMaker();
    const kept = [make(), make()];
    for (const d of kept) await store.enqueue(d);
    await store.enqueue(make({ body: Buffer.alloc(5000, 'z') }));
    await store.close();
    const [log] = await logs(dir);
    const full = (await stat(join(dir, log!))).size;
    await truncate(join(dir, log!), full - 1000); // the crash hit mid-write

    const again = await opened(dir);
    expect(again.recovery.truncated).toMatchObject({ file: join(dir, log!) });
    expect((await again.list({}, 10)).map((d) => d.deliveryId)).toEqual(
      kept.map((d) => d.deliveryId),
    );
    const after = make();
    await again.enqueue(after);
    await again.close();

    const third = await opened(dir);
    expect(third.recovery.truncated).toBeUndefined();
    expect(await third.list({}, 10)).toHaveLength(3);
    await third.close();
  });

  it('cuts off garbage after the last record (zeroed blocks after a crash)', async () => {
    const dir = await newDir();
    const store = await opened(dir);
    const d = deliveryMaker()();
    await store.enqueue(d);
    await store.close();
    const [log] = await logs(dir);
    await writeFile(join(dir, log!), Buffer.alloc(4096), { flag: 'a' });

    const again = await opened(dir);
    expect(again.recovery.truncated?.bytes).toBe(4096);
    expect(await again.get(d.deliveryId)).toBeDefined();
    await again.close();
  });

  it('cuts off a hole in the last batch even with intact records after it (power cut)', async () => {
    const dir = await newDir();
    const store = await opened(dir);
    const make = deliveryMaker();
    for (let i = 0; i < 3; i++) await store.enqueue(make({ body: Buffer.alloc(200, 'a') }));
    await store.close();
    const [log] = await logs(dir);
    const path = join(dir, log!);
    const bytes = await readFile(path);
    const second = bytes.indexOf('HQ', 1);
    bytes.fill(0, second, second + 64); // a block that never reached the disk
    await writeFile(path, bytes);

    const again = await opened(dir);
    expect(again.recovery.truncated).toMatchObject({ file: path, offset: second });
    expect(await again.list({}, 10)).toHaveLength(1);
    await again.close();
  });

  it.each([
    // in a snapshot (fsync'd before it was renamed into place: never torn)
    'snap',
    // in the last log, further from its end than one write batch
    'log',
  ])('reports damage in the middle (%s) with the file and offset', async (where) => {
    const dir = await newDir();
    const store = await opened(dir);
    const make = deliveryMaker();
    for (let i = 0; i < 3; i++) await store.enqueue(make({ body: Buffer.alloc(200, 'a') }));
    if (where === 'snap') await store.compact();
    for (let i = 0; i < (where === 'snap' ? 1 : 10); i++) {
      await store.enqueue(make({ body: Buffer.alloc(1 << 20, 'b') }));
    }
    await store.close();
    const name = (await logs(dir)).find((n) => n.startsWith(where))!;
    const path = join(dir, name);
    const bytes = await readFile(path);
    const second = bytes.indexOf('HQ', 1);
    bytes.writeUInt8(bytes.readUInt8(second + 100) ^ 0xff, second + 100); // one flipped byte
    await writeFile(path, bytes);

    const err = await opened(dir).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_QUEUE_CORRUPT', file: path, offset: second });
    expect((err as Error).message).toContain(dir);
    // the failed open released the directory
    await rm(path);
    await (await opened(dir)).close();
  });
});

describe('compaction', () => {
  it('rewrites the live deliveries, frees the dead weight, and changes nothing visible', async () => {
    const dir = await newDir();
    const store = await opened(dir);
    await populate(store, 300);
    const before = await everything(store);
    const sizeBefore = store.diskBytes;
    await store.compact();
    expect(store.diskBytes).toBeLessThan(sizeBefore * 0.7);
    expect(await everything(store)).toEqual(before);
    expect((await logs(dir)).some((n) => n.startsWith('snap-'))).toBe(true);
    await store.close();

    const again = await opened(dir);
    expect(await everything(again)).toEqual(before);
    await again.close();
  });

  it('keeps writes, claims and settlements that happen while it copies', async () => {
    const dir = await newDir();
    const store = await opened(dir, { bodyCacheBytes: 1 }); // bodies come from disk
    await populate(store, 200);
    const make = deliveryMaker();
    const compaction = store.compact();
    const during = Array.from({ length: 50 }, () => make({ endpointName: 'during' }));
    await Promise.all(during.map((d) => store.enqueue(d)));
    const claimed = await store.claim(1000, T0 + 4e6, 60_000);
    for (const d of claimed.filter((x) => x.endpointName === 'during').slice(0, 10)) {
      await store.settle(
        d.deliveryId,
        { at: T0 + 4e6, status: 200, durationMs: 1 },
        {
          kind: 'delivered',
        },
      );
    }
    await compaction;
    const after = await everything(store);
    expect((await store.list({ endpointName: 'during' }, 100)).length).toBe(40);
    await store.close();

    const again = await opened(dir);
    expect(await everything(again)).toEqual(after);
    await again.close();
  });

  it('stops a compaction cleanly on close, and the next open finds everything', async () => {
    const dir = await newDir();
    const store = await opened(dir, { bodyCacheBytes: 1 });
    await populate(store, 300);
    const before = await everything(store);
    const compaction = store.compact();
    await store.close();
    await compaction;
    expect((await readdir(dir)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    const again = await opened(dir);
    expect(await everything(again)).toEqual(before);
    await again.close();
  });

  it.each([
    // killed before anything changed on disk but the new log
    'rolled',
    // the snapshot is complete under its temporary name
    'written',
    // renamed into place, directory not yet synced
    'renamed',
    'dir-synced',
    // one replaced file deleted, the rest still there
    'deleted',
    // finished
    'done',
  ])('loses nothing when the process is killed at step %s', async (step) => {
    const dir = await newDir();
    const store = await opened(dir);
    await populate(store, 120);
    const before = await everything(store);
    await store.close();

    const child = spawn(process.execPath, [childScript, 'compact', dir, step], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const signal = await new Promise((resolve) => child.once('exit', (_c, s) => resolve(s)));
    expect(signal).toBe('SIGKILL');

    const again = await opened(dir);
    expect(await everything(again)).toEqual(before);
    // and the next compaction still works from there
    await again.compact();
    expect(await everything(again)).toEqual(before);
    await again.close();
    const third = await opened(dir);
    expect(await everything(third)).toEqual(before);
    await third.close();
  });
});

describe('bounds on disk', () => {
  it('refuses with the bytes bound when the log is full of dead weight, and compacts it away', async () => {
    const dir = await newDir();
    const limits = { maxPerEndpoint: 1000, maxTotal: 1000, maxBytes: 50_000 };
    const store = await opened(dir, { limits, maxDiskBytes: 60_000, compactMinBytes: 1 << 30 });
    const make = deliveryMaker();
    const body = Buffer.alloc(1000, 'x');
    let refused: unknown;
    for (let i = 0; i < 200 && refused === undefined; i++) {
      await store.enqueue(make({ body })).catch((e: unknown) => (refused = e));
      for (const d of await store.claim(10, T0 + 1e7, 1000)) {
        await store.settle(
          d.deliveryId,
          { at: T0, status: 200, durationMs: 1 },
          {
            kind: 'delivered',
          },
        );
      }
    }
    expect(refused).toMatchObject({ code: 'ERR_QUEUE_FULL', bound: 'bytes' });
    expect(store.diskBytes).toBeLessThanOrEqual(60_000);
    // the refusal started a compaction; once it ran, there is room again
    await store.compact();
    await store.enqueue(make({ body }));
    expect(store.diskBytes).toBeLessThan(10_000);
    await store.close();
  });

  it('keeps at most maxDeadLetters, dropping the ones that died first, across a reopen', async () => {
    const dir = await newDir();
    const store = await opened(dir, { maxDeadLetters: 3 });
    const make = deliveryMaker();
    const all = Array.from({ length: 5 }, () => make());
    for (const d of all) await store.enqueue(d);
    const claimed = await store.claim(10, T0 + 100, 60_000);
    expect(claimed).toHaveLength(5);
    // they die in order 4, 3, 2, 1, 0
    for (const [i, d] of [...all].reverse().entries()) {
      await store.settle(
        d.deliveryId,
        { at: T0 + 200 + i, error: 'timeout', durationMs: 1 },
        {
          kind: 'dead',
        },
      );
    }
    const survivors = [all[0]!, all[1]!, all[2]!].map((d) => d.deliveryId);
    expect((await store.list({ state: 'dead' }, 10)).map((d) => d.deliveryId)).toEqual(survivors);
    expect(store.evictedDeadLetters).toBe(2);
    await store.close();

    const again = await opened(dir, { maxDeadLetters: 2 });
    expect((await again.list({}, 10)).map((d) => d.deliveryId)).toHaveLength(2);
    await again.close();
    const third = await opened(dir, { maxDeadLetters: 2 });
    expect(third.evictedDeadLetters).toBe(0);
    expect(await third.list({}, 10)).toHaveLength(2);
    await third.close();
  });

  it('names the directory and the fix when it cannot be created', async () => {
    const file = join(await newDir(), 'not-a-dir');
    await writeFile(file, '');
    const err = await opened(join(file, 'queue')).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_QUEUE_STORAGE' });
    expect((err as Error).message).toMatch(/not-a-dir\/queue \(ENOTDIR\): mount a writable volume/);
  });

  it('refuses an option that is not a positive integer, naming it', async () => {
    const dir = await newDir();
    await expect(openDiskStore({ dir, limits: { ...roomyLimits, maxBytes: 0 } })).rejects.toThrow(
      /limits\.maxBytes must be a positive integer/,
    );
  });
});

describe('owner lock', () => {
  it('refuses a second owner with the directory and the fix, and frees it on close', async () => {
    const dir = await newDir();
    const store = await opened(dir);
    const err = await opened(dir).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ERR_QUEUE_LOCKED' });
    expect((err as Error).message).toContain(dir);
    expect((err as Error).message).toMatch(/only one process may own a queue directory/);
    await store.close();
    await (await opened(dir)).close();
  });

  it('takes over the lock of a process that is gone', async () => {
    const dir = await newDir();
    const child = spawn(process.execPath, [childScript, 'enqueue', dir, '1000000'], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    for await (const line of createInterface({ input: child.stdout })) {
      if (line.startsWith('A')) break;
    }
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    await (await opened(dir)).close();
  });

  it.each([
    // another host's lock refreshed just now: it may be alive
    { other: true, ageMs: 0, locked: true },
    // another host's lock no longer refreshed: stale
    { other: true, ageMs: 120_000, locked: false },
    // this host, nobody answers on the socket: a dead owner (a crashed container of this pod,
    // whatever its PID namespace), taken over at once
    { other: false, ageMs: 10_000, locked: false },
    // this host, refreshed just now, yet nobody answers: dead all the same
    { other: false, ageMs: 0, locked: false },
  ])('judges a lock nobody answers for: other host $other, $ageMs ms old', async (c) => {
    const dir = await newDir();
    const path = join(dir, 'LOCK');
    const host = c.other ? `not-${hostname()}` : hostname();
    await writeFile(path, JSON.stringify({ pid: 999_999, host, socket: 'owner-999999-x.sock' }));
    const then = new Date(Date.now() - c.ageMs);
    await utimes(path, then, then);
    const result = await opened(dir, { lock: { staleAfterMs: 60_000 } }).catch((e: unknown) => e);
    if (c.locked) {
      expect(result).toMatchObject({ code: 'ERR_QUEUE_LOCKED' });
    } else {
      await (result as DiskQueueStore).close();
    }
  });
});

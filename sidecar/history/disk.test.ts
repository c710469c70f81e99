// The shared HistoryStore contract judging the disk backend, each store in a folder of its own;
// then what only segment files can get wrong: a line cut short by a crash, and the index that is
// built at the first read and caught up from the segments' new bytes at every later one.
import { appendFileSync, mkdtempSync, readdirSync, rmSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { T0, describeHistoryStore, put, roomyHistoryLimits, updateMaker } from './contract.ts';
import { Policy } from '../config/schema.ts';
import type { AttemptObservation } from '../delivery/observe.ts';
import { compileEndpointPlan } from '../delivery/plan.ts';
import { DiskHistoryStore } from './disk.ts';
import type { HistoryLimits } from './store.ts';
import { UpdateEncoder } from './update.ts';

const root = mkdtempSync(join(tmpdir(), 'hookgate-history-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describeHistoryStore('disk', async (limits) => {
  const directory = mkdtempSync(join(root, 'store-'));
  const open = (): Promise<DiskHistoryStore> =>
    DiskHistoryStore.open({ directory, limits: () => limits });
  return { store: await open(), reopen: open };
});

// The same contract once every write goes through the thread pool (as after a slow write).
describeHistoryStore('disk, writing through the thread pool', async (limits) => {
  const directory = mkdtempSync(join(root, 'pool-'));
  const open = (): Promise<DiskHistoryStore> =>
    DiskHistoryStore.open({ directory, limits: () => limits, slowWriteMs: -1 });
  return { store: await open(), reopen: open };
});

describe('DiskHistoryStore on its own', () => {
  const opened: DiskHistoryStore[] = [];
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((s) => s.close()));
  });
  const openIn = async (
    directory: string,
    limits: HistoryLimits = roomyHistoryLimits,
  ): Promise<DiskHistoryStore> => {
    const store = await DiskHistoryStore.open({ directory, limits: () => limits });
    opened.push(store);
    return store;
  };
  const ids = async (store: DiskHistoryStore): Promise<string[]> =>
    (await store.list({ limit: 1000 })).items.map((i) => i.deliveryId);
  const segments = (directory: string): string[] =>
    readdirSync(directory)
      .filter((f) => f.endsWith('.jsonl'))
      .sort();
  // 16 KiB segments: a 1 KB body a line, about 12 lines a segment.
  const small: HistoryLimits = { ...roomyHistoryLimits, maxBytes: 64 * 1024 };
  const kb = 'x'.repeat(1000);

  it('a line cut short by a crash is skipped on restart; the lines before it are kept', async () => {
    const directory = mkdtempSync(join(root, 'crash-'));
    const u = updateMaker();
    const store = await DiskHistoryStore.open({ directory, limits: () => roomyHistoryLimits });
    await put(store, [u(1), u(2)], T0);
    await store.close();
    const [segment] = readdirSync(directory).filter((f) => f.endsWith('.jsonl'));
    appendFileSync(join(directory, segment!), '{"deliveryId":"msg_half');
    const again = await openIn(directory);
    expect(await ids(again)).toEqual([u(2).deliveryId, u(1).deliveryId]);
    await put(again, [u(3)], T0);
    // The cut-short segment is never appended to: the next line starts a segment of its own.
    expect(segments(directory)).toHaveLength(2);
    expect(await ids(again)).toEqual([u(3).deliveryId, u(2).deliveryId, u(1).deliveryId]);
    expect((await again.get(u(3).deliveryId))?.attempts).toBe(1);
  });

  it('skips a line whose body counts are not byte counts, and reads on after it', async () => {
    const directory = mkdtempSync(join(root, 'counts-'));
    const u = updateMaker();
    const store = await DiskHistoryStore.open({ directory, limits: () => roomyHistoryLimits });
    await put(store, [u(1)], T0);
    await store.close();
    const [segment] = segments(directory);
    const bad = (n: unknown): string =>
      `${JSON.stringify({ ...u(9), deliveryId: `msg_bad_${String(n)}`, requestBodyBytes: n })}\n`;
    appendFileSync(join(directory, segment!), bad(-5000) + bad(1.5) + bad('x'));
    appendFileSync(join(directory, segment!), `${JSON.stringify(u(2))}\n`);
    const again = await openIn(directory);
    expect(await ids(again)).toEqual([u(2).deliveryId, u(1).deliveryId]);
  });

  it('catches up with what was appended since the last read: new deliveries and new lines of known ones', async () => {
    const store = await openIn(mkdtempSync(join(root, 'catch-up-')));
    const u = updateMaker();
    await put(store, [u(1, { status: 500, outcome: 'retrying', mode: 'async' }), u(2)], T0);
    expect(await ids(store)).toEqual([u(2).deliveryId, u(1).deliveryId]);
    expect((await store.usage()).deliveries).toBe(2);
    await put(
      store,
      [u(1, { attemptNo: 2, status: 200, outcome: 'delivered', mode: 'async' }), u(3)],
      T0,
    );
    const page = await store.list({ limit: 10 });
    expect(page.items.map((i) => i.deliveryId)).toEqual([3, 2, 1].map((n) => u(n).deliveryId));
    expect(page.items[2]).toMatchObject({ attempts: 2, outcome: 'delivered', lastStatus: 200 });
    expect((await store.get(u(1).deliveryId))?.attemptLog.map((a) => a.status)).toEqual([500, 200]);
    expect((await store.usage()).deliveries).toBe(3);
  });

  it('forgets the deliveries of segments the byte bound deleted since the last read, whole', async () => {
    const directory = mkdtempSync(join(root, 'deleted-'));
    const store = await openIn(directory, small);
    const u = updateMaker();
    // Delivery 1 has a line in the first segment and a retry in a later one.
    await put(store, [u(1, { status: 500, requestBody: kb })], T0);
    for (let n = 2; n <= 20; n++) await put(store, [u(n, { requestBody: kb })], T0);
    await put(store, [u(1, { attemptNo: 2, requestBody: kb })], T0);
    expect(await ids(store)).toContain(u(1).deliveryId);
    expect(segments(directory)[0]).toBe('history-00000001.jsonl');
    for (let n = 21; n <= 200; n++) await put(store, [u(n, { requestBody: kb })], T0);
    expect(segments(directory)[0]).not.toBe('history-00000001.jsonl');
    const kept = await ids(store);
    expect(kept[0]).toBe(u(200).deliveryId);
    expect(kept).not.toContain(u(1).deliveryId);
    expect(kept.length).toBeLessThan(200);
    expect(await store.get(u(1).deliveryId)).toBeUndefined();
    const usage = await store.usage();
    expect(usage.deliveries).toBe(kept.length);
    expect(usage.bytes).toBeLessThanOrEqual(small.maxBytes);
    expect(usage.bytes).toBe(
      segments(directory).reduce((sum, f) => sum + statSync(join(directory, f)).size, 0),
    );
  });

  it('deletes whole segments whose newest line is past the age bound, at an append', async () => {
    const directory = mkdtempSync(join(root, 'age-'));
    const store = await openIn(directory, { ...small, maxAgeMs: 60_000 });
    const u = updateMaker();
    for (let n = 1; n <= 40; n++) await put(store, [u(n, { requestBody: kb })], T0 + 40_000);
    const before = segments(directory);
    expect(before.length).toBeGreaterThan(2);
    // An hour later: every segment but the one written to holds only lines past the age.
    await put(store, [u(3600)], T0 + 3600_000);
    expect(segments(directory)).toEqual([before.at(-1)]);
    expect(await ids(store)).toEqual([u(3600).deliveryId]);
    expect((await store.usage()).deliveries).toBe(1);
  });

  it('a delivery whose first line went with a segment deleted before any read is not listed: no record with a hole', async () => {
    const directory = mkdtempSync(join(root, 'hole-'));
    const store = await openIn(directory, small);
    const u = updateMaker();
    await put(store, [u(1, { status: 500, requestBody: kb })], T0);
    for (let n = 2; n <= 60; n++) {
      await put(store, [u(n, { requestBody: kb })], T0);
      // Its retry lands in a segment that outlives the first one.
      if (n === 40) await put(store, [u(1, { attemptNo: 2 })], T0);
    }
    expect(segments(directory)[0]).not.toBe('history-00000001.jsonl');
    const kept = await ids(store);
    expect(kept).not.toContain(u(1).deliveryId);
    expect(await store.get(u(1).deliveryId)).toBeUndefined();
    expect(kept[0]).toBe(u(60).deliveryId);
  });

  it('a segment gone before the first read leaves the others readable', async () => {
    const directory = mkdtempSync(join(root, 'gone-'));
    const store = await openIn(directory, small);
    const u = updateMaker();
    for (let n = 1; n <= 40; n++) await put(store, [u(n, { requestBody: kb })], T0);
    const files = segments(directory);
    expect(files.length).toBeGreaterThan(2);
    // As when the writer deletes a segment between the reader's snapshot and its open.
    rmSync(join(directory, files[1]!));
    const kept = await ids(store);
    expect(kept[0]).toBe(u(40).deliveryId);
    expect(kept).toContain(u(1).deliveryId);
    expect(kept.length).toBeLessThan(40);
    expect((await store.get(u(40).deliveryId))?.requestBody).toBe(kb);
  });

  it('reads a line longer than its read buffer', async () => {
    const store = await openIn(mkdtempSync(join(root, 'long-')));
    const u = updateMaker();
    const big = 'y'.repeat(3 * 1024 * 1024);
    await put(store, [u(1), u(2, { requestBody: big }), u(3)], T0);
    expect(await ids(store)).toEqual([3, 2, 1].map((n) => u(n).deliveryId));
    expect((await store.get(u(2).deliveryId))?.requestBody).toBe(big);
  });

  it('after a restart, indexes the segments at the first read, a delivery spread over two of them folded whole', async () => {
    const directory = mkdtempSync(join(root, 'restart-'));
    const u = updateMaker();
    const store = await DiskHistoryStore.open({ directory, limits: () => small });
    await put(store, [u(1, { status: 500, requestBody: kb })], T0);
    for (let n = 2; n <= 20; n++) await put(store, [u(n, { requestBody: kb })], T0);
    await put(store, [u(1, { attemptNo: 2, requestBody: kb })], T0);
    await store.close();
    expect(segments(directory).length).toBeGreaterThan(1);
    const again = await openIn(directory, small);
    expect((await again.usage()).deliveries).toBe(20);
    expect((await again.get(u(1).deliveryId))?.attemptLog.map((a) => a.status)).toEqual([500, 200]);
    // Appends after the restart go on from there.
    await put(again, [u(21)], T0);
    expect((await ids(again)).slice(0, 2)).toEqual([u(21).deliveryId, u(20).deliveryId]);
  });

  it('keeps its index within maxDeliveries while building it from many segments', async () => {
    const directory = mkdtempSync(join(root, 'count-'));
    const u = updateMaker();
    const limits: HistoryLimits = { ...roomyHistoryLimits, maxDeliveries: 7 };
    const store = await openIn(directory, limits);
    for (let n = 1; n <= 60; n++) await put(store, [u(n)], T0);
    expect(await ids(store)).toEqual([60, 59, 58, 57, 56, 55, 54].map((n) => u(n).deliveryId));
    expect((await store.usage()).deliveries).toBe(7);
  });

  it('reads and writes at once: every delivery appended before a read is in it', async () => {
    // 64 KiB segments, none deleted: with `small` the writer, which runs ahead of the reads, could
    // delete what a read was asked after before that read ran (the bounds, not a lost line).
    const store = await openIn(mkdtempSync(join(root, 'concurrent-')), {
      ...roomyHistoryLimits,
      maxBytes: 512 * 1024,
    });
    const u = updateMaker();
    const reads: Promise<string[]>[] = [];
    for (let n = 1; n <= 60; n++) {
      const appended = put(store, [u(n, { requestBody: kb })], T0);
      if (n % 10 === 0) reads.push(appended.then(() => ids(store)));
    }
    const pages = await Promise.all(reads);
    pages.forEach((page, i) => expect(page).toContain(u((i + 1) * 10).deliveryId));
  });

  // Attempts as the sidecar records them: bodies as raw bytes after their line.
  const rawEncoder = new UpdateEncoder({ namespace: 'shop', pod: 'p' }, { rawBodies: true });
  const fullBodies = compileEndpointPlan(Policy.parse({ history: { bodies: 'full' } }));
  const attempt = (
    id: string,
    n: number,
    requestBody: Buffer,
    responseBody: Buffer,
  ): AttemptObservation => ({
    delivery: {
      deliveryId: id,
      endpointName: 'orders',
      url: new URL('https://receiver.example/h'),
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: requestBody,
      deadline: 0,
      mode: 'async',
    },
    attempt: n,
    startedAt: T0 + n,
    result: {
      kind: 'response',
      status: n === 1 ? 503 : 200,
      headers: {},
      body: responseBody,
      truncated: false,
      durationMs: 2,
    },
    plan: fullBodies,
  });

  it('keeps raw bodies beside their lines: newlines and bytes that are not UTF-8 read back as written', async () => {
    const directory = mkdtempSync(join(root, 'raw-'));
    const store = await openIn(directory);
    const text = Buffer.from('{"a":1}\n{"deliveryId":"forged","attempt":{"attempt":1}}\n');
    const binary = Buffer.from([0xff, 0x0a, 0x00, 0xfe]);
    await store.append(
      [
        rawEncoder.attempt(attempt('msg_raw_1', 1, text, binary)),
        rawEncoder.attempt(attempt('msg_raw_2', 1, binary, Buffer.from('ok'))),
        rawEncoder.attempt(attempt('msg_raw_1', 2, text, Buffer.from('fine\n'))),
      ],
      T0,
    );
    const check = async (s: DiskHistoryStore): Promise<void> => {
      // The body that reads like a line is never taken for one.
      expect(await ids(s)).toEqual(['msg_raw_2', 'msg_raw_1']);
      const one = await s.get('msg_raw_1');
      expect([one?.requestBody, one?.requestBodyEncoding]).toEqual([text.toString(), 'utf8']);
      expect(
        one?.attemptLog.map((a) => [a.status, a.responseBody, a.responseBodyEncoding]),
      ).toEqual([
        [503, binary.toString('base64'), 'base64'],
        [200, 'fine\n', 'utf8'],
      ]);
      const two = await s.get('msg_raw_2');
      expect([two?.requestBody, two?.requestBodyEncoding]).toEqual([
        binary.toString('base64'),
        'base64',
      ]);
    };
    await check(store);
    await store.close();
    opened.splice(opened.indexOf(store), 1);
    // After a restart the index is built from the files alone.
    await check(await openIn(directory));
  });

  it('skips a record whose raw bodies a crash cut short, and reads records larger than its read buffer', async () => {
    const directory = mkdtempSync(join(root, 'raw-crash-'));
    const store = await openIn(directory);
    // 700 KB bodies: two records are more than the reader's 1 MiB buffer.
    const big = Buffer.alloc(700 * 1024, 0x61);
    await store.append(
      [
        rawEncoder.attempt(attempt('msg_big_1', 1, big, Buffer.from('a'))),
        rawEncoder.attempt(attempt('msg_big_2', 1, big, Buffer.from('b'))),
        rawEncoder.attempt(attempt('msg_big_3', 1, big, Buffer.from('c'))),
      ],
      T0,
    );
    await store.close();
    opened.splice(opened.indexOf(store), 1);
    const [segment] = segments(directory);
    const path = join(directory, segment!);
    truncateSync(path, statSync(path).size - 1000);
    const again = await openIn(directory);
    expect(await ids(again)).toEqual(['msg_big_2', 'msg_big_1']);
    const two = await again.get('msg_big_2');
    expect(two?.requestBody).toBe(big.toString());
    expect(two?.attemptLog[0]?.responseBody).toBe('b');
  });
});

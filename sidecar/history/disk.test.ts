// The shared HistoryStore contract judging the disk backend, each store in a folder of its own;
// then what only segment files can get wrong: a line cut short by a crash.
import { appendFileSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { T0, describeHistoryStore, roomyHistoryLimits, updateMaker } from './contract.ts';
import { DiskHistoryStore } from './disk.ts';

const root = mkdtempSync(join(tmpdir(), 'hookgate-history-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describeHistoryStore('disk', async (limits) => {
  const directory = mkdtempSync(join(root, 'store-'));
  const open = (): Promise<DiskHistoryStore> =>
    DiskHistoryStore.open({ directory, limits: () => limits });
  return { store: await open(), reopen: open };
});

describe('DiskHistoryStore on its own', () => {
  it('a line cut short by a crash is skipped on restart; the lines before it are kept', async () => {
    const directory = mkdtempSync(join(root, 'crash-'));
    const u = updateMaker();
    const store = await DiskHistoryStore.open({ directory, limits: () => roomyHistoryLimits });
    await store.append([u(1), u(2)], T0);
    await store.close();
    const [segment] = readdirSync(directory);
    appendFileSync(join(directory, segment!), '{"deliveryId":"msg_half');
    const again = await DiskHistoryStore.open({ directory, limits: () => roomyHistoryLimits });
    expect((await again.list({ limit: 10 })).items.map((i) => i.deliveryId)).toEqual([
      u(2).deliveryId,
      u(1).deliveryId,
    ]);
    await again.append([u(3)], T0);
    expect((await again.get(u(3).deliveryId))?.attempts).toBe(1);
    await again.close();
  });
});

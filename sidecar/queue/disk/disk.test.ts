import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { describeQueueStore } from '../contract.ts';
import { openDiskStore } from './index.ts';

const dirs: string[] = [];
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describeQueueStore(
  'disk',
  async (limits) => {
    const dir = await mkdtemp(join(tmpdir(), 'hookgate-queue-'));
    dirs.push(dir);
    return openDiskStore({ dir, limits });
  },
  { honoursSkipEndpoints: true },
);

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { LoadedConfig } from './load.ts';
import { ConfigWatcher } from './watch.ts';

const config = (generation: number): string =>
  `generation: ${generation}\nendpoints: [{ name: orders, url: "https://hooks.example.com/${generation}" }]\n`;

describe('ConfigWatcher', () => {
  let watcher: ConfigWatcher | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'hookgate-watch-'));
  afterEach(() => watcher?.close());
  afterEach(() => rmSync(join(dir, 'sidecar.yaml'), { force: true }));

  it('swaps in a changed file, keeps the last good one on a bad file, ignores rewrites of the same bytes', async () => {
    const path = join(dir, 'sidecar.yaml');
    writeFileSync(path, config(1));
    const changes: [number, number][] = [];
    const rejections: (readonly string[])[] = [];
    watcher = await ConfigWatcher.start(path, {
      onChange: (next: LoadedConfig, prev: LoadedConfig) =>
        void changes.push([prev.config.generation, next.config.generation]),
      onRejected: (problems) => void rejections.push(problems),
      pollMs: 0,
    });
    expect(watcher.current.config.generation).toBe(1);

    writeFileSync(path, config(2));
    expect(await watcher.reload()).toBe('changed');
    expect(changes).toEqual([[1, 2]]);

    writeFileSync(path, 'generation: 3\nendpoints: [{ name: orders, url: "not a url" }]\n');
    expect(await watcher.reload()).toBe('rejected');
    expect(rejections).toEqual([['endpoints[0].url: use an absolute http:// or https:// URL']]);
    expect(watcher.current.config.endpoints[0]?.url).toBe('https://hooks.example.com/2');

    writeFileSync(path, config(2));
    expect(await watcher.reload()).toBe('unchanged');
    expect(changes).toHaveLength(1);
  });

  it('notices a write through the folder watch, without being asked', async () => {
    const path = join(dir, 'sidecar.yaml');
    writeFileSync(path, config(1));
    const seen: number[] = [];
    watcher = await ConfigWatcher.start(path, {
      onChange: (next) => void seen.push(next.config.generation),
      onRejected: () => undefined,
      debounceMs: 10,
      pollMs: 0,
    });
    writeFileSync(path, config(5));
    await expect.poll(() => seen, { timeout: 5000 }).toEqual([5]);
  });
});

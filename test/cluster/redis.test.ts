// The test Redis is a real redis-server: commands, Lua scripts (what global rate limits and the
// durable queue are built on) and, for a server started with appendOnly, data across a restart.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { startRedis } from './redis.ts';
import { uniqueName } from '../support/kube.ts';

describe('test Redis', () => {
  const clients: Redis[] = [];
  const connect = (url: string): Redis => {
    const client = new Redis(url, { maxRetriesPerRequest: 1 });
    clients.push(client);
    return client;
  };
  afterAll(() => {
    for (const c of clients) c.disconnect();
  });

  it('answers commands and runs Lua atomically', async () => {
    const redis = connect(inject('redisUrl'));
    const key = uniqueName('counter');
    // INCR + PEXPIRE in one script: the shape of a fixed-window limiter decision.
    const script = `local n = redis.call('INCR', KEYS[1]); redis.call('PEXPIRE', KEYS[1], ARGV[1]); return n`;
    const results = await Promise.all(
      Array.from({ length: 20 }, () => redis.eval(script, 1, key, '60000')),
    );
    expect([...results].sort((a, b) => Number(a) - Number(b))).toEqual(
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    expect(await redis.pttl(key)).toBeGreaterThan(50_000);
    expect(await redis.config('GET', 'maxmemory-policy')).toEqual([
      'maxmemory-policy',
      'noeviction',
    ]);
  });

  it('keeps appendOnly data across a restart on the same port', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hookgate-redis-'));
    try {
      const first = await startRedis({ dir, appendOnly: true });
      const before = connect(first.url);
      await before.rpush('queue', 'a', 'b');
      before.disconnect();
      await first.stop();

      const second = await startRedis({ dir, appendOnly: true, port: first.port });
      try {
        expect(await connect(second.url).lrange('queue', 0, -1)).toEqual(['a', 'b']);
      } finally {
        await second.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { memoryBudget } from './budget.ts';
import { OverloadGuard, type MemorySample } from './overload.ts';

const MiB = 2 ** 20;
const budget = memoryBudget({ bytes: 256 * MiB, source: 'env' });
const heapLimit = 105 * MiB;
const sample = (rssMb: number, heapUsedMb = 20): MemorySample => ({
  rssBytes: rssMb * MiB,
  heapUsedBytes: heapUsedMb * MiB,
  heapLimitBytes: heapLimit,
});

describe('OverloadGuard.update', () => {
  it('sheds at the upper level and admits again only below the lower one', () => {
    const guard = new OverloadGuard(budget, () => sample(0));
    const steps: [MemorySample, string | undefined][] = [
      [sample(100), undefined], // well inside
      [sample(191), undefined], // just under 75 % of 256 MiB
      [sample(192), 'rss'], // at 75 %: shed
      [sample(170), 'rss'], // between the levels: still shedding (no flapping)
      [sample(165), undefined], // under 65 %: admit
      [sample(100, 90), 'heap'], // live heap at 86 % of V8's ceiling: shed
      [sample(100, 80), 'heap'], // 76 %: still shedding
      [sample(100, 70), undefined], // 67 %: admit
    ];
    for (const [s, reason] of steps) expect(guard.update(s)).toBe(reason);
  });
});

describe('OverloadGuard.refuse', () => {
  let server: Server | undefined;
  afterEach(() => server?.close());

  it('answers 503 overloaded with Retry-After while shedding, and counts it', async () => {
    let current = sample(100);
    const guard = new OverloadGuard(budget, () => current);
    const registry = new Registry();
    guard.start(registry, 60_000);
    server = createServer((req, res) => {
      if (guard.refuse('egress', req, res)) return;
      req.resume();
      req.on('end', () => res.end('handled'));
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
    try {
      expect(await (await fetch(url, { method: 'POST', body: '{}' })).text()).toBe('handled');
      current = sample(200);
      guard.update();
      const refused = await fetch(url, { method: 'POST', body: '{"a":1}' });
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBe('1');
      expect(refused.headers.get('content-type')).toBe('application/problem+json');
      expect(await refused.json()).toMatchObject({
        type: 'https://hookgate.io/problems/overloaded',
        code: 'overloaded',
        status: 503,
      });
      // the kept-alive connection still works once memory is back down
      current = sample(100);
      guard.update();
      expect(await (await fetch(url, { method: 'POST', body: '{}' })).text()).toBe('handled');
      expect(await registry.getSingleMetricAsString('hookgate_overload_shed_total')).toContain(
        'hookgate_overload_shed_total{listener="egress",reason="rss"} 1',
      );
      expect(await registry.getSingleMetricAsString('hookgate_memory_limit_bytes')).toContain(
        `hookgate_memory_limit_bytes ${256 * MiB}`,
      );
    } finally {
      guard.stop();
    }
  });
});

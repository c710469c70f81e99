import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { memoryBudget } from './budget.ts';
import { OverloadGuard, type MemorySample } from './overload.ts';

const MiB = 2 ** 20;
const budget = memoryBudget({ bytes: 256 * MiB, source: 'env' });
const heapLimit = 105 * MiB;
const sample = (anonMb: number, heapUsedMb = 20, bufferMb = 1): MemorySample => ({
  anonBytes: anonMb * MiB,
  bufferBytes: bufferMb * MiB,
  heapUsedBytes: heapUsedMb * MiB,
  heapLimitBytes: heapLimit,
});

describe('OverloadGuard.decide', () => {
  it('sheds at the upper level and admits again only below the lower one', () => {
    const guard = new OverloadGuard(budget, { sample: () => sample(0), collect: undefined });
    const steps: [MemorySample, string | undefined][] = [
      [sample(100), undefined], // well inside
      [sample(204), undefined], // anonymous memory just under 80 % of 256 MiB
      [sample(205), 'memory'], // at 80 %: shed
      [sample(180), 'memory'], // between the levels: still shedding (no flapping)
      [sample(179), undefined], // under 70 %: admit
      [sample(100, 90), 'heap'], // live heap at 86 % of V8's ceiling: shed
      [sample(100, 80), 'heap'], // 76 %: still shedding
      [sample(100, 70), undefined], // 67 %: admit
      [sample(100, 20, 64), 'buffers'], // Buffers hold a quarter of the limit: shed
      [sample(100, 20, 40), 'buffers'], // 16 %: still shedding
      [sample(100, 20, 38), undefined], // under 15 %: admit
      [sample(100, 20, 40), undefined], // 16 % again: admitting stays admitting below 25 %
    ];
    for (const [s, reason] of steps) expect(guard.decide(s)).toBe(reason);
  });
});

describe('OverloadGuard.update', () => {
  it('collects garbage before shedding, and sheds only for what is still live', () => {
    let now = 0;
    let current = sample(100, 20, 70); // Buffers over the level…
    let collections = 0;
    const guard = new OverloadGuard(budget, {
      sample: () => current,
      // …that were garbage: a collection frees them
      collect: () => {
        collections++;
        current = sample(100, 20, 40);
      },
      now: () => now,
    });
    expect(guard.update()).toBeUndefined();
    expect(collections).toBe(1);
    // Live Buffers over the level: collected once, then shed
    now += 1000;
    current = sample(100, 20, 70);
    const live = new OverloadGuard(budget, {
      sample: () => sample(100, 20, 70),
      collect: () => void collections++,
      now: () => now,
    });
    expect(live.update()).toBe('buffers');
    expect(collections).toBe(2);
    // Within the second no further collection: the decision stands on the sample
    now += 999;
    expect(live.update()).toBe('buffers');
    expect(collections).toBe(2);
    now += 1;
    expect(live.update()).toBe('buffers');
    expect(collections).toBe(3);
  });
});

describe('OverloadGuard.refuse', () => {
  let server: Server | undefined;
  afterEach(() => server?.close());

  it('answers 503 overloaded with Retry-After while shedding, and counts it', async () => {
    let current = sample(100);
    const guard = new OverloadGuard(budget, { sample: () => current, collect: undefined });
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
      current = sample(210);
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
        'hookgate_overload_shed_total{listener="egress",reason="memory"} 1',
      );
      expect(await registry.getSingleMetricAsString('hookgate_memory_limit_bytes')).toContain(
        `hookgate_memory_limit_bytes ${256 * MiB}`,
      );
    } finally {
      guard.stop();
    }
  });
});

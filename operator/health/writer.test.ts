// The writer's choices (what is due, in which order, within which budget) on an injected clock;
// the writes themselves are answered by a stub here and by the real API server in test/health.
import { describe, expect, it } from 'vitest';
import type { EndpointHealthReport } from '../../common/health.ts';
import { createLogger } from '../../common/log.ts';
import type { KubeClient } from '../kube/client.ts';
import type { KubeObject } from '../kube/types.ts';
import { HealthAggregator } from './aggregate.ts';
import { healthSettings, type HealthSettings } from './settings.ts';
import { HealthStatusWriter } from './writer.ts';

const log = createLogger({}, 'error', () => undefined);

function setup(count: number, overrides: Partial<HealthSettings> = {}) {
  const settings = healthSettings(overrides);
  let at = Date.parse('2026-12-03T12:00:00Z');
  const clock = { now: () => new Date(at) };
  const objects = new Map<string, KubeObject>();
  for (let i = 0; i < count; i++) {
    objects.set(`e-${i}`, {
      apiVersion: 'hookgate.io/v1alpha1',
      kind: 'WebhookEndpoint',
      metadata: { name: `e-${i}`, namespace: 'shop', uid: `uid-${i}`, generation: 1 },
    });
  }
  const written: string[] = [];
  const client = {
    apply: (_path: string, manifest: KubeObject) => {
      written.push(manifest.metadata.name);
      return Promise.resolve(manifest);
    },
  } as unknown as KubeClient;
  const aggregator = new HealthAggregator({ clock, settings });
  const writer = new HealthStatusWriter({
    client,
    endpoints: {
      namespaces: () => ['shop'],
      list: () => [...objects.values()],
      get: (_ns, name) => objects.get(name),
      upsert: (o) => void objects.set(o.metadata.name, o),
    },
    aggregator,
    events: { record: () => Promise.resolve(true) },
    clock,
    log,
    settings,
    isLeader: () => true,
  });
  let round = 0;
  /** One report from one pod naming every endpoint; `failing` endpoints failed once more. */
  const report = (failing: ReadonlySet<number> = new Set()): void => {
    round++;
    const endpoints: EndpointHealthReport[] = [...objects.keys()].map((name, i) => ({
      endpoint: `shop/${name}`,
      delivered: round,
      failed: failing.has(i) ? round : 0,
      deadLettered: 0,
      circuit: 'closed',
      queueDepth: 0,
      deadLetters: 0,
    }));
    aggregator.onReport(
      { namespace: 'shop', name: 'p', uid: 'p', serviceAccount: 'a', labels: {} },
      { bootId: 'b', generation: 1, sentAt: clock.now().toISOString(), endpoints },
    );
  };
  const advance = (ms: number): void => void (at += ms);
  const healthy = (name: string) =>
    (objects.get(name)?.['status'] as { conditions: { reason: string }[] } | undefined)
      ?.conditions[0]?.reason;
  return { writer, written, report, advance, healthy };
}

describe('HealthStatusWriter', () => {
  it('writes within the budget, flips before refreshes, and the rest on later passes', async () => {
    const { writer, written, report, advance, healthy } = setup(30, { writesPerSecond: 10 });
    report();
    advance(1_000);
    report();
    // 30 endpoints due, 10 writes a second.
    expect(await writer.tick()).toBe(10);
    advance(1_000);
    expect(await writer.tick()).toBe(10);
    // Endpoint 5 (written) starts failing: its flip goes before the ten still never written.
    advance(1_000);
    report(new Set([5]));
    written.length = 0;
    expect(await writer.tick()).toBe(10);
    expect(written[0]).toBe('e-5');
    expect(healthy('e-5')).toBe('FailingDeliveries');
    expect(written.slice(1).sort()).toEqual(
      Array.from({ length: 9 }, (_, i) => `e-${20 + i}`).sort(),
    );
  });

  it('holds a changed count back for the interval, but not a flip', async () => {
    const { writer, report, advance, healthy } = setup(1);
    report();
    advance(1_000);
    report();
    expect(await writer.tick()).toBe(1);
    // One more success: the message changes, the condition does not.
    advance(1_000);
    report();
    expect(await writer.tick()).toBe(0);
    // A failure flips it: written at once.
    advance(1_000);
    report(new Set([0]));
    expect(await writer.tick()).toBe(1);
    expect(healthy('e-0')).toBe('FailingDeliveries');
    // Nothing new: nothing written, however often it looks.
    expect(await writer.tick()).toBe(0);
    advance(10_000);
    expect(await writer.tick()).toBe(0);
  });

  it('waits one stale period after it starts leading before it says NoReports', async () => {
    const { writer, advance, healthy } = setup(2);
    expect(await writer.tick()).toBe(0);
    advance(29_000);
    expect(await writer.tick()).toBe(0);
    advance(1_000);
    expect(await writer.tick()).toBe(2);
    expect(healthy('e-1')).toBe('NoReports');
  });
});

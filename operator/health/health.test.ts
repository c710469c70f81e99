import { describe, expect, it } from 'vitest';
import type { EndpointHealthReport, SidecarHealthReport } from '../../common/health.ts';
import type { PodIdentity } from '../config-server/auth.ts';
import type { KubeObject } from '../kube/types.ts';
import { HealthAggregator, type EndpointAggregate } from './aggregate.ts';
import { deliveriesSummary, healthyCondition, successRate } from './condition.ts';
import { onlyHealthChanged } from './index.ts';
import { healthSettings } from './settings.ts';

const settings = healthSettings();
const T0 = Date.parse('2026-12-03T12:00:00Z');

/** A clock the test moves by hand. */
function manualClock(): { now(): Date; advance(ms: number): void } {
  let at = T0;
  return { now: () => new Date(at), advance: (ms) => void (at += ms) };
}

const pod = (uid: string): PodIdentity => ({
  namespace: 'shop',
  name: `app-${uid}`,
  uid,
  serviceAccount: 'app',
  labels: {},
});

function endpoint(overrides: Partial<EndpointHealthReport> = {}): EndpointHealthReport {
  return {
    endpoint: 'shop/orders',
    delivered: 0,
    failed: 0,
    deadLettered: 0,
    circuit: 'closed',
    queueDepth: 0,
    deadLetters: 0,
    ...overrides,
  };
}

function report(bootId: string, ...endpoints: EndpointHealthReport[]): SidecarHealthReport {
  return { bootId, generation: 3, sentAt: new Date(T0).toISOString(), endpoints };
}

describe('HealthAggregator', () => {
  it('counts differences between reports of one pod, not their totals', () => {
    const clock = manualClock();
    const agg = new HealthAggregator({ clock, settings });
    agg.onReport(pod('a'), report('boot-1', endpoint({ delivered: 1000, failed: 50 })));
    // The first report of a pod only sets the baseline: its counters may span days.
    expect(agg.aggregate('shop/orders', clock.now().getTime())).toMatchObject({
      pods: 1,
      delivered: 0,
      failed: 0,
    });
    clock.advance(5_000);
    agg.onReport(pod('a'), report('boot-1', endpoint({ delivered: 1010, failed: 52 })));
    // The same report again adds nothing: reports are idempotent.
    agg.onReport(pod('a'), report('boot-1', endpoint({ delivered: 1010, failed: 52 })));
    expect(agg.aggregate('shop/orders', clock.now().getTime())).toMatchObject({
      delivered: 10,
      failed: 2,
    });
  });

  it('treats a new bootId as a restart whose counters started from zero', () => {
    const clock = manualClock();
    const agg = new HealthAggregator({ clock, settings });
    agg.onReport(pod('a'), report('boot-1', endpoint({ delivered: 500 })));
    clock.advance(5_000);
    agg.onReport(pod('a'), report('boot-2', endpoint({ delivered: 3, failed: 1 })));
    expect(agg.aggregate('shop/orders', clock.now().getTime())).toMatchObject({
      delivered: 3,
      failed: 1,
    });
  });

  it('sums pods, takes the worst circuit and the latest times, and ages out silent pods', () => {
    const clock = manualClock();
    const agg = new HealthAggregator({ clock, settings });
    const success = new Date(T0 - 2_000).toISOString();
    const failure = new Date(T0 - 1_000).toISOString();
    agg.onReport(
      pod('a'),
      report('a', endpoint({ queueDepth: 2, deadLetters: 1, lastSuccessAt: success })),
    );
    agg.onReport(
      pod('b'),
      report(
        'b',
        endpoint({
          circuit: 'open',
          queueDepth: 3,
          lastFailureAt: failure,
          lastFailureReason: 'http-503',
        }),
      ),
    );
    expect(agg.aggregate('shop/orders', T0)).toMatchObject({
      pods: 2,
      circuit: 'open',
      openPods: 1,
      queueDepth: 5,
      deadLetters: 1,
      lastSuccessAt: Date.parse(success),
      lastFailure: { at: Date.parse(failure), reason: 'http-503' },
    });
    // Pod b falls silent; pod a keeps reporting.
    clock.advance(settings.staleMs - 1_000);
    agg.onReport(pod('a'), report('a', endpoint()));
    clock.advance(2_000);
    agg.prune(clock.now().getTime());
    expect(agg.aggregate('shop/orders', clock.now().getTime())).toMatchObject({
      pods: 1,
      circuit: 'closed',
    });
    clock.advance(settings.staleMs);
    agg.prune(clock.now().getTime());
    expect(agg.aggregate('shop/orders', clock.now().getTime())).toBeUndefined();
    expect(agg.pods).toBe(0);
  });

  it('forgets counts once they leave the window', () => {
    const clock = manualClock();
    const agg = new HealthAggregator({ clock, settings });
    agg.onReport(pod('a'), report('a', endpoint()));
    clock.advance(5_000);
    agg.onReport(pod('a'), report('a', endpoint({ failed: 4 })));
    for (let i = 1; i <= 13; i++) {
      clock.advance(5_000);
      agg.onReport(pod('a'), report('a', endpoint({ failed: 4, delivered: i })));
    }
    // 65 s later the four failures have left the 60 s window; the successes since have not all.
    const a = agg.aggregate('shop/orders', clock.now().getTime());
    expect(a?.failed).toBe(0);
    expect(a?.delivered).toBeGreaterThanOrEqual(11);
  });

  it('counts a moving last failure even when no delivery ended (queued attempts failing)', () => {
    const clock = manualClock();
    const agg = new HealthAggregator({ clock, settings });
    agg.onReport(pod('a'), report('a', endpoint({ queueDepth: 4 })));
    clock.advance(5_000);
    const at = clock.now().toISOString();
    agg.onReport(
      pod('a'),
      report(
        'a',
        endpoint({ queueDepth: 4, lastFailureAt: at, lastFailureReason: 'connect-error' }),
      ),
    );
    expect(agg.aggregate('shop/orders', clock.now().getTime())?.failuresSeen).toBe(1);
  });

  it('keeps only contract reasons: free text from a sidecar becomes "unknown"', () => {
    const agg = new HealthAggregator({ clock: manualClock(), settings });
    agg.onReport(
      pod('a'),
      report(
        'a',
        endpoint({
          lastFailureAt: new Date(T0).toISOString(),
          lastFailureReason: 'POST https://hooks.example/?token=s3cret failed',
        }),
      ),
    );
    expect(agg.aggregate('shop/orders', T0)?.lastFailure?.reason).toBe('unknown');
  });

  it('drops an endpoint from a pod once its report no longer names it', () => {
    const clock = manualClock();
    const agg = new HealthAggregator({ clock, settings });
    agg.onReport(pod('a'), report('a', endpoint(), endpoint({ endpoint: 'shop/invoices' })));
    agg.onReport(pod('a'), report('a', endpoint()));
    expect(agg.aggregate('shop/invoices', T0)).toBeUndefined();
    expect([...agg.endpoints()]).toContain('shop/orders');
  });
});

const base: EndpointAggregate = {
  pods: 2,
  delivered: 0,
  failed: 0,
  deadLettered: 0,
  deadLetteredInARow: 0,
  failuresSeen: 0,
  circuit: 'closed',
  openPods: 0,
  queueDepth: 0,
  deadLetters: 0,
};

describe('healthyCondition (first failing check wins)', () => {
  it.each<[string, EndpointAggregate | undefined, string, string]>([
    // No current report at all: nothing is known.
    ['no reports', undefined, 'Unknown', 'NoReports'],
    // An open breaker outranks everything else, even a good success rate.
    [
      'circuit open',
      { ...base, circuit: 'open', openPods: 1, delivered: 100, deadLettered: 3 },
      'False',
      'CircuitOpen',
    ],
    // Half-open alone is a probe in progress, not an outage.
    ['circuit half-open', { ...base, circuit: 'half-open', delivered: 10 }, 'True', 'Delivering'],
    // Dead letters in the window outrank the success ratio.
    [
      'dead-lettered',
      { ...base, deadLettered: 1, delivered: 99, failed: 1 },
      'False',
      'DeadLetters',
    ],
    // Below the 90 % floor.
    ['failing', { ...base, delivered: 8, failed: 2 }, 'False', 'FailingDeliveries'],
    // At the floor: healthy.
    ['at the floor', { ...base, delivered: 9, failed: 1 }, 'True', 'Delivering'],
    // Queued deliveries failing their attempts, nothing delivered.
    ['retries failing', { ...base, failuresSeen: 2, queueDepth: 7 }, 'False', 'FailingDeliveries'],
    // A failed attempt but deliveries getting through.
    ['retries and successes', { ...base, failuresSeen: 1, delivered: 5 }, 'True', 'Delivering'],
    // Nothing ended in the window.
    ['idle', base, 'True', 'Idle'],
    // Everything delivered.
    ['delivering', { ...base, delivered: 40 }, 'True', 'Delivering'],
  ])('%s → %s %s', (_name, aggregate, status, reason) => {
    const c = healthyCondition(aggregate, settings);
    expect(c).toMatchObject({ type: 'Healthy', status, reason });
    expect(c.message.length).toBeGreaterThan(10);
  });

  it('says what failed and when, in the message', () => {
    const c = healthyCondition(
      {
        ...base,
        delivered: 1,
        failed: 3,
        lastFailure: { at: T0, reason: 'http-503' },
      },
      settings,
    );
    expect(c.message).toBe(
      '3 of 4 deliveries failed in the last 60s (success 25%, below 90%); last failure http-503 at 2026-12-03T12:00:00Z',
    );
  });
});

describe('status.deliveries', () => {
  it('rounds the success rate down, so one failure never shows 100%', () => {
    expect(successRate(1999, 1)).toBe('99.9%');
    expect(successRate(3, 0)).toBe('100%');
    expect(successRate(1, 2)).toBe('33.3%');
    expect(successRate(0, 0)).toBeUndefined();
  });

  it('keeps the last success and failure the status already had when pods forgot them', () => {
    const previous = {
      lastSuccessTime: '2026-12-03T11:00:00Z',
      lastFailure: { time: '2026-12-03T11:30:00Z', reason: 'timeout' },
    };
    const summary = deliveriesSummary(
      { ...base, delivered: 2, lastSuccessAt: T0 },
      previous,
      settings,
    );
    expect(summary).toEqual({
      windowSeconds: 60,
      pods: 2,
      delivered: 2,
      failed: 0,
      deadLettered: 0,
      successRate: '100%',
      lastSuccessTime: '2026-12-03T12:00:00Z',
      lastFailure: { time: '2026-12-03T11:30:00Z', reason: 'timeout' },
      circuit: 'closed',
      queueDepth: 0,
      deadLetters: 0,
    });
    expect(deliveriesSummary(undefined, previous, settings)).toMatchObject({
      pods: 0,
      lastSuccessTime: '2026-12-03T11:00:00Z',
    });
  });
});

describe('onlyHealthChanged', () => {
  const object = (status: unknown, generation = 1): KubeObject => ({
    apiVersion: 'hookgate.io/v1alpha1',
    kind: 'WebhookEndpoint',
    metadata: {
      name: 'orders',
      namespace: 'shop',
      generation,
      resourceVersion: String(generation),
    },
    spec: { direction: 'Egress' },
    status,
  });
  const ready = { type: 'Ready', status: 'True' };
  it.each([
    // A health write: the reconciler has nothing to do.
    [
      object({ conditions: [ready] }),
      object({ conditions: [ready, { type: 'Healthy' }], deliveries: { pods: 1 } }),
      true,
    ],
    // The spec changed: compile.
    [object({ conditions: [ready] }), object({ conditions: [ready] }, 2), false],
    // Ready changed (another writer): the reconciler looks.
    [
      object({ conditions: [ready] }),
      object({ conditions: [{ ...ready, status: 'False' }] }),
      false,
    ],
  ])('%#', (old, next, expected) => {
    expect(onlyHealthChanged({ type: 'update', old, object: next })).toBe(expected);
  });
});

// Auto-disable on an injected clock: the writer, fed reports by hand, decides from a policy's
// autoDisable rule; writes go to a stub that keeps the object (the real API server answers them
// in test/health/autodisable.test.ts).
import { describe, expect, it } from 'vitest';
import type { EndpointHealthReport } from '../../common/health.ts';
import { createLogger } from '../../common/log.ts';
import type { KubeClient } from '../kube/client.ts';
import type { KubeObject } from '../kube/types.ts';
import { disabledReason } from '../lifecycle/disabled.ts';
import { HealthAggregator } from './aggregate.ts';
import { autoDisableRule } from './disable.ts';
import { onlyHealthChanged } from './index.ts';
import { healthSettings } from './settings.ts';
import { HealthStatusWriter } from './writer.ts';

const log = createLogger({}, 'error', () => undefined);
const MINUTE = 60_000;

interface Counters {
  delivered: number;
  failed: number;
  deadLettered: number;
  deadLetteredInARow: number;
}

function setup(autoDisable: Record<string, unknown> | undefined) {
  const settings = healthSettings();
  let at = Date.parse('2026-12-03T12:00:00Z');
  const clock = { now: () => new Date(at) };
  let object: KubeObject = {
    apiVersion: 'hookgate.io/v1alpha1',
    kind: 'WebhookEndpoint',
    metadata: { name: 'orders', namespace: 'shop', uid: 'uid-1', generation: 4 },
    spec: { direction: 'Egress', url: 'https://hooks.example/orders?token=s3cret' },
    status: { policy: 'strict' },
  };
  const policy: KubeObject = {
    apiVersion: 'hookgate.io/v1alpha1',
    kind: 'WebhookPolicy',
    metadata: { name: 'strict', namespace: 'shop' },
    spec: { endpointSelector: {}, ...(autoDisable === undefined ? {} : { autoDisable }) },
  };
  const events: { type: string; reason: string; message: string }[] = [];
  const operational: { type: string; data: Record<string, unknown> }[] = [];
  const client = {
    apply: (_path: string, manifest: KubeObject) =>
      Promise.resolve({
        ...object,
        status: { ...(object['status'] as object), ...(manifest['status'] as object) },
      }),
  } as unknown as KubeClient;
  const aggregator = new HealthAggregator({ clock, settings });
  const writer = new HealthStatusWriter({
    client,
    endpoints: {
      namespaces: () => ['shop'],
      list: () => [object],
      get: () => object,
      upsert: (o) => void (object = o),
    },
    policies: { get: (_ns, name) => (name === 'strict' ? policy : undefined) },
    aggregator,
    events: {
      record: (_regarding, type, reason, message) => {
        events.push({ type, reason, message });
        return Promise.resolve(true);
      },
    },
    clock,
    log,
    settings,
    isLeader: () => true,
    operational: { emit: (_subject, type, data) => void operational.push({ type, data }) },
  });
  const pods = new Map<string, Counters>();
  /** Pod `uid` reports `change` on top of what it said before. */
  const report = (uid: string, change: Partial<Counters>): void => {
    const before = pods.get(uid) ?? {
      delivered: 0,
      failed: 0,
      deadLettered: 0,
      deadLetteredInARow: 0,
    };
    const c: Counters = {
      delivered: before.delivered + (change.delivered ?? 0),
      failed: before.failed + (change.failed ?? 0),
      deadLettered: before.deadLettered + (change.deadLettered ?? 0),
      deadLetteredInARow:
        (change.delivered ?? 0) > 0
          ? 0
          : before.deadLetteredInARow + (change.deadLetteredInARow ?? change.deadLettered ?? 0),
    };
    pods.set(uid, c);
    const now = clock.now().toISOString();
    const e: EndpointHealthReport = {
      endpoint: 'shop/orders',
      ...c,
      ...((change.failed ?? 0) > 0 ? { lastFailureAt: now, lastFailureReason: 'http-503' } : {}),
      ...((change.delivered ?? 0) > 0 ? { lastSuccessAt: now } : {}),
      circuit: 'closed',
      queueDepth: 0,
      deadLetters: c.deadLettered,
    };
    aggregator.onReport(
      { namespace: 'shop', name: uid, uid, serviceAccount: 'app', labels: {} },
      { bootId: uid, generation: 1, sentAt: now, endpoints: [e] },
    );
  };
  /** Pod `uid` reports one more failure with its breaker in `state`. */
  const circuit = (uid: string, state: 'open' | 'closed'): void => {
    const c = pods.get(uid)!;
    c.failed++;
    const now = clock.now().toISOString();
    aggregator.onReport(
      { namespace: 'shop', name: uid, uid, serviceAccount: 'app', labels: {} },
      {
        bootId: uid,
        generation: 1,
        sentAt: now,
        endpoints: [
          {
            endpoint: 'shop/orders',
            ...c,
            lastFailureAt: now,
            lastFailureReason: 'http-503',
            circuit: state,
            queueDepth: 0,
            deadLetters: 0,
          },
        ],
      },
    );
  };
  const advance = (ms: number): void => void (at += ms);
  const healthy = () =>
    (object['status'] as { conditions?: Record<string, unknown>[] }).conditions?.find(
      (c) => c['type'] === 'Healthy',
    );
  const deliveries = () =>
    (object['status'] as { deliveries?: Record<string, unknown> }).deliveries;
  /** A failure a minute for `minutes`, from one pod, each followed by a writer pass 10 s later. */
  const failFor = async (minutes: number): Promise<void> => {
    for (let i = 0; i < minutes; i++) {
      advance(MINUTE - 10_000);
      report('a', { failed: 1 });
      advance(10_000);
      await writer.tick();
    }
  };
  return {
    writer,
    report,
    circuit,
    advance,
    healthy,
    deliveries,
    events,
    operational,
    failFor,
    get object() {
      return object;
    },
    set object(o: KubeObject) {
      object = o;
    },
  };
}

describe('auto-disable', () => {
  it('disables an endpoint failing continuously for failingFor, with an Event, at its generation', async () => {
    const t = setup({ failingFor: '1h' });
    t.report('a', {});
    await t.failFor(1);
    const since = t.deliveries()?.['failingSince'];
    expect(since).toBeDefined();
    expect(t.healthy()).toMatchObject({ status: 'False', reason: 'FailingDeliveries' });
    // An hour since the run began, not before.
    await t.failFor(59);
    expect(t.healthy()?.['reason']).toBe('FailingDeliveries');
    await t.failFor(1);
    expect(t.healthy()).toMatchObject({
      status: 'False',
      reason: 'Disabled',
      observedGeneration: 4,
    });
    expect(t.deliveries()?.['failingSince']).toBe(since);
    expect(disabledReason(t.object)).toContain('WebhookPolicy strict (autoDisable.failingFor 1h)');
    expect(t.events.filter((e) => e.reason === 'Disabled')).toEqual([
      expect.objectContaining({ type: 'Warning' }),
    ]);
    // Nothing of the URL (a capability) in what the operator wrote or said.
    expect(JSON.stringify([t.object['status'], t.events])).not.toContain('s3cret');

    // The decision stands while the spec is unchanged, whatever is reported.
    t.report('a', { delivered: 1 });
    t.advance(10_000);
    expect(await t.writer.tick()).toBe(0);
    expect(t.healthy()?.['reason']).toBe('Disabled');
  });

  it('starts the run again after any success: failures with successes between never disable', async () => {
    const t = setup({ failingFor: '30m' });
    t.report('a', {});
    await t.failFor(20);
    // One delivery got through (another pod): the run is over.
    t.advance(MINUTE);
    t.report('b', {});
    t.report('b', { delivered: 1 });
    t.advance(10_000);
    await t.writer.tick();
    expect(t.deliveries()?.['failingSince']).toBeUndefined();
    await t.failFor(25);
    expect(t.healthy()?.['reason']).toBe('FailingDeliveries');
    await t.failFor(6);
    expect(t.healthy()?.['reason']).toBe('Disabled');
  });

  it('disables after deadLettersInARow, added up over pods', async () => {
    const t = setup({ deadLettersInARow: 5 });
    t.report('a', {});
    t.report('b', {});
    t.advance(5_000);
    t.report('a', { failed: 2, deadLettered: 2 });
    t.report('b', { failed: 2, deadLettered: 2 });
    await t.writer.tick();
    expect(t.healthy()?.['reason']).toBe('DeadLetters');
    expect(t.deliveries()?.['deadLetteredInARow']).toBe(4);
    t.advance(5_000);
    t.report('b', { failed: 1, deadLettered: 1 });
    await t.writer.tick();
    expect(t.healthy()).toMatchObject({ status: 'False', reason: 'Disabled' });
    expect(t.healthy()?.['message']).toContain('5 deliveries dead-lettered in a row');
    // Operational webhooks: dead letters arriving (once per burst, not per write), then disabled.
    expect(t.operational.map((o) => o.type)).toEqual([
      'hookgate.delivery.dead_lettered',
      'hookgate.endpoint.disabled',
    ]);
    expect(t.operational[0]!.data).toMatchObject({ deadLettered: 4, windowSeconds: 60 });
    expect(t.operational[1]!.data).toMatchObject({ reason: 'Disabled', deadLetteredInARow: 5 });
  });

  it.each<[string, Record<string, unknown> | undefined]>([
    // Off by default: a policy without autoDisable never disables.
    ['no autoDisable', undefined],
    // The dead-letter rule alone ignores how long failures last.
    ['only deadLettersInARow', { deadLettersInARow: 1000 }],
  ])('never disables with %s, however long it fails', async (_what, autoDisable) => {
    const t = setup(autoDisable);
    t.report('a', {});
    await t.failFor(90);
    expect(t.healthy()?.['reason']).toBe('FailingDeliveries');
  });

  it('is enabled again by a change to the resource: Event Enabled, a new run of failures', async () => {
    const t = setup({ failingFor: '5m' });
    t.report('a', {});
    await t.failFor(6);
    expect(t.healthy()?.['reason']).toBe('Disabled');
    const disabled = t.object;
    const oldSince = Date.parse(String(t.deliveries()?.['failingSince']));
    // kubectl edit: a new generation. The reconciler must compile it (and did for the mark).
    t.object = { ...disabled, metadata: { ...disabled.metadata, generation: 5 } };
    expect(disabledReason(t.object)).toBeUndefined();
    t.advance(10_000);
    t.report('a', { failed: 1 });
    await t.writer.tick();
    expect(t.healthy()).toMatchObject({ reason: 'FailingDeliveries', observedGeneration: 5 });
    expect(t.events.map((e) => e.reason)).toEqual([
      'FailingDeliveries',
      'Disabled',
      'Enabled',
      'FailingDeliveries',
    ]);
    expect(t.operational.map((o) => o.type)).toEqual([
      'hookgate.endpoint.disabled',
      'hookgate.endpoint.enabled',
    ]);
    // The run is counted from the enabling, not from the old failures.
    expect(Date.parse(String(t.deliveries()?.['failingSince']))).toBeGreaterThan(
      oldSince + 5 * MINUTE,
    );
    await t.failFor(3);
    expect(t.healthy()?.['reason']).toBe('FailingDeliveries');
    await t.failFor(3);
    expect(t.healthy()?.['reason']).toBe('Disabled');
  });

  it('sends circuit.opened and circuit.closed as the breaker moves', async () => {
    const t = setup(undefined);
    t.report('a', {});
    t.advance(5_000);
    t.circuit('a', 'open');
    await t.writer.tick();
    t.advance(5_000);
    t.circuit('a', 'closed');
    await t.writer.tick();
    expect(t.operational.map((o) => o.type)).toEqual([
      'hookgate.circuit.opened',
      'hookgate.circuit.closed',
    ]);
    expect(t.operational[0]!.data).toMatchObject({ pods: 1, lastFailure: { reason: 'http-503' } });
  });

  it('makes the reconciler compile when the Disabled mark changes, not for other health writes', () => {
    const t = setup({ failingFor: '5m' });
    const before: KubeObject = t.object;
    const mark = (reason: string): KubeObject => ({
      ...before,
      status: {
        conditions: [{ type: 'Healthy', status: 'False', reason, observedGeneration: 4 }],
      },
    });
    // FailingDeliveries → Disabled: the compile publishes `disabled`.
    expect(
      onlyHealthChanged({
        type: 'update',
        old: mark('FailingDeliveries'),
        object: mark('Disabled'),
      }),
    ).toBe(false);
    // FailingDeliveries → CircuitOpen: health only.
    expect(
      onlyHealthChanged({
        type: 'update',
        old: mark('FailingDeliveries'),
        object: mark('CircuitOpen'),
      }),
    ).toBe(true);
  });

  it.each<[string, Record<string, unknown>, object | undefined]>([
    ['both set', { failingFor: '24h', deadLettersInARow: 10 }, { failingFor: { ms: 86_400_000 } }],
    ['a malformed duration stored before the CRD refused it', { failingFor: '1d' }, undefined],
  ])('reads a policy rule once typed: %s', (_what, autoDisable, expected) => {
    const rule = autoDisableRule({ metadata: { name: 'p' }, spec: { autoDisable } });
    if (expected === undefined) expect(rule).toBeUndefined();
    else expect(rule).toMatchObject(expected);
  });
});

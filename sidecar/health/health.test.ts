import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import type { SidecarHealthReport } from '../../common/health.ts';
import { createLogger } from '../../common/log.ts';
import { Policy } from '../config/schema.ts';
import type { AttemptResult, Delivery } from '../delivery/delivery.ts';
import { deliveryEvents, stepEvent, syncEvent } from '../delivery/ended.ts';
import { createEgressMetrics } from '../delivery/metrics.ts';
import { compileEndpointPlan } from '../delivery/plan.ts';
import type { EndpointRuntime } from '../delivery/runtime.ts';
import { deliverSync } from '../delivery/sync.ts';
import { ManualClock } from '../delivery/testing/manual-clock.ts';
import { problem } from '../problem.ts';
import type { QueueStats } from '../queue/store.ts';
import { HealthCollector, type ReportInput } from './collector.ts';
import { HealthReporter, type ReportAnswer } from './reporter.ts';

const log = createLogger({}, 'error', () => undefined);
const T0 = Date.parse('2026-12-03T12:00:00Z');
const input = (overrides: Partial<ReportInput> = {}): ReportInput => ({
  namespace: 'shop',
  generation: 7,
  endpoints: ['orders', 'invoices'],
  now: T0,
  ...overrides,
});
const response = (status: number): AttemptResult => ({
  kind: 'response',
  status,
  headers: {},
  body: Buffer.alloc(0),
  truncated: false,
  durationMs: 3,
});

describe('HealthCollector', () => {
  it('counts what the delivery core announces, per endpoint, cumulatively', () => {
    const events = deliveryEvents(new Registry());
    const collector = new HealthCollector(events);
    events.emit({ kind: 'delivered', endpoint: 'orders', at: T0 - 3_000 });
    events.emit({ kind: 'delivered', endpoint: 'orders', at: T0 - 2_000 });
    events.emit(syncEvent('orders', false, response(503), T0 - 1_000));
    events.emit({ kind: 'circuit', endpoint: 'orders', state: 'open' });
    const report = collector.report(input());
    expect(report).toMatchObject({ bootId: collector.bootId, generation: 7 });
    expect(report.endpoints).toEqual([
      {
        endpoint: 'shop/orders',
        delivered: 2,
        failed: 1,
        deadLettered: 0,
        deadLetteredInARow: 0,
        lastSuccessAt: '2026-12-03T11:59:58.000Z',
        lastFailureAt: '2026-12-03T11:59:59.000Z',
        lastFailureReason: 'http-503',
        circuit: 'open',
        queueDepth: 0,
        deadLetters: 0,
      },
      // Named in the config, nothing happened yet: reported all the same (it is alive).
      {
        endpoint: 'shop/invoices',
        delivered: 0,
        failed: 0,
        deadLettered: 0,
        deadLetteredInARow: 0,
        circuit: 'closed',
        queueDepth: 0,
        deadLetters: 0,
      },
    ]);
    // Counters are cumulative: a second report says the same, and more once more happens.
    events.emit({ kind: 'delivered', endpoint: 'orders', at: T0 });
    expect(collector.report(input()).endpoints[0]?.delivered).toBe(3);
  });

  it.each<[string, AttemptResult, boolean]>([
    // The receiver said no: a failure with its status.
    ['http-500', response(500), true],
    // A transport error: a failure named by its kind.
    [
      'connect-error',
      { kind: 'error', error: 'connect-error', message: 'ECONNREFUSED', durationMs: 1 },
      true,
    ],
    // The breaker refused: the receiver's failures, remembered.
    ['circuit-open', { kind: 'local', problem: problem('circuit-open', 'open') }, true],
    // The app's own rate limit never asked the receiver: not the endpoint's health.
    ['rate-limited', { kind: 'local', problem: problem('rate-limited', 'over') }, false],
  ])('a sync delivery ending in %s counts as a failure: %s', (reason, result, counted) => {
    const events = deliveryEvents(new Registry());
    const collector = new HealthCollector(events);
    events.emit(syncEvent('orders', false, result, T0));
    const [orders] = collector.report(input()).endpoints;
    expect(orders?.failed).toBe(counted ? 1 : 0);
    expect(orders?.lastFailureReason).toBe(counted ? reason : undefined);
  });

  it('counts queued deliveries: failed attempts move the last failure, dead letters count', () => {
    const events = deliveryEvents(new Registry());
    const collector = new HealthCollector(events);
    const record = { at: T0 - 1_000, status: 502, durationMs: 4 };
    events.emit(stepEvent('orders', { kind: 'retry', at: T0 + 5_000, record }, T0));
    let [orders] = collector.report(input()).endpoints;
    expect(orders).toMatchObject({ failed: 0, lastFailureReason: 'http-502' });
    events.emit(
      stepEvent(
        'orders',
        { kind: 'dead', record: { at: T0, error: 'timeout', durationMs: 1 }, reason: 'used up' },
        T0,
      ),
    );
    // A deferral (a local refusal in the queue) says nothing of the receiver.
    events.emit(stepEvent('orders', { kind: 'defer', at: T0 + 1_000, reason: 'rate-limited' }, T0));
    [orders] = collector.report(input()).endpoints;
    expect(orders).toMatchObject({ failed: 1, deadLettered: 1, lastFailureReason: 'timeout' });
  });

  it('counts dead letters in a row: a success ends the run, and so does the endpoint being disabled', () => {
    const events = deliveryEvents(new Registry());
    const collector = new HealthCollector(events);
    const dead = (): void =>
      events.emit(
        stepEvent(
          'orders',
          { kind: 'dead', record: { at: T0, status: 503, durationMs: 1 }, reason: 'used up' },
          T0,
        ),
      );
    const inARow = (extra: Partial<ReportInput> = {}): number | undefined =>
      collector.report(input(extra)).endpoints[0]?.deadLetteredInARow;
    dead();
    dead();
    expect(inARow()).toBe(2);
    events.emit({ kind: 'delivered', endpoint: 'orders', at: T0 });
    expect(inARow()).toBe(0);
    dead();
    expect(inARow()).toBe(1);
    // The config says the operator disabled it: that run is over, a new one starts when enabled.
    expect(inARow({ disabled: ['orders'] })).toBe(0);
    expect(inARow()).toBe(0);
    // The cumulative counter is untouched by either.
    expect(collector.report(input()).endpoints[0]?.deadLettered).toBe(3);
  });

  it('reports buffered ingress under its endpoint, leaves dynamic routes out, reads queue depth', () => {
    const events = deliveryEvents(new Registry());
    const collector = new HealthCollector(events);
    events.emit({ kind: 'delivered', endpoint: 'ingress:github', at: T0 });
    events.emit({ kind: 'delivered', endpoint: 'dynamic', at: T0 });
    const queue: QueueStats = {
      byState: { pending: 3, retrying: 2, dead: 1 },
      byEndpoint: {
        orders: { pending: 3, retrying: 1, dead: 1 },
        'ingress:github': { pending: 0, retrying: 1, dead: 0 },
      },
      oldestPendingAgeMs: 10,
    };
    const report = collector.report(
      input({ endpoints: ['orders', 'github'], queue, sharedQueueScope: 'shop/web' }),
    );
    expect(report.endpoints).toMatchObject([
      { endpoint: 'shop/orders', queueDepth: 4, deadLetters: 1, queueScope: 'shop/web' },
      { endpoint: 'shop/github', delivered: 1, queueDepth: 1 },
    ]);
    expect(JSON.stringify(report)).not.toContain('dynamic');
  });

  it('is fed by deliverSync through the egress metrics of the same registry', async () => {
    const registry = new Registry();
    const collector = new HealthCollector(deliveryEvents(registry));
    const clock = new ManualClock(T0);
    const statuses = [503, 503, 200];
    const endpoint = {
      name: 'orders',
      plan: compileEndpointPlan(Policy.parse({ retry: { maxAttempts: 1 } })),
      attempt: () => Promise.resolve(response(statuses.shift()!)),
    } as unknown as EndpointRuntime;
    const delivery = { deliveryId: 'msg_1', deadline: T0 + 60_000 } as Delivery;
    const deps = { clock, metrics: createEgressMetrics(registry), log };
    for (let i = 0; i < 3; i++) await deliverSync(endpoint, delivery, 'orders', deps);
    expect(collector.report(input()).endpoints[0]).toMatchObject({
      delivered: 1,
      failed: 2,
      lastFailureReason: 'http-503',
    });
  });
});

describe('HealthReporter', () => {
  const collector = (): HealthCollector => new HealthCollector(deliveryEvents(new Registry()));

  it('queues the operational webhooks an answer hands over and names them until the leader has a report', async () => {
    const sent: SidecarHealthReport[] = [];
    const answers: ReportAnswer[] = [
      {
        status: 200,
        writer: true,
        operational: [
          {
            deliveryId: 'hgo_1',
            endpoint: 'platform',
            type: 'hookgate.endpoint.disabled',
            body: '{}',
          },
          {
            deliveryId: 'hgo_2',
            endpoint: 'elsewhere',
            type: 'hookgate.endpoint.disabled',
            body: '{}',
          },
        ],
      },
      // A follower took the next one: the ids are named again in the one after.
      ...Array.from({ length: 3 }, () => ({ status: 204, writer: false })),
      { status: 204, writer: true },
      { status: 204, writer: true },
    ];
    const queued: string[][] = [];
    const reporter = new HealthReporter({
      collector: collector(),
      input: () => Promise.resolve({ namespace: 'shop', generation: 4, endpoints: ['platform'] }),
      send: (r) => {
        sent.push(r);
        return Promise.resolve(answers.shift()!);
      },
      // Only what this pod has is queued.
      queueOperational: (ds) => {
        queued.push(ds.map((d) => d.deliveryId));
        return Promise.resolve(
          ds.filter((d) => d.endpoint === 'platform').map((d) => d.deliveryId),
        );
      },
      intervalMs: 5_000,
      now: () => T0,
      log,
    });
    await reporter.reportOnce();
    await reporter.reportOnce();
    await reporter.reportOnce();
    await reporter.reportOnce();
    expect(queued).toEqual([['hgo_1', 'hgo_2']]);
    expect(sent.map((r) => r.operationalQueued)).toEqual([
      undefined,
      ['hgo_1'],
      ['hgo_1'],
      ['hgo_1'],
      ['hgo_1'],
      undefined,
    ]);
  });

  it('sends one report with the config in force and the time of the injected clock', async () => {
    const sent: SidecarHealthReport[] = [];
    let now = T0;
    const reporter = new HealthReporter({
      collector: collector(),
      input: () => Promise.resolve({ namespace: 'shop', generation: 4, endpoints: ['orders'] }),
      send: (r) => {
        sent.push(r);
        return Promise.resolve({ status: 204, writer: true });
      },
      intervalMs: 5_000,
      now: () => now,
      log,
    });
    await reporter.reportOnce();
    now += 5_000;
    await reporter.reportOnce();
    expect(sent.map((r) => [r.sentAt, r.generation, r.endpoints[0]?.endpoint])).toEqual([
      ['2026-12-03T12:00:00.000Z', 4, 'shop/orders'],
      ['2026-12-03T12:00:05.000Z', 4, 'shop/orders'],
    ]);
  });

  it.each<[string, ReportAnswer[], number]>([
    // The leader took it at once.
    ['the writer', [{ status: 204, writer: true }], 1],
    // A replica that does not write took it: sent again until the writer has it.
    [
      'a follower, then the writer',
      [
        { status: 204, writer: false },
        { status: 204, writer: true },
      ],
      2,
    ],
    // Only followers answer: at most three sends, the next interval tries again.
    ['followers only', Array.from({ length: 5 }, () => ({ status: 204, writer: false })), 3],
    // An operator that does not say (older, or no leader election): once.
    ['a server that does not say', [{ status: 204 }], 1],
    // Refused (a bad token, a bad report): not sent again now.
    ['a refusal', [{ status: 401 }, { status: 204 }], 1],
  ])('reaching %s takes %s send(s)', async (_name, answers, sends) => {
    let count = 0;
    const reporter = new HealthReporter({
      collector: collector(),
      input: () => Promise.resolve({ namespace: 'shop', generation: 1, endpoints: ['orders'] }),
      send: () => Promise.resolve(answers[count++]!),
      intervalMs: 5_000,
      now: () => T0,
      log,
    });
    await reporter.reportOnce();
    expect(count).toBe(sends);
  });

  it('sends nothing without a config that names its namespace, and survives a failed send', async () => {
    let sends = 0;
    const without = new HealthReporter({
      collector: collector(),
      input: () => Promise.resolve(undefined),
      send: () => Promise.resolve({ status: 204 }),
      intervalMs: 5_000,
      now: () => T0,
      log,
    });
    expect(await without.reportOnce()).toBeUndefined();
    const failing = new HealthReporter({
      collector: collector(),
      input: () => Promise.resolve({ namespace: 'shop', generation: 1, endpoints: [] }),
      send: () => {
        sends++;
        return Promise.reject(new Error('ECONNREFUSED'));
      },
      intervalMs: 5_000,
      now: () => T0,
      log,
    });
    expect(await failing.reportOnce()).toBeUndefined();
    expect(sends).toBe(1);
  });
});

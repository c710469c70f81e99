// Fan-out end to end: the real egress server, 50 real receivers on loopback, each endpoint with a
// secret of its own. The Standard Webhooks library judges every signature; a receiver answering
// 500 and one that hangs must not hold back anyone else.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ServerResponse } from 'node:http';
import { Webhook } from 'standardwebhooks';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  LOOPBACK_ALLOWED,
  secretsDir,
  startProxy,
  startReceiver,
  type Proxy,
  type Receiver,
  type Script,
} from '../egress/harness.ts';

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const c of open.splice(0)) await c.close();
});

/** One endpoint of the test: its subscription and whether the test event must reach it. */
interface Spec {
  name: string;
  eventTypes: string[];
  filter?: string;
  labels?: Record<string, string>;
  policy?: string;
  script?: Script;
  /** Must the event below reach it? Decided by hand, not by the code under test. */
  expected: boolean;
}

interface Endpoint extends Spec {
  secret: string;
  receiver: Receiver;
}

const EVENT = {
  type: 'order.created',
  data: { id: 'ord_1', amount: 250, currency: 'EUR', customer: { tier: 'gold' } },
};

function newSecret(name: string): string {
  const secret = `whsec_${randomBytes(24).toString('base64')}`;
  writeFileSync(join(secretsDir, `fanout-${name}`), secret);
  return secret;
}

async function start(specs: Spec[], top = ''): Promise<{ proxy: Proxy; endpoints: Endpoint[] }> {
  const endpoints: Endpoint[] = [];
  for (const spec of specs) {
    const receiver = await startReceiver(spec.script);
    open.push(receiver);
    endpoints.push({ ...spec, secret: newSecret(spec.name), receiver });
  }
  const yaml =
    top +
    'endpoints:\n' +
    endpoints
      .map((e) =>
        [
          `  - name: ${e.name}`,
          `    url: ${e.receiver.url}/hook`,
          `    signing: { secrets: [{ source: { file: fanout-${e.name} } }] }`,
          `    eventTypes: ${JSON.stringify(e.eventTypes)}`,
          ...(e.filter === undefined ? [] : [`    filter: ${JSON.stringify(e.filter)}`]),
          ...(e.labels === undefined ? [] : [`    labels: ${JSON.stringify(e.labels)}`]),
          `    policy: { ${LOOPBACK_ALLOWED}${e.policy === undefined ? '' : `, ${e.policy}`} }`,
        ].join('\n'),
      )
      .join('\n') +
    '\n';
  const proxy = await startProxy(yaml);
  open.push({ close: () => proxy.server.close(100) });
  return { proxy, endpoints };
}

interface Report {
  deliveryId: string;
  endpoint: string;
  status: number;
  outcome: string;
  mode: string;
  attempts?: number;
}
interface Answer {
  eventType: string;
  deliveries: Report[];
  filtered: number;
}

/** 50 endpoints: every way of subscribing, matching or not. */
function fiftyEndpoints(): Spec[] {
  // [subscription, filter, labels, expected] — each row is repeated over the 50 endpoints.
  const kinds: [string[], string | undefined, Record<string, string> | undefined, boolean][] = [
    // exact type
    [['order.created'], undefined, undefined, true],
    // prefix wildcard
    [['order.*'], undefined, undefined, true],
    // another prefix: not this event
    [['invoice.*'], undefined, undefined, false],
    // everything, with a filter that holds
    [['*'], '$.data.amount >= 100 && $.data.currency in ["EUR", "USD"]', undefined, true],
    // everything, with a filter that does not hold
    [['*'], '$.data.customer.tier == "platinum"', undefined, false],
    // the type among others, a filter on a missing field
    [['invoice.paid', 'order.created'], 'exists($.data.refund)', undefined, false],
    // a negated filter
    [['order.created'], '!exists($.data.refund)', undefined, true],
    // subscribed, but outside the selector the app sends
    [['order.created'], undefined, { tier: 'blocked' }, false],
    // inside the selector explicitly
    [['order.*'], undefined, { tier: 'gold' }, true],
    // a near miss: order (no dot) is not under order.*
    [['order'], undefined, undefined, false],
  ];
  return Array.from({ length: 50 }, (_, i) => {
    const [eventTypes, filter, labels, expected] = kinds[i % kinds.length]!;
    return {
      name: `ep-${String(i).padStart(2, '0')}`,
      eventTypes,
      ...(filter === undefined ? {} : { filter }),
      ...(labels === undefined ? {} : { labels }),
      expected,
    };
  });
}

describe('fan-out: one event, many endpoints', () => {
  it('reaches exactly the matching endpoints of 50, each signed with its own secret', async () => {
    const { proxy, endpoints } = await start(fiftyEndpoints());
    const body = JSON.stringify(EVENT);
    const res = await proxy.post('/_events', body, {
      'hookgate-event-type': 'order.created',
      'hookgate-endpoint-selector': 'tier!=blocked',
    });
    expect(res.status).toBe(200);
    const answer = (await res.json()) as Answer;

    const expected = endpoints.filter((e) => e.expected).map((e) => e.name);
    expect(expected.length).toBe(25);
    expect(answer.deliveries.map((d) => d.endpoint).sort()).toEqual(expected);
    // Two kinds of ten have a filter that does not hold; the selector's exclusions are not counted.
    expect(answer.filtered).toBe(10);
    for (const e of endpoints) {
      expect(e.receiver.received, e.name).toHaveLength(e.expected ? 1 : 0);
    }
    const ids = new Set<string>();
    for (const e of endpoints.filter((x) => x.expected)) {
      const seen = e.receiver.received[0]!;
      const headers = seen.headers as Record<string, string>;
      expect(seen.body.toString()).toBe(body);
      // Signed with its own secret: its secret verifies, its neighbour's does not.
      expect(() => new Webhook(e.secret).verify(seen.body, headers)).not.toThrow();
      const other = endpoints.find((x) => x.name !== e.name)!;
      expect(() => new Webhook(other.secret).verify(seen.body, headers)).toThrow();
      const report = answer.deliveries.find((d) => d.endpoint === e.name)!;
      expect(report).toMatchObject({ status: 200, outcome: 'delivered', mode: 'sync' });
      expect(headers['webhook-id']).toBe(report.deliveryId);
      ids.add(report.deliveryId);
    }
    // A delivery id of its own per endpoint.
    expect(ids.size).toBe(25);

    const metrics = await proxy.registry.metrics();
    expect(metrics).toContain('hookgate_fanout_events_total{event_type="order.created"} 1');
    expect(metrics).toContain('hookgate_fanout_sent_total{event_type="order.created"} 25');
    expect(metrics).toContain('hookgate_fanout_delivered_total{event_type="order.created"} 25');
    expect(metrics).toContain('hookgate_fanout_filtered_total{event_type="order.created"} 10');
    expect(metrics).toContain(
      'hookgate_egress_deliveries_total{endpoint="ep-00",outcome="delivered"} 1',
    );
  });

  it('a failing and a hanging receiver hold back no one else', async () => {
    let release: ((res: ServerResponse) => void) | undefined;
    const held = new Promise<ServerResponse>((resolve) => (release = resolve));
    void held.then((res) => res.end('{"late":true}'));
    let hangingResponse: ServerResponse | undefined;
    const specs: Spec[] = [
      {
        name: 'failing',
        eventTypes: ['order.*'],
        // Three attempts, all 500; the backoff's sleeps run on the test's skipping clock.
        policy: 'retry: { maxAttempts: 3 }',
        script: (_n, _req, res) => res.writeHead(500).end('down'),
        expected: true,
      },
      {
        name: 'hanging',
        eventTypes: ['order.*'],
        policy: 'timeout: 60s, retry: { maxAttempts: 1, syncDeadline: 60s }',
        script: (_n, _req, res) => (hangingResponse = res),
        expected: true,
      },
      {
        // Never answers; its own policy gives up on it after one 300 ms attempt.
        name: 'silent',
        eventTypes: ['order.created'],
        policy: 'timeout: 300ms, retry: { maxAttempts: 1, syncDeadline: 1s }',
        script: () => undefined,
        expected: true,
      },
      ...Array.from({ length: 20 }, (_, i) => ({
        name: `healthy-${String(i).padStart(2, '0')}`,
        eventTypes: ['order.created'],
        expected: true,
      })),
    ];
    const { proxy, endpoints } = await start(specs);
    let answered = false;
    const pending = proxy
      .post('/_events', JSON.stringify(EVENT), { 'hookgate-event-type': 'order.created' })
      .then(async (res) => {
        answered = true;
        return { status: res.status, answer: (await res.json()) as Answer };
      });

    const healthy = endpoints.filter((e) => e.name.startsWith('healthy-'));
    const failing = endpoints.find((e) => e.name === 'failing')!;
    // Every healthy receiver and all of the failing one's retries happen while the hanging
    // receiver still holds its request: nobody waited for it.
    await vi.waitFor(
      () => {
        expect(hangingResponse).toBeDefined();
        for (const e of healthy) expect(e.receiver.received).toHaveLength(1);
        expect(failing.receiver.received).toHaveLength(3);
      },
      { timeout: 20_000, interval: 20 },
    );
    expect(answered).toBe(false);
    release!(hangingResponse!);
    const { status, answer } = await pending;
    expect(status).toBe(200);
    const byName = new Map(answer.deliveries.map((d) => [d.endpoint, d]));
    expect(byName.get('failing')).toMatchObject({ status: 500, outcome: 'failed', attempts: 3 });
    expect(byName.get('hanging')).toMatchObject({ status: 200, outcome: 'delivered', attempts: 1 });
    expect(byName.get('silent')).toMatchObject({ status: 504, outcome: 'timeout', attempts: 1 });
    for (const e of healthy) expect(byName.get(e.name)).toMatchObject({ status: 200, attempts: 1 });
    const metrics = await proxy.registry.metrics();
    expect(metrics).toContain('hookgate_fanout_sent_total{event_type="order.created"} 23');
    expect(metrics).toContain('hookgate_fanout_delivered_total{event_type="order.created"} 21');
  });

  it('reads the type from the JSON body, and derives per-endpoint ids from the app’s id', async () => {
    const { proxy } = await start([
      { name: 'a', eventTypes: ['order.created'], expected: true },
      { name: 'b', eventTypes: ['order.created'], expected: true },
    ]);
    const send = async (): Promise<Answer> => {
      const res = await proxy.post('/_events', JSON.stringify(EVENT), {
        'hookgate-delivery-id': 'evt_42',
      });
      expect(res.status).toBe(200);
      return (await res.json()) as Answer;
    };
    const first = await send();
    const again = await send();
    // The app's retry of one event reaches each receiver under the same webhook-id.
    expect(first.deliveries.map((d) => d.deliveryId).sort()).toEqual(['evt_42.a', 'evt_42.b']);
    expect(again.deliveries.map((d) => d.deliveryId).sort()).toEqual(['evt_42.a', 'evt_42.b']);
  });

  it('answers 202 with Prefer: respond-async only once a queue exists: without one it delivers', async () => {
    const { proxy, endpoints } = await start([
      { name: 'a', eventTypes: ['*'], policy: 'delivery: { mode: async }', expected: true },
    ]);
    const res = await proxy.post('/_events', JSON.stringify(EVENT), { prefer: 'respond-async' });
    expect(res.status).toBe(200);
    expect(((await res.json()) as Answer).deliveries[0]).toMatchObject({
      status: 200,
      outcome: 'delivered',
      mode: 'sync',
    });
    expect(endpoints[0]!.receiver.received).toHaveLength(1);
  });

  it('refuses an event wider than a policy’s fan-out cap, and sends nothing', async () => {
    const { proxy, endpoints } = await start(
      Array.from({ length: 4 }, (_, i) => ({
        name: `capped-${i}`,
        eventTypes: ['order.*'],
        policy: i === 2 ? 'name: broadcast-guard, fanOut: { maxEndpoints: 3 }' : undefined,
        expected: false,
      })) as Spec[],
    );
    const res = await proxy.post('/_events', JSON.stringify(EVENT));
    expect(res.status).toBe(422);
    const problem = (await res.json()) as { type: string; detail: string; limit: number };
    expect(problem.type).toBe('https://hookgate.io/problems/fan-out-too-wide');
    expect(problem.detail).toContain('WebhookPolicy "broadcast-guard"');
    expect(problem.limit).toBe(3);
    for (const e of endpoints) expect(e.receiver.received).toHaveLength(0);
    // Narrowed by a selector, the same event fits.
    const narrow = await proxy.post('/_events', JSON.stringify(EVENT), {
      'hookgate-endpoint-selector': 'nothing-has-this',
    });
    expect(narrow.status).toBe(200);
  });

  it.each([
    // no type anywhere
    ['{"data":{}}', {}, 400, 'event-type-missing'],
    // a type that is not one
    ['{}', { 'hookgate-event-type': 'order created!' }, 400, 'bad-event-type'],
    // a selector that is not one
    [
      '{}',
      { 'hookgate-event-type': 'a', 'hookgate-endpoint-selector': 'a in b' },
      400,
      'bad-selector',
    ],
  ])('refuses %s %j with %d %s', async (body, headers, status, type) => {
    const { proxy } = await start([{ name: 'a', eventTypes: ['*'], expected: false }]);
    const res = await proxy.post('/_events', body, headers);
    expect(res.status).toBe(status);
    expect(((await res.json()) as { type: string }).type).toBe(
      `https://hookgate.io/problems/${type}`,
    );
  });
});

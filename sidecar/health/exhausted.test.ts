import { describe, expect, it } from 'vitest';
import { createLogger } from '../../common/log.ts';
import type { LoadedConfig } from '../config/load.ts';
import type { Delivery } from '../delivery/delivery.ts';
import type { DeliveryEnd } from '../delivery/observe.ts';
import type { EgressRuntime, EndpointRuntime } from '../delivery/runtime.ts';
import type { AcceptAsync, AsyncRequest } from '../queue/index.ts';
import { ATTEMPTS_EXHAUSTED, exhaustedEventId, exhaustedNotifier } from './exhausted.ts';

const config = {
  config: {
    namespace: 'shop',
    endpoints: [
      { name: 'platform', operationalEvents: [ATTEMPTS_EXHAUSTED] },
      { name: 'orders', operationalEvents: [] },
    ],
  },
} as unknown as LoadedConfig;
const runtime = {
  generation: 1,
  dynamic: [],
  endpoints: new Map([
    ['platform', { name: 'platform', url: new URL('https://ops.example/hooks') }],
    ['orders', { name: 'orders', url: new URL('https://orders.example/hooks') }],
  ]),
} as unknown as EgressRuntime;

function notifier(): {
  calls: { endpoint: string; request: AsyncRequest }[];
  end(e: DeliveryEnd): void;
} {
  const calls: { endpoint: string; request: AsyncRequest }[] = [];
  const accept: AcceptAsync = (endpoint: EndpointRuntime, request: AsyncRequest) => {
    calls.push({ endpoint: endpoint.name, request });
    return Promise.resolve({ deliveryId: request.deliveryId });
  };
  const observer = exhaustedNotifier({
    config: () => config,
    runtime: () => runtime,
    accept: () => accept,
    log: createLogger({}, 'error', () => undefined),
  });
  return { calls, end: (e) => observer.onDeliveryEnd?.(e) };
}

const delivery = (over: Partial<Delivery> = {}): Delivery => ({
  deliveryId: 'msg_2hX0rders1',
  endpointName: 'orders',
  url: new URL('https://orders.example/hooks?token=capability'),
  method: 'POST',
  headers: { authorization: 'Bearer app-secret' },
  body: Buffer.from('{"secret":"payload"}'),
  deadline: 0,
  mode: 'async',
  eventType: 'order.created',
  ...over,
});

describe('hookgate.delivery.attempts_exhausted', () => {
  it('queues one event per dead delivery to each subscriber, with a stable id and no URL, header or body', () => {
    const n = notifier();
    n.end({
      delivery: delivery(),
      outcome: 'dead',
      attempts: 6,
      reason: 'http-503',
      at: Date.UTC(2026, 11, 4),
    });
    expect(n.calls.map((c) => c.endpoint)).toEqual(['platform']);
    const { request } = n.calls[0]!;
    expect(request.deliveryId).toBe(exhaustedEventId('msg_2hX0rders1', 'platform'));
    expect(request.deliveryId).toMatch(/^hgo_[0-9a-f]{32}$/);
    expect(request.headers['hookgate-event-type']).toBe(ATTEMPTS_EXHAUSTED);
    expect(JSON.parse(request.body.toString())).toEqual({
      type: ATTEMPTS_EXHAUSTED,
      timestamp: '2026-12-04T00:00:00.000Z',
      data: {
        namespace: 'shop',
        endpoint: 'orders',
        direction: 'egress',
        deliveryId: 'msg_2hX0rders1',
        attempts: 6,
        reason: 'http-503',
        eventType: 'order.created',
      },
    });
    const text = request.body.toString();
    for (const secret of ['capability', 'app-secret', 'payload'])
      expect(text).not.toContain(secret);
  });

  it('names a buffered ingress delivery by its endpoint and direction', () => {
    const n = notifier();
    n.end({
      delivery: delivery({ endpointName: 'ingress:github' }),
      outcome: 'dead',
      attempts: 9,
      at: 0,
    });
    expect(
      (JSON.parse(n.calls[0]!.request.body.toString()) as { data: unknown }).data,
    ).toMatchObject({
      endpoint: 'github',
      direction: 'ingress',
    });
  });

  it('says nothing of deliveries that were delivered or failed synchronously, nor of a dead operational event', () => {
    const n = notifier();
    n.end({ delivery: delivery(), outcome: 'delivered', attempts: 1, at: 0 });
    n.end({ delivery: delivery({ mode: 'sync' }), outcome: 'failed', attempts: 3, at: 0 });
    n.end({
      delivery: delivery({
        endpointName: 'platform',
        headers: { 'hookgate-event-type': ATTEMPTS_EXHAUSTED },
      }),
      outcome: 'dead',
      attempts: 6,
      at: 0,
    });
    expect(n.calls).toEqual([]);
  });
});

// The outbox's hand-off rules on an injected clock: who is offered what, when it is offered again,
// and when it lets go. The whole path (sidecar queue, signing, a real receiver) is in
// test/health/autodisable.test.ts.
import { describe, expect, it } from 'vitest';
import type { EndpointHealthReport, SidecarHealthReport } from '../../common/health.ts';
import { createLogger } from '../../common/log.ts';
import type { PodIdentity } from '../config-server/auth.ts';
import type { KubeObject } from '../kube/types.ts';
import { OperationalOutbox } from './outbox.ts';

const log = createLogger({}, 'error', () => undefined);

const endpoint = (name: string, spec: Record<string, unknown>): KubeObject => ({
  apiVersion: 'hookgate.io/v1alpha1',
  kind: 'WebhookEndpoint',
  metadata: { name, namespace: 'shop', uid: `uid-${name}`, generation: 2 },
  spec: { direction: 'Egress', url: 'https://x.example/?token=s3cret', ...spec },
});
const pod = (uid: string): PodIdentity => ({
  namespace: 'shop',
  name: uid,
  uid,
  serviceAccount: 'app',
  labels: {},
});
const report = (names: string[], operationalQueued?: string[]): SidecarHealthReport => ({
  bootId: 'b',
  generation: 1,
  sentAt: '2026-12-03T12:00:00Z',
  endpoints: names.map((n): EndpointHealthReport => ({
    endpoint: `shop/${n}`,
    delivered: 0,
    failed: 0,
    deadLettered: 0,
    circuit: 'closed',
    queueDepth: 0,
    deadLetters: 0,
  })),
  ...(operationalQueued === undefined ? {} : { operationalQueued }),
});

function setup() {
  let at = Date.parse('2026-12-03T12:00:00Z');
  const objects = [
    endpoint('orders', {}),
    endpoint('platform', { operationalEvents: ['hookgate.endpoint.disabled'] }),
    endpoint('pager', {
      operationalEvents: ['hookgate.endpoint.disabled', 'hookgate.circuit.opened'],
    }),
  ];
  const outbox = new OperationalOutbox({
    endpoints: { list: () => objects },
    clock: { now: () => new Date(at) },
    log,
    leaseMs: 30_000,
  });
  return { outbox, orders: objects[0]!, advance: (ms: number) => void (at += ms) };
}

describe('OperationalOutbox', () => {
  it('makes one delivery per subscriber of the type, {type, timestamp, data} without the URL', () => {
    const { outbox, orders } = setup();
    outbox.emit(orders, 'hookgate.endpoint.disabled', { message: 'failing' });
    outbox.emit(orders, 'hookgate.circuit.opened', { pods: 1 });
    // Nobody subscribes to circuit.closed: nothing kept.
    outbox.emit(orders, 'hookgate.circuit.closed', {});
    expect(outbox.size).toBe(3);
    const offered = outbox.take(pod('a'), report(['orders', 'platform', 'pager']));
    expect(offered.map((d) => [d.endpoint, d.type])).toEqual([
      ['platform', 'hookgate.endpoint.disabled'],
      ['pager', 'hookgate.endpoint.disabled'],
      ['pager', 'hookgate.circuit.opened'],
    ]);
    expect(JSON.parse(offered[0]!.body)).toEqual({
      type: 'hookgate.endpoint.disabled',
      timestamp: '2026-12-03T12:00:00Z',
      data: {
        namespace: 'shop',
        endpoint: 'orders',
        uid: 'uid-orders',
        generation: 2,
        message: 'failing',
      },
    });
    expect(offered.every((d) => /^hgo_[0-9a-f]{32}$/.test(d.deliveryId))).toBe(true);
    expect(new Set(offered.map((d) => d.deliveryId)).size).toBe(3);
    expect(JSON.stringify(offered)).not.toContain('s3cret');
  });

  it('offers only to a pod that has the subscriber, once per lease, and lets go once queued', () => {
    const { outbox, orders, advance } = setup();
    outbox.emit(orders, 'hookgate.endpoint.disabled', {});
    // This pod's config has no subscriber (workloadSelector): nothing for it.
    expect(outbox.take(pod('a'), report(['orders']))).toEqual([]);
    const first = outbox.take(pod('b'), report(['platform']));
    expect(first.map((d) => d.endpoint)).toEqual(['platform']);
    // On lease to b: not offered again, to b or anyone, until the lease ends.
    expect(outbox.take(pod('c'), report(['platform', 'pager'])).map((d) => d.endpoint)).toEqual([
      'pager',
    ]);
    advance(30_000);
    // b never said it queued it (it died, or the answer was lost): another pod gets it, same id.
    const again = outbox.take(pod('c'), report(['platform']));
    expect(again).toEqual(first);
    // c names what it queued: let go.
    expect(outbox.take(pod('c'), report(['platform'], [first[0]!.deliveryId]))).toEqual([]);
    expect(outbox.size).toBe(1);
  });

  it('keeps at most maxPerNamespace deliveries, dropping the oldest', () => {
    const { orders } = setup();
    const outbox = new OperationalOutbox({
      endpoints: {
        list: () => [
          orders,
          endpoint('platform', { operationalEvents: ['hookgate.circuit.opened'] }),
        ],
      },
      clock: { now: () => new Date() },
      log,
      maxPerNamespace: 2,
    });
    for (let i = 0; i < 3; i++) outbox.emit(orders, 'hookgate.circuit.opened', { i });
    expect(outbox.size).toBe(2);
    const offered = outbox.take(pod('a'), report(['platform']));
    expect(offered.map((d) => (JSON.parse(d.body) as { data: { i: number } }).data.i)).toEqual([
      1, 2,
    ]);
  });
});

// Fan-out meets the durable queue: one event, sync and async subscribers. The app's answer is 202
// because one delivery went to the queue; that one arrives afterwards, from the worker, signed
// with the delivery id the fan-out reported.
import { Webhook } from 'standardwebhooks';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { LOOPBACK_ALLOWED, WHSEC, startReceiver, type Receiver } from '../egress/harness.ts';
import { startQueueSidecar } from './harness.ts';

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});

async function receiver(): Promise<Receiver> {
  const r = await startReceiver();
  open.push(r);
  return r;
}

const endpoint = (name: string, url: string, mode: 'sync' | 'async'): string =>
  [
    `  - name: ${name}`,
    `    url: ${url}/hook`,
    '    signing: { secrets: [{ source: { file: whsec } }] }',
    '    eventTypes: ["order.*"]',
    `    policy: { ${LOOPBACK_ALLOWED}, delivery: { mode: ${mode} } }`,
  ].join('\n');

describe('fan-out through the durable queue', () => {
  it('answers 202 when a subscriber is async, and the queue delivers it with the reported id', async () => {
    const [fast, queued] = [await receiver(), await receiver()];
    const s = await startQueueSidecar(
      `endpoints:\n${endpoint('fast', fast.url, 'sync')}\n${endpoint('queued', queued.url, 'async')}\n`,
      inject('redisUrl'),
    );
    open.push(s);

    const res = await s.post('/_events', '{"type":"order.created","id":1}', {
      'hookgate-event-type': 'order.created',
    });
    expect(res.status).toBe(202);
    const body = (await res.json()) as {
      deliveries: { endpoint: string; status: number; mode: string; deliveryId: string }[];
    };
    const byName = Object.fromEntries(body.deliveries.map((d) => [d.endpoint, d]));
    expect(byName['fast']).toMatchObject({ status: 200, mode: 'sync' });
    expect(byName['queued']).toMatchObject({ status: 202, mode: 'async' });
    // The sync one was delivered before the answer; the queued one by the worker after it.
    expect(fast.received).toHaveLength(1);
    await expect.poll(() => queued.received.length).toBe(1);
    const seen = queued.received[0]!;
    expect(seen.headers['webhook-id']).toBe(byName['queued']!.deliveryId);
    expect(() =>
      new Webhook(WHSEC).verify(seen.body, seen.headers as Record<string, string>),
    ).not.toThrow();
  });
});

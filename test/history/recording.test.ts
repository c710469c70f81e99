// Delivery history end to end, on both backends: real receivers on loopback, the egress server,
// the queue's worker (Redis) and the admin API's /history/ routes. Every attempt of sync, fan-out
// and async deliveries is recorded through the one observe layer; secrets and signatures never
// reach the store (asserted on the bytes the store holds), bodies follow the policy.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import { historyKeys, type DeliveryRecord, type DeliverySummary } from '../../common/history.ts';
import { LOOPBACK_ALLOWED, WHSEC, startReceiver, type Receiver } from '../egress/harness.ts';
import { startHistorySidecar, type HistorySidecar } from './harness.ts';

const APP_TOKEN = 'Bearer app-credential-7f3a9c';
const STATIC_KEY = 'partner-key-91b2e7';

type Page = { items: DeliverySummary[]; nextCursor?: string };

/** Everything the store holds, as text: the segment files, or the namespace's Redis keys. */
async function storedBytes(s: HistorySidecar, backend: 'disk' | 'redis'): Promise<string> {
  await s.recorder.flushed();
  if (backend === 'disk')
    return readdirSync(s.directory)
      .filter((f) => f.endsWith('.jsonl'))
      .map((f) => readFileSync(join(s.directory, f), 'utf8'))
      .join('\n');
  const redis = new Redis(inject('redisUrl'));
  try {
    const records = await redis.hgetall(historyKeys.records(s.namespace));
    const stream = await redis.xrange(historyKeys.stream(s.namespace), '-', '+');
    return JSON.stringify([records, stream]);
  } finally {
    redis.disconnect();
  }
}

describe.each(['disk', 'redis'] as const)('delivery history on %s', (backend) => {
  const open: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((o) => o.close()));
  });
  const receiver = async (...args: Parameters<typeof startReceiver>): Promise<Receiver> => {
    const r = await startReceiver(...args);
    open.push(r);
    return r;
  };
  const sidecar = async (yaml: string): Promise<HistorySidecar> => {
    const s = await startHistorySidecar(yaml, inject('redisUrl'), backend);
    open.push(s);
    return s;
  };
  const endpoint = (
    name: string,
    url: string,
    policy = '',
    extra = '',
    retry = 'maxAttempts: 3, backoff: { initial: 1ms, max: 2ms }',
  ): string =>
    [
      `  - name: ${name}`,
      `    url: ${url}`,
      `    signing: { scheme: standard-webhooks, secrets: [{ source: { file: whsec } }] }`,
      `    headers: { X-Partner-Key: ${STATIC_KEY} }`,
      `    policy: { ${LOOPBACK_ALLOWED}, retry: { ${retry} }${policy} }`,
      ...(extra === '' ? [] : [extra]),
    ].join('\n');

  it('a sync delivery retried to success: one record, every attempt with the answer, secrets redacted', async () => {
    const statuses = [503, 500, 200];
    const r = await receiver((n, _req, res) => {
      res.writeHead(statuses[n] ?? 200, {
        'content-type': 'text/plain',
        'set-cookie': 'sid=s3cr3t',
      });
      res.end(n < 2 ? `receiver down (${n}) ${'x'.repeat(5000)}` : 'stored');
    });
    const s = await sidecar(`endpoints:\n${endpoint('orders', `${r.url}/hooks?token=url-secret`)}`);
    const res = await s.post('/orders', '{"type":"order.created","id":42}', {
      authorization: APP_TOKEN,
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
    });
    expect(res.status).toBe(200);
    const id = res.headers.get('hookgate-delivery-id')!;

    const { status, body: record } = await s.adminGet<DeliveryRecord>(`/history/deliveries/${id}`);
    expect(status).toBe(200);
    expect(record).toMatchObject({
      deliveryId: id,
      namespace: s.namespace,
      endpoint: 'orders',
      direction: 'egress',
      mode: 'sync',
      outcome: 'delivered',
      attempts: 3,
      lastStatus: 200,
      pod: 'shop-7d9f-abcde',
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      url: `${r.url}/hooks`,
      method: 'POST',
      requestBody: '{"type":"order.created","id":42}',
      requestBodyEncoding: 'utf8',
    });
    expect(record.requestHeaders).toMatchObject({
      authorization: '[redacted]',
      'x-partner-key': '[redacted]',
      'webhook-id': id,
    });
    expect(record.attemptLog.map((a) => [a.attempt, a.status, a.error])).toEqual([
      [1, 503, 'http-503'],
      [2, 500, 'http-500'],
      [3, 200, undefined],
    ]);
    // The default policy keeps 4096 bytes of each body.
    expect(record.attemptLog[0]!.responseBody).toHaveLength(4096);
    expect(record.attemptLog[0]!.responseBodyTruncated).toBe(true);
    expect(record.attemptLog[2]!.responseBody).toBe('stored');
    expect(record.attemptLog[0]!.responseHeaders?.['set-cookie']).toBe('[redacted]');

    const stored = await storedBytes(s, backend);
    const signature = String(r.received[0]!.headers['webhook-signature']);
    for (const secret of [
      APP_TOKEN,
      'app-credential-7f3a9c',
      STATIC_KEY,
      WHSEC,
      signature,
      'url-secret',
      's3cr3t',
    ])
      expect(stored).not.toContain(secret);
    expect(JSON.stringify(record)).not.toContain(signature);
  });

  it('a failing sync delivery is recorded as failed with every attempt and the reason', async () => {
    const r = await receiver((_n, _req, res) => {
      res.statusCode = 500;
      res.end('boom');
    });
    const s = await sidecar(`endpoints:\n${endpoint('orders', r.url)}`);
    const res = await s.post('/orders');
    expect(res.status).toBe(500);
    const id = res.headers.get('hookgate-delivery-id')!;
    const { body } = await s.adminGet<Page>('/history/deliveries?outcome=failed');
    expect(body.items).toEqual([
      expect.objectContaining({
        deliveryId: id,
        outcome: 'failed',
        attempts: 3,
        problem: 'http-500',
        lastStatus: 500,
      }),
    ]);
    const { body: delivered } = await s.adminGet<Page>('/history/deliveries?outcome=delivered');
    expect(delivered.items).toEqual([]);
  });

  it('fan-out: one record per receiving endpoint, with the event type', async () => {
    const r = await receiver();
    const s = await sidecar(
      `endpoints:\n${endpoint('a', `${r.url}/a`, '', '    eventTypes: ["order.*"]')}\n${endpoint('b', `${r.url}/b`, '', '    eventTypes: ["order.created"]')}`,
    );
    const res = await s.post('/_events', '{"type":"order.created"}', {
      'hookgate-event-type': 'order.created',
    });
    expect(res.status).toBe(200);
    const { body } = await s.adminGet<Page>('/history/deliveries?eventType=order.created');
    expect(body.items.map((i) => i.endpoint).sort()).toEqual(['a', 'b']);
    const { body: onlyB } = await s.adminGet<Page>('/history/deliveries?endpoint=b');
    expect(onlyB.items).toHaveLength(1);
    expect(onlyB.items[0]).toMatchObject({
      endpoint: 'b',
      eventType: 'order.created',
      outcome: 'delivered',
    });
  });

  it('an async delivery: attempts by the worker, then dead', async () => {
    const r = await receiver((_n, _req, res) => {
      res.statusCode = 502;
      res.end('bad gateway');
    });
    const s = await sidecar(
      `endpoints:\n${endpoint('orders', r.url, ', delivery: { mode: async }', '', 'schedule: ["0s", "1ms"]')}`,
    );
    const res = await s.post('/orders');
    expect(res.status).toBe(202);
    const id = res.headers.get('hookgate-delivery-id')!;
    await expect
      .poll(
        async () => (await s.adminGet<DeliveryRecord>(`/history/deliveries/${id}`)).body.outcome,
        {
          timeout: 20_000,
        },
      )
      .toBe('dead');
    const { body: record } = await s.adminGet<DeliveryRecord>(`/history/deliveries/${id}`);
    expect(record).toMatchObject({ mode: 'async', attempts: 2, lastStatus: 502 });
    expect(record.attemptLog.map((a) => a.status)).toEqual([502, 502]);
  });

  it('bodies: none keeps no request or response body', async () => {
    const r = await receiver((_n, _req, res) => res.end('receiver says hi'));
    const s = await sidecar(
      `endpoints:\n${endpoint('orders', r.url, ', history: { bodies: none }')}`,
    );
    const res = await s.post('/orders', '{"card":"4242"}');
    const id = res.headers.get('hookgate-delivery-id')!;
    const { body: record } = await s.adminGet<DeliveryRecord>(`/history/deliveries/${id}`);
    expect(record.requestBody).toBeUndefined();
    expect(record.attemptLog[0]!.responseBody).toBeUndefined();
    expect(await storedBytes(s, backend)).not.toContain('4242');
  });

  it('the admin API pages, finds by id, refuses bad filters naming them, and answers 404 for unknown ids', async () => {
    const r = await receiver();
    const s = await sidecar(`endpoints:\n${endpoint('orders', r.url)}`);
    const ids: string[] = [];
    for (let i = 0; i < 7; i++)
      ids.push((await s.post('/orders')).headers.get('hookgate-delivery-id')!);
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const { body } = await s.adminGet<Page>(
        `/history/deliveries?limit=3${cursor !== undefined ? `&cursor=${cursor}` : ''}`,
      );
      seen.push(...body.items.map((i) => i.deliveryId));
      cursor = body.nextCursor;
    } while (cursor !== undefined);
    expect(seen.sort()).toEqual([...ids].sort());
    const byId = await s.adminGet<Page>(`/history/deliveries?id=${ids[3]}`);
    expect(byId.body.items.map((i) => i.deliveryId)).toEqual([ids[3]]);
    const bad = await s.adminGet<{ detail: string }>('/history/deliveries?outcome=lost');
    expect(bad.status).toBe(400);
    expect(bad.body.detail).toContain('outcome="lost"');
    const badTime = await s.adminGet<{ detail: string }>('/history/deliveries?since=yesterday');
    expect(badTime.status).toBe(400);
    expect(badTime.body.detail).toContain('since');
    const missing = await s.adminGet<{ type: string }>('/history/deliveries/msg_unknown');
    expect(missing.status).toBe(404);
  });

  it('the live tail streams each recorded attempt as NDJSON, filtered', async () => {
    const r = await receiver();
    const s = await sidecar(
      `endpoints:\n${endpoint('orders', r.url)}\n${endpoint('other', r.url)}`,
    );
    const tail = await fetch(`${s.admin}/history/stream?endpoint=orders`, {
      headers: { accept: 'application/x-ndjson' },
    });
    expect(tail.headers.get('content-type')).toBe('application/x-ndjson');
    await s.post('/other');
    const res = await s.post('/orders');
    const id = res.headers.get('hookgate-delivery-id')!;
    let text = '';
    // Leaving the loop cancels the stream: the tail closes.
    for await (const chunk of tail.body as AsyncIterable<Uint8Array>) {
      text += new TextDecoder().decode(chunk);
      if (text.includes('\n')) break;
    }
    const first = JSON.parse(text.split('\n')[0]!) as DeliverySummary;
    expect(first).toMatchObject({ deliveryId: id, endpoint: 'orders', outcome: 'delivered' });
  });
});

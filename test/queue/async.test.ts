// Async egress end to end on a real Redis: 202 only after the delivery is stored, background
// attempts on the policy's schedule signed afresh with the same webhook-id, local refusals that do
// not burn the schedule, per-endpoint ordering under retries, the 503 of a full queue, and dead
// letters inspected and replayed through the admin API.
import { networkInterfaces } from 'node:os';
import { Registry } from 'prom-client';
import { Webhook } from 'standardwebhooks';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { startAdminServer } from '../../common/admin.ts';
import { systemClock } from '../../sidecar/delivery/delivery.ts';
import { queueAdminHandler } from '../../sidecar/queue/admin.ts';
import { LOOPBACK_ALLOWED, WHSEC, startReceiver, type Receiver } from '../egress/harness.ts';
import { sample, startQueueSidecar, type QueueSidecar } from './harness.ts';

/** The header every change to the queue carries (admin-guard.ts). */
const CHANGE = { 'hookgate-admin': 'true' };

const redisUrl = inject('redisUrl');
const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const o of open.splice(0).reverse()) await o.close();
});

async function receiver(...args: Parameters<typeof startReceiver>): Promise<Receiver> {
  const r = await startReceiver(...args);
  open.push(r);
  return r;
}

async function sidecar(yaml: string): Promise<QueueSidecar> {
  const s = await startQueueSidecar(yaml, redisUrl);
  open.push(s);
  return s;
}

/** One endpoint `orders` to `url`, Standard Webhooks signed, with extra policy settings. */
const config = (url: string, policy = '', queue = ''): string =>
  `endpoints:\n  - name: orders\n    url: ${url}\n    signing: { secrets: [{ source: { file: whsec } }] }\n    policy: { ${LOOPBACK_ALLOWED}${policy === '' ? '' : `, ${policy}`} }\n${queue}`;

const ASYNC = { prefer: 'respond-async' };

describe('async egress', () => {
  it('answers 202 with the delivery id, then delivers it signed with that id', async () => {
    const r = await receiver();
    const s = await sidecar(config(`${r.url}/hooks`));
    const res = await s.post('/orders/v1', '{"n":1}', { ...ASYNC, 'x-app': 'shop' });
    expect(res.status).toBe(202);
    expect(res.headers.get('preference-applied')).toBe('respond-async');
    const id = res.headers.get('hookgate-delivery-id');
    expect(id).toMatch(/^msg_[0-9a-f]{32}$/);
    expect(await res.json()).toEqual({ deliveryId: id, status: 'accepted' });

    await expect.poll(() => r.received.length).toBe(1);
    const seen = r.received[0]!;
    expect(seen.url).toBe('/hooks/v1');
    expect(seen.headers['x-app']).toBe('shop');
    expect(seen.headers['webhook-id']).toBe(id);
    expect(() =>
      new Webhook(WHSEC).verify(seen.body, seen.headers as Record<string, string>),
    ).not.toThrow();
    // Delivered deliveries leave the queue.
    await expect
      .poll(async () => (await fetch(`${s.admin}/queue/deliveries/${id}`)).status)
      .toBe(404);
  });

  it('is chosen by the policy too (delivery.mode: async), without Preference-Applied', async () => {
    const r = await receiver();
    const s = await sidecar(config(r.url, 'delivery: { mode: async }'));
    const res = await s.post('/orders');
    expect(res.status).toBe(202);
    expect(res.headers.get('preference-applied')).toBeNull();
    await expect.poll(() => r.received.length).toBe(1);
  });

  it('retries on the schedule with the same webhook-id, each attempt signed afresh', async () => {
    const r = await receiver((n, _req, res) => {
      res.statusCode = n < 2 ? 503 : 200;
      res.end();
    });
    const s = await sidecar(config(r.url, 'retry: { schedule: ["0s", "50ms", "50ms"] }'));
    const res = await s.post('/orders', '{"n":2}', ASYNC);
    const id = res.headers.get('hookgate-delivery-id');
    await expect.poll(() => r.received.length).toBe(3);
    for (const seen of r.received) {
      expect(seen.headers['webhook-id']).toBe(id);
      expect(() =>
        new Webhook(WHSEC).verify(seen.body, seen.headers as Record<string, string>),
      ).not.toThrow();
    }
    await expect
      .poll(async () =>
        sample(await s.registry.metrics(), 'hookgate_queue_delivered_total', 'endpoint="orders"'),
      )
      .toBe(1);
    const metrics = await s.registry.metrics();
    expect(sample(metrics, 'hookgate_queue_attempts_total', 'endpoint="orders",result="5xx"')).toBe(
      2,
    );
  });

  it('does not burn the schedule on local refusals (rate limited): every delivery arrives', async () => {
    const r = await receiver();
    // One attempt only in the schedule, one token per second: the 2nd and 3rd are refused locally
    // at first, deferred without an attempt, and still delivered.
    const s = await sidecar(
      config(
        r.url,
        'retry: { schedule: ["0s"] }, rateLimit: { rate: 1, burst: 1 }, timeout: 100ms',
      ),
    );
    const ids: string[] = [];
    for (let i = 0; i < 3; i++)
      ids.push((await s.post('/orders', `{"i":${i}}`, ASYNC)).headers.get('hookgate-delivery-id')!);
    await expect
      .poll(() => r.received.map((x) => x.headers['webhook-id']).sort(), { timeout: 15_000 })
      .toEqual([...ids].sort());
    const metrics = await s.registry.metrics();
    expect(sample(metrics, 'hookgate_queue_dead_lettered_total')).toBe(0);
    expect(
      sample(metrics, 'hookgate_queue_deferred_total', 'endpoint="orders",reason="rate_limited"'),
    ).toBeGreaterThan(0);
  });

  it('keeps accept order per endpoint under retries (ordering: per-endpoint)', async () => {
    // The receiver fails every first sight of a delivery: each must be retried before the next.
    const seenOnce = new Set<string>();
    const r = await receiver((_n, req, res) => {
      const id = String(req.headers['webhook-id']);
      res.statusCode = seenOnce.has(id) ? 200 : 500;
      seenOnce.add(id);
      res.end();
    });
    const s = await sidecar(
      config(
        r.url,
        'retry: { schedule: ["0s", "20ms", "20ms"] }, delivery: { ordering: per-endpoint }',
      ),
    );
    const ids: string[] = [];
    for (let i = 0; i < 20; i++)
      ids.push((await s.post('/orders', `{"i":${i}}`, ASYNC)).headers.get('hookgate-delivery-id')!);
    await expect.poll(() => r.received.length, { timeout: 20_000 }).toBe(40);
    const order = r.received.map((x) => String(x.headers['webhook-id']));
    // Each delivery's failure and its success are adjacent, and deliveries follow accept order.
    expect(order).toEqual(ids.flatMap((id) => [id, id]));
  });

  it('refuses past the per-endpoint bound with 503, Retry-After and a problem body', async () => {
    const r = await receiver((_n, _req, res) => {
      res.statusCode = 500;
      res.end();
    });
    const s = await sidecar(
      config(r.url, 'retry: { schedule: ["0s", "1h"] }', 'queue: { maxPerEndpoint: 2 }\n'),
    );
    expect((await s.post('/orders', '{}', ASYNC)).status).toBe(202);
    expect((await s.post('/orders', '{}', ASYNC)).status).toBe(202);
    const full = await s.post('/orders', '{}', ASYNC);
    expect(full.status).toBe(503);
    expect(Number(full.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(full.headers.get('content-type')).toBe('application/problem+json');
    expect(await full.json()).toMatchObject({ code: 'queue_full', bound: 'endpoint' });
  });
});

describe('replicas', () => {
  it('share one queue: what one replica accepted, another delivers', async () => {
    const r = await receiver();
    const yaml = config(r.url, '', 'queue: { pollInterval: 20ms }\n');
    const scope = `test/shared-${Date.now()}`;
    const a = await startQueueSidecar(yaml, redisUrl, scope);
    open.push(a);
    const b = await startQueueSidecar(yaml, redisUrl, scope);
    open.push(b);
    // Replica A only accepts (its worker is stopped, as while it drains); B delivers.
    await a.queue.stopWorker(1000);
    const ids: string[] = [];
    for (let i = 0; i < 20; i++)
      ids.push((await a.post('/orders', `{"i":${i}}`, ASYNC)).headers.get('hookgate-delivery-id')!);
    await expect
      .poll(() => r.received.map((x) => String(x.headers['webhook-id'])).sort())
      .toEqual([...ids].sort());
    expect(
      sample(await b.registry.metrics(), 'hookgate_queue_delivered_total', 'endpoint="orders"'),
    ).toBe(20);
    expect(
      sample(await a.registry.metrics(), 'hookgate_queue_accepted_total', 'endpoint="orders"'),
    ).toBe(20);
  });
});

describe('graceful shutdown', () => {
  it('stops claiming and lets the attempt in flight settle', async () => {
    const r = await receiver((_n, _req, res) => setTimeout(() => res.end(), 300));
    const s = await sidecar(config(r.url));
    const id = (await s.post('/orders', '{}', ASYNC)).headers.get('hookgate-delivery-id')!;
    await expect.poll(() => r.received.length).toBe(1);
    await s.queue.stopWorker(5000);
    // Delivered and settled before the worker stopped: gone from the queue, not leased.
    expect(await s.queue.store.get(id)).toBeUndefined();
    // Accepted after the stop: stored, left for the next worker (here: none).
    const later = (await s.post('/orders', '{}', ASYNC)).headers.get('hookgate-delivery-id')!;
    expect((await s.queue.store.get(later))?.state).toBe('pending');
    expect(r.received.length).toBe(1);
  });
});

describe('dead letters and the admin API', () => {
  it('dead-letters after the schedule, shows the history, replays with the same webhook-id', async () => {
    let healthy = false;
    const r = await receiver((_n, _req, res) => {
      res.statusCode = healthy ? 204 : 500;
      res.end();
    });
    const s = await sidecar(config(r.url, 'retry: { schedule: ["0s", "10ms"] }'));
    const id = (await s.post('/orders', '{"x":1}', ASYNC)).headers.get('hookgate-delivery-id')!;
    const other = (await s.post('/orders', '{"x":2}', ASYNC)).headers.get('hookgate-delivery-id')!;

    const dead = async (): Promise<string[]> => {
      const res = await fetch(`${s.admin}/queue/deliveries?endpoint=orders&state=dead`);
      const body = (await res.json()) as { deliveries: { deliveryId: string }[] };
      return body.deliveries.map((d) => d.deliveryId).sort();
    };
    await expect.poll(dead).toEqual([id, other].sort());

    const detail = (await (await fetch(`${s.admin}/queue/deliveries/${id}`)).json()) as {
      state: string;
      body: string;
      attempts: { status: number; durationMs: number; at: string }[];
    };
    expect(detail.state).toBe('dead');
    expect(detail.body).toBe('{"x":1}');
    expect(detail.attempts.map((a) => a.status)).toEqual([500, 500]);
    expect(detail.attempts[0]!.durationMs).toBeGreaterThanOrEqual(0);

    // Replaying a delivery that is not dead is a conflict; an unknown one is 404.
    expect(
      (
        await fetch(`${s.admin}/queue/deliveries/msg_nope/replay`, {
          method: 'POST',
          headers: CHANGE,
        })
      ).status,
    ).toBe(404);

    healthy = true;
    const replay = await fetch(`${s.admin}/queue/deliveries/${id}/replay`, {
      method: 'POST',
      headers: CHANGE,
    });
    expect(await replay.json()).toEqual({ replayed: 1, deliveryId: id });
    await expect.poll(() => r.received.at(-1)?.headers['webhook-id']).toBe(id);
    expect(await dead()).toEqual([other]);

    // The endpoint's dead letters in a time range: the other one.
    const ranged = await fetch(
      `${s.admin}/queue/replay?endpoint=orders&from=${new Date(Date.now() - 60_000).toISOString()}&to=${Date.now() + 1000}`,
      { method: 'POST', headers: CHANGE },
    );
    expect(await ranged.json()).toEqual({ replayed: 1 });
    await expect.poll(dead).toEqual([]);
    await expect
      .poll(() => r.received.filter((x) => x.headers['webhook-id'] === other).length)
      .toBe(3);
    const metrics = await s.registry.metrics();
    expect(sample(metrics, 'hookgate_queue_replayed_total')).toBe(2);
    expect(sample(metrics, 'hookgate_queue_dead_lettered_total', 'endpoint="orders"')).toBe(2);
  });

  it.each([
    // an unknown state names the accepted ones
    [
      'GET',
      '/queue/deliveries?state=bogus',
      400,
      'state="bogus" is not one of pending, retrying, dead',
    ],
    // a limit below 1 is refused, not passed to the store
    ['GET', '/queue/deliveries?limit=-5', 400, 'limit="-5" must be a whole number from 1 to 1000'],
    // times are RFC 3339 or epoch ms
    ['POST', '/queue/replay?endpoint=orders&from=yesterday', 400, 'from="yesterday" is not a time'],
    // a range replay names its endpoint
    ['POST', '/queue/replay', 400, 'name the endpoint'],
    ['GET', '/queue/nothing-here', 404, 'is not a queue admin route'],
  ])('%s %s answers %i naming the problem', async (method, path, status, detail) => {
    const s = await sidecar(config('http://127.0.0.1:9'));
    const res = await fetch(`${s.admin}${path}`, { method, headers: CHANGE });
    expect(res.status).toBe(status);
    expect(((await res.json()) as { detail: string }).detail).toContain(detail);
  });

  it('purges dead letters by filter and refuses a purge without one', async () => {
    const r = await receiver((_n, _req, res) => {
      res.statusCode = 400;
      res.end();
    });
    const s = await sidecar(config(r.url));
    for (let i = 0; i < 3; i++) await s.post('/orders', '{}', ASYNC);
    await expect
      .poll(
        async () =>
          ((await (await fetch(`${s.admin}/queue/stats`)).json()) as { byState: { dead: number } })
            .byState.dead,
      )
      .toBe(3);
    const refused = await fetch(`${s.admin}/queue/deliveries`, {
      method: 'DELETE',
      headers: CHANGE,
    });
    expect(refused.status).toBe(400);
    const purged = await fetch(`${s.admin}/queue/deliveries?state=dead&endpoint=orders`, {
      method: 'DELETE',
      headers: CHANGE,
    });
    expect(await purged.json()).toEqual({ purged: 3 });
    expect(
      sample(await s.registry.metrics(), 'hookgate_queue_depth', 'endpoint="orders",state="dead"'),
    ).toBe(0);
  });
});

/** This machine's first non-loopback IPv4 address, if it has one. */
const external = Object.values(networkInterfaces())
  .flat()
  .find((a) => a !== undefined && a.family === 'IPv4' && !a.internal)?.address;

describe('admin API protection', () => {
  it.skipIf(external === undefined)(
    'answers non-loopback callers only with the bearer token, loopback always',
    async () => {
      const r = await receiver();
      const s = await sidecar(config(r.url));
      const admin = await startAdminServer('0.0.0.0', 0, {
        registry: new Registry(),
        readiness: [],
        handler: (req, res) =>
          queueAdminHandler(req, res, {
            store: s.queue.store,
            clock: systemClock,
            backend: 'redis',
            adminToken: 's3cret-token',
            onReplayed: () => undefined,
          }),
      });
      open.push(admin);
      const remote = `http://${external}:${admin.port}`;
      const denied = await fetch(`${remote}/queue/stats`);
      expect(denied.status).toBe(403);
      expect(await denied.json()).toMatchObject({ code: 'forbidden' });
      const wrong = await fetch(`${remote}/queue/stats`, {
        headers: { authorization: 'Bearer s3cret-tokeX' },
      });
      expect(wrong.status).toBe(403);
      const allowed = await fetch(`${remote}/queue/stats`, {
        headers: { authorization: 'Bearer s3cret-token' },
      });
      expect(allowed.status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${admin.port}/queue/stats`)).status).toBe(200);
      // Metrics stay open to everyone (Prometheus scrapes the pod IP).
      expect((await fetch(`${remote}/metrics`)).status).toBe(200);
    },
  );
});

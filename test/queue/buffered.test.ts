// Buffered ingress (`forward.buffered: true`) on the durable queue: a verified webhook is answered
// 202 once stored, even while the app is down, and reaches the app when it comes up — with the
// provider's headers, Hookgate's verification headers and the exact body. A forged one is still
// refused before anything is stored.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { Webhook } from 'standardwebhooks';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { createLogger } from '../../common/log.ts';
import { systemClock } from '../../sidecar/delivery/delivery.ts';
import { DeliveryQueue, queueLimits } from '../../sidecar/queue/index.ts';
import { RedisQueueStore } from '../../sidecar/queue/redis.ts';
import { freePort } from '../cluster/process.ts';
import { loadConfig, send, startApp, startIngress } from '../ingress/support.ts';

const WHSEC = `whsec_${Buffer.alloc(32, 0x17).toString('base64')}`;
const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.splice(0).reverse()) await c();
});

describe('buffered ingress', () => {
  it('answers 202 once stored while the app is down, and forwards when it is up', async () => {
    const appPort = await freePort();
    const config = await loadConfig(
      {
        ingress: [
          {
            name: 'orders',
            path: '/in/orders',
            verify: { scheme: 'standard-webhooks', secrets: [{ env: 'WHSEC' }] },
            forward: { port: appPort, path: '/app/hooks', buffered: true },
          },
        ],
        // Buffered ingress keeps the default schedule: the retry after the app was down is 5s out.
        queue: { pollInterval: '50ms' },
      },
      { WHSEC },
    );
    const redis = new Redis(inject('redisUrl'), { enableAutoPipelining: true });
    const registry = new Registry();
    const queue = new DeliveryQueue({
      store: new RedisQueueStore({
        redis,
        scope: `buffered/${randomBytes(4).toString('hex')}`,
        limits: queueLimits(config.config.queue),
        consumer: 'test',
      }),
      backend: 'redis',
      settings: config.config.queue,
      registry,
      log: createLogger({}, 'error'),
      clock: systemClock,
    });
    queue.start(() => ({ generation: 0, endpoints: new Map(), dynamic: [] }));
    cleanup.push(async () => {
      await queue.close(1000);
      redis.disconnect();
    });
    const ingress = await startIngress(config, { registry, buffer: queue.acceptIngress });
    cleanup.push(() => ingress.close());

    const body = '{"type":"order.paid","id":7}';
    const id = `msg_${randomBytes(6).toString('hex')}`;
    const ts = Math.floor(Date.now() / 1000);
    const headers = {
      'content-type': 'application/json',
      'webhook-id': id,
      'webhook-timestamp': String(ts),
      'webhook-signature': new Webhook(WHSEC).sign(id, new Date(ts * 1000), body),
    };
    const reply = await send(ingress, '/in/orders', headers, body);
    expect(reply.status).toBe(202);
    expect(reply.json).toMatchObject({ status: 'queued' });

    // A forged copy is refused before the queue; the provider's retry of the real one is a duplicate.
    const forged = await send(
      ingress,
      '/in/orders',
      { ...headers, 'webhook-signature': 'v1,Zm9v' },
      body,
    );
    expect(forged.status).toBe(401);
    expect((await send(ingress, '/in/orders', headers, body)).status).toBe(200);

    // The app comes up later on its port; the first attempt failed (connect refused) and is retried.
    const app = await startApp(appPort);
    cleanup.push(() => app.close());
    await expect.poll(() => app.received.length, { timeout: 15_000 }).toBe(1);
    const got = app.received[0]!;
    expect(got.url).toBe('/app/hooks');
    expect(got.body.toString()).toBe(body);
    expect(got.headers['webhook-id']).toBe(id);
    expect(got.headers['hookgate-verified']).toBe('standard-webhooks');
    expect(got.headers['hookgate-endpoint']).toBe('orders');
    const metrics = await registry.metrics();
    expect(metrics).toContain(
      'hookgate_ingress_requests_total{endpoint="orders",outcome="buffered"} 1',
    );
  });
});

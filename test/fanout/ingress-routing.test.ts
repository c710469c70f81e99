// De-multiplexing on ingress: webhooks signed by the providers' own libraries (Octokit, Stripe,
// Standard Webhooks) are verified by the real ingress server, then routed by event type to
// different app servers (ports) and paths; unrouted types go to the default, or are refused or
// dropped, as configured.
import { randomUUID } from 'node:crypto';
import { sign as octokitSign } from '@octokit/webhooks-methods';
import { Webhook } from 'standardwebhooks';
import Stripe from 'stripe';
import { afterEach, describe, expect, it } from 'vitest';
import {
  loadConfig,
  outcomeCount,
  send,
  startApp,
  startIngress,
  type TestApp,
  type TestIngress,
} from '../ingress/support.ts';

const GH_SECRET = 'gh-routing-secret';
const STRIPE_SECRET = 'whsec_stripe_routing_0123456789';
const SW_SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const c of open.splice(0)) await c.close();
});

async function app(): Promise<TestApp> {
  const a = await startApp();
  open.push(a);
  return a;
}

async function ingress(endpoints: Record<string, unknown>[]): Promise<TestIngress> {
  const config = await loadConfig({ ingress: endpoints }, { GH_SECRET, STRIPE_SECRET, SW_SECRET });
  const server = await startIngress(config, { now: () => Date.now() });
  open.push(server);
  return server;
}

async function github(event: string, body: string): Promise<Record<string, string>> {
  return {
    'content-type': 'application/json',
    'x-github-event': event,
    'x-github-delivery': randomUUID(),
    'x-hub-signature-256': await octokitSign(GH_SECRET, body),
  };
}

function stripe(body: string): Record<string, string> {
  return {
    'content-type': 'application/json',
    'stripe-signature': Stripe.webhooks.generateTestHeaderString({
      payload: body,
      secret: STRIPE_SECRET,
    }),
  };
}

describe('ingress routing by event type', () => {
  it('routes GitHub events by X-GitHub-Event to different app ports and paths', async () => {
    const [pushes, reviews, rest] = [await app(), await app(), await app()];
    const server = await ingress([
      {
        name: 'github',
        path: '/github',
        verify: { scheme: 'github', secrets: [{ env: 'GH_SECRET' }] },
        forward: {
          port: rest.port,
          routes: [
            { eventTypes: ['push'], port: pushes.port, path: '/ci/push' },
            { eventTypes: ['pull_request', 'pull_request_review'], port: reviews.port },
          ],
        },
      },
    ]);
    const push = '{"ref":"refs/heads/main"}';
    const pr = '{"action":"opened"}';
    const star = '{"action":"created"}';
    expect((await send(server, '/github', await github('push', push), push)).status).toBe(200);
    expect((await send(server, '/github', await github('pull_request', pr), pr)).status).toBe(200);
    expect((await send(server, '/github', await github('star', star), star)).status).toBe(200);

    expect(pushes.received.map((r) => [r.url, r.body.toString()])).toEqual([['/ci/push', push]]);
    expect(pushes.received[0]!.headers['hookgate-event-type']).toBe('push');
    // Without a route path, the arrival path.
    expect(reviews.received.map((r) => [r.url, r.body.toString()])).toEqual([['/github', pr]]);
    // unrouted: default (the default) sends the rest to forward.port.
    expect(rest.received.map((r) => r.body.toString())).toEqual([star]);
    expect(rest.received[0]!.headers['hookgate-event-type']).toBe('star');
  });

  it('routes Stripe events by the payload type, and refuses unrouted ones with 422', async () => {
    const [payments, invoices, fallback] = [await app(), await app(), await app()];
    const server = await ingress([
      {
        name: 'stripe',
        path: '/stripe',
        verify: { scheme: 'stripe', secrets: [{ env: 'STRIPE_SECRET' }] },
        forward: {
          port: fallback.port,
          routes: [
            { eventTypes: ['payment_intent.*'], port: payments.port, path: '/payments' },
            { eventTypes: ['invoice.paid'], port: invoices.port, path: '/invoices' },
          ],
          unrouted: 'refuse',
        },
      },
    ]);
    const event = (id: string, type: string): string =>
      JSON.stringify({ id, object: 'event', type, data: { object: {} } });
    const succeeded = event('evt_1', 'payment_intent.succeeded');
    const paid = event('evt_2', 'invoice.paid');
    const created = event('evt_3', 'customer.created');
    expect((await send(server, '/stripe', stripe(succeeded), succeeded)).status).toBe(200);
    expect((await send(server, '/stripe', stripe(paid), paid)).status).toBe(200);
    const refused = await send(server, '/stripe', stripe(created), created);

    expect(payments.received.map((r) => r.url)).toEqual(['/payments']);
    expect(invoices.received.map((r) => r.url)).toEqual(['/invoices']);
    expect(refused.status).toBe(422);
    expect(refused.json).toMatchObject({
      type: 'https://hookgate.io/problems/event-type-not-routed',
      code: 'unrouted',
    });
    expect(String(refused.json?.['detail'])).toContain('customer.created');
    expect(fallback.received).toHaveLength(0);
    expect(await outcomeCount(server.registry, 'stripe', 'unrouted_refused')).toBe(1);
    // The refusal claimed no delivery id: the provider's retry is refused again, not answered
    // as a duplicate, so adding a route later lets the retry through.
    expect((await send(server, '/stripe', stripe(created), created)).status).toBe(422);
    expect(await outcomeCount(server.registry, 'stripe', 'forwarded')).toBe(2);
  });

  it('drops unrouted types with 200 when configured, and never routes a forged webhook', async () => {
    const orders = await app();
    const server = await ingress([
      {
        name: 'shop',
        path: '/shop',
        verify: { scheme: 'standard-webhooks', secrets: [{ env: 'SW_SECRET' }] },
        forward: {
          port: orders.port,
          routes: [{ eventTypes: ['order.*'], path: '/orders' }],
          unrouted: 'drop',
        },
      },
    ]);
    const signed = (body: string, secret = SW_SECRET): Record<string, string> => {
      const id = `msg_${randomUUID()}`;
      const now = new Date();
      return {
        'content-type': 'application/json',
        'webhook-id': id,
        'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
        'webhook-signature': new Webhook(secret).sign(id, now, body),
      };
    };
    const order = '{"type":"order.created","data":{}}';
    const ping = '{"type":"ping","data":{}}';
    const untyped = '{"data":{}}';
    expect((await send(server, '/shop', signed(order), order)).status).toBe(200);
    const dropped = await send(server, '/shop', signed(ping), ping);
    expect(dropped.status).toBe(200);
    expect(dropped.headers['hookgate-dropped']).toBe('unrouted');
    expect(dropped.json).toMatchObject({ code: 'unrouted_dropped' });
    expect((await send(server, '/shop', signed(untyped), untyped)).status).toBe(200);
    const forged = await send(
      server,
      '/shop',
      signed(order, 'whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD'),
      order,
    );
    expect(forged.status).toBe(401);

    expect(orders.received.map((r) => [r.url, r.body.toString()])).toEqual([['/orders', order]]);
    expect(await outcomeCount(server.registry, 'shop', 'unrouted_dropped')).toBe(2);
  });

  it('reads the type where the config says (a header of its own)', async () => {
    const [a, b] = [await app(), await app()];
    const server = await ingress([
      {
        name: 'custom',
        path: '/custom',
        verify: { scheme: 'standard-webhooks', secrets: [{ env: 'SW_SECRET' }] },
        forward: {
          port: b.port,
          eventType: { header: 'X-Event-Kind' },
          routes: [{ eventTypes: ['alpha'], port: a.port }],
        },
      },
    ]);
    const body = '{"type":"beta"}';
    const id = `msg_${randomUUID()}`;
    const now = new Date();
    const res = await send(
      server,
      '/custom',
      {
        'x-event-kind': 'alpha',
        'webhook-id': id,
        'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
        'webhook-signature': new Webhook(SW_SECRET).sign(id, now, body),
      },
      body,
    );
    expect(res.status).toBe(200);
    expect(a.received).toHaveLength(1);
    expect(b.received).toHaveLength(0);
  });
});

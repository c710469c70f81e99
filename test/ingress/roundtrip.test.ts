// Our two halves against each other: Hookgate's egress signer (Standard Webhooks) signs, the
// ingress verifies and forwards, and the reference library, in the app, verifies again what
// arrived. The signer stands in for the egress proxy until the two are wired together.
import { randomUUID } from 'node:crypto';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createSigner } from '../../sidecar/signing/index.ts';
import {
  loadConfig,
  send,
  startApp,
  startIngress,
  type TestApp,
  type TestIngress,
} from './support.ts';

const CURRENT = `whsec_${Buffer.alloc(32, 0x21).toString('base64')}`;
const PREVIOUS = `whsec_${Buffer.alloc(48, 0x63).toString('base64')}`;

describe('egress signer → ingress → app', () => {
  let app: TestApp;
  let ingress: TestIngress;

  beforeAll(async () => {
    app = await startApp();
    const config = await loadConfig(
      {
        ingress: [
          {
            name: 'from-egress',
            path: '/hooks/orders',
            // the receiving side still holds only the previous secret: a rotation in progress
            verify: { scheme: 'standard-webhooks', secrets: [{ env: 'PREVIOUS' }] },
            forward: { port: app.port, path: '/orders/webhook' },
          },
        ],
      },
      { PREVIOUS },
    );
    // The wall clock on both sides, as in production: the app's judge checks it too.
    ingress = await startIngress(config);
  });
  afterAll(async () => {
    await ingress.close();
    await app.close();
  });
  beforeEach(() => {
    app.received.length = 0;
  });

  it('verifies what the egress signer signed, during a key rotation, and the app can verify it again', async () => {
    const sign = createSigner({ scheme: 'standard-webhooks', secrets: [CURRENT, PREVIOUS] });
    const deliveryId = `msg_${randomUUID()}`;
    const body = Buffer.from(JSON.stringify({ type: 'order.created', data: { total: '9.99 €' } }));
    const headers = sign({ deliveryId, timestamp: Math.floor(Date.now() / 1000), body });
    const reply = await send(
      ingress,
      '/hooks/orders',
      { ...headers, 'content-type': 'application/json' },
      body,
    );
    expect(reply.status).toBe(200);
    expect(app.received).toHaveLength(1);
    const seen = app.received[0]!;
    expect(seen.url).toBe('/orders/webhook');
    expect(seen.body.equals(body)).toBe(true);
    expect(seen.headers['hookgate-verified']).toBe('standard-webhooks');
    expect(seen.headers['hookgate-delivery-id']).toBe(deliveryId);
    // the signature headers arrive intact: the reference library accepts them at the app
    const judged = new Webhook(PREVIOUS).verify(seen.body.toString('utf8'), {
      'webhook-id': String(seen.headers['webhook-id']),
      'webhook-timestamp': String(seen.headers['webhook-timestamp']),
      'webhook-signature': String(seen.headers['webhook-signature']),
    });
    expect(judged).toEqual({ type: 'order.created', data: { total: '9.99 €' } });
  });

  it('refuses what the signer signed with a secret the ingress does not hold', async () => {
    const sign = createSigner({ scheme: 'standard-webhooks', secrets: [CURRENT] });
    const body = Buffer.from('{"type":"order.created"}');
    const headers = sign({
      deliveryId: `msg_${randomUUID()}`,
      timestamp: Math.floor(Date.now() / 1000),
      body,
    });
    const reply = await send(ingress, '/hooks/orders', headers, body);
    expect(reply.status).toBe(401);
    expect(reply.json).toMatchObject({ code: 'signature_mismatch' });
    expect(app.received).toHaveLength(0);
  });
});

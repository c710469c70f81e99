// De-duplication shared by replicas through a real Redis: two ingress servers (two pods of one
// Deployment), each with its own Redis connection, one app behind them.
import { randomUUID } from 'node:crypto';
import { sign as octokitSign } from '@octokit/webhooks-methods';
import { Redis } from 'ioredis';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { freePort } from '../cluster/process.ts';
import {
  holdNextResponse,
  loadConfig,
  outcomeCount,
  send,
  startApp,
  startIngress,
  type TestApp,
  type TestIngress,
} from './support.ts';

const NOW_S = 1_700_000_000;
const now = (): number => NOW_S * 1000;
const WHSEC = `whsec_${Buffer.alloc(32, 0x3c).toString('base64')}`;
const GH_SECRET = 'replicas-share-this';

function swHeaders(id: string, body: string, ts = NOW_S): Record<string, string> {
  return {
    'webhook-id': id,
    'webhook-timestamp': String(ts),
    'webhook-signature': new Webhook(WHSEC).sign(id, new Date(ts * 1000), body),
  };
}

describe('de-duplication across replicas through Redis', () => {
  const clients: Redis[] = [];
  const connect = (url = inject('redisUrl'), extra: Record<string, unknown> = {}): Redis => {
    const client = new Redis(url, { maxRetriesPerRequest: 1, ...extra });
    // Failures reach the store through commands; reconnect noise is not the test's concern.
    client.on('error', () => undefined);
    clients.push(client);
    return client;
  };
  const namespace = `dedup-${randomUUID()}`;
  let app: TestApp;
  let podA: TestIngress;
  let podB: TestIngress;
  let admin: Redis;

  beforeAll(async () => {
    app = await startApp();
    const config = await loadConfig(
      {
        namespace,
        ingress: [
          {
            name: 'orders',
            path: '/hooks/orders',
            verify: { scheme: 'standard-webhooks', secrets: [{ env: 'WHSEC' }] },
            forward: { port: app.port },
            deduplication: { window: '10m' },
          },
          {
            name: 'github',
            path: '/hooks/github',
            verify: { scheme: 'github', secrets: [{ env: 'GH_SECRET' }] },
            forward: { port: app.port },
          },
        ],
      },
      { WHSEC, GH_SECRET },
    );
    podA = await startIngress(config, { now, redis: connect() });
    podB = await startIngress(config, { now, redis: connect() });
    admin = connect();
  });
  afterAll(async () => {
    await podA.close();
    await podB.close();
    await app.close();
    for (const client of clients) client.disconnect();
  });
  beforeEach(() => {
    app.received.length = 0;
    app.respond((_req, res) => res.writeHead(200).end('ok'));
  });

  it('the second replica drops the copy the first delivered, and the key expires with the window', async () => {
    const id = `msg_${randomUUID()}`;
    const body = '{"type":"invoice.paid"}';
    expect((await send(podA, '/hooks/orders', swHeaders(id, body), body)).status).toBe(200);
    const copy = await send(podB, '/hooks/orders', swHeaders(id, body, NOW_S + 30), body);
    expect(copy.status).toBe(200);
    expect(copy.json).toMatchObject({ code: 'duplicate' });
    expect(app.received).toHaveLength(1);
    expect(await outcomeCount(podB.registry, 'orders', 'duplicate')).toBe(1);
    const key = `hookgate:dedup:${namespace}/orders:${id}`;
    expect(await admin.get(key)).toBe('d');
    const ttl = await admin.pttl(key);
    expect(ttl).toBeGreaterThan(590_000);
    expect(ttl).toBeLessThanOrEqual(600_000);
  });

  it('a copy at the other replica while the first is with the app gets 409; the claim is in Redis', async () => {
    const id = `msg_${randomUUID()}`;
    const body = '{"type":"invoice.created"}';
    const held = holdNextResponse(app);
    const first = send(podA, '/hooks/orders', swHeaders(id, body), body);
    await held.arrived;
    const key = `hookgate:dedup:${namespace}/orders:${id}`;
    expect(await admin.get(key)).toMatch(/^p:[0-9a-f-]{36}$/);
    // held for the longest forward (30 s + retries) plus a margin, not for the whole window
    expect(await admin.pttl(key)).toBeGreaterThan(30_000);
    expect(await admin.pttl(key)).toBeLessThanOrEqual(35_375);
    const copy = await send(podB, '/hooks/orders', swHeaders(id, body), body);
    expect(copy.status).toBe(409);
    held.release(200);
    expect((await first).status).toBe(200);
    expect((await send(podB, '/hooks/orders', swHeaders(id, body), body)).json).toMatchObject({
      code: 'duplicate',
    });
    expect(app.received).toHaveLength(1);
  });

  it('a delivery the app refused at one replica is forwarded when retried at the other', async () => {
    const id = `msg_${randomUUID()}`;
    const body = '{"type":"invoice.voided"}';
    app.respond((_req, res) => res.writeHead(500).end('try again'));
    expect((await send(podA, '/hooks/orders', swHeaders(id, body), body)).status).toBe(500);
    expect(await admin.exists(`hookgate:dedup:${namespace}/orders:${id}`)).toBe(0);
    app.respond((_req, res) => res.writeHead(200).end());
    expect((await send(podB, '/hooks/orders', swHeaders(id, body), body)).status).toBe(200);
    expect(app.received).toHaveLength(2);
  });

  it("binds GitHub's unsigned delivery id to the signature, so a replayed body cannot mask a delivery", async () => {
    const id = randomUUID();
    const genuine = '{"action":"opened","number":7}';
    const captured = '{"action":"closed","number":3}';
    const headers = async (body: string): Promise<Record<string, string>> => ({
      'x-hub-signature-256': await octokitSign(GH_SECRET, body),
      'x-github-delivery': id,
    });
    // an attacker replays an old captured delivery under the id of the next one
    expect((await send(podA, '/hooks/github', await headers(captured), captured)).status).toBe(200);
    // the genuine delivery with that id still reaches the app
    expect((await send(podB, '/hooks/github', await headers(genuine), genuine)).status).toBe(200);
    // and GitHub's own redelivery of it (same id, same body) is a duplicate
    const redelivery = await send(podA, '/hooks/github', await headers(genuine), genuine);
    expect(redelivery.json).toMatchObject({ code: 'duplicate' });
    expect(app.received.map((r) => r.body.toString())).toEqual([captured, genuine]);
    const keys = await admin.keys(`hookgate:dedup:${namespace}/github:${id}:*`);
    expect(keys).toHaveLength(2);
    for (const key of keys) expect(key).toMatch(/:[0-9a-f]{32}$/);
  });

  it('falls back to the pod-local store when Redis is unreachable, and counts it', async () => {
    // nothing listens there; without an offline queue each command fails at once
    const dead = connect(`redis://127.0.0.1:${await freePort()}`, {
      enableOfflineQueue: false,
      lazyConnect: true,
    });
    const config = await loadConfig(
      {
        ingress: [
          {
            name: 'orders',
            path: '/hooks/orders',
            verify: { scheme: 'standard-webhooks', secrets: [{ env: 'WHSEC' }] },
            forward: { port: app.port },
          },
        ],
      },
      { WHSEC },
    );
    const lonely = await startIngress(config, { now, redis: dead });
    try {
      const id = `msg_${randomUUID()}`;
      expect((await send(lonely, '/hooks/orders', swHeaders(id, '{}'), '{}')).status).toBe(200);
      const copy = await send(lonely, '/hooks/orders', swHeaders(id, '{}'), '{}');
      expect(copy.json).toMatchObject({ code: 'duplicate' });
      expect(app.received).toHaveLength(1);
      const errors = await lonely.registry
        .getSingleMetric('hookgate_ingress_dedup_store_errors_total')
        ?.get();
      expect(errors?.values[0]?.value).toBeGreaterThanOrEqual(3);
      expect(
        lonely.logs.some((l) => l['level'] === 'warn' && String(l['msg']).includes('pod-local')),
      ).toBe(true);
    } finally {
      await lonely.close();
    }
  });
});

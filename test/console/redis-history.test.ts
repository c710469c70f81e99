// The console reads the delivery history straight from the sidecars' Redis (ADR 0023): the
// records here are written by the history's own Redis store, as sidecars write them, into two
// namespaces that have no sidecar pods at all, so every delivery the console shows came from
// Redis. RBAC still decides first: a user who may get endpoints in one namespace pages through its
// deliveries (filtered in Redis), reads a record with its attempts, and sees nothing of the other.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inject } from 'vitest';
import type { DeliveryRecord, DeliverySummary, HistoryUpdate } from '../../common/history.ts';
import { createLogger } from '../../common/log.ts';
import { startConsoleFor } from '../../operator/console/index.ts';
import type { ConsoleServer } from '../../operator/console/server.ts';
import { KubeClient } from '../../operator/kube/client.ts';
import { fromKubeconfig } from '../../operator/kube/config.ts';
import { T0, put, roomyHistoryLimits, updateMaker } from '../../sidecar/history/contract.ts';
import { RedisHistoryStore } from '../../sidecar/history/redis.ts';
import { createTestNamespace, kubeClients, uniqueName } from '../support/kube.ts';
import { ADMIN_TOKEN, APP_SECRET, userToken } from './harness.ts';

type Page = { items: DeliverySummary[]; nextCursor?: string; unreachable: string[] };

let admin: KubeClient;
let redis: Redis;
let console_: ConsoleServer;
let base: string;
let viewer: string;
let visible: string;
let hidden: string;
const u = updateMaker();
/** Delivery ids in `visible`, oldest first: 1..5; 2 and 4 failed twice, then were delivered. */
const ids: string[] = [];
let hiddenId: string;

async function api<T>(path: string): Promise<{ status: number; body: T; text: string }> {
  const res = await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${viewer}` } });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text) as T, text };
}

beforeAll(async () => {
  const { core } = kubeClients();
  admin = new KubeClient(await fromKubeconfig(inject('kubeconfig')));
  [visible, hidden] = await Promise.all([
    createTestNamespace(core, 'console-redis'),
    createTestNamespace(core, 'console-redis-hidden'),
  ]);
  for (const namespace of [visible, hidden])
    await admin.request(
      'POST',
      `/apis/hookgate.io/v1alpha1/namespaces/${namespace}/webhookendpoints`,
      {
        body: {
          apiVersion: 'hookgate.io/v1alpha1',
          kind: 'WebhookEndpoint',
          metadata: { name: 'orders', namespace },
          spec: { direction: 'Egress', url: 'https://orders.example.com/hooks' },
        },
      },
    );
  viewer = await userToken(admin, visible, uniqueName('viewer'), ['get', 'list']);

  redis = new Redis(inject('redisUrl'));
  const write = async (namespace: string, updates: HistoryUpdate[]): Promise<void> => {
    const store = new RedisHistoryStore({ redis, namespace, limits: () => roomyHistoryLimits });
    await put(store, updates, T0 + 3600_000);
  };
  const updates: HistoryUpdate[] = [];
  for (let n = 1; n <= 5; n++) {
    const retried = n % 2 === 0;
    // As an older sidecar might have written it: the app's credential not redacted at write.
    const first = u(n, {
      namespace: visible,
      requestHeaders: { 'content-type': 'application/json', authorization: `Bearer ${APP_SECRET}` },
      ...(retried ? { status: 503 } : {}),
    });
    updates.push(first);
    if (retried) updates.push(u(n, { namespace: visible, attemptNo: 2, requestHeaders: {} }));
    ids.push(first.deliveryId);
  }
  await write(visible, updates);
  const secret = u(9, { namespace: hidden });
  hiddenId = secret.deliveryId;
  await write(hidden, [secret]);

  console_ = await startConsoleFor({
    client: admin,
    log: createLogger({ program: 'console-redis-test' }, 'warn'),
    host: '127.0.0.1',
    port: 0,
    adminToken: ADMIN_TOKEN,
    historyRedisUrl: inject('redisUrl'),
  });
  base = `http://127.0.0.1:${console_.port}`;
}, 60_000);

afterAll(async () => {
  await console_?.close();
  redis?.disconnect();
  await admin?.close();
});

describe('the console on the history in Redis', () => {
  it('pages a visible namespace newest first from Redis, with no sidecar pod to ask', async () => {
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let pages = 0; pages < 5; pages++) {
      const q = new URLSearchParams({ namespace: visible, limit: '2' });
      if (cursor !== undefined) q.set('cursor', cursor);
      const { status, body } = await api<Page>(`/api/v1/deliveries?${q.toString()}`);
      expect(status).toBe(200);
      expect(body.unreachable).toEqual([]);
      expect(body.items.length).toBeLessThanOrEqual(2);
      seen.push(...body.items.map((i) => i.deliveryId));
      cursor = body.nextCursor;
      if (cursor === undefined) break;
    }
    expect(seen).toEqual([...ids].reverse());
  });

  it('filters in Redis: outcome, and time', async () => {
    // Every delivery ended delivered (the retried ones on their second attempt)…
    const failed = await api<Page>(`/api/v1/deliveries?namespace=${visible}&outcome=failed`);
    expect(failed.body.items).toEqual([]);
    const delivered = await api<Page>(`/api/v1/deliveries?namespace=${visible}&outcome=delivered`);
    expect(delivered.body.items).toHaveLength(5);
    // …and the first attempts are a second apart from T0 + 1 s: [T0 + 2 s, T0 + 4 s) holds 2 and 3.
    const window = await api<Page>(
      `/api/v1/deliveries?namespace=${visible}&from=${T0 + 2000}&to=${T0 + 4000}`,
    );
    expect(window.body.items.map((i) => i.deliveryId)).toEqual([ids[2], ids[1]]);
    expect(window.body.items[1]).toMatchObject({ attempts: 2, lastStatus: 200 });
  });

  it('reads one record with its attempt timeline, the credential redacted again', async () => {
    const { status, body, text } = await api<DeliveryRecord>(
      `/api/v1/namespaces/${visible}/deliveries/${ids[1]}`,
    );
    expect(status).toBe(200);
    expect(body.attemptLog.map((a) => [a.attempt, a.status])).toEqual([
      [1, 503],
      [2, 200],
    ]);
    expect(body.requestHeaders['authorization']).toBe('[redacted]');
    expect(text).not.toContain(APP_SECRET);
    // By id alone, searched in what the user may see.
    expect((await api<DeliveryRecord>(`/api/v1/deliveries/${ids[0]}`)).body.deliveryId).toBe(
      ids[0],
    );
  });

  it('shows nothing of a namespace RBAC does not let the user get, though Redis holds it', async () => {
    expect(await redis.exists(`hookgate:history:{${hidden}}:index`)).toBe(1);
    const scoped = await api<Page>(`/api/v1/deliveries?namespace=${hidden}`);
    expect(scoped.status).toBe(200);
    expect(scoped.body.items).toEqual([]);
    const all = await api<Page>('/api/v1/deliveries?limit=100');
    expect(all.body.items.map((i) => i.namespace)).not.toContain(hidden);
    expect(all.body.items).toHaveLength(5);
    expect((await api(`/api/v1/namespaces/${hidden}/deliveries/${hiddenId}`)).status).toBe(404);
    expect((await api(`/api/v1/deliveries/${hiddenId}`)).status).toBe(404);
  });
});

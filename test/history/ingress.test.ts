// Direct (unbuffered) ingress forwarding in the delivery history: a verified webhook the sidecar
// hands to the app and whose answer it streams back to the provider is one delivery, direction
// ingress, under the provider's own id, with the app's answer as its attempt. The provider's
// signature never reaches the store. Real servers: the ingress port, the app, the admin API over
// the disk store; the signature from the Standard Webhooks library.
import { readFileSync, readdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { Webhook } from 'standardwebhooks';
import { afterEach, describe, expect, it } from 'vitest';
import { startAdminServer, type AdminServer } from '../../common/admin.ts';
import type { DeliveryRecord, DeliverySummary } from '../../common/history.ts';
import { createLogger } from '../../common/log.ts';
import { systemClock } from '../../sidecar/delivery/delivery.ts';
import { DeliveryObservers } from '../../sidecar/delivery/observe.ts';
import { historyAdminHandler } from '../../sidecar/history/admin.ts';
import { openHistory } from '../../sidecar/history/open.ts';
import type { HistoryRecorder } from '../../sidecar/history/recorder.ts';
import { loadConfig, send, startApp, startIngress, type TestApp } from '../ingress/support.ts';

const WHSEC = `whsec_${Buffer.alloc(32, 0x5a).toString('base64')}`;
type Page = { items: DeliverySummary[] };

describe('direct ingress forwarding in the delivery history', () => {
  const open: { close(): Promise<void> }[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((o) => o.close()));
  });

  /** The ingress over `app`, recording into a disk history read back through the admin API. */
  const start = async (
    app: TestApp,
  ): Promise<{
    origin: string;
    directory: string;
    recorder: HistoryRecorder;
    get<T>(path: string): Promise<{ status: number; body: T }>;
  }> => {
    const directory = mkdtempSync(join(tmpdir(), 'hookgate-ingress-history-'));
    const loaded = await loadConfig(
      {
        namespace: 'shop',
        history: { directory },
        ingress: [
          {
            name: 'payments',
            path: '/in/payments',
            verify: { scheme: 'standard-webhooks', secrets: [{ env: 'WHSEC' }] },
            forward: { port: app.port, path: '/webhooks' },
          },
        ],
      },
      { WHSEC },
    );
    const registry = new Registry();
    const log = createLogger({}, 'error', () => undefined);
    const observers = new DeliveryObservers();
    const recorder = await openHistory({
      config: () => loaded,
      redis: undefined,
      observers,
      registry,
      log,
      clock: systemClock,
      pod: 'shop-web-0',
    });
    if (recorder === undefined) throw new Error('history did not open');
    const ingress = await startIngress(loaded, { registry, observers });
    const tails = { open: 0 };
    const admin: AdminServer = await startAdminServer('127.0.0.1', 0, {
      registry,
      readiness: [],
      handler: (req, res) =>
        historyAdminHandler(req, res, { recorder, heartbeatMs: 60_000 }, tails),
    });
    open.push(app, {
      close: async () => {
        await ingress.close();
        await recorder.close();
        await admin.close();
      },
    });
    return {
      origin: ingress.origin,
      directory,
      recorder,
      get: async <T>(path: string) => {
        await recorder.flushed();
        const res = await fetch(`http://127.0.0.1:${admin.port}${path}`);
        return { status: res.status, body: (await res.json()) as T };
      },
    };
  };

  const signed = (id: string, body: string): Record<string, string> => {
    const at = new Date();
    return {
      'content-type': 'application/json',
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
      'webhook-signature': new Webhook(WHSEC).sign(id, at, body),
    };
  };

  it('records a forward the app took: direction ingress, the provider’s id, the app’s answer, no signature', async () => {
    const app = await startApp();
    app.respond((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"received":true}');
    });
    const s = await start(app);
    const body = '{"type":"payment.succeeded","amount":4200}';
    const headers = signed('msg_2b9fPayment1', body);
    const reply = await send(s, '/in/payments', headers, body);
    expect(reply.status).toBe(200);
    expect(reply.text).toBe('{"received":true}');

    const { body: page } = await s.get<Page>('/history/deliveries?direction=ingress');
    expect(page.items).toEqual([
      expect.objectContaining({
        deliveryId: 'msg_2b9fPayment1',
        endpoint: 'ingress:payments',
        direction: 'ingress',
        outcome: 'delivered',
        attempts: 1,
        lastStatus: 200,
      }),
    ]);
    const { status, body: record } = await s.get<DeliveryRecord>(
      '/history/deliveries/msg_2b9fPayment1',
    );
    expect(status).toBe(200);
    expect(record.url).toBe(`http://127.0.0.1:${app.port}/webhooks`);
    expect(record.requestBody).toBe(body);
    expect(record.requestHeaders['webhook-signature']).toBe('[redacted]');
    expect(record.requestHeaders['hookgate-verified']).toBe('standard-webhooks');
    expect(record.attemptLog).toEqual([
      expect.objectContaining({ attempt: 1, status: 200, responseBody: '{"received":true}' }),
    ]);
    // What the store holds on disk: never the signature the provider sent, nor the secret.
    const stored = readdirSync(s.directory)
      .filter((f) => f.endsWith('.jsonl'))
      .map((f) => readFileSync(join(s.directory, f), 'utf8'))
      .join('\n');
    expect(stored).toContain('msg_2b9fPayment1');
    expect(stored).not.toContain(headers['webhook-signature']!.split(',')[1]);
    expect(stored).not.toContain(WHSEC.slice(6));
  });

  it('records an app that fails or is down as failed, with the status or the reason', async () => {
    const app = await startApp();
    app.respond((_req, res) => {
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.end('x'.repeat(10_000));
    });
    const s = await start(app);
    const body = '{"type":"payment.failed"}';
    expect((await send(s, '/in/payments', signed('msg_appFailing', body), body)).status).toBe(503);
    const { body: failing } = await s.get<DeliveryRecord>('/history/deliveries/msg_appFailing');
    expect(failing).toMatchObject({ outcome: 'failed', direction: 'ingress' });
    // The body as the default policy keeps it: the first 4 KiB, marked cut.
    expect(failing.attemptLog[0]).toMatchObject({
      status: 503,
      error: 'http-503',
      responseBodyTruncated: true,
    });
    expect(failing.attemptLog[0]?.responseBody).toHaveLength(4096);

    // The app gone: the provider hears 502 (it retries), the history says why.
    await app.close();
    const reply = await send(s, '/in/payments', signed('msg_appDown', body), body);
    expect(reply.status).toBe(502);
    const { body: down } = await s.get<DeliveryRecord>('/history/deliveries/msg_appDown');
    expect(down).toMatchObject({ outcome: 'failed', problem: 'connect-error' });
  });

  it('records nothing it refused: a forged signature, a duplicate of a delivered id', async () => {
    const app = await startApp();
    const s = await start(app);
    const body = '{"type":"payment.succeeded"}';
    expect((await send(s, '/in/payments', signed('msg_once', body), body)).status).toBe(200);
    const forged = { ...signed('msg_forged', body), 'webhook-signature': 'v1,AAAA' };
    expect((await send(s, '/in/payments', forged, body)).status).toBe(401);
    // The provider's retry of what the app already took: answered, not forwarded, not recorded.
    expect((await send(s, '/in/payments', signed('msg_once', body), body)).status).not.toBe(500);
    expect(app.received).toHaveLength(1);
    const { body: page } = await s.get<Page>('/history/deliveries');
    expect(page.items.map((d) => [d.deliveryId, d.attempts])).toEqual([['msg_once', 1]]);
  });
});

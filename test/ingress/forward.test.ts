// What happens around verification: routing, limits, the exact request the app receives, what
// the provider gets back, the app starting or failing, hot reload and the metrics and logs.
import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import { Webhook } from 'standardwebhooks';
import { request } from 'undici';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { LoadedConfig } from '../../sidecar/config/load.ts';
import {
  holdNextResponse,
  loadConfig,
  outcomeCount,
  send,
  sendWithNodeHttp,
  startApp,
  startIngress,
  type TestApp,
  type TestIngress,
} from './support.ts';

const NOW_S = 1_700_000_000;
const now = (): number => NOW_S * 1000;
const TOKEN = 'tok_forward_test_7c1d';
const WHSEC = `whsec_${Buffer.alloc(32, 0x42).toString('base64')}`;
const bearer = { authorization: `Bearer ${TOKEN}` };

/** Standard Webhooks headers from the reference library, for `id`. */
function swHeaders(id: string, body: Buffer | string, ts = NOW_S): Record<string, string> {
  return {
    'webhook-id': id,
    'webhook-timestamp': String(ts),
    'webhook-signature': new Webhook(WHSEC).sign(id, new Date(ts * 1000), body),
  };
}

/** Ingress endpoints for these tests, all forwarding to `appPort`. */
function endpoints(appPort: number): Record<string, unknown>[] {
  const token = { scheme: 'bearer', secrets: [{ env: 'TOKEN' }] };
  return [
    { name: 'plain', path: '/in/plain', verify: token, forward: { port: appPort } },
    {
      name: 'renamed',
      path: '/in/renamed',
      verify: token,
      forward: { port: appPort, path: '/app/webhooks' },
    },
    {
      name: 'small',
      path: '/in/small',
      verify: token,
      forward: { port: appPort },
      maxPayloadBytes: 64,
    },
    {
      name: 'orders',
      path: '/in/orders',
      verify: { scheme: 'standard-webhooks', secrets: [{ env: 'WHSEC' }] },
      forward: { port: appPort },
      deduplication: { window: '10m' },
    },
    {
      name: 'no-dedup',
      path: '/in/no-dedup',
      verify: { scheme: 'standard-webhooks', secrets: [{ env: 'WHSEC' }] },
      forward: { port: appPort },
      deduplication: { window: '0s' },
    },
    {
      // one webhook per minute: the second gets 429 with Retry-After
      name: 'limited',
      path: '/in/limited',
      verify: token,
      forward: { port: appPort },
      rateLimit: { rate: 1, per: 'minute', burst: 1 },
    },
    {
      name: 'queued',
      path: '/in/queued',
      verify: token,
      forward: { port: appPort, buffered: true },
    },
    {
      // a Standard Webhooks secret without its whsec_ prefix: loads, but cannot verify
      name: 'broken',
      path: '/in/broken',
      verify: { scheme: 'standard-webhooks', secrets: [{ env: 'TOKEN' }] },
      forward: { port: appPort },
    },
  ];
}

const env = { TOKEN, WHSEC };

describe('ingress forwarding', () => {
  let app: TestApp;
  let ingress: TestIngress;
  let config: LoadedConfig;

  beforeAll(async () => {
    app = await startApp();
    config = await loadConfig({ ingress: endpoints(app.port) }, env);
    ingress = await startIngress(() => config, { now });
  });
  afterAll(async () => {
    await ingress.close();
    await app.close();
  });
  beforeEach(() => {
    app.received.length = 0;
    app.respond((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok');
    });
  });

  it('answers 429 with Retry-After past the rate limit, and the app never sees the extra webhook', async () => {
    const first = await send(ingress, '/in/limited', bearer, '{"n":1}');
    const second = await send(ingress, '/in/limited', bearer, '{"n":2}');
    expect(first.status).toBe(200);
    expect(second.status).toBe(429);
    expect(second.headers['retry-after']).toBe('60');
    expect(second.json).toMatchObject({
      type: 'https://hookgate.io/problems/rate-limited',
      code: 'rate_limited',
    });
    expect(app.received.map((r) => r.body.toString())).toEqual(['{"n":1}']);
    expect(await outcomeCount(ingress.registry, 'limited', 'rate_limited')).toBe(1);
  });

  it('forwards to forward.path, keeping the query string', async () => {
    const reply = await send(ingress, '/in/renamed?event=push&n=1', bearer, '{}');
    expect(reply.status).toBe(200);
    expect(app.received[0]?.url).toBe('/app/webhooks?event=push&n=1');
  });

  it('forwards any bytes unchanged, including invalid UTF-8', async () => {
    const body = Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 7) % 256));
    const reply = await send(
      ingress,
      '/in/plain',
      { ...bearer, 'content-type': 'application/octet-stream' },
      body,
    );
    expect(reply.status).toBe(200);
    expect(app.received[0]?.body.equals(body)).toBe(true);
    expect(app.received[0]?.headers['content-length']).toBe('512');
  });

  it('drops hop-by-hop headers and any Hookgate-* header a sender tries to set', async () => {
    const reply = await sendWithNodeHttp(
      ingress,
      '/in/plain',
      {
        ...bearer,
        connection: 'keep-alive, x-hop',
        'x-hop': 'one-connection-only',
        'keep-alive': 'timeout=5',
        'hookgate-verified': 'github',
        'hookgate-delivery-id': 'forged',
        'x-custom': 'kept',
        'user-agent': 'Provider-Hookshot/1.0',
        'x-forwarded-for': '203.0.113.9',
      },
      '{}',
    );
    expect(reply.status).toBe(200);
    const headers = app.received[0]!.headers;
    expect(headers['x-hop']).toBeUndefined();
    expect(headers['keep-alive']).toBeUndefined();
    // only what the sidecar itself established
    expect(headers['hookgate-verified']).toBe('bearer');
    expect(headers['hookgate-delivery-id']).toBeUndefined();
    expect(headers['hookgate-endpoint']).toBe('plain');
    expect(headers['x-custom']).toBe('kept');
    expect(headers['user-agent']).toBe('Provider-Hookshot/1.0');
    expect(headers['x-forwarded-for']).toBe('203.0.113.9, 127.0.0.1');
  });

  it("answers the provider with the app's status, headers and body", async () => {
    app.respond((_req, res) => {
      res.writeHead(202, { 'content-type': 'application/json', 'x-app-trace': 'abc' });
      res.end('{"queued":true}');
    });
    const reply = await send(ingress, '/in/plain', bearer, '{}');
    expect(reply.status).toBe(202);
    expect(reply.text).toBe('{"queued":true}');
    expect(reply.headers['content-type']).toBe('application/json');
    expect(reply.headers['x-app-trace']).toBe('abc');
  });

  it('remembers a delivery only once the app accepted it, so a failed one can be retried', async () => {
    const id = `msg_${randomUUID()}`;
    const body = '{"type":"order.created"}';
    app.respond((_req, res) => {
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.end('database down');
    });
    const failed = await send(ingress, '/in/orders', swHeaders(id, body), body);
    // the app's own answer, so the provider retries as it would without a sidecar
    expect(failed.status).toBe(503);
    expect(failed.text).toBe('database down');
    expect(await outcomeCount(ingress.registry, 'orders', 'app_error')).toBe(1);
    app.respond((_req, res) => res.writeHead(204).end());
    const retried = await send(ingress, '/in/orders', swHeaders(id, body, NOW_S + 5), body);
    expect(retried.status).toBe(204);
    const again = await send(ingress, '/in/orders', swHeaders(id, body, NOW_S + 9), body);
    expect(again.status).toBe(200);
    expect(again.json).toMatchObject({ code: 'duplicate', status: 200 });
    expect(again.json?.['detail']).toContain('10m');
    expect(app.received).toHaveLength(2);
  });

  it('answers 409 with Retry-After while another copy is with the app, then 200 once it succeeded', async () => {
    const id = `msg_${randomUUID()}`;
    const body = '{"type":"order.paid"}';
    const held = holdNextResponse(app);
    const first = send(ingress, '/in/orders', swHeaders(id, body), body);
    await held.arrived;
    const copy = await send(ingress, '/in/orders', swHeaders(id, body, NOW_S + 1), body);
    expect(copy.status).toBe(409);
    expect(copy.headers['retry-after']).toBe('5');
    expect(copy.json).toMatchObject({ code: 'in_flight', status: 409 });
    held.release(200, 'done');
    expect((await first).status).toBe(200);
    const late = await send(ingress, '/in/orders', swHeaders(id, body, NOW_S + 2), body);
    expect(late.json).toMatchObject({ code: 'duplicate' });
    expect(app.received).toHaveLength(1);
  });

  it('does not de-duplicate an endpoint whose window is 0s', async () => {
    const id = `msg_${randomUUID()}`;
    for (let i = 0; i < 2; i++) {
      expect((await send(ingress, '/in/no-dedup', swHeaders(id, '{}'), '{}')).status).toBe(200);
    }
    expect(app.received).toHaveLength(2);
  });

  it.each([
    // declared up front: refused before a byte of body is read
    { name: 'Content-Length over the cap', chunked: false },
    // no length given: refused as soon as the count passes the cap
    { name: 'chunked body over the cap', chunked: true },
  ])('refuses a body over maxPayloadBytes with 413: $name', async ({ chunked }) => {
    const big = Buffer.alloc(65, 0x61);
    const body = chunked ? Readable.from([big.subarray(0, 40), big.subarray(40)]) : big;
    const res = await request(`${ingress.origin}/in/small`, {
      method: 'POST',
      headers: bearer,
      body,
    });
    const problem = (await res.body.json()) as Record<string, unknown>;
    expect(res.statusCode).toBe(413);
    expect(res.headers['content-type']).toBe('application/problem+json');
    expect(problem).toMatchObject({ status: 413, code: 'payload_too_large' });
    expect(problem['detail']).toContain('64 bytes');
    expect(app.received).toHaveLength(0);
  });

  it('accepts a body of exactly maxPayloadBytes', async () => {
    expect((await send(ingress, '/in/small', bearer, Buffer.alloc(64, 0x61))).status).toBe(200);
  });

  it('answers 404 for a path with no endpoint, without listing the configured ones', async () => {
    for (const path of ['/in/unknown', '/in/plain/', '/IN/PLAIN', '/']) {
      const reply = await send(ingress, path, bearer, '{}');
      expect(reply.status).toBe(404);
      expect(reply.json).toMatchObject({ code: 'unknown_endpoint' });
      expect(reply.text).not.toContain('/in/');
    }
    expect(app.received).toHaveLength(0);
  });

  it.each(['GET', 'PUT', 'DELETE', 'OPTIONS'])(
    'answers 405 to %s with Allow: POST',
    async (method) => {
      const res = await request(`${ingress.origin}/in/plain`, { method, headers: bearer });
      expect(res.statusCode).toBe(405);
      expect(res.headers['allow']).toBe('POST');
      expect(await res.body.json()).toMatchObject({ code: 'method_not_allowed' });
      expect(app.received).toHaveLength(0);
    },
  );

  it('answers 503 for an endpoint that cannot verify, and logs why once per configuration', async () => {
    for (let i = 0; i < 3; i++) {
      const reply = await send(ingress, '/in/broken', swHeaders('msg_1', '{}'), '{}');
      expect(reply.status).toBe(503);
      expect(reply.json).toMatchObject({ code: 'endpoint_misconfigured' });
      expect(reply.text).not.toContain(TOKEN);
    }
    const logged = ingress.logs.filter((l) => l['endpoint'] === 'broken' && l['level'] === 'error');
    expect(logged).toHaveLength(1);
    expect(logged[0]?.['problem']).toContain('whsec_');
    expect(app.received).toHaveLength(0);
  });

  it('forwards a buffered endpoint synchronously for now, and says so once', async () => {
    for (let i = 0; i < 2; i++)
      expect((await send(ingress, '/in/queued', bearer, '{}')).status).toBe(200);
    const notices = ingress.logs.filter((l) => l['endpoint'] === 'queued' && l['level'] === 'warn');
    expect(notices).toHaveLength(1);
    expect(notices[0]?.['msg']).toContain('durable queue');
  });

  it('applies a reloaded configuration to the next request', async () => {
    const previous = config;
    try {
      config = await loadConfig(
        {
          ingress: [
            {
              name: 'plain',
              path: '/in/moved',
              verify: { scheme: 'bearer', secrets: [{ env: 'TOKEN' }] },
              forward: { port: app.port },
            },
          ],
        },
        { TOKEN: 'tok_rotated' },
      );
      expect((await send(ingress, '/in/plain', bearer, '{}')).status).toBe(404);
      expect((await send(ingress, '/in/moved', bearer, '{}')).status).toBe(401);
      const rotated = { authorization: 'Bearer tok_rotated' };
      expect((await send(ingress, '/in/moved', rotated, '{}')).status).toBe(200);
    } finally {
      config = previous;
    }
  });

  it('exports request outcomes, verifications and forward latency; logs carry no secret or body', async () => {
    const marker = `body-marker-${randomUUID()}`;
    await send(ingress, '/in/plain', bearer, marker);
    await send(ingress, '/in/plain', { authorization: 'Bearer nope' }, marker);
    const text = await ingress.registry.metrics();
    expect(text).toMatch(
      /hookgate_ingress_requests_total\{endpoint="plain",outcome="forwarded"\} \d+/,
    );
    expect(text).toMatch(
      /hookgate_ingress_requests_total\{endpoint="plain",outcome="bad_signature"\} \d+/,
    );
    expect(text).toMatch(
      /hookgate_ingress_verifications_total\{endpoint="plain",scheme="bearer",result="verified"\} \d+/,
    );
    expect(text).toMatch(
      /hookgate_ingress_verifications_total\{endpoint="plain",scheme="bearer",result="credentials_invalid"\} \d+/,
    );
    expect(text).toMatch(/hookgate_ingress_forward_duration_seconds_count\{endpoint="plain"\} \d+/);
    const logs = JSON.stringify(ingress.logs);
    expect(logs).not.toContain(marker);
    expect(logs).not.toContain(TOKEN);
    expect(logs).not.toContain(WHSEC);
  });
});

describe('ingress while the app is down or starting', () => {
  let spare: number;
  let app: TestApp | undefined;
  let ingress: TestIngress | undefined;
  const waits: number[] = [];

  beforeEach(async () => {
    // a port nothing listens on: take one, then free it
    const probe = await startApp();
    spare = probe.port;
    await probe.close();
    waits.length = 0;
  });
  afterEach(async () => {
    await ingress?.close();
    await app?.close();
    app = undefined;
    ingress = undefined;
  });

  const start = async (
    sleep: (ms: number) => Promise<void>,
    extra: { forwardTimeoutMs?: number } = {},
  ): Promise<TestIngress> => {
    const config = await loadConfig(
      {
        ingress: [
          {
            name: 'orders',
            path: '/in/orders',
            verify: { scheme: 'standard-webhooks', secrets: [{ env: 'WHSEC' }] },
            forward: { port: spare },
          },
        ],
      },
      env,
    );
    ingress = await startIngress(config, { now, sleep, ...extra });
    return ingress;
  };

  it('retries a refused connection briefly, then answers 502 and keeps the delivery retryable', async () => {
    const server = await start((ms) => {
      waits.push(ms);
      return Promise.resolve();
    });
    const id = `msg_${randomUUID()}`;
    const reply = await send(server, '/in/orders', swHeaders(id, '{}'), '{}');
    expect(reply.status).toBe(502);
    expect(reply.json).toMatchObject({ code: 'app_unreachable', status: 502 });
    // four waits, under 400 ms in all
    expect(waits).toEqual([25, 50, 100, 200]);
    expect(await outcomeCount(server.registry, 'orders', 'app_unreachable')).toBe(1);
    // the claim was released: once the app is up the provider's retry goes through
    app = await startApp(spare);
    const retry = await send(server, '/in/orders', swHeaders(id, '{}', NOW_S + 30), '{}');
    expect(retry.status).toBe(200);
    expect(app.received).toHaveLength(1);
  });

  it('delivers to an app that starts listening while the sidecar retries', async () => {
    const server = await start(async (ms) => {
      waits.push(ms);
      if (waits.length === 2) app = await startApp(spare);
    });
    const body = '{"type":"user.created"}';
    const reply = await send(server, '/in/orders', swHeaders('msg_starting', body), body);
    expect(reply.status).toBe(200);
    expect(waits).toEqual([25, 50]);
    expect(app?.received.map((r) => r.body.toString())).toEqual([body]);
  });

  it('answers 504 when the app does not answer in time, and keeps the delivery retryable', async () => {
    app = await startApp(spare);
    app.respond(() => undefined);
    // a real (short) deadline: undici's own timer ends the wait
    const server = await start(() => Promise.resolve(), { forwardTimeoutMs: 100 });
    const id = `msg_${randomUUID()}`;
    const reply = await send(server, '/in/orders', swHeaders(id, '{}'), '{}');
    expect(reply.status).toBe(504);
    expect(reply.json).toMatchObject({ code: 'app_timeout' });
    app.respond((_req, res) => res.writeHead(200).end());
    expect((await send(server, '/in/orders', swHeaders(id, '{}'), '{}')).status).toBe(200);
  });
});

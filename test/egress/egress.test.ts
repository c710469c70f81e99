// The egress proxy end to end: real receivers on loopback failing in every way, the real undici
// client, signatures judged by outside libraries; waits run on a skipping clock and are asserted.
import { createHmac } from 'node:crypto';
import { verify as verifyGitHub } from '@octokit/webhooks-methods';
import { Webhook } from 'standardwebhooks';
import { afterEach, describe, expect, it } from 'vitest';
import {
  LOOPBACK_ALLOWED,
  WHSEC,
  startProxy,
  startReceiver,
  type Proxy,
  type Receiver,
} from './harness.ts';

const open: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const c of open.splice(0)) await c.close();
});
async function receiver(script?: Parameters<typeof startReceiver>[0]): Promise<Receiver> {
  const r = await startReceiver(script);
  open.push(r);
  return r;
}
async function proxy(yaml: string): Promise<Proxy> {
  const p = await startProxy(yaml);
  open.push({ close: () => p.server.close(100) });
  return p;
}
/** One egress endpoint `orders` to `url`, signed with the Standard Webhooks test key. */
const config = (
  url: string,
  policy = '',
  signing = 'signing: { secrets: [{ source: { file: whsec } }] }',
): string =>
  `endpoints:\n  - name: orders\n    url: ${url}\n    ${signing}\n    headers: { X-Tenant: acme }\n    policy: { ${LOOPBACK_ALLOWED}${policy === '' ? '' : `, ${policy}`} }\n`;

describe('egress: signing and pass-through', () => {
  it('signs with Standard Webhooks (verified by the standardwebhooks package) and returns the receiver answer', async () => {
    const r = await receiver((_n, _req, res) => {
      res.writeHead(201, { 'x-receiver': 'yes', 'content-type': 'application/json' });
      res.end('{"stored":true}');
    });
    const p = await proxy(config(`${r.url}/hooks`));
    const body = '{"type":"order.created","id":42}';
    const res = await p.post('/orders/v1/events?source=shop', body, {
      'webhook-signature': 'v1,forged',
      'hookgate-destination': 'https://elsewhere.example',
      'x-app': 'shop',
    });
    expect(res.status).toBe(201);
    expect(await res.text()).toBe('{"stored":true}');
    expect(res.headers.get('x-receiver')).toBe('yes');
    expect(res.headers.get('hookgate-attempts')).toBe('1');
    const seen = r.received[0]!;
    expect(seen.url).toBe('/hooks/v1/events?source=shop');
    expect(seen.body.toString()).toBe(body);
    expect(seen.headers['x-app']).toBe('shop');
    expect(seen.headers['x-tenant']).toBe('acme');
    // The receiver's own host, never the sidecar's the app called.
    expect(seen.headers.host).toBe(new URL(r.url).host);
    expect(seen.headers['hookgate-destination']).toBeUndefined();
    // The app's forged signature is gone; ours verifies with the real library.
    expect(seen.headers['webhook-signature']).not.toContain('forged');
    expect(seen.headers['webhook-id']).toBe(res.headers.get('hookgate-delivery-id'));
    expect(() =>
      new Webhook(WHSEC).verify(seen.body, seen.headers as Record<string, string>),
    ).not.toThrow();
  });

  it("sends the endpoint's static header in place of the app's, whatever either's case", async () => {
    const r = await receiver();
    const p = await proxy(config(r.url));
    expect(
      (await p.post('/orders', '{}', { 'x-tenant': 'spoofed', 'X-TENANT': 'again' })).status,
    ).toBe(200);
    expect(r.received[0]!.headers['x-tenant']).toBe('acme');
  });

  it('signs once per active secret during a rotation, and drops a secret after it expires', async () => {
    const r = await receiver();
    const future = new Date(Date.now() + 3_600_000).toISOString();
    const past = new Date(Date.now() - 1000).toISOString();
    const rotating = (expiresAt: string): string =>
      `signing: { secrets: [{ source: { file: whsec } }, { source: { file: old-whsec }, expiresAt: "${expiresAt}" }] }`;
    const p = await proxy(config(r.url, '', rotating(future)));
    await p.post('/orders');
    const signatures = String(r.received[0]!.headers['webhook-signature']).split(' ');
    expect(signatures).toHaveLength(2);
    expect(() =>
      new Webhook(WHSEC).verify(
        r.received[0]!.body,
        r.received[0]!.headers as Record<string, string>,
      ),
    ).not.toThrow();
    expect(() =>
      new Webhook('whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD').verify(
        r.received[0]!.body,
        r.received[0]!.headers as Record<string, string>,
      ),
    ).not.toThrow();

    await p.reload(config(r.url, '', rotating(past)));
    await p.post('/orders');
    expect(String(r.received[1]!.headers['webhook-signature']).split(' ')).toHaveLength(1);
  });

  it('signs GitHub-style (verified by @octokit/webhooks-methods) and generic HMAC (checked by hand)', async () => {
    const r = await receiver();
    const p = await proxy(
      [
        'endpoints:',
        `  - { name: gh, url: "${r.url}/gh", signing: { scheme: github, secrets: [{ source: { file: shared } }] }, policy: { ${LOOPBACK_ALLOWED} } }`,
        `  - name: partner`,
        `    url: ${r.url}/partner`,
        `    signing: { scheme: hmac, secrets: [{ source: { file: shared } }], hmac: { header: X-Partner-Signature, algorithm: sha512, encoding: base64, timestampHeader: X-Partner-Timestamp } }`,
        `    policy: { ${LOOPBACK_ALLOWED} }`,
      ].join('\n'),
    );
    const body = '{"action":"opened"}';
    await p.post('/gh', body, { 'x-hub-signature-256': 'sha256=forged' });
    await p.post('/partner', body, { 'x-partner-signature': 'forged' });
    const [gh, partner] = r.received;
    expect(
      await verifyGitHub('it-is-a-secret', body, String(gh!.headers['x-hub-signature-256'])),
    ).toBe(true);
    const ts = String(partner!.headers['x-partner-timestamp']);
    expect(Math.abs(Number(ts) - Date.now() / 1000)).toBeLessThan(60);
    expect(partner!.headers['x-partner-signature']).toBe(
      createHmac('sha512', 'it-is-a-secret').update(`${ts}.${body}`).digest('base64'),
    );
  });
});

describe('egress: retries', () => {
  it('retries 5xx with full-jitter backoff, keeping one webhook-id, until the receiver succeeds', async () => {
    const r = await receiver((n, _req, res) => {
      res.statusCode = n < 2 ? 500 : 200;
      res.end(n < 2 ? 'down' : 'ok');
    });
    const p = await proxy(
      config(
        r.url,
        'retry: { maxAttempts: 4, backoff: { initial: 200ms, max: 10s, multiplier: 2 } }',
      ),
    );
    const res = await p.post('/orders');
    expect([res.status, await res.text(), res.headers.get('hookgate-attempts')]).toEqual([
      200,
      'ok',
      '3',
    ]);
    expect(new Set(r.received.map((x) => x.headers['webhook-id']))).toEqual(
      new Set([res.headers.get('hookgate-delivery-id')]),
    );
    // Full jitter: the n-th wait is somewhere in [0, 200 × 2^n].
    expect(p.clock.sleeps).toHaveLength(2);
    expect(p.clock.sleeps[0]).toBeLessThanOrEqual(200);
    expect(p.clock.sleeps[1]).toBeLessThanOrEqual(400);
  });

  it('honours Retry-After on 429 (seconds form) and returns the last answer when it would pass the deadline', async () => {
    const r = await receiver((n, _req, res) => {
      if (n === 0) res.writeHead(429, { 'retry-after': '2' }).end();
      else if (n === 1) res.writeHead(429, { 'retry-after': '3600' }).end('slow down');
      else res.end('ok');
    });
    const p = await proxy(
      config(r.url, 'retry: { maxAttempts: 5, maxRetryAfter: 2h, syncDeadline: 30s }'),
    );
    const res = await p.post('/orders');
    expect(p.clock.sleeps).toEqual([2000]);
    expect([res.status, await res.text(), res.headers.get('hookgate-attempts')]).toEqual([
      429,
      'slow down',
      '2',
    ]);
  });

  it('retries a timed-out attempt and answers 504 when every attempt times out', async () => {
    const r = await receiver((_n, _req, res) => setTimeout(() => res.end('late'), 1500));
    const p = await proxy(config(r.url, 'timeout: 150ms, retry: { maxAttempts: 2 }'));
    const res = await p.post('/orders');
    expect(res.status).toBe(504);
    expect(res.headers.get('content-type')).toBe('application/problem+json');
    expect(await res.json()).toMatchObject({
      type: 'https://hookgate.io/problems/receiver-timeout',
      attempts: 2,
      endpoint: 'orders',
    });
    expect(r.received).toHaveLength(2);
  });

  it('retries a connection reset and delivers on the next attempt', async () => {
    const r = await receiver((n, _req, res) => (n === 0 ? res.socket?.destroy() : res.end('ok')));
    const p = await proxy(config(r.url));
    const res = await p.post('/orders');
    expect([res.status, res.headers.get('hookgate-attempts')]).toEqual([200, '2']);
  });

  it('answers 502 when the receiver is unreachable after every attempt', async () => {
    const r = await receiver();
    const deadUrl = r.url;
    await r.close();
    const p = await proxy(config(deadUrl, 'retry: { maxAttempts: 3 }'));
    const res = await p.post('/orders');
    expect(res.status).toBe(502);
    expect(await res.json()).toMatchObject({
      type: 'https://hookgate.io/problems/receiver-unreachable',
      attempts: 3,
    });
  });

  it.each([
    // a 4xx other than 408/429 is the receiver's final word
    [400, 400, 1],
    // 408 is retried like a timeout
    [408, 408, 3],
  ])('passes %d through after the right number of attempts', async (status, expected, attempts) => {
    const r = await receiver((_n, _req, res) => res.writeHead(status).end());
    const p = await proxy(config(r.url, 'retry: { maxAttempts: 3 }'));
    const res = await p.post('/orders');
    expect([res.status, Number(res.headers.get('hookgate-attempts'))]).toEqual([
      expected,
      attempts,
    ]);
    expect(r.received).toHaveLength(attempts);
  });

  it('never follows a redirect: 502 naming it, and the other server never hears a thing', async () => {
    const elsewhere = await receiver();
    const r = await receiver((_n, _req, res) =>
      res.writeHead(302, { location: `${elsewhere.url}/stolen` }).end(),
    );
    const p = await proxy(config(r.url));
    const res = await p.post('/orders');
    expect(res.status).toBe(502);
    expect((await res.json()) as { detail: string }).toMatchObject({
      type: 'https://hookgate.io/problems/redirect-not-followed',
      detail: expect.stringContaining(`answered 302 to ${elsewhere.url}/stolen`) as string,
    });
    expect(r.received).toHaveLength(1);
    expect(elsewhere.received).toHaveLength(0);
  });
});

describe('egress: limits, breaker, SSRF, refusals', () => {
  it('waits for a rate-limit slot while the deadline allows, else answers 429 with Retry-After', async () => {
    const r = await receiver();
    const p = await proxy(
      config(r.url, 'rateLimit: { rate: 1, per: second, burst: 1 }, retry: { syncDeadline: 5s }'),
    );
    expect((await p.post('/orders')).status).toBe(200);
    expect((await p.post('/orders')).status).toBe(200);
    expect(p.clock.sleeps.length).toBe(1);
    expect(p.clock.sleeps[0]).toBeGreaterThan(900);

    await p.reload(
      config(r.url, 'rateLimit: { rate: 1, per: minute, burst: 1 }, retry: { syncDeadline: 5s }'),
    );
    expect((await p.post('/orders')).status).toBe(200);
    const limited = await p.post('/orders');
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(50);
    expect(await limited.json()).toMatchObject({
      type: 'https://hookgate.io/problems/rate-limited',
      endpoint: 'orders',
    });
    expect(r.received).toHaveLength(3);
  });

  it('opens the breaker after consecutive failures: 503 at once, the receiver left alone', async () => {
    const r = await receiver((_n, _req, res) => res.writeHead(503).end());
    const p = await proxy(
      config(
        r.url,
        'retry: { maxAttempts: 1 }, circuitBreaker: { consecutiveFailures: 2, openDuration: 1m }',
      ),
    );
    expect((await p.post('/orders')).status).toBe(503);
    expect((await p.post('/orders')).status).toBe(503);
    const refused = await p.post('/orders');
    expect(refused.status).toBe(503);
    expect(await refused.json()).toMatchObject({
      type: 'https://hookgate.io/problems/circuit-open',
    });
    expect(r.received).toHaveLength(2);
    expect(await p.registry.getSingleMetricAsString('hookgate_egress_circuit_state')).toContain(
      'hookgate_egress_circuit_state{endpoint="orders"} 2',
    );
  });

  it('refuses loopback receivers unless a policy allows their range (SSRF guard)', async () => {
    const r = await receiver();
    const p = await proxy(`endpoints:\n  - name: orders\n    url: ${r.url}\n`);
    const res = await p.post('/orders');
    expect(res.status).toBe(403);
    expect(await res.json()).toMatchObject({
      type: 'https://hookgate.io/problems/destination-not-allowed',
    });
    expect(r.received).toHaveLength(0);
    expect(await p.registry.getSingleMetricAsString('hookgate_egress_ssrf_refusals_total')).toMatch(
      /range="loopback"\} 1/,
    );
  });

  it('sends to a dynamic destination only when a policy admits its host, signed by that policy', async () => {
    const r = await receiver();
    const p = await proxy(
      `dynamic:\n  - signing: { secrets: [{ source: { file: whsec } }] }\n    policy: { destinations: { allowedHosts: [localhost], allowedCIDRs: ["127.0.0.0/8", "::1/128"] } }\n`,
    );
    const refused = await p.post('/', '{}', {
      'hookgate-destination': `http://customer.example:${r.port}/hook`,
    });
    expect(refused.status).toBe(403);
    const res = await p.post('/', '{"a":1}', {
      'hookgate-destination': `http://localhost:${r.port}/hook`,
    });
    expect(res.status).toBe(200);
    expect(r.received).toHaveLength(1);
    expect(r.received[0]!.url).toBe('/hook');
    expect(() =>
      new Webhook(WHSEC).verify(
        r.received[0]!.body,
        r.received[0]!.headers as Record<string, string>,
      ),
    ).not.toThrow();
  });

  it.each([
    // too large for the policy's cap
    ['/orders', 413, 'payload-too-large', 'x'.repeat(2048)],
    // no such endpoint in the config
    ['/nope', 404, 'unknown-endpoint', '{}'],
    // an event without a type (fan-out: test/fanout)
    ['/_events', 400, 'event-type-missing', '{}'],
  ])('POST %s answers %d %s', async (path, status, type, body) => {
    const r = await receiver();
    const p = await proxy(config(r.url, 'maxPayloadBytes: 1024'));
    const res = await p.post(path, body);
    expect(res.status).toBe(status);
    expect(await res.json()).toMatchObject({
      type: `https://hookgate.io/problems/${type}`,
      status,
    });
    expect(r.received).toHaveLength(0);
  });

  it('counts deliveries and attempts by endpoint and outcome', async () => {
    const r = await receiver((n, _req, res) => res.writeHead(n === 0 ? 500 : 200).end());
    const p = await proxy(config(r.url));
    await p.post('/orders');
    const text = await p.registry.metrics();
    expect(text).toMatch(
      /hookgate_egress_deliveries_total\{endpoint="orders",outcome="delivered"\} 1/,
    );
    expect(text).toMatch(/hookgate_egress_attempts_total\{endpoint="orders",result="5xx"\} 1/);
    expect(text).toMatch(/hookgate_egress_attempts_total\{endpoint="orders",result="2xx"\} 1/);
  });

  it('drains in-flight deliveries on close', async () => {
    const r = await receiver((_n, _req, res) => setTimeout(() => res.end('finished'), 300));
    const p = await startProxy(config(r.url));
    const pending = p.post('/orders');
    await new Promise((resolve) => setTimeout(resolve, 100));
    const inFlight = (): Promise<string> =>
      p.registry.getSingleMetricAsString('hookgate_egress_in_flight');
    expect(await inFlight()).toContain('hookgate_egress_in_flight 1');
    const closing = p.server.close(5000);
    const res = await pending;
    expect([res.status, await res.text()]).toEqual([200, 'finished']);
    await closing;
    expect(await inFlight()).toContain('hookgate_egress_in_flight 0');
  });
});

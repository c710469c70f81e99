// What an attempt's update keeps, read back as a reader does (JSON.parse, then foldHistory): the
// hand-written JSON must parse whatever the headers hold, redact what history never shows, and keep
// bodies as the policy says, shown as text again when they are UTF-8.
import { describe, expect, it } from 'vitest';
import { foldHistory, REDACTED, type HistoryUpdate } from '../../common/history.ts';
import { Policy } from '../config/schema.ts';
import type { AttemptResult, Delivery } from '../delivery/delivery.ts';
import type { AttemptObservation } from '../delivery/observe.ts';
import { compileEndpointPlan } from '../delivery/plan.ts';
import { ManualClock, testDelivery } from '../delivery/testing/manual-clock.ts';
import { problem } from '../problem.ts';
import { UpdateEncoder, jsonText } from './update.ts';

const T = 1_767_225_600_123;
const encoder = new UpdateEncoder({ namespace: 'shop', pod: 'shop-7d9f' });
const plan = (history: object = {}) => compileEndpointPlan(Policy.parse({ history }));

/** The core's test delivery (msg_1 to orders), with a URL that has userinfo and a query. */
function delivery(overrides: Partial<Delivery> = {}): Delivery {
  return {
    ...testDelivery(new ManualClock(0)),
    url: new URL('https://user:pw@receiver.example/hooks?key=k'),
    body: Buffer.from('{"n":1}'),
    ...overrides,
  };
}

const ok: AttemptResult = {
  kind: 'response',
  status: 200,
  headers: { 'content-length': '2' },
  body: Buffer.from('ok'),
  truncated: false,
  durationMs: 12.5,
};

function encode(
  o: Partial<AttemptObservation> & { delivery?: Delivery },
): HistoryUpdate & { json: string } {
  const encoded = encoder.attempt({
    delivery: delivery(),
    attempt: 1,
    startedAt: T,
    result: ok,
    plan: plan(),
    ...o,
  });
  const json = jsonText(encoded);
  return { ...(JSON.parse(json) as HistoryUpdate), json };
}

describe('UpdateEncoder', () => {
  it('writes a first attempt with its request, redacted, and the answer', () => {
    const u = encode({
      delivery: delivery({
        headers: {
          'content-type': 'application/json',
          authorization: 'Bearer secret-token',
          'x-custom-auth': 'k',
          'x-note': 'plain words',
          'x-app': 'token abc',
          traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
        },
        eventType: 'order.created',
      }),
      plan: plan({ secretHeaders: ['X-Custom-Auth'] }),
    });
    const { json, ...update } = u;
    expect(json).not.toContain('secret-token');
    expect(update).toEqual({
      deliveryId: 'msg_1',
      namespace: 'shop',
      endpoint: 'orders',
      direction: 'egress',
      mode: 'sync',
      outcome: 'delivered',
      pod: 'shop-7d9f',
      at: new Date(T).toISOString(),
      url: 'https://receiver.example/hooks',
      method: 'POST',
      requestHeaders: {
        'content-type': 'application/json',
        authorization: REDACTED,
        'x-custom-auth': REDACTED,
        'x-note': 'plain words',
        'x-app': REDACTED,
        traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
        'webhook-id': 'msg_1',
      },
      requestBody: Buffer.from('{"n":1}').toString('base64'),
      requestBodyEncoding: 'base64',
      requestBodyTruncated: false,
      eventType: 'order.created',
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      attempt: {
        attempt: 1,
        at: new Date(T).toISOString(),
        latencyMs: 12.5,
        status: 200,
        responseBody: Buffer.from('ok').toString('base64'),
        responseBodyEncoding: 'base64',
        responseBodyTruncated: false,
        responseHeaders: { 'content-length': '2' },
      },
    });
    // Readers see text.
    const record = foldHistory([update]);
    expect(record?.requestBody).toBe('{"n":1}');
    expect(record?.requestBodyEncoding).toBe('utf8');
    expect(record?.attemptLog[0]?.responseBody).toBe('ok');
    expect(record?.attemptLog[0]?.responseBodyEncoding).toBe('utf8');
  });

  it('parses whatever header names and values hold: quotes, backslashes, controls, any Unicode', () => {
    const awkward = [
      'say "hi"',
      'C:\\path\\',
      'tab\there',
      'line\nbreak\u0000',
      'café ☕ 𝄞',
      'lone \ud800 high',
      'lone \udc00 low',
      '\u2028\u2029',
      '</script>',
    ];
    const headers: Record<string, string | string[]> = {};
    awkward.forEach((v, i) => (headers[`x-h${i}`] = v));
    headers['X-Mixed-Case'] = ['a', 'b "c"'];
    const u = encode({
      delivery: delivery({ headers: headers as Record<string, string> }),
      result: { ...ok, headers },
    });
    awkward.forEach((v, i) => {
      expect(u.requestHeaders[`x-h${i}`]).toBe(v);
      expect(u.attempt?.responseHeaders?.[`x-h${i}`]).toBe(v);
    });
    expect(u.requestHeaders['x-mixed-case']).toBe('a, b "c"');
    // An awkward delivery id, event type and URL path are escaped too.
    const odd = encode({
      delivery: delivery({
        deliveryId: 'id"1',
        eventType: 'a\\b',
        url: new URL('https://receiver.example/p"a th'),
      }),
    });
    expect([odd.deliveryId, odd.eventType, odd.url]).toEqual([
      'id"1',
      'a\\b',
      'https://receiver.example/p%22a%20th',
    ]);
  });

  it('keeps bodies as the policy says: none, cut at maxBodyBytes (never inside a character), or full', () => {
    const body = Buffer.from(`${'é'.repeat(10)}`); // 20 bytes, two per character
    expect(
      encode({ delivery: delivery({ body }), plan: plan({ bodies: 'none' }) }),
    ).not.toHaveProperty('requestBody');
    const cut = encode({
      delivery: delivery({ body }),
      plan: plan({ bodies: 'truncated', maxBodyBytes: 5 }),
    });
    expect(cut.requestBodyTruncated).toBe(true);
    const record = foldHistory([cut]);
    expect(record?.requestBody).toBe('éé'); // 5 bytes cut: the third character's half is left out
    expect(record?.requestBodyEncoding).toBe('utf8');
    const full = foldHistory([
      encode({ delivery: delivery({ body }), plan: plan({ bodies: 'full', maxBodyBytes: 5 }) }),
    ]);
    expect([full?.requestBody, full?.requestBodyTruncated]).toEqual(['é'.repeat(10), false]);
    // Bytes that are not UTF-8 stay base64.
    const binary = Buffer.from([0xff, 0x00, 0xfe, 0x41]);
    const shown = foldHistory([encode({ delivery: delivery({ body: binary }) })]);
    expect([shown?.requestBody, shown?.requestBodyEncoding]).toEqual([
      binary.toString('base64'),
      'base64',
    ]);
    // An empty body is no body; a response cut at the capture cap says so.
    expect(encode({ delivery: delivery({ body: Buffer.alloc(0) }) })).not.toHaveProperty(
      'requestBody',
    );
    expect(encode({ result: { ...ok, truncated: true } }).attempt?.responseBodyTruncated).toBe(
      true,
    );
  });

  it('writes each attempt at its own time, in any order, as RFC 3339 in UTC', () => {
    const times = [T, T + 1, T - 999, T + 1000, T + 5, 0, 951_782_400_000, 253_402_300_800_007];
    for (const t of times) {
      const u = encode({ startedAt: t });
      expect([u.at, u.attempt?.at]).toEqual([new Date(t).toISOString(), new Date(t).toISOString()]);
    }
  });

  it('writes retries without the request, failures with their reason, local answers as refused', () => {
    const retry = encode({
      attempt: 2,
      delivery: delivery({ mode: 'async' }),
      result: { kind: 'error', error: 'timeout', message: 'timed out', durationMs: 30_000 },
    });
    expect(retry.requestHeaders).toEqual({});
    expect(retry).not.toHaveProperty('requestBody');
    expect(retry.outcome).toBe('retrying');
    expect(retry.problem).toBe('timeout');
    expect(retry.attempt).toEqual({
      attempt: 2,
      at: new Date(T).toISOString(),
      latencyMs: 30_000,
      error: 'timeout',
    });
    const failed = encode({ result: { ...ok, status: 503 } });
    expect([failed.outcome, failed.problem, failed.attempt?.error]).toEqual([
      'failed',
      'http-503',
      'http-503',
    ]);
    const refused = encode({
      result: { kind: 'local', problem: problem('rate-limited', 'over the limit') },
    });
    expect([refused.outcome, refused.problem, refused.attempt?.latencyMs]).toEqual([
      'refused',
      'rate-limited',
      0,
    ]);
    expect(refused.attempt).not.toHaveProperty('responseHeaders');
  });

  it('keeps every update whole across its slabs, however many and however large', () => {
    // Updates are views of 64 KiB slabs: a run of them fills several, and a body larger than
    // a slab (base64 for Redis) gets one of its own. Each must read back as it was written.
    const own = new UpdateEncoder({ namespace: 'shop', pod: 'shop-7d9f' });
    const sizes = [1024, 70_000, 1, 300_000, 5000];
    // Answer headers that repeat, change value, grow and shrink: a kept run of members is
    // reused only for the same members in the same order.
    const answers = [
      { date: 'one', 'content-length': '2' },
      { date: 'one', 'content-length': '2' },
      { date: 'two', 'content-length': '2' },
      { 'content-length': '2', date: 'two' },
      { date: 'two', 'content-length': '2', 'x-extra': 'e' },
      {},
    ];
    const written = Array.from({ length: 200 }, (_, i) => {
      const body = Buffer.alloc(sizes[i % sizes.length]!, i % 251);
      const headers = answers[i % answers.length]!;
      return {
        body,
        headers,
        update: own.attempt({
          delivery: delivery({ deliveryId: `msg_${i}`, body }),
          attempt: 1,
          startedAt: T + i,
          result: { ...ok, headers },
          plan: plan({ bodies: 'full' }),
        }),
      };
    });
    for (const [i, { body, headers, update }] of written.entries()) {
      const read = JSON.parse(jsonText(update)) as HistoryUpdate;
      expect(read.deliveryId).toBe(`msg_${i}`);
      expect(read.requestHeaders).toEqual({
        'content-type': 'application/json',
        'webhook-id': `msg_${i}`,
      });
      expect(read.at).toBe(new Date(T + i).toISOString());
      expect(Buffer.from(read.requestBody!, 'base64').equals(body)).toBe(true);
      expect(read.attempt?.responseHeaders).toEqual(headers);
    }
  });

  it('leaves nothing of an update that threw half-way in the next one', () => {
    const own = new UpdateEncoder({ namespace: 'shop', pod: 'shop-7d9f' });
    const throwing = new Proxy(
      {},
      {
        ownKeys: () => ['x-a'],
        getOwnPropertyDescriptor: () => ({ enumerable: true, configurable: true }),
        get: () => {
          throw new Error('headers unreadable');
        },
      },
    );
    expect(() =>
      own.attempt({
        delivery: delivery({ headers: throwing }),
        attempt: 1,
        startedAt: T,
        result: ok,
        plan: plan(),
      }),
    ).toThrow('headers unreadable');
    const next = own.attempt({
      delivery: delivery({ deliveryId: 'msg_2' }),
      attempt: 1,
      startedAt: T,
      result: ok,
      plan: plan(),
    });
    expect((JSON.parse(jsonText(next)) as HistoryUpdate).deliveryId).toBe('msg_2');
    // Nor of the bodies it had kept: raw bodies follow their own update's line only.
    const raw = new UpdateEncoder({ namespace: 'shop', pod: 'shop-7d9f' }, { rawBodies: true });
    expect(() =>
      raw.attempt({
        delivery: delivery({ body: Buffer.from('stale request') }),
        attempt: 1,
        startedAt: T,
        result: { ...ok, headers: throwing },
        plan: plan(),
      }),
    ).toThrow('headers unreadable');
    const clean = raw.attempt({
      delivery: delivery({ body: Buffer.from('{"n":2}') }),
      attempt: 1,
      startedAt: T,
      result: ok,
      plan: plan(),
    });
    expect(clean.bytes.subarray(clean.jsonBytes).toString()).toBe('\n{"n":2}ok');
  });

  it('writes a death as a change of outcome alone; other ends write nothing', () => {
    const d = delivery({ mode: 'async', eventType: 'order.created' });
    const dead = encoder.end({
      delivery: d,
      outcome: 'dead',
      attempts: 5,
      reason: 'http-500',
      at: T,
    });
    expect(dead?.attempt).toBe(0);
    expect(JSON.parse(jsonText(dead!))).toEqual({
      deliveryId: 'msg_1',
      namespace: 'shop',
      endpoint: 'orders',
      direction: 'egress',
      mode: 'async',
      outcome: 'dead',
      pod: 'shop-7d9f',
      at: new Date(T).toISOString(),
      url: 'https://receiver.example/hooks',
      method: 'POST',
      requestHeaders: {},
      eventType: 'order.created',
      problem: 'http-500',
    });
    expect(encoder.end({ delivery: d, outcome: 'delivered', attempts: 1, at: T })).toBeUndefined();
  });
});

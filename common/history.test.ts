// The one redaction function of history, pages and plugin output, and the fold of a delivery's
// updates into its record.
import { describe, expect, it } from 'vitest';
import { REDACTED, foldHistory, historyUrl, redactHeaders, type HistoryUpdate } from './history.ts';

describe('redactHeaders', () => {
  // Each row: a header that must never be shown, whatever the scheme or the case.
  it.each([
    ['Authorization', 'Bearer eyJhbGciOi'],
    ['proxy-authorization', 'Basic dXNlcjpwYXNz'],
    ['Cookie', 'session=abc'],
    ['set-cookie', 'session=abc; HttpOnly'],
    ['webhook-signature', 'v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4='],
    ['svix-signature', 'v1,abc'],
    ['Stripe-Signature', 't=1,v1=abc'],
    ['X-Hub-Signature-256', 'sha256=abc'],
    ['X-Hub-Signature', 'sha1=abc'],
    ['x-shopify-hmac-sha256', 'abc='],
    ['X-Slack-Signature', 'v0=abc'],
    ['x-api-key', 'k_live_123'],
    ['x-vendor-signature', 'abc'], // any *-signature
    ['x-internal-token', 'abc'], // any *-token
    ['x-client-secret', 'abc'], // any *-secret
    ['x-custom', 'Bearer abc'], // a credential value under any name
    ['x-custom', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw'], // a webhook secret under any name
  ])('redacts %s', (name, value) => {
    const out = redactHeaders({ [name]: value, 'content-type': 'application/json' });
    expect(out[name.toLowerCase()]).toBe(REDACTED);
    expect(JSON.stringify(out)).not.toContain(value);
    expect(out['content-type']).toBe('application/json');
  });

  it('redacts the names a policy marks secret (a generic HMAC header, auth.headers)', () => {
    const out = redactHeaders(
      { 'X-Acme-Sig': 'deadbeef', 'X-Tenant': 'acme', 'x-partner-key': 'k1' },
      new Set(['x-acme-sig', 'x-partner-key']),
    );
    expect(out).toEqual({ 'x-acme-sig': REDACTED, 'x-tenant': 'acme', 'x-partner-key': REDACTED });
  });

  it('joins repeated values and drops absent ones', () => {
    expect(redactHeaders({ accept: ['a', 'b'], 'x-none': undefined })).toEqual({ accept: 'a, b' });
  });
});

describe('historyUrl', () => {
  it('keeps origin and path, never userinfo or the query', () => {
    expect(historyUrl('https://user:pw@receiver.example:8443/hooks/a?token=abc#x')).toBe(
      'https://receiver.example:8443/hooks/a',
    );
  });
});

describe('foldHistory', () => {
  const base: HistoryUpdate = {
    deliveryId: 'msg_1',
    namespace: 'shop',
    endpoint: 'orders',
    direction: 'egress',
    mode: 'async',
    outcome: 'retrying',
    pod: 'p',
    at: '2026-01-01T00:00:00.000Z',
    url: 'https://r.example/h',
    method: 'POST',
    requestHeaders: {},
  };

  it('an attempt recorded twice (a lease ran out) counts once, the later kept', () => {
    const record = foldHistory([
      { ...base, attempt: { attempt: 1, at: base.at, latencyMs: 5, status: 500 } },
      { ...base, attempt: { attempt: 1, at: base.at, latencyMs: 7, status: 502 } },
      {
        ...base,
        outcome: 'delivered',
        at: '2026-01-01T00:00:05.000Z',
        attempt: { attempt: 2, at: '2026-01-01T00:00:05.000Z', latencyMs: 3, status: 200 },
      },
    ]);
    expect(record).toMatchObject({
      attempts: 2,
      outcome: 'delivered',
      lastStatus: 200,
      firstAttemptAt: base.at,
      lastAttemptAt: '2026-01-01T00:00:05.000Z',
    });
    expect(record!.attemptLog.map((a) => a.status)).toEqual([502, 200]);
  });

  it('no updates, no record', () => {
    expect(foldHistory([])).toBeUndefined();
  });
});

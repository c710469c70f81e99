import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createSlackVerifier } from './slack.ts';

// Slack's documented example ("Verifying requests from Slack").
const DOC_SECRET = '8f742231b10e8888abcd99yyyzzz85a5';
const DOC_TIMESTAMP = 1531420618;
const DOC_BODY = Buffer.from(
  'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c',
);
const DOC_SIGNATURE = 'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503';

const SECRET = 'slack-signing-secret-new';
const OLD_SECRET = 'slack-signing-secret-old';
const NOW_S = 1_700_000_000;
const NOW_MS = NOW_S * 1000 + 250;
const BODY = Buffer.from('{"type":"event_callback","event_id":"Ev08MFMKH6"}');

/** Slack's documented computation, done independently of the code under test. */
function slackHeaders(
  opts: { secret?: string; ts?: number; body?: Buffer } = {},
): Record<string, string> {
  const { secret = SECRET, ts = NOW_S, body = BODY } = opts;
  const mac = createHmac('sha256', secret).update(`v0:${ts}:`).update(body).digest('hex');
  return { 'x-slack-signature': `v0=${mac}`, 'x-slack-request-timestamp': String(ts) };
}

describe('createSlackVerifier', () => {
  const verifier = createSlackVerifier({ scheme: 'slack', secrets: [SECRET, OLD_SECRET] });

  it("accepts Slack's documented example at its own time", () => {
    const doc = createSlackVerifier({ scheme: 'slack', secrets: [DOC_SECRET] });
    const headers = {
      'x-slack-signature': DOC_SIGNATURE,
      'x-slack-request-timestamp': String(DOC_TIMESTAMP),
    };
    expect(doc(headers, DOC_BODY, DOC_TIMESTAMP * 1000)).toEqual({
      ok: true,
      scheme: 'slack',
      timestamp: DOC_TIMESTAMP,
    });
  });

  it.each([
    // the current signing secret
    { name: 'valid', headers: slackHeaders(), ts: NOW_S },
    // the previous secret during a rotation
    { name: 'second secret', headers: slackHeaders({ secret: OLD_SECRET }), ts: NOW_S },
    // the window's edges, both directions
    { name: '300s old', headers: slackHeaders({ ts: NOW_S - 300 }), ts: NOW_S - 300 },
    { name: '300s ahead', headers: slackHeaders({ ts: NOW_S + 300 }), ts: NOW_S + 300 },
  ])('accepts: $name', ({ headers, ts }) => {
    expect(verifier(headers, BODY, NOW_MS)).toEqual({ ok: true, scheme: 'slack', timestamp: ts });
  });

  it.each([
    // the body changed after signing
    {
      name: 'tampered body',
      headers: slackHeaders({ body: Buffer.from('{}') }),
      code: 'signature_mismatch',
      status: 401,
    },
    // a secret the verifier does not hold
    {
      name: 'wrong secret',
      headers: slackHeaders({ secret: 'other' }),
      code: 'signature_mismatch',
      status: 401,
    },
    // the timestamp is signed: moving it inside the window breaks the signature
    {
      name: 'tampered timestamp',
      headers: { ...slackHeaders(), 'x-slack-request-timestamp': String(NOW_S - 5) },
      code: 'signature_mismatch',
      status: 401,
    },
    // each header is required
    {
      name: 'missing signature',
      headers: { 'x-slack-request-timestamp': String(NOW_S) },
      code: 'header_missing',
      status: 401,
    },
    {
      name: 'missing timestamp',
      headers: { 'x-slack-signature': slackHeaders()['x-slack-signature'] ?? '' },
      code: 'header_missing',
      status: 401,
    },
    // a timestamp with a fraction is not unix seconds
    {
      name: 'fractional timestamp',
      headers: { ...slackHeaders(), 'x-slack-request-timestamp': `${NOW_S}.5` },
      code: 'header_malformed',
      status: 400,
    },
    // the version prefix is required
    {
      name: 'no v0= prefix',
      headers: {
        ...slackHeaders(),
        'x-slack-signature': (slackHeaders()['x-slack-signature'] ?? '').slice(3),
      },
      code: 'header_malformed',
      status: 400,
    },
    // an authentic request replayed after the window
    {
      name: 'stale',
      headers: slackHeaders({ ts: NOW_S - 301 }),
      code: 'timestamp_stale',
      status: 400,
    },
    // an authentic request from a clock too far ahead
    {
      name: 'future',
      headers: slackHeaders({ ts: NOW_S + 301 }),
      code: 'timestamp_future',
      status: 400,
    },
  ])('refuses: $name', ({ headers, code, status }) => {
    const result = verifier(headers, BODY, NOW_MS);
    expect(result).toMatchObject({ ok: false, scheme: 'slack', code, statusCode: status });
    const reason = result.ok ? '' : result.reason;
    expect(reason).toMatch(/X-Slack-(Signature|Request-Timestamp)/);
    const received = headers['x-slack-signature'];
    if (received !== undefined && received.length > 3) {
      expect(reason).not.toContain(received.slice(3));
    }
  });
});

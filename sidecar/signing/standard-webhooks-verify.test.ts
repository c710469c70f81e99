// The Standard Webhooks verifier, judged against signatures made by the reference library.
import { describe, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { createStandardWebhooksVerifier } from './standard-webhooks.ts';

// The Standard Webhooks specification's own test vector.
const SPEC_SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const SPEC_ID = 'msg_p5jXN8AQM9LWM0D4loKWxJek';
const SPEC_TIMESTAMP = 1614265330;
const SPEC_BODY = Buffer.from('{"test": 2432232314}');
const SPEC_SIGNATURE = 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=';

const OTHER_SECRET = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
const THIRD_SECRET = `whsec_${Buffer.alloc(24, 9).toString('base64')}`;
const NOW_S = 1_700_000_000;
// Half a second into the current second: the window must count whole seconds.
const NOW_MS = NOW_S * 1000 + 500;
const ID = 'msg_2bVxKuqQzD0Xb8JnVmQ8vO1e';
const BODY = Buffer.from('{"type":"order.created","data":{"id":"ord_1","total":"9.99"}}');

/** Headers as a Standard Webhooks sender makes them, signed by the reference library. */
function signed(
  opts: { secret?: string; id?: string; ts?: number; body?: Buffer; prefix?: string } = {},
): Record<string, string> {
  const { secret = SPEC_SECRET, id = ID, ts = NOW_S, body = BODY, prefix = 'webhook' } = opts;
  return {
    [`${prefix}-id`]: id,
    [`${prefix}-timestamp`]: String(ts),
    [`${prefix}-signature`]: new Webhook(secret).sign(id, new Date(ts * 1000), body),
  };
}

describe('createStandardWebhooksVerifier', () => {
  const verify = createStandardWebhooksVerifier({
    scheme: 'standard-webhooks',
    secrets: [OTHER_SECRET, SPEC_SECRET],
  });
  const accepted = { ok: true, scheme: 'standard-webhooks', deliveryId: ID, timestamp: NOW_S };

  it.each([
    // the reference library's signature passes, with the second configured secret (rotation)
    { name: 'valid', headers: signed(), expected: accepted },
    // Svix's header names carry the same scheme
    { name: 'svix aliases', headers: signed({ prefix: 'svix' }), expected: accepted },
    // a sender mid-rotation lists several signatures; one match is enough
    {
      name: 'several signatures, last one matches',
      headers: {
        ...signed(),
        'webhook-signature': `${signed({ secret: THIRD_SECRET })['webhook-signature']} ${signed()['webhook-signature']}`,
      },
      expected: accepted,
    },
    // entries of other versions (v1a is asymmetric) are skipped, not an error
    {
      name: 'unknown versions skipped',
      headers: { ...signed(), 'webhook-signature': `v1a,AAAA ${signed()['webhook-signature']}` },
      expected: accepted,
    },
    // exactly at the edge of the window, both directions, still passes
    {
      name: '300s old',
      headers: signed({ ts: NOW_S - 300 }),
      expected: { ...accepted, timestamp: NOW_S - 300 },
    },
    {
      name: '300s ahead',
      headers: signed({ ts: NOW_S + 300 }),
      expected: { ...accepted, timestamp: NOW_S + 300 },
    },
  ])('accepts: $name', ({ headers, expected }) => {
    expect(verify(headers, BODY, NOW_MS)).toEqual(expected);
  });

  it.each([
    // one changed byte in the body
    {
      name: 'tampered body',
      headers: signed(),
      body: Buffer.from(`${BODY.toString()} `),
      code: 'signature_mismatch',
      status: 401,
    },
    // signed with a secret the verifier does not hold
    {
      name: 'wrong secret',
      headers: signed({ secret: THIRD_SECRET }),
      code: 'signature_mismatch',
      status: 401,
    },
    // the id is signed: swapping it (to dodge de-duplication) breaks the signature
    {
      name: 'tampered id',
      headers: { ...signed(), 'webhook-id': 'msg_other' },
      code: 'signature_mismatch',
      status: 401,
    },
    // the timestamp is signed: moving it inside the window still breaks the signature
    {
      name: 'tampered timestamp',
      headers: { ...signed(), 'webhook-timestamp': String(NOW_S - 1) },
      code: 'signature_mismatch',
      status: 401,
    },
    // a header with only non-v1 entries has nothing we can check
    {
      name: 'no v1 entry',
      headers: { ...signed(), 'webhook-signature': 'v2,AAAA' },
      code: 'signature_mismatch',
      status: 401,
    },
    // each of the three headers is required
    {
      name: 'missing id',
      headers: without(signed(), 'webhook-id'),
      code: 'header_missing',
      status: 401,
    },
    {
      name: 'missing timestamp',
      headers: without(signed(), 'webhook-timestamp'),
      code: 'header_missing',
      status: 401,
    },
    {
      name: 'missing signature',
      headers: without(signed(), 'webhook-signature'),
      code: 'header_missing',
      status: 401,
    },
    // an empty value is as good as absent
    {
      name: 'empty signature',
      headers: { ...signed(), 'webhook-signature': '' },
      code: 'header_missing',
      status: 401,
    },
    // a timestamp in milliseconds or ISO form is a malformed header, not a stale one
    {
      name: 'timestamp not seconds',
      headers: { ...signed(), 'webhook-timestamp': '2023-11-14T22:13:20Z' },
      code: 'header_malformed',
      status: 400,
    },
    // an entry without the version separator
    {
      name: 'signature without version',
      headers: { ...signed(), 'webhook-signature': 'g0hM9SsE+OTPJTGt' },
      code: 'header_malformed',
      status: 400,
    },
    // an authentic message replayed after the window
    { name: 'stale', headers: signed({ ts: NOW_S - 301 }), code: 'timestamp_stale', status: 400 },
    // an authentic message from a clock too far ahead
    { name: 'future', headers: signed({ ts: NOW_S + 301 }), code: 'timestamp_future', status: 400 },
    // stale and also forged: the signature is checked first, so it reads as 401
    {
      name: 'stale and forged',
      headers: signed({ ts: NOW_S - 301, secret: THIRD_SECRET }),
      code: 'signature_mismatch',
      status: 401,
    },
    // svix aliases fail the same way
    {
      name: 'svix wrong secret',
      headers: signed({ prefix: 'svix', secret: THIRD_SECRET }),
      code: 'signature_mismatch',
      status: 401,
    },
  ])('refuses: $name', ({ headers, body = BODY, code, status }) => {
    const result = verify(headers, body, NOW_MS);
    expect(result).toMatchObject({
      ok: false,
      scheme: 'standard-webhooks',
      code,
      statusCode: status,
    });
    const reason = result.ok ? '' : result.reason;
    expect(reason).toMatch(/webhook-|svix-/);
    // never echo the received signature or a secret
    for (const value of [headers['webhook-signature'], headers['svix-signature']]) {
      if (value !== undefined && value.length > 8) expect(reason).not.toContain(value.slice(3));
    }
    expect(reason).not.toContain(SPEC_SECRET.slice(6));
  });

  it('names the header in the reason', () => {
    expect(verify(without(signed(), 'webhook-timestamp'), BODY, NOW_MS)).toMatchObject({
      reason: 'webhook-timestamp (or svix-timestamp) header is missing',
    });
    expect(verify(signed({ prefix: 'svix', ts: NOW_S - 301 }), BODY, NOW_MS)).toMatchObject({
      reason: 'svix-timestamp is more than 300s in the past',
    });
  });

  it('honours a configured tolerance', () => {
    const strict = createStandardWebhooksVerifier({
      scheme: 'standard-webhooks',
      secrets: [SPEC_SECRET],
      toleranceSeconds: 60,
    });
    expect(strict(signed({ ts: NOW_S - 60 }), BODY, NOW_MS).ok).toBe(true);
    expect(strict(signed({ ts: NOW_S - 61 }), BODY, NOW_MS)).toMatchObject({
      code: 'timestamp_stale',
    });
  });

  it('verifies the specification vector at its own time', () => {
    const spec = createStandardWebhooksVerifier({
      scheme: 'standard-webhooks',
      secrets: [SPEC_SECRET],
    });
    const headers = {
      'webhook-id': SPEC_ID,
      'webhook-timestamp': String(SPEC_TIMESTAMP),
      'webhook-signature': SPEC_SIGNATURE,
    };
    expect(spec(headers, SPEC_BODY, SPEC_TIMESTAMP * 1000)).toEqual({
      ok: true,
      scheme: 'standard-webhooks',
      deliveryId: SPEC_ID,
      timestamp: SPEC_TIMESTAMP,
    });
  });

  it.each([
    // zero seconds would disable replay protection by accident
    [0],
    // fractions of a second are not a window anyone means
    [1.5],
  ])('rejects a tolerance of %s at construction', (toleranceSeconds) => {
    expect(() =>
      createStandardWebhooksVerifier({
        scheme: 'standard-webhooks',
        secrets: [SPEC_SECRET],
        toleranceSeconds,
      }),
    ).toThrow(expect.objectContaining({ code: 'ERR_SIGNING_OPTIONS_INVALID' }));
  });
});

function without(headers: Record<string, string>, name: string): Record<string, string> {
  const copy = { ...headers };
  delete copy[name];
  return copy;
}

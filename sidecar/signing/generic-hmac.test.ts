import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createHmacSigner, createHmacVerifier, type HmacSchemeOptions } from './generic-hmac.ts';

const SECRET = 'acme-shared-secret';
const OLD_SECRET = 'acme-shared-secret-2024';
const NOW_S = 1_700_000_000;
const NOW_MS = NOW_S * 1000 + 1;
const ID = 'msg_01HF8Z3Q0K';
const BODY = Buffer.from('{"event":"invoice.paid","amount":1200}');
const input = { deliveryId: ID, timestamp: NOW_S, body: BODY };

/** The signature computed independently with node:crypto, as a receiver would. */
function expected(
  algorithm: 'sha256' | 'sha512',
  encoding: 'hex' | 'base64',
  content: string,
  secret = SECRET,
): string {
  return createHmac(algorithm, secret).update(content).digest(encoding);
}

describe('createHmacSigner', () => {
  it.each([
    // the defaults: sha256, hex, no prefix, body only
    {
      options: { header: 'X-Signature' },
      headers: { 'x-signature': expected('sha256', 'hex', BODY.toString()) },
    },
    // sha512 in base64 with a prefix
    {
      options: { header: 'X-Acme-Sig', algorithm: 'sha512', encoding: 'base64', prefix: 'sha512=' },
      headers: { 'x-acme-sig': `sha512=${expected('sha512', 'base64', BODY.toString())}` },
    },
    // a timestamp header: the default signed content becomes `${timestamp}.${body}`
    {
      options: { header: 'X-Signature', timestampHeader: 'X-Timestamp', prefix: 'sha256=' },
      headers: {
        'x-signature': `sha256=${expected('sha256', 'hex', `${NOW_S}.${BODY.toString()}`)}`,
        'x-timestamp': String(NOW_S),
      },
    },
    // a custom template signing id and timestamp; the id header is sent too
    {
      options: {
        header: 'X-Signature',
        timestampHeader: 'X-Timestamp',
        idHeader: 'X-Webhook-Id',
        signedContent: 'v1:{id}:{timestamp}:{body}:end',
      },
      headers: {
        'x-signature': expected('sha256', 'hex', `v1:${ID}:${NOW_S}:${BODY.toString()}:end`),
        'x-timestamp': String(NOW_S),
        'x-webhook-id': ID,
      },
    },
  ] as { options: HmacSchemeOptions; headers: Record<string, string> }[])(
    'signs with $options',
    ({ options, headers }) => {
      const sign = createHmacSigner({ scheme: 'hmac', secret: SECRET, ...options });
      expect(sign(input)).toEqual(headers);
    },
  );

  it.each([
    // an unknown placeholder is a typo, not literal text
    [
      { header: 'X-Sig', signedContent: '{timestmp}.{body}' },
      'signedContent has unknown placeholder {timestmp}',
    ],
    // without {body} the body would not be signed at all
    [
      { header: 'X-Sig', signedContent: 'static' },
      'signedContent must contain {body} exactly once',
    ],
    // twice is ambiguous
    [
      { header: 'X-Sig', signedContent: '{body}{body}' },
      'signedContent must contain {body} exactly once',
    ],
    // an unsigned timestamp makes the replay window decorative
    [
      { header: 'X-Sig', timestampHeader: 'X-Ts', signedContent: '{body}' },
      'signedContent must contain {timestamp} when timestampHeader is set',
    ],
    // a signed timestamp the receiver cannot read
    [
      { header: 'X-Sig', signedContent: '{timestamp}.{body}' },
      'signedContent uses {timestamp} but timestampHeader is not set',
    ],
    // a signed id the receiver cannot read
    [
      { header: 'X-Sig', signedContent: '{id}.{body}' },
      'signedContent uses {id} but idHeader is not set',
    ],
    // a header name with a space
    [{ header: 'X Sig' }, 'header is not a header name'],
    // one header cannot carry both the signature and the timestamp
    [
      { header: 'X-Sig', timestampHeader: 'x-sig' },
      'header, timestampHeader and idHeader must be different headers',
    ],
    // options from YAML that escaped the types
    [{ header: 'X-Sig', algorithm: 'md5' }, 'algorithm must be sha256 or sha512'],
    [{ header: 'X-Sig', encoding: 'base32' }, 'encoding must be hex or base64'],
  ] as [HmacSchemeOptions, string][])('rejects %o', (options, message) => {
    expect(() => createHmacSigner({ scheme: 'hmac', secret: SECRET, ...options })).toThrow(
      expect.objectContaining({ code: 'ERR_SIGNING_OPTIONS_INVALID', message }),
    );
  });

  it('lists every problem in one error', () => {
    expect(() =>
      createHmacSigner({ scheme: 'hmac', secret: SECRET, header: 'X Sig', signedContent: '{id}' }),
    ).toThrow(
      'header is not a header name; signedContent must contain {body} exactly once; ' +
        'signedContent uses {id} but idHeader is not set',
    );
  });
});

describe('createHmacVerifier', () => {
  const timed: HmacSchemeOptions = {
    header: 'X-Signature',
    prefix: 'sha256=',
    timestampHeader: 'X-Timestamp',
    idHeader: 'X-Webhook-Id',
    signedContent: '{id}.{timestamp}.{body}',
  };
  const verifier = createHmacVerifier({ scheme: 'hmac', secrets: [SECRET, OLD_SECRET], ...timed });
  const headers = (
    opts: { secret?: string; ts?: number; id?: string; body?: Buffer } = {},
  ): Record<string, string> => {
    const { secret = SECRET, ts = NOW_S, id = ID, body = BODY } = opts;
    return {
      'x-signature': `sha256=${expected('sha256', 'hex', `${id}.${ts}.${body.toString()}`, secret)}`,
      'x-timestamp': String(ts),
      'x-webhook-id': id,
    };
  };
  const accepted = { ok: true, scheme: 'hmac', deliveryId: ID, timestamp: NOW_S };

  it.each([
    // an independently computed signature
    { name: 'valid', h: headers(), expected: accepted },
    // the previous secret during a rotation
    { name: 'second secret', h: headers({ secret: OLD_SECRET }), expected: accepted },
    // hex case does not matter
    {
      name: 'upper-case hex',
      h: {
        ...headers(),
        'x-signature': `sha256=${(headers()['x-signature'] ?? '').slice(7).toUpperCase()}`,
      },
      expected: accepted,
    },
    // the window's edges
    {
      name: '300s old',
      h: headers({ ts: NOW_S - 300 }),
      expected: { ...accepted, timestamp: NOW_S - 300 },
    },
    {
      name: '300s ahead',
      h: headers({ ts: NOW_S + 300 }),
      expected: { ...accepted, timestamp: NOW_S + 300 },
    },
  ])('accepts: $name', ({ h, expected: result }) => {
    expect(verifier(h, BODY, NOW_MS)).toEqual(result);
  });

  it.each([
    // the body changed after signing
    {
      name: 'tampered body',
      h: headers({ body: Buffer.from('{}') }),
      code: 'signature_mismatch',
      status: 401,
    },
    // a secret the verifier does not hold
    {
      name: 'wrong secret',
      h: headers({ secret: 'other' }),
      code: 'signature_mismatch',
      status: 401,
    },
    // the id is signed in this configuration: changing it breaks the signature
    {
      name: 'tampered id',
      h: { ...headers(), 'x-webhook-id': 'msg_other' },
      code: 'signature_mismatch',
      status: 401,
    },
    // each configured header is required
    {
      name: 'missing signature',
      h: without(headers(), 'x-signature'),
      code: 'header_missing',
      status: 401,
    },
    {
      name: 'missing timestamp',
      h: without(headers(), 'x-timestamp'),
      code: 'header_missing',
      status: 401,
    },
    {
      name: 'missing signed id',
      h: without(headers(), 'x-webhook-id'),
      code: 'header_missing',
      status: 401,
    },
    // the configured prefix is required
    {
      name: 'wrong prefix',
      h: {
        ...headers(),
        'x-signature': (headers()['x-signature'] ?? '').replace('sha256=', 'v1='),
      },
      code: 'header_malformed',
      status: 400,
    },
    // a timestamp that is not unix seconds
    {
      name: 'malformed timestamp',
      h: { ...headers(), 'x-timestamp': 'now' },
      code: 'header_malformed',
      status: 400,
    },
    // authentic, outside the window
    { name: 'stale', h: headers({ ts: NOW_S - 301 }), code: 'timestamp_stale', status: 400 },
    { name: 'future', h: headers({ ts: NOW_S + 301 }), code: 'timestamp_future', status: 400 },
  ])('refuses: $name', ({ h, code, status }) => {
    const result = verifier(h, BODY, NOW_MS);
    expect(result).toMatchObject({ ok: false, scheme: 'hmac', code, statusCode: status });
    const reason = result.ok ? '' : result.reason;
    expect(reason).toMatch(/x-signature|x-timestamp|x-webhook-id/);
    const received = h['x-signature'];
    if (received !== undefined) expect(reason).not.toContain(received.slice(7, 30));
  });

  it('verifies what the signer made with the same options, and only that', () => {
    const options = {
      header: 'X-Sig',
      algorithm: 'sha512',
      encoding: 'base64',
      prefix: 's=',
    } as const;
    const signed = createHmacSigner({ scheme: 'hmac', secret: SECRET, ...options })(input);
    const verify = createHmacVerifier({ scheme: 'hmac', secrets: [SECRET], ...options });
    expect(verify(signed, BODY, NOW_MS)).toEqual({ ok: true, scheme: 'hmac' });
    expect(verify(signed, Buffer.from('{}'), NOW_MS)).toMatchObject({ code: 'signature_mismatch' });
  });

  it.each([
    // Replacement patterns: replaceAll with a string would expand them into the matched text.
    ['$&', '$`', "$'", '$$'].map((p) => `evt_${p}_1`).join(''),
    'evt_$&',
    "evt_$'x$`",
    // A placeholder inside the id must stay literal text.
    'evt_{timestamp}',
  ])('signs the delivery id %j as literal text, as an independent HMAC does', (id) => {
    const signer = createHmacSigner({ scheme: 'hmac', secret: SECRET, ...timed });
    const signed = signer({ deliveryId: id, timestamp: NOW_S, body: BODY });
    expect(signed['x-signature']).toBe(
      `sha256=${expected('sha256', 'hex', `${id}.${NOW_S}.${BODY.toString()}`)}`,
    );
    expect(verifier(signed, BODY, NOW_MS)).toMatchObject({ ok: true, deliveryId: id });
  });

  it('reports an unsigned id header as the delivery id', () => {
    const verify = createHmacVerifier({
      scheme: 'hmac',
      secrets: [SECRET],
      header: 'X-Sig',
      idHeader: 'X-Id',
    });
    const h = { 'x-sig': expected('sha256', 'hex', BODY.toString()), 'x-id': 'd-7' };
    expect(verify(h, BODY, NOW_MS)).toEqual({ ok: true, scheme: 'hmac', deliveryId: 'd-7' });
  });
});

function without(headers: Record<string, string>, name: string): Record<string, string> {
  const copy = { ...headers };
  delete copy[name];
  return copy;
}

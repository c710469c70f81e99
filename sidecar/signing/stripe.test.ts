import { describe, expect, it } from 'vitest';
import Stripe from 'stripe';
import { createStripeVerifier } from './stripe.ts';

const SECRET = 'whsec_test_stripe_endpoint_secret_new';
const OLD_SECRET = 'whsec_test_stripe_endpoint_secret_old';
const NOW_S = 1_700_000_000;
const NOW_MS = NOW_S * 1000 + 999;
const EVENT_ID = 'evt_1NG8Du2eZvKYlo2CUI79vXWy';
const PAYLOAD = JSON.stringify({ id: EVENT_ID, object: 'event', type: 'invoice.paid' }, null, 2);
const BODY = Buffer.from(PAYLOAD);

/** A `Stripe-Signature` header from Stripe's own test helper. */
function stripeHeader(
  opts: { secret?: string; timestamp?: number; payload?: string; scheme?: string } = {},
): string {
  const { secret = SECRET, timestamp = NOW_S, payload = PAYLOAD, scheme } = opts;
  return Stripe.webhooks.generateTestHeaderString({
    payload,
    secret,
    timestamp,
    ...(scheme === undefined ? {} : { scheme }),
  });
}

/** The `v1=...` item of a header made by the helper. */
function v1(header: string): string {
  return header.split(',').find((item) => item.startsWith('v1=')) ?? '';
}

describe('createStripeVerifier', () => {
  const verifier = createStripeVerifier({ scheme: 'stripe', secrets: [SECRET] });
  const accepted = { ok: true, scheme: 'stripe', deliveryId: EVENT_ID, timestamp: NOW_S };

  it.each([
    // Stripe's own test header; the event id comes from the verified JSON body
    { name: 'valid', header: stripeHeader(), expected: accepted },
    // during a secret roll Stripe sends one v1 per secret; the new one is second here
    {
      name: 'two v1 during a roll',
      header: `${stripeHeader({ secret: OLD_SECRET })},${v1(stripeHeader())}`,
      expected: accepted,
    },
    // v0 (legacy test-mode) entries are ignored, not an error
    {
      name: 'with a v0 entry',
      header: `${stripeHeader()},v0=6ffbb59b2300aae63f272406069a9788598b792a944a07aba816edb039989a39`,
      expected: accepted,
    },
    // spaces after commas, as some proxies re-fold headers
    { name: 'spaces after commas', header: stripeHeader().replace(',', ', '), expected: accepted },
    // the window's edges, both directions
    {
      name: '300s old',
      header: stripeHeader({ timestamp: NOW_S - 300 }),
      expected: { ...accepted, timestamp: NOW_S - 300 },
    },
    {
      name: '300s ahead',
      header: stripeHeader({ timestamp: NOW_S + 300 }),
      expected: { ...accepted, timestamp: NOW_S + 300 },
    },
  ])('accepts: $name', ({ header, expected }) => {
    expect(verifier({ 'stripe-signature': header }, BODY, NOW_MS)).toEqual(expected);
  });

  it('verifies with the second configured secret (rotation on our side)', () => {
    const rotating = createStripeVerifier({ scheme: 'stripe', secrets: [OLD_SECRET, SECRET] });
    expect(rotating({ 'stripe-signature': stripeHeader() }, BODY, NOW_MS)).toEqual(accepted);
  });

  it.each([
    // a body that is not JSON still verifies; it just has no event id to report
    { name: 'not JSON', payload: 'not json' },
    // JSON without an id
    { name: 'JSON without id', payload: '{"object":"event"}' },
    // an id that is not a string is not an event id
    { name: 'numeric id', payload: '{"id":42}' },
  ])('reports no delivery id for a body with none: $name', ({ payload }) => {
    const result = verifier(
      { 'stripe-signature': stripeHeader({ payload }) },
      Buffer.from(payload),
      NOW_MS,
    );
    expect(result).toEqual({ ok: true, scheme: 'stripe', timestamp: NOW_S });
  });

  it.each([
    // the body changed after signing
    {
      name: 'tampered body',
      header: stripeHeader(),
      body: Buffer.from(PAYLOAD.replace('paid', 'void')),
      code: 'signature_mismatch',
      status: 401,
    },
    // a secret the verifier does not hold
    {
      name: 'wrong secret',
      header: stripeHeader({ secret: OLD_SECRET }),
      code: 'signature_mismatch',
      status: 401,
    },
    // t is signed: moving it inside the window breaks the signature
    {
      name: 'tampered t',
      header: stripeHeader().replace(`t=${NOW_S}`, `t=${NOW_S - 10}`),
      code: 'signature_mismatch',
      status: 401,
    },
    // only a v0 signature, even a correct one, is not accepted
    {
      name: 'v0 only',
      header: stripeHeader({ scheme: 'v0' }),
      code: 'signature_mismatch',
      status: 401,
    },
    // no header at all
    { name: 'missing', header: undefined, code: 'header_missing', status: 401 },
    // no t= item
    { name: 'no t', header: v1(stripeHeader()), code: 'header_malformed', status: 400 },
    // t= that is not unix seconds
    {
      name: 't not a number',
      header: stripeHeader().replace(`t=${NOW_S}`, 't=yesterday'),
      code: 'header_malformed',
      status: 400,
    },
    // two t= items: which one was signed is ambiguous
    {
      name: 'two t',
      header: `t=${NOW_S - 1},${stripeHeader()}`,
      code: 'header_malformed',
      status: 400,
    },
    // an item without "="
    {
      name: 'item without =',
      header: `${stripeHeader()},garbage`,
      code: 'header_malformed',
      status: 400,
    },
    // an authentic event replayed after the window
    {
      name: 'stale',
      header: stripeHeader({ timestamp: NOW_S - 301 }),
      code: 'timestamp_stale',
      status: 400,
    },
    // an authentic event from a clock too far ahead (Stripe's library checks only the past)
    {
      name: 'future',
      header: stripeHeader({ timestamp: NOW_S + 301 }),
      code: 'timestamp_future',
      status: 400,
    },
  ])('refuses: $name', ({ header, body = BODY, code, status }) => {
    const headers = header === undefined ? {} : { 'stripe-signature': header };
    const result = verifier(headers, body, NOW_MS);
    expect(result).toMatchObject({ ok: false, scheme: 'stripe', code, statusCode: status });
    const reason = result.ok ? '' : result.reason;
    expect(reason).toContain('Stripe-Signature');
    const received = header === undefined ? '' : v1(header).slice(3);
    if (received !== '') expect(reason).not.toContain(received);
  });

  it.each([
    // agreement on a valid header
    { name: 'valid', header: stripeHeader(), passes: true },
    // agreement on a wrong secret
    { name: 'wrong secret', header: stripeHeader({ secret: OLD_SECRET }), passes: false },
    // agreement on a stale header
    { name: 'stale', header: stripeHeader({ timestamp: NOW_S - 301 }), passes: false },
    // agreement on a roll with two v1 entries
    {
      name: 'roll',
      header: `${stripeHeader({ secret: OLD_SECRET })},${v1(stripeHeader())}`,
      passes: true,
    },
    // agreement on a v0-only header
    { name: 'v0 only', header: stripeHeader({ scheme: 'v0' }), passes: false },
  ])("agrees with Stripe's constructEvent: $name", ({ header, passes }) => {
    let stripeAccepts: boolean;
    try {
      Stripe.webhooks.constructEvent(BODY, header, SECRET, 300, undefined, NOW_MS);
      stripeAccepts = true;
    } catch {
      stripeAccepts = false;
    }
    expect(stripeAccepts).toBe(passes);
    expect(verifier({ 'stripe-signature': header }, BODY, NOW_MS).ok).toBe(passes);
  });

  it('requires at least one secret', () => {
    expect(() => createStripeVerifier({ scheme: 'stripe', secrets: [] })).toThrow(
      expect.objectContaining({ code: 'ERR_SECRET_INVALID' }),
    );
  });
});

import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createShopifyVerifier } from './shopify.ts';

const SECRET = 'shpss_2f9c0a7e5d1b4c3a8e6f';
const OLD_SECRET = 'shpss_0000aaaa1111bbbb2222';
const BODY = Buffer.from(
  '{"id":820982911946154508,"email":"jon@example.com","note":"d\u00e9j\u00e0"}',
);
const WEBHOOK_ID = 'b54557e4-bdd9-4b37-8a5f-bf7d70bcd043';

/** Shopify's documented computation, done independently of the code under test. */
function shopifyHmac(secret: string, body: Buffer, encoding: 'base64' | 'hex' = 'base64'): string {
  return createHmac('sha256', secret).update(body).digest(encoding);
}

describe('createShopifyVerifier', () => {
  const verifier = createShopifyVerifier({ scheme: 'shopify', secrets: [SECRET, OLD_SECRET] });

  it.each([
    // the current secret
    { name: 'valid', secret: SECRET },
    // the previous secret, while the app's secret is being rotated
    { name: 'second secret', secret: OLD_SECRET },
  ])('accepts: $name, reporting X-Shopify-Webhook-Id', ({ secret }) => {
    const headers = {
      'x-shopify-hmac-sha256': shopifyHmac(secret, BODY),
      'x-shopify-webhook-id': WEBHOOK_ID,
    };
    expect(verifier(headers, BODY, 0)).toEqual({
      ok: true,
      scheme: 'shopify',
      deliveryId: WEBHOOK_ID,
    });
  });

  it.each([
    // the body changed after signing
    {
      name: 'tampered body',
      headers: { 'x-shopify-hmac-sha256': shopifyHmac(SECRET, Buffer.from('{}')) },
      code: 'signature_mismatch',
      status: 401,
    },
    // a secret the verifier does not hold
    {
      name: 'wrong secret',
      headers: { 'x-shopify-hmac-sha256': shopifyHmac('shpss_other', BODY) },
      code: 'signature_mismatch',
      status: 401,
    },
    // the right HMAC in the wrong encoding is not accepted
    {
      name: 'hex instead of base64',
      headers: { 'x-shopify-hmac-sha256': shopifyHmac(SECRET, BODY, 'hex') },
      code: 'signature_mismatch',
      status: 401,
    },
    // no signature header, only the id
    {
      name: 'missing header',
      headers: { 'x-shopify-webhook-id': WEBHOOK_ID },
      code: 'header_missing',
      status: 401,
    },
  ])('refuses: $name', ({ headers, code, status }) => {
    const result = verifier(headers, BODY, 0);
    expect(result).toMatchObject({ ok: false, scheme: 'shopify', code, statusCode: status });
    expect(result.ok ? '' : result.reason).toContain('X-Shopify-Hmac-Sha256');
  });

  it('does not echo the received signature', () => {
    const forged = shopifyHmac('shpss_other', BODY);
    const result = verifier({ 'x-shopify-hmac-sha256': forged }, BODY, 0);
    expect(result).toMatchObject({
      ok: false,
      reason: 'X-Shopify-Hmac-Sha256 matches no configured secret',
    });
  });
});

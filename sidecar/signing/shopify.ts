// Shopify (ingress only): `X-Shopify-Hmac-Sha256: <base64 HMAC-SHA256 of the body>`, keyed with
// the app's client secret as UTF-8. No timestamp is signed.
import { hmac, signatureEquals, utf8Keys } from './hmac.ts';
import { fail, readHeader, succeed, type Verifier } from './verification.ts';

const SIGNATURE_HEADER = 'x-shopify-hmac-sha256';
const DELIVERY_HEADER = 'x-shopify-webhook-id';

/** Ingress options: a signature made with any listed secret passes. */
export interface ShopifyVerifyOptions {
  readonly scheme: 'shopify';
  /** App client secrets, used as UTF-8 bytes; two while the app's secret is rotated. */
  readonly secrets: readonly string[];
}

/**
 * Builds the ingress verifier. `X-Shopify-Webhook-Id` is reported as the delivery id; Shopify
 * does not sign it, and signs no timestamp, so this scheme has no replay window.
 */
export function createShopifyVerifier(options: ShopifyVerifyOptions): Verifier {
  const keys = utf8Keys(options.secrets, 'secrets');
  const scheme = 'shopify';
  return (headers, body) => {
    const received = readHeader(headers, SIGNATURE_HEADER);
    if (received === undefined) {
      return fail(scheme, 'header_missing', 'X-Shopify-Hmac-Sha256 header is missing');
    }
    const matched = keys.some((key) =>
      signatureEquals(received, hmac(key, 'sha256', [body], 'base64')),
    );
    if (!matched) {
      return fail(
        scheme,
        'signature_mismatch',
        'X-Shopify-Hmac-Sha256 matches no configured secret',
      );
    }
    return succeed(scheme, readHeader(headers, DELIVERY_HEADER), undefined);
  };
}

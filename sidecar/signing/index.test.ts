import { describe, expect, it } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { verify as octokitVerify } from '@octokit/webhooks-methods';
import {
  createSigner,
  createVerifier,
  SigningError,
  VERIFY_FAILURE_STATUS,
  type SigningOptions,
  type VerifyOptions,
} from './index.ts';

const WHSEC = `whsec_${Buffer.alloc(32, 3).toString('base64')}`;
const NOW_S = 1_700_000_000;
const BODY = Buffer.from('{"type":"order.created"}');
const input = { deliveryId: 'msg_42', timestamp: NOW_S, body: BODY };

describe('createSigner', () => {
  it.each([
    // the default scheme: Standard Webhooks headers
    [
      { scheme: 'standard-webhooks', secrets: [WHSEC] },
      ['webhook-id', 'webhook-signature', 'webhook-timestamp'],
    ],
    // GitHub-style: one header
    [{ scheme: 'github', secret: 'gh' }, ['x-hub-signature-256']],
    // generic HMAC: the configured headers, lower-cased
    [{ scheme: 'hmac', secret: 's', header: 'X-Sig', timestampHeader: 'X-Ts' }, ['x-sig', 'x-ts']],
  ] as [SigningOptions, string[]][])('dispatches %o', (options, names) => {
    expect(Object.keys(createSigner(options)(input)).sort()).toEqual(names);
  });

  it('hands the Standard Webhooks judge a verifiable message', () => {
    const headers = createSigner({ scheme: 'standard-webhooks', secrets: [WHSEC] })(input);
    const judge = new Webhook(WHSEC);
    // The reference library checks against the wall clock, so compare the signature it computes.
    expect(headers['webhook-signature']).toBe(judge.sign('msg_42', new Date(NOW_S * 1000), BODY));
  });

  it('hands the Octokit judge a verifiable message', async () => {
    const headers = createSigner({ scheme: 'github', secret: 'gh' })(input);
    expect(await octokitVerify('gh', BODY.toString(), headers['x-hub-signature-256'] ?? '')).toBe(
      true,
    );
  });

  it('fails with a typed error, without the secret, for an unknown scheme', () => {
    const options = { scheme: 'aws-sigv4', secret: 'hunter2' } as unknown as SigningOptions;
    expect(() => createSigner(options)).toThrow(
      expect.objectContaining({
        code: 'ERR_SIGNING_OPTIONS_INVALID',
        message: 'scheme "aws-sigv4" is not supported',
      }),
    );
  });
});

describe('createVerifier', () => {
  it.each([
    // each egress scheme round-trips into its ingress verifier
    [
      { scheme: 'standard-webhooks', secrets: [WHSEC] },
      { scheme: 'standard-webhooks', secrets: [WHSEC] },
    ],
    [
      { scheme: 'github', secret: 'gh' },
      { scheme: 'github', secrets: ['gh'] },
    ],
    [
      { scheme: 'hmac', secret: 's', header: 'X-Sig', timestampHeader: 'X-Ts' },
      { scheme: 'hmac', secrets: ['s'], header: 'X-Sig', timestampHeader: 'X-Ts' },
    ],
  ] as [SigningOptions, VerifyOptions][])('verifies what %o signed', (signing, verifying) => {
    const headers = createSigner(signing)(input);
    const verify = createVerifier(verifying);
    expect(verify(headers, BODY, NOW_S * 1000)).toMatchObject({
      ok: true,
      scheme: verifying.scheme,
    });
    // and refuses the same headers over another body
    expect(verify(headers, Buffer.from('{}'), NOW_S * 1000)).toMatchObject({
      ok: false,
      code: 'signature_mismatch',
      statusCode: 401,
    });
  });

  it.each([
    // every ingress scheme is reachable through the factory
    [{ scheme: 'stripe', secrets: ['whsec_x'] }],
    [{ scheme: 'shopify', secrets: ['x'] }],
    [{ scheme: 'slack', secrets: ['x'] }],
    [{ scheme: 'basic-auth', credentials: [{ username: 'u', password: 'p' }] }],
    [{ scheme: 'bearer-token', tokens: ['t'] }],
  ] as [VerifyOptions][])('dispatches %o and reports its scheme', (options) => {
    const result = createVerifier(options)({}, BODY, 0);
    expect(result).toMatchObject({ ok: false, scheme: options.scheme, statusCode: 401 });
  });

  it('fails with a typed error for an unknown scheme', () => {
    const options = { scheme: 'mtls' } as unknown as VerifyOptions;
    expect(() => createVerifier(options)).toThrow(SigningError);
  });
});

describe('errors', () => {
  it('SigningError carries code, status 500 and cause', () => {
    const cause = new Error('inner');
    const error = new SigningError('ERR_SECRET_INVALID', 'secrets[0] is bad', { cause });
    expect(error).toMatchObject({
      name: 'SigningError',
      code: 'ERR_SECRET_INVALID',
      statusCode: 500,
      cause,
    });
    expect(error).toBeInstanceOf(Error);
  });

  it('maps authentication failures to 401 and unusable requests to 400', () => {
    expect(VERIFY_FAILURE_STATUS).toEqual({
      header_missing: 401,
      header_malformed: 400,
      signature_mismatch: 401,
      timestamp_stale: 400,
      timestamp_future: 400,
      credentials_missing: 401,
      credentials_invalid: 401,
    });
  });
});

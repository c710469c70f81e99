import { afterEach, describe, expect, it, vi } from 'vitest';
import { Webhook } from 'standardwebhooks';
import { SigningError } from './errors.ts';
import { createStandardWebhooksSigner, parseStandardWebhooksSecrets } from './standard-webhooks.ts';

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

afterEach(() => {
  vi.useRealTimers();
});

describe('createStandardWebhooksSigner', () => {
  it('reproduces the specification test vector', () => {
    const sign = createStandardWebhooksSigner({
      scheme: 'standard-webhooks',
      secrets: [SPEC_SECRET],
    });
    expect(sign({ deliveryId: SPEC_ID, timestamp: SPEC_TIMESTAMP, body: SPEC_BODY })).toEqual({
      'webhook-id': SPEC_ID,
      'webhook-timestamp': String(SPEC_TIMESTAMP),
      'webhook-signature': SPEC_SIGNATURE,
    });
  });

  it('produces headers the standardwebhooks library accepts, and only for the signed body', () => {
    const sign = createStandardWebhooksSigner({
      scheme: 'standard-webhooks',
      secrets: [OTHER_SECRET],
    });
    const headers = sign({ deliveryId: ID, timestamp: NOW_S, body: BODY });
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(NOW_MS);
    const judge = new Webhook(OTHER_SECRET);
    expect(judge.verify(BODY, headers)).toEqual(JSON.parse(BODY.toString()));
    expect(() => judge.verify(Buffer.from(`${BODY.toString()} `), headers)).toThrow(
      'No matching signature found',
    );
  });

  it('signs once per secret during a rotation; each signature verifies alone', () => {
    const sign = createStandardWebhooksSigner({
      scheme: 'standard-webhooks',
      secrets: [SPEC_SECRET, OTHER_SECRET],
    });
    const headers = sign({ deliveryId: ID, timestamp: NOW_S, body: BODY });
    const entries = headers['webhook-signature']?.split(' ') ?? [];
    expect(entries).toHaveLength(2);
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(NOW_MS);
    // Each entry alone, judged by the secret it was made with: proves the order matches the list.
    for (const [i, secret] of [SPEC_SECRET, OTHER_SECRET].entries()) {
      const alone = { ...headers, 'webhook-signature': entries[i] ?? '' };
      expect(() => new Webhook(secret).verify(BODY, alone)).not.toThrow();
    }
    // A secret that was not listed matches neither entry: the judge can say no.
    expect(() => new Webhook(THIRD_SECRET).verify(BODY, headers)).toThrow(
      'No matching signature found',
    );
  });

  it.each([
    // a fractional timestamp would be written as "1.5" and no receiver parses that
    [{ deliveryId: ID, timestamp: 1.5, body: BODY }],
    // a negative timestamp is not a time anyone signs at
    [{ deliveryId: ID, timestamp: -1, body: BODY }],
    // an empty id would be signed as ".<ts>.<body>" and sent as an absent header
    [{ deliveryId: '', timestamp: NOW_S, body: BODY }],
    // a space in the id is trimmed by proxies, so the signature would no longer match
    [{ deliveryId: 'msg 1', timestamp: NOW_S, body: BODY }],
  ])('refuses the unusable input %o', (input) => {
    const sign = createStandardWebhooksSigner({
      scheme: 'standard-webhooks',
      secrets: [SPEC_SECRET],
    });
    expect(() => sign(input)).toThrow(expect.objectContaining({ code: 'ERR_SIGN_INPUT_INVALID' }));
  });
});

describe('parseStandardWebhooksSecrets', () => {
  it.each([
    // no whsec_ prefix: likely a Stripe or raw secret pasted into the wrong field
    ['MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'must start with "whsec_"'],
    // characters outside standard base64 (url-safe alphabet)
    [
      'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2La-aSw',
      'must be "whsec_" followed by padded standard base64',
    ],
    // base64 without its padding
    [
      'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaS',
      'must be "whsec_" followed by padded standard base64',
    ],
    // the prefix alone
    ['whsec_', 'must be "whsec_" followed by padded standard base64'],
    // 12 bytes: under the spec's 24-byte minimum for a signing key
    [`whsec_${Buffer.alloc(12, 1).toString('base64')}`, 'must decode to 24-64 bytes'],
    // 65 bytes: over the spec's 64-byte maximum
    [`whsec_${Buffer.alloc(65, 1).toString('base64')}`, 'must decode to 24-64 bytes'],
  ])('rejects %s for signing without quoting it', (secret, problem) => {
    const error = captureError(() => parseStandardWebhooksSecrets([secret], 'secrets', true));
    expect(error).toBeInstanceOf(SigningError);
    expect(error.code).toBe('ERR_SECRET_INVALID');
    // The exact text: it names the entry by index and carries no part of the secret.
    expect(error.message).toBe(`secrets[0] ${problem}`);
  });

  it('accepts a short key for verifying: the provider chose it, not us', () => {
    const short = `whsec_${Buffer.alloc(12, 1).toString('base64')}`;
    expect(parseStandardWebhooksSecrets([short], 'secrets', false)).toHaveLength(1);
  });

  it('lists every bad entry in one error, by index', () => {
    const error = captureError(() =>
      parseStandardWebhooksSecrets(['nope', SPEC_SECRET, 'whsec_!!'], 'secrets', true),
    );
    expect(error.message).toBe(
      'secrets[0] must start with "whsec_"; secrets[2] must be "whsec_" followed by padded standard base64',
    );
  });

  it('requires at least one secret', () => {
    expect(() => parseStandardWebhooksSecrets([], 'secrets', true)).toThrow(
      'secrets must list at least one secret',
    );
  });
});

function captureError(fn: () => unknown): SigningError {
  try {
    fn();
  } catch (error) {
    if (error instanceof SigningError) return error;
    throw error;
  }
  throw new Error('expected a SigningError');
}

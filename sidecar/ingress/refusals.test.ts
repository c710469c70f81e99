import { describe, expect, it } from 'vitest';
import { VERIFY_FAILURE_STATUS, type VerifyFailureCode } from '../signing/index.ts';
import * as refuse from './refusals.ts';

const CODES = Object.keys(VERIFY_FAILURE_STATUS) as VerifyFailureCode[];

describe('verificationRefusal', () => {
  it.each(CODES)('answers %s with the status the signing library gives it', (code) => {
    const statusCode = VERIFY_FAILURE_STATUS[code];
    const refusal = refuse.verificationRefusal({
      ok: false,
      scheme: 'github',
      code,
      statusCode,
      reason: 'X-Hub-Signature-256 matches no configured secret',
    });
    expect(refusal.problem).toMatchObject({
      type: expect.stringMatching(/^[a-z-]+$/) as unknown,
      status: statusCode,
      code,
    });
    // the library's reason first, then what the sender can do
    expect(refusal.problem.detail).toMatch(
      /^X-Hub-Signature-256 matches no configured secret\. \S/,
    );
  });

  it.each([
    // the outcome labels the issue names
    { code: 'signature_mismatch', outcome: 'bad_signature' },
    { code: 'credentials_invalid', outcome: 'bad_signature' },
    { code: 'header_missing', outcome: 'missing_signature' },
    { code: 'credentials_missing', outcome: 'missing_signature' },
    { code: 'header_malformed', outcome: 'malformed' },
    { code: 'timestamp_stale', outcome: 'stale' },
    { code: 'timestamp_future', outcome: 'stale' },
  ] as { code: VerifyFailureCode; outcome: string }[])(
    'counts $code as $outcome',
    ({ code, outcome }) => {
      const refusal = refuse.verificationRefusal({
        ok: false,
        scheme: 'stripe',
        code,
        statusCode: VERIFY_FAILURE_STATUS[code],
        reason: 'r',
      });
      expect(refusal.outcome).toBe(outcome);
    },
  );

  it.each([
    { scheme: 'basic-auth' as const, challenge: 'Basic realm="hookgate"' },
    { scheme: 'bearer-token' as const, challenge: 'Bearer' },
  ])('challenges a $scheme sender with WWW-Authenticate', ({ scheme, challenge }) => {
    const refusal = refuse.verificationRefusal({
      ok: false,
      scheme,
      code: 'credentials_missing',
      statusCode: 401,
      reason: 'Authorization header is missing',
    });
    expect(refusal.headers).toEqual({ 'www-authenticate': challenge });
  });
});

describe('local answers', () => {
  it.each([
    { refusal: refuse.unknownEndpoint(), status: 404, outcome: 'unknown_endpoint' },
    { refusal: refuse.methodNotAllowed('GET'), status: 405, outcome: 'method_not_allowed' },
    { refusal: refuse.payloadTooLarge(1024), status: 413, outcome: 'too_large' },
    { refusal: refuse.endpointMisconfigured(), status: 503, outcome: 'misconfigured' },
    // a duplicate is a success for the provider: the app already has it
    { refusal: refuse.duplicateDelivery('evt_1', '24h'), status: 200, outcome: 'duplicate' },
    { refusal: refuse.deliveryInFlight('evt_1'), status: 409, outcome: 'in_flight' },
    { refusal: refuse.appUnreachable(), status: 502, outcome: 'app_unreachable' },
    { refusal: refuse.appTimeout(30_000), status: 504, outcome: 'app_timeout' },
    { refusal: refuse.internalError(), status: 500, outcome: 'internal_error' },
  ])('$outcome answers $status', ({ refusal, status, outcome }) => {
    expect(refusal.problem.status).toBe(status);
    expect(refusal.outcome).toBe(outcome);
    expect(refusal.problem.type).toMatch(/^[a-z-]+$/);
    expect(refusal.problem.title).not.toBe('');
    expect(refusal.problem.detail.length).toBeGreaterThan(20);
  });

  it('names the limit, the window and the id the sender needs', () => {
    expect(refuse.payloadTooLarge(1024).problem.detail).toContain('1024 bytes');
    expect(refuse.duplicateDelivery('evt_9', '24h').problem.detail).toContain('evt_9');
    expect(refuse.duplicateDelivery('evt_9', '24h').problem.detail).toContain('24h');
    expect(refuse.methodNotAllowed('PUT').headers).toEqual({ allow: 'POST' });
    expect(refuse.deliveryInFlight('evt_9').headers).toEqual({ 'retry-after': '5' });
  });
});

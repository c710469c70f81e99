import { describe, expect, it } from 'vitest';
import {
  RETRY_ON_CLASSES,
  createRetryClassifier,
  type AttemptOutcome,
} from './retry-classifier.ts';

const status = (s: number): AttemptOutcome => ({ kind: 'response', status: s });
const error = (
  e: 'connect-error' | 'timeout' | 'reset' | 'destination-not-allowed',
): AttemptOutcome => ({
  kind: 'error',
  error: e,
});

describe('createRetryClassifier', () => {
  const all = createRetryClassifier(RETRY_ON_CLASSES);
  const none = createRetryClassifier([]);

  it.each([
    // 2xx ends the delivery well whatever the policy
    [status(200), 'success', 'success', 'status 200'],
    [status(204), 'success', 'success', 'status 204'],
    // redirects are never followed and never retried
    [status(301), 'failure', 'failure', 'status 301: redirects are not followed'],
    [status(307), 'failure', 'failure', 'status 307: redirects are not followed'],
    // ordinary 4xx are the sender's fault: retrying cannot help
    [status(400), 'failure', 'failure', 'status 400 is not retryable'],
    [status(404), 'failure', 'failure', 'status 404 is not retryable'],
    // 408 and 429 are retryable 4xx, each under its own class
    [status(408), 'retry', 'failure', 'status 408 is retried (retry-on 408)'],
    [status(429), 'retry', 'failure', 'status 429 is retried (retry-on 429)'],
    // every 5xx falls under 5xx
    [status(500), 'retry', 'failure', 'status 500 is retried (retry-on 5xx)'],
    [status(503), 'retry', 'failure', 'status 503 is retried (retry-on 5xx)'],
    // 1xx and out-of-range codes are not final responses
    [status(101), 'failure', 'failure', 'status 101 is not a final HTTP status'],
    [status(600), 'failure', 'failure', 'status 600 is not a final HTTP status'],
    // transport errors under their own classes
    [
      error('connect-error'),
      'retry',
      'failure',
      'connect-error is retried (retry-on connect-error)',
    ],
    [error('timeout'), 'retry', 'failure', 'timeout is retried (retry-on timeout)'],
    // a reset after sending counts as 5xx (Envoy's rule)
    [error('reset'), 'retry', 'failure', 'reset is retried (retry-on 5xx)'],
    // an SSRF refusal is a policy answer: never retried
    [
      error('destination-not-allowed'),
      'failure',
      'failure',
      'destination not allowed: never retried',
    ],
  ])('%j: %s with every class, %s with none', (outcome, withAll, withNone, reason) => {
    expect(all.classify(outcome)).toEqual({ verdict: withAll, reason });
    expect(none.classify(outcome).verdict).toBe(withNone);
  });

  it.each([
    // the reason names the class the policy lacks
    [status(502), ['429'], 'status 502: retry-on 5xx is not enabled'],
    [error('timeout'), ['connect-error'], 'timeout: retry-on timeout is not enabled'],
    [error('reset'), ['connect-error', 'timeout'], 'reset: retry-on 5xx is not enabled'],
  ] as const)('%j under %j fails: %s', (outcome, retryOn, reason) => {
    expect(createRetryClassifier(retryOn).classify(outcome)).toEqual({
      verdict: 'failure',
      reason,
    });
  });
});

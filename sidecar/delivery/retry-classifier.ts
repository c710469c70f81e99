// Whether one attempt's outcome ends a delivery or asks for another attempt, under a policy's
// `retry.retryOn` classes. The retry layer asks this after every attempt; whether a retry still
// fits the attempt budget and the deadline is its own business, not this module's.

/** The classes a policy may retry, named as in `WebhookPolicy.spec.retry.retryOn`. */
export const RETRY_ON_CLASSES = ['connect-error', 'timeout', '5xx', '429', '408'] as const;

/** One retryable class of outcome. */
export type RetryOnClass = (typeof RETRY_ON_CLASSES)[number];

/**
 * Why an attempt produced no response:
 * - `connect-error`: nothing reached the receiver (DNS failure, refused, TLS handshake, connect
 *   timeout), so a retry is always safe;
 * - `timeout`: the request was sent but no response came within the attempt timeout;
 * - `reset`: the connection broke after the request was sent;
 * - `destination-not-allowed`: the SSRF guard refused the address — a policy answer, not a fault;
 * - `token-error`: the OAuth2 token endpoint failed, so nothing was sent to the receiver.
 */
export type TransportErrorKind =
  'connect-error' | 'timeout' | 'reset' | 'destination-not-allowed' | 'token-error';

/** What one attempt produced. */
export type AttemptOutcome =
  | { readonly kind: 'response'; readonly status: number }
  | { readonly kind: 'error'; readonly error: TransportErrorKind };

/**
 * The verdict on one attempt: `success` ends the delivery well, `retry` asks for another attempt
 * (if the budget allows), `failure` ends it badly. `reason` is a short sentence for logs and
 * problem bodies.
 */
export interface RetryDecision {
  readonly verdict: 'success' | 'retry' | 'failure';
  readonly reason: string;
}

/** Classifies attempt outcomes for one policy. */
export interface RetryClassifier {
  classify(outcome: AttemptOutcome): RetryDecision;
}

/** The class a retryable outcome belongs to, or undefined when no policy may retry it. */
function retryClassOf(outcome: AttemptOutcome): RetryOnClass | undefined {
  if (outcome.kind === 'error') {
    switch (outcome.error) {
      case 'connect-error':
      case 'timeout':
        return outcome.error;
      // Like a refused connection, nothing reached the receiver: retried as connect errors are.
      case 'token-error':
        return 'connect-error';
      // A reset is what a crashing receiver looks like, and the gateway answers it as a 502; like
      // Envoy's `5xx` retry-on, it is retried under `5xx`. Receivers de-duplicate on `webhook-id`.
      case 'reset':
        return '5xx';
      case 'destination-not-allowed':
        return undefined;
    }
  }
  const { status } = outcome;
  if (status >= 500 && status <= 599) return '5xx';
  if (status === 429) return '429';
  if (status === 408) return '408';
  return undefined;
}

/** Describes an outcome for a reason string. */
function label(outcome: AttemptOutcome): string {
  return outcome.kind === 'response' ? `status ${outcome.status}` : outcome.error;
}

/** Creates a classifier retrying the given classes (duplicates are harmless). */
export function createRetryClassifier(retryOn: readonly RetryOnClass[]): RetryClassifier {
  const enabled = new Set<RetryOnClass>(retryOn);
  return {
    classify(outcome: AttemptOutcome): RetryDecision {
      if (outcome.kind === 'response') {
        const { status } = outcome;
        if (status >= 200 && status <= 299)
          return { verdict: 'success', reason: `status ${status}` };
        // Redirects are not followed: a receiver that moved must be reconfigured, and following a
        // Location header would let a receiver point the gateway at an address nobody admitted.
        if (status >= 300 && status <= 399)
          return { verdict: 'failure', reason: `status ${status}: redirects are not followed` };
        if (!Number.isInteger(status) || status < 200 || status > 599)
          return { verdict: 'failure', reason: `status ${status} is not a final HTTP status` };
      }
      if (outcome.kind === 'error' && outcome.error === 'destination-not-allowed')
        return { verdict: 'failure', reason: 'destination not allowed: never retried' };
      const cls = retryClassOf(outcome);
      if (cls === undefined)
        return { verdict: 'failure', reason: `${label(outcome)} is not retryable` };
      return enabled.has(cls)
        ? { verdict: 'retry', reason: `${label(outcome)} is retried (retry-on ${cls})` }
        : { verdict: 'failure', reason: `${label(outcome)}: retry-on ${cls} is not enabled` };
    },
  };
}

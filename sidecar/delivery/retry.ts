// The retry loop around the per-attempt pipeline: retry what the policy names, with exponential
// backoff and full jitter, honouring Retry-After, within the attempt budget and the sync deadline.
// It never sleeps past the deadline: the app gets the last answer instead.
import type { Backoff } from './backoff.ts';
import type { Attempt, AttemptResult, Clock, Delivery } from './delivery.ts';
import { parseRetryAfter } from './retry-after.ts';
import type { RetryClassifier, RetryDecision } from './retry-classifier.ts';

/** The policy numbers the loop needs. */
export interface RetryPolicy {
  maxAttempts: number;
  backoff: Backoff;
  classifier: RetryClassifier;
  honorRetryAfter: boolean;
  maxRetryAfterMs: number;
}

/** How a delivery ended. */
export interface DeliveryOutcome {
  readonly result: AttemptResult;
  /** Attempts that reached the pipeline (a local refusal counts as one). */
  readonly attempts: number;
  /** The verdict on the last result; local answers are failures. */
  readonly decision: RetryDecision;
}

function retryAfterOf(result: AttemptResult, now: number, maxMs: number): number | undefined {
  if (result.kind !== 'response' || (result.status !== 429 && result.status !== 503))
    return undefined;
  const header = result.headers['retry-after'];
  return parseRetryAfter(Array.isArray(header) ? header[0] : header, now, maxMs);
}

/** Runs `attempt` until success, a final failure, the attempt budget or the deadline. */
export async function deliverWithRetries(
  delivery: Delivery,
  attempt: Attempt,
  policy: RetryPolicy,
  clock: Clock,
  onAttempt: (result: AttemptResult) => void = () => undefined,
): Promise<DeliveryOutcome> {
  for (let n = 1; ; n++) {
    const result = await attempt(delivery, n);
    onAttempt(result);
    if (result.kind === 'local') {
      return {
        result,
        attempts: n,
        decision: { verdict: 'failure', reason: result.problem.detail },
      };
    }
    const decision = policy.classifier.classify(
      result.kind === 'response'
        ? { kind: 'response', status: result.status }
        : { kind: 'error', error: result.error },
    );
    if (decision.verdict !== 'retry' || n >= policy.maxAttempts)
      return { result, attempts: n, decision };

    const now = clock.now();
    let delay = policy.backoff.delayMs(n - 1);
    if (policy.honorRetryAfter) {
      const asked = retryAfterOf(result, now, policy.maxRetryAfterMs);
      if (asked !== undefined) delay = Math.max(delay, asked);
    }
    // A retry that could not start before the deadline would only make the app wait for nothing.
    if (now + delay >= delivery.deadline) return { result, attempts: n, decision };
    await clock.sleep(delay);
  }
}

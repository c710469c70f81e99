// The retry loop around the per-attempt pipeline: retry what the policy names, with exponential
// backoff and full jitter, honouring Retry-After, within the attempt budget and the sync deadline.
// It never sleeps past the deadline: the app gets the last answer instead.
import type { Attempt, AttemptResult, Clock, Delivery } from './delivery.ts';
import { retryDelayMs, type RetryPlan } from './plan.ts';
import type { RetryDecision } from './retry-classifier.ts';

/** How a delivery ended. */
export interface DeliveryOutcome {
  readonly result: AttemptResult;
  /** Attempts that reached the pipeline (a local refusal counts as one). */
  readonly attempts: number;
  /** The verdict on the last result; local answers are failures. */
  readonly decision: RetryDecision;
}

/** Runs `attempt` until success, a final failure, the attempt budget or the deadline. */
export async function deliverWithRetries(
  delivery: Delivery,
  attempt: Attempt,
  plan: RetryPlan,
  clock: Clock,
  onAttempt: (result: AttemptResult) => void = () => undefined,
  random: () => number = Math.random,
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
    const decision = plan.classifier.classify(
      result.kind === 'response'
        ? { kind: 'response', status: result.status }
        : { kind: 'error', error: result.error },
    );
    if (decision.verdict !== 'retry' || n >= plan.maxAttempts)
      return { result, attempts: n, decision };

    const now = clock.now();
    const delay = retryDelayMs(plan, 'sync', n, result, now, random);
    // A retry that could not start before the deadline would only make the app wait for nothing.
    if (now + delay >= delivery.deadline) return { result, attempts: n, decision };
    await clock.sleep(delay);
  }
}

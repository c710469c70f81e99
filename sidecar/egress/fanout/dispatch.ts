// Synchronous delivery for fan-out: the endpoint's own pipeline (limit, breaker, sign, send) and
// retry loop, as the named route uses them, counted on the same egress metrics, and summed up
// as a DeliveryReport instead of a response to the app.
import type { Logger } from '../../../common/log.ts';
import type { AttemptResult, Clock } from '../../delivery/delivery.ts';
import { countAttempt, type EgressMetrics } from '../../delivery/metrics.ts';
import { finalAnswer } from '../../delivery/outcome.ts';
import { deliverWithRetries } from '../../delivery/retry.ts';
import type { DispatchSync } from './fanout.ts';

/** Status, outcome label and reason of a final attempt result, as the named route answers it. */
function summarise(
  result: AttemptResult,
  endpoint: string,
): { status: number; outcome: string; detail?: string } {
  const { outcome, problem } = finalAnswer(result, endpoint);
  if (problem !== undefined) return { status: problem.status, outcome, detail: problem.detail };
  return { status: result.kind === 'response' ? result.status : 502, outcome };
}

/** What the synchronous dispatcher needs. */
export interface SyncDispatchDeps {
  readonly clock: Clock;
  readonly metrics: EgressMetrics;
  readonly log: Logger;
}

/** The synchronous dispatcher over the endpoints' own pipelines. */
export function syncDispatcher(deps: SyncDispatchDeps): DispatchSync {
  const { clock, metrics, log } = deps;
  return async (endpoint, delivery) => {
    const started = clock.now();
    const label = endpoint.name;
    const outcome = await deliverWithRetries(
      delivery,
      endpoint.attempt,
      endpoint.plan.retry,
      clock,
      (result) => countAttempt(metrics, label, result),
    );
    const summary = summarise(outcome.result, label);
    metrics.deliveries.inc({ endpoint: label, outcome: summary.outcome });
    metrics.duration.observe({ endpoint: label }, (clock.now() - started) / 1000);
    if (summary.outcome !== 'delivered') {
      log.info('fan-out delivery not delivered', {
        endpoint: label,
        deliveryId: delivery.deliveryId,
        outcome: summary.outcome,
        attempts: outcome.attempts,
        reason: outcome.decision.reason,
      });
    }
    return {
      deliveryId: delivery.deliveryId,
      endpoint: label,
      status: summary.status,
      outcome: summary.outcome,
      mode: 'sync',
      attempts: outcome.attempts,
      ...(summary.detail === undefined ? {} : { detail: summary.detail }),
    };
  };
}

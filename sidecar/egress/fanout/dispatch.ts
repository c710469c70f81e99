// Synchronous delivery for fan-out: the endpoint's own pipeline (limit, breaker, sign, send) and
// retry loop, as the named route uses them, counted on the same egress metrics, and summed up
// as a DeliveryReport instead of a response to the app.
import type { Logger } from '../../../common/log.ts';
import { problemCode } from '../../problem.ts';
import type { AttemptResult, Clock } from '../delivery.ts';
import { countAttempt, type EgressMetrics } from '../metrics.ts';
import { deliverWithRetries } from '../retry.ts';
import type { DispatchSync } from './fanout.ts';

/** Status, outcome label and reason of a final attempt result. */
function summarise(result: AttemptResult): { status: number; outcome: string; detail?: string } {
  switch (result.kind) {
    case 'local':
      return {
        status: result.problem.status,
        outcome: problemCode(result.problem),
        detail: result.problem.detail,
      };
    case 'response':
      if (result.status >= 300 && result.status < 400)
        return { status: 502, outcome: 'redirect', detail: 'webhooks are never redirected' };
      return { status: result.status, outcome: result.status < 300 ? 'delivered' : 'failed' };
    case 'error':
      if (result.error === 'destination-not-allowed')
        return { status: 403, outcome: 'destination_not_allowed', detail: result.message };
      if (result.error === 'timeout')
        return { status: 504, outcome: 'timeout', detail: result.message };
      return { status: 502, outcome: 'unreachable', detail: result.message };
  }
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
      endpoint.retry,
      clock,
      (result) => countAttempt(metrics, label, result),
    );
    const summary = summarise(outcome.result);
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

// One synchronous delivery, as the named route and fan-out both make it: the endpoint's pipeline
// inside the sync retry loop, every attempt counted, the delivery's outcome and duration on the
// egress metrics, and one log line when it was not delivered. The callers only shape the answer
// (a response to the app, or one entry of a fan-out report).
import type { Logger } from '../../common/log.ts';
import type { Clock, Delivery } from './delivery.ts';
import { syncEvent } from './ended.ts';
import { countAttempt, type EgressMetrics } from './metrics.ts';
import type { DeliveryObservers } from './observe.ts';
import { resultReason } from './observe.ts';
import { finalAnswer } from './outcome.ts';
import { deliverWithRetries, type DeliveryOutcome } from './retry.ts';
import type { EndpointRuntime } from './runtime.ts';

/** What a synchronous delivery needs from the process. */
export interface SyncDeliveryDeps {
  readonly clock: Clock;
  readonly metrics: EgressMetrics;
  readonly log: Logger;
  /** Told when the delivery ended. */
  readonly observers?: DeliveryObservers | undefined;
}

/** A finished synchronous delivery: how the loop ended, and what the app is told. */
export interface SyncDelivered {
  readonly outcome: DeliveryOutcome;
  readonly answer: ReturnType<typeof finalAnswer>;
}

/** Delivers `delivery` to `endpoint` synchronously; `label` is its metrics and log name. */
export async function deliverSync(
  endpoint: EndpointRuntime,
  delivery: Delivery,
  label: string,
  deps: SyncDeliveryDeps,
): Promise<SyncDelivered> {
  const { clock, metrics, log } = deps;
  const started = clock.now();
  const outcome = await deliverWithRetries(
    delivery,
    endpoint.attempt,
    endpoint.plan.retry,
    clock,
    (result) => countAttempt(metrics, label, result),
  );
  const answer = finalAnswer(outcome.result, label);
  metrics.deliveries.inc({ endpoint: label, outcome: answer.outcome });
  metrics.events.emit(
    syncEvent(label, answer.outcome === 'delivered', outcome.result, clock.now()),
  );
  metrics.duration.observe({ endpoint: label }, (clock.now() - started) / 1000);
  const reason = resultReason(outcome.result);
  deps.observers?.ended({
    delivery,
    outcome: answer.outcome === 'delivered' ? 'delivered' : 'failed',
    attempts: outcome.attempts,
    ...(reason !== undefined ? { reason } : {}),
    at: clock.now(),
    plan: endpoint.plan,
  });
  if (answer.outcome !== 'delivered') {
    log.info('delivery not delivered', {
      endpoint: label,
      deliveryId: delivery.deliveryId,
      outcome: answer.outcome,
      attempts: outcome.attempts,
      reason: outcome.decision.reason,
    });
  }
  return { outcome, answer };
}

// Pause layer (spec.paused, planned maintenance): a paused endpoint answers every attempt at once
// with endpoint-paused, before it takes a rate-limit token or a breaker probe. The sync route and
// fan-out hand that problem to the app; the queue worker does not claim a paused endpoint's
// deliveries at all, so they wait, in order, until it is unpaused.
import { problem } from '../../problem.ts';
import type { Layer } from '../delivery.ts';

/** The Retry-After a paused endpoint's sync refusal carries: maintenance takes a while. */
export const PAUSED_RETRY_AFTER_MS = 60_000;

/**
 * Refuses every attempt of a paused endpoint, or of one the operator disabled (`disabled` says
 * why); the queue holds both alike.
 */
export function pauseLayer(disabled?: string): Layer {
  return () => (delivery) =>
    Promise.resolve({
      kind: 'local',
      problem:
        disabled === undefined
          ? problem(
              'endpoint-paused',
              `endpoint ${delivery.endpointName} is paused (spec.paused: true); nothing is sent to it until it is unpaused. Send with Prefer: respond-async to queue the delivery meanwhile`,
              { retryAfterMs: PAUSED_RETRY_AFTER_MS, endpoint: delivery.endpointName },
            )
          : problem(
              'endpoint-disabled',
              `endpoint ${delivery.endpointName} is disabled: ${disabled}. Change the WebhookEndpoint (kubectl edit, or your GitOps repository) to enable it again; async deliveries wait in the queue meanwhile`,
              { retryAfterMs: PAUSED_RETRY_AFTER_MS, endpoint: delivery.endpointName },
            ),
    });
}

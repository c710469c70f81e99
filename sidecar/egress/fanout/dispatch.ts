// Synchronous delivery for fan-out: the same deliverSync the named route uses (pipeline, retry
// loop, metrics, log), summed up as a DeliveryReport instead of a response to the app.
import type { AttemptResult } from '../../delivery/delivery.ts';
import type { finalAnswer } from '../../delivery/outcome.ts';
import { deliverSync, type SyncDeliveryDeps } from '../../delivery/sync.ts';
import type { DispatchSync } from './fanout.ts';

/** Status, outcome label and reason of a final answer, as the named route answers it. */
function summarise(
  result: AttemptResult,
  answer: ReturnType<typeof finalAnswer>,
): { status: number; outcome: string; detail?: string } {
  const { outcome, problem } = answer;
  if (problem !== undefined) return { status: problem.status, outcome, detail: problem.detail };
  return { status: result.kind === 'response' ? result.status : 502, outcome };
}

/** The synchronous dispatcher over the endpoints' own pipelines. */
export function syncDispatcher(deps: SyncDeliveryDeps): DispatchSync {
  return async (endpoint, delivery) => {
    const { outcome, answer } = await deliverSync(endpoint, delivery, endpoint.name, deps);
    const summary = summarise(outcome.result, answer);
    return {
      deliveryId: delivery.deliveryId,
      endpoint: endpoint.name,
      status: summary.status,
      outcome: summary.outcome,
      mode: 'sync',
      attempts: outcome.attempts,
      ...(summary.detail === undefined ? {} : { detail: summary.detail }),
    };
  };
}

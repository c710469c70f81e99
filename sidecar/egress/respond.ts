// The egress answers to the app after a delivery was decided: 202 once the durable queue holds
// it (or the 503 problem saying why not), or the receiver's final response as it came — the
// gateway's problem when the gateway answered for the receiver — with Hookgate-Delivery-Id and
// Hookgate-Attempts.
import type { ServerResponse } from 'node:http';
import type { Delivery } from '../delivery/delivery.ts';
import { inboundHeaders } from '../delivery/headers.ts';
import type { EgressMetrics } from '../delivery/metrics.ts';
import type { EndpointRuntime } from '../delivery/runtime.ts';
import type { SyncDelivered } from '../delivery/sync.ts';
import { problem, sendProblem } from '../problem.ts';
import type { AcceptAsync } from '../queue/index.ts';

/** Queues the delivery durably, then answers 202 (or 503 when the queue is full or down). */
export async function answerAsync(
  res: ServerResponse,
  accept: AcceptAsync,
  endpoint: EndpointRuntime,
  delivery: Delivery,
  metrics: EgressMetrics,
  preferenceApplied: boolean,
): Promise<void> {
  const label = delivery.endpointName;
  let accepted: Awaited<ReturnType<AcceptAsync>>;
  try {
    accepted = await accept(endpoint, delivery);
  } catch (err) {
    metrics.deliveries.inc({ endpoint: label, outcome: 'queue_unavailable' });
    sendProblem(
      res,
      problem(
        'queue-unavailable',
        `the delivery could not be stored durably (${(err as Error).message}); it was not accepted, send it again`,
        { endpoint: label, deliveryId: delivery.deliveryId, retryAfterMs: 1000 },
      ),
    );
    return;
  }
  if (!('deliveryId' in accepted)) {
    metrics.deliveries.inc({ endpoint: label, outcome: 'queue_full' });
    sendProblem(
      res,
      problem(
        'queue-full',
        `the delivery queue is full (${accepted.bound} bound); send it again later`,
        { endpoint: label, bound: accepted.bound, retryAfterMs: accepted.retryAfterMs },
      ),
    );
    return;
  }
  metrics.deliveries.inc({ endpoint: label, outcome: 'accepted' });
  const body = JSON.stringify({ deliveryId: accepted.deliveryId, status: 'accepted' });
  res.writeHead(202, {
    ...(preferenceApplied ? { 'preference-applied': 'respond-async' } : {}),
    'hookgate-delivery-id': accepted.deliveryId,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

/** Answers the app with a synchronous delivery's final result. */
export function answerSync(res: ServerResponse, delivery: Delivery, done: SyncDelivered): void {
  const { outcome, answer } = done;
  const ours = {
    'hookgate-delivery-id': delivery.deliveryId,
    'hookgate-attempts': String(outcome.attempts),
  };
  const result = outcome.result;
  if (answer.problem !== undefined || result.kind !== 'response') {
    sendProblem(
      res,
      {
        ...answer.problem!,
        endpoint: delivery.endpointName,
        deliveryId: delivery.deliveryId,
        attempts: outcome.attempts,
      },
      ours,
    );
    return;
  }
  // One fresh object (inboundHeaders copies), then head and body in one write.
  const headers: Record<string, string | string[] | number> = inboundHeaders(result.headers);
  headers['hookgate-delivery-id'] = ours['hookgate-delivery-id'];
  headers['hookgate-attempts'] = ours['hookgate-attempts'];
  if (result.truncated) headers['hookgate-response-truncated'] = 'true';
  headers['content-length'] = result.body.length;
  res.writeHead(result.status, headers);
  res.end(result.body);
}

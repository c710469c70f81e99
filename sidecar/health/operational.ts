// Queues the operational webhooks the operator handed over in a report's answer (ADR 0025): each
// becomes an ordinary async delivery to the subscribing endpoint, so the pipeline signs, limits,
// retries and dead-letters it like any other. Returns the ids now durable, for the next report.
import type { OperationalDelivery } from '../../common/operational.ts';
import { OPERATIONAL_EVENT_TYPE_HEADER } from '../../common/operational.ts';
import type { Logger } from '../../common/log.ts';
import type { EgressRuntime } from '../delivery/runtime.ts';
import { DELIVERY_ID_PATTERN } from '../delivery/request.ts';
import type { AcceptAsync } from '../queue/index.ts';

/** Queues `deliveries`; resolves with the ids stored (unknown endpoints and full queues are not). */
export async function queueOperational(
  deliveries: readonly OperationalDelivery[],
  runtime: EgressRuntime,
  accept: AcceptAsync,
  log: Logger,
): Promise<string[]> {
  const queued: string[] = [];
  for (const d of deliveries) {
    const endpoint = runtime.endpoints.get(d.endpoint);
    // Not (or no longer) in this pod's config: another pod that has it takes it.
    if (endpoint?.url === undefined || !DELIVERY_ID_PATTERN.test(d.deliveryId)) continue;
    const result = await accept(endpoint, {
      deliveryId: d.deliveryId,
      url: endpoint.url,
      method: 'POST',
      headers: { 'content-type': 'application/json', [OPERATIONAL_EVENT_TYPE_HEADER]: d.type },
      body: Buffer.from(d.body),
    });
    if ('deliveryId' in result) queued.push(d.deliveryId);
    else
      log.warn('operational webhook not queued', {
        endpoint: d.endpoint,
        type: d.type,
        bound: result.bound,
      });
  }
  return queued;
}

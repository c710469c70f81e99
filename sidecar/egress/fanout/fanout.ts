// The fan-out contract: given one delivery per matched endpoint, start them all at once and
// report each. How a delivery travels is injected: synchronous ones through `dispatchSync` (the
// endpoint's own pipeline and retry loop), asynchronous ones through `acceptAsync` (the durable
// queue's hook) when there is one. Each delivery is bounded by its own endpoint's policy, so a
// slow or dead receiver holds back nothing but its own entry in the report.
import type { Delivery } from '../../delivery/delivery.ts';
import type { AcceptAsync } from '../../queue/index.ts';
import { QueueFullError } from '../../queue/store.ts';
import type { EndpointRuntime } from '../../delivery/runtime.ts';

/** How one endpoint's delivery of an event ended (or was handed over). */
export interface DeliveryReport {
  readonly deliveryId: string;
  readonly endpoint: string;
  /** The receiver's final status, the gateway's refusal status, or 202 when queued. */
  readonly status: number;
  /** delivered, failed, queued, timeout, unreachable, rate_limited, circuit_open, too_large… */
  readonly outcome: string;
  readonly mode: 'sync' | 'async';
  readonly attempts?: number;
  /** Why the gateway answered for the receiver (a problem's detail); never a secret. */
  readonly detail?: string;
}

/** Delivers synchronously: retries included, within the delivery's deadline. */
export type DispatchSync = (
  endpoint: EndpointRuntime,
  delivery: Delivery,
) => Promise<DeliveryReport>;

/**
 * Hands a delivery to the durable queue and resolves once it is stored; the queue delivers it
 * later with the endpoint's async schedule. Rejects when it cannot be stored.
 */
/** The durable queue's accept path (sidecar/queue): a QueueFullError result is backpressure. */
export type { AcceptAsync };

/** One delivery the fan-out will make. */
export interface PlannedDelivery {
  readonly endpoint: EndpointRuntime;
  readonly delivery: Delivery;
  /** Policy mode async, or the app asked `Prefer: respond-async`. */
  readonly async: boolean;
  /** Set when the gateway refuses this one before sending (e.g. over its payload cap). */
  readonly refusal?: DeliveryReport;
}

/** The ways deliveries travel. */
export interface Dispatchers {
  readonly dispatchSync: DispatchSync;
  /** Absent until the durable queue is wired in: async deliveries then go synchronously. */
  readonly acceptAsync?: AcceptAsync | undefined;
}

async function runOne(planned: PlannedDelivery, dispatchers: Dispatchers): Promise<DeliveryReport> {
  const { endpoint, delivery } = planned;
  if (planned.refusal !== undefined) return planned.refusal;
  if (planned.async && dispatchers.acceptAsync !== undefined) {
    try {
      const accepted = await dispatchers.acceptAsync(endpoint, delivery);
      if (accepted instanceof QueueFullError) {
        return {
          deliveryId: delivery.deliveryId,
          endpoint: endpoint.name,
          status: 503,
          outcome: 'queue_full',
          mode: 'async',
          detail: accepted.message,
        };
      }
      const { deliveryId } = accepted;
      return { deliveryId, endpoint: endpoint.name, status: 202, outcome: 'queued', mode: 'async' };
    } catch (err) {
      return {
        deliveryId: delivery.deliveryId,
        endpoint: endpoint.name,
        status: 503,
        outcome: 'queue_unavailable',
        mode: 'async',
        detail: `the delivery could not be queued: ${(err as Error).message}`,
      };
    }
  }
  try {
    return await dispatchers.dispatchSync(endpoint, delivery);
  } catch (err) {
    return {
      deliveryId: delivery.deliveryId,
      endpoint: endpoint.name,
      status: 500,
      outcome: 'internal_error',
      mode: 'sync',
      detail: (err as Error).message,
    };
  }
}

/**
 * Starts every planned delivery at once and resolves with their reports, in plan order.
 * `onReport` sees each report as it settles (metrics, logs).
 */
export function runDeliveries(
  planned: readonly PlannedDelivery[],
  dispatchers: Dispatchers,
  onReport: (report: DeliveryReport) => void = () => undefined,
): Promise<DeliveryReport[]> {
  return Promise.all(
    planned.map(async (p) => {
      const report = await runOne(p, dispatchers);
      onReport(report);
      return report;
    }),
  );
}

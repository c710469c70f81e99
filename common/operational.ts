// Operational webhooks on the report channel (ADR 0025): the leader hands Hookgate's own events
// (an endpoint disabled, a circuit opened…) to a sidecar in the answer to its health report; the
// sidecar queues each as an ordinary async delivery to the subscribing endpoint, so it is signed,
// rate-limited, retried and dead-lettered like any webhook, and names what it queued in its next
// report so the operator stops offering it. One shape, shared by both ends.
import type { OPERATIONAL_EVENT_TYPES } from '../api/v1alpha1/defaults.ts';

/** A Hookgate event type (`hookgate.endpoint.disabled`, …). */
export type OperationalEventType = (typeof OPERATIONAL_EVENT_TYPES)[number];

/** One operational webhook to queue: a delivery to `endpoint`, in the reporting pod's namespace. */
export interface OperationalDelivery {
  /** Sent as `webhook-id`; stable across hand-offs, so a receiver drops a second copy. */
  readonly deliveryId: string;
  /** Name of the subscribing WebhookEndpoint (the pod's namespace). */
  readonly endpoint: string;
  readonly type: OperationalEventType;
  /** The JSON payload, `{type, timestamp, data}`. */
  readonly body: string;
}

/** The body of a report's answer when the operator has operational webhooks for the pod. */
export interface ReportReply {
  readonly operational?: readonly OperationalDelivery[];
}

/** Most operational webhooks one report answer carries. */
export const MAX_OPERATIONAL_PER_REPLY = 50;

/** The header that names the event type on the delivery, as fan-out sends it. */
export const OPERATIONAL_EVENT_TYPE_HEADER = 'hookgate-event-type';

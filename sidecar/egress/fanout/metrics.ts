// Fan-out metrics, per event type. The type comes from the app, so the label is bounded: the
// first MAX_EVENT_TYPE_LABELS distinct types get their own series, later ones share `other`.
import { Counter, type Registry } from 'prom-client';

/** Distinct event types with their own series before the rest share `other`. */
export const MAX_EVENT_TYPE_LABELS = 500;

/** The fan-out counters. */
export interface FanoutMetrics {
  /** Events received on POST /_events. */
  readonly events: Counter<'event_type'>;
  /** Deliveries started (sent synchronously or handed to the queue). */
  readonly sent: Counter<'event_type'>;
  /** Synchronous deliveries the receiver accepted (2xx). */
  readonly delivered: Counter<'event_type'>;
  /** Subscribed endpoints whose filter did not hold for the event. */
  readonly filtered: Counter<'event_type'>;
  /** The label value for `eventType`. */
  label(eventType: string): string;
}

/** Registers the fan-out metrics on `registry`. */
export function createFanoutMetrics(registry: Registry): FanoutMetrics {
  const registers = [registry];
  const counter = (name: string, help: string): Counter<'event_type'> =>
    new Counter({ name, help, labelNames: ['event_type'], registers });
  const seen = new Set<string>();
  return {
    events: counter(
      'hookgate_fanout_events_total',
      'Events received on POST /_events, by event type.',
    ),
    sent: counter(
      'hookgate_fanout_sent_total',
      'Per-endpoint deliveries started by fan-out (sent or queued), by event type.',
    ),
    delivered: counter(
      'hookgate_fanout_delivered_total',
      'Fan-out deliveries the receiver accepted with a 2xx, by event type.',
    ),
    filtered: counter(
      'hookgate_fanout_filtered_total',
      'Subscribed endpoints an event was not sent to because their filter did not hold, by event type.',
    ),
    label(eventType) {
      if (seen.has(eventType)) return eventType;
      if (seen.size >= MAX_EVENT_TYPE_LABELS) return 'other';
      seen.add(eventType);
      return eventType;
    },
  };
}

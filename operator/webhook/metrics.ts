// The injector's metrics: how long the API server waits on us (the number that, past the
// webhook's timeoutSeconds, blocks pod creation), what we answered, and when the serving
// certificate expires.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Handles of the webhook's metrics. */
export interface WebhookMetrics {
  readonly duration: Histogram<'outcome'>;
  readonly reviewDuration: Histogram<'outcome'>;
  readonly reviews: Counter<'outcome' | 'reason'>;
  readonly certificateExpiry: Gauge;
  readonly certificateWrites: Counter;
}

/** Registers the webhook's metrics on `registry`. */
export function createWebhookMetrics(registry: Registry): WebhookMetrics {
  const registers = [registry];
  return {
    duration: new Histogram({
      name: 'hookgate_operator_webhook_duration_seconds',
      help: 'Time from an AdmissionReview request arriving to its answer being written, by outcome.',
      labelNames: ['outcome'],
      buckets: [
        0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
      ],
      registers,
    }),
    reviewDuration: new Histogram({
      name: 'hookgate_operator_webhook_review_duration_seconds',
      help: 'Time from a whole AdmissionReview body in hand to its answer handed to the connection: the injector’s own work, without the waits behind other requests on the event loop.',
      labelNames: ['outcome'],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers,
    }),
    reviews: new Counter({
      name: 'hookgate_operator_webhook_reviews_total',
      help: 'AdmissionReviews answered: outcome injected|skipped|rejected|ignored|error, and the reason.',
      labelNames: ['outcome', 'reason'],
      registers,
    }),
    certificateExpiry: new Gauge({
      name: 'hookgate_operator_webhook_certificate_expiry_timestamp_seconds',
      help: 'When the serving certificate this replica presents expires (Unix seconds).',
      registers,
    }),
    certificateWrites: new Counter({
      name: 'hookgate_operator_webhook_certificate_writes_total',
      help: 'Writes of the webhook TLS Secret by this replica (issue, renewal, CA rotation).',
      registers,
    }),
  };
}

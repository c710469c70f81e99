// Egress metrics. Dynamic destinations share the endpoint label `dynamic`: thousands of customer
// URLs must not become thousands of series.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { AttemptResult } from './delivery.ts';
import { deliveryEvents, type DeliveryEvents } from './ended.ts';

/** The egress proxy's metrics, registered on one registry. */
export interface EgressMetrics {
  deliveries: Counter<'endpoint' | 'outcome'>;
  attempts: Counter<'endpoint' | 'result'>;
  duration: Histogram<'endpoint'>;
  rateLimited: Counter<'endpoint'>;
  circuitState: Gauge<'endpoint'>;
  ssrfRefusals: Counter<'range'>;
  /** OAuth2 token requests by endpoint and result (ok, error). */
  tokenRequests: Counter<'endpoint' | 'result'>;
  /**
   * Deliveries being processed now: counted here, read by `hookgate_egress_in_flight` when it is
   * scraped (no metric call on each request's way in and out).
   */
  inFlight: { count: number };
  /** How deliveries end, for the health collector. */
  events: DeliveryEvents;
}

/** Counts one attempt of `endpoint` by its result (status class or transport error). */
export function countAttempt(
  metrics: EgressMetrics,
  endpoint: string,
  result: AttemptResult,
): void {
  if (result.kind === 'response') {
    metrics.attempts.inc({ endpoint, result: `${Math.floor(result.status / 100)}xx` });
  } else if (result.kind === 'error') {
    metrics.attempts.inc({ endpoint, result: result.error.replaceAll('-', '_') });
    if (result.error === 'destination-not-allowed')
      metrics.ssrfRefusals.inc({ range: result.range ?? 'unknown' });
  }
}

/** Numeric value of a breaker state on `hookgate_egress_circuit_state`. */
export const CIRCUIT_STATE_VALUE = { closed: 0, 'half-open': 1, open: 2 } as const;

/** Registers the egress metrics on `registry`. */
export function createEgressMetrics(registry: Registry): EgressMetrics {
  const registers = [registry];
  const inFlight = { count: 0 };
  new Gauge({
    name: 'hookgate_egress_in_flight',
    help: 'Deliveries being processed now.',
    registers,
    collect() {
      this.set(inFlight.count);
    },
  });
  return {
    deliveries: new Counter({
      name: 'hookgate_egress_deliveries_total',
      help: 'Deliveries by endpoint and final outcome (delivered, failed, unreachable, timeout, rate_limited, circuit_open, destination_not_allowed, redirect, too_large, unknown_endpoint).',
      labelNames: ['endpoint', 'outcome'],
      registers,
    }),
    attempts: new Counter({
      name: 'hookgate_egress_attempts_total',
      help: 'Attempts sent to receivers by endpoint and result (2xx, 3xx, 4xx, 5xx, connect_error, timeout, reset, destination_not_allowed, token_error).',
      labelNames: ['endpoint', 'result'],
      registers,
    }),
    duration: new Histogram({
      name: 'hookgate_egress_delivery_duration_seconds',
      help: 'Time from the app handing a webhook over to its final answer, retries included.',
      labelNames: ['endpoint'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    rateLimited: new Counter({
      name: 'hookgate_egress_rate_limited_total',
      help: 'Deliveries refused with 429 because the endpoint was over its rate limit until the deadline.',
      labelNames: ['endpoint'],
      registers,
    }),
    circuitState: new Gauge({
      name: 'hookgate_egress_circuit_state',
      help: 'Circuit breaker state per endpoint: 0 closed, 1 half-open, 2 open.',
      labelNames: ['endpoint'],
      registers,
    }),
    ssrfRefusals: new Counter({
      name: 'hookgate_egress_ssrf_refusals_total',
      help: 'Attempts refused by the SSRF guard, by the refused address range.',
      labelNames: ['range'],
      registers,
    }),
    tokenRequests: new Counter({
      name: 'hookgate_egress_oauth2_token_requests_total',
      help: "Requests to an endpoint's OAuth2 token endpoint, by result (ok, error); one per token, shared by concurrent deliveries.",
      labelNames: ['endpoint', 'result'],
      registers,
    }),
    inFlight,
    events: deliveryEvents(registry),
  };
}

// The ingress metrics. `requests_total` counts every request once, by its final outcome, so its
// sum is the request count; `verifications_total` counts every signature check by result, which
// is where `verified` lives (a verified webhook then ends forwarded, duplicate, app_error, ...).
import { Counter, Histogram, type Registry } from 'prom-client';

/** Final outcome of one ingress request; the `outcome` label. */
export type IngressOutcome =
  /** Verified, forwarded, and the app answered 2xx. */
  | 'forwarded'
  /** Verified and stored in the durable queue for the app (`forward.buffered`), answered 202. */
  | 'buffered'
  /** Verified, but the durable queue was full or unavailable (503, the provider retries). */
  | 'queue_full'
  /** Verified and forwarded; the app answered non-2xx (passed on to the provider). */
  | 'app_error'
  /** Verified; the app could not be reached (502) or broke the connection. */
  | 'app_unreachable'
  /** Verified; the app did not answer in time (504). */
  | 'app_timeout'
  /** Verified; already delivered within the window, answered 200 without forwarding. */
  | 'duplicate'
  /** Verified; another copy is with the app right now, answered 409. */
  | 'in_flight'
  /** No signature or credentials (401). */
  | 'missing_signature'
  /** A signature or credentials that match no configured secret (401). */
  | 'bad_signature'
  /** A header that cannot be parsed (400). */
  | 'malformed'
  /** Authentic but outside the replay window, either direction (400). */
  | 'stale'
  /** Over the endpoint's rate limit (429), before the body is read. */
  | 'rate_limited'
  /** Body over the endpoint's cap (413). */
  | 'too_large'
  /** No ingress endpoint at this path (404). */
  | 'unknown_endpoint'
  /** Not a POST (405). */
  | 'method_not_allowed'
  /** The endpoint's secrets cannot verify anything (503). */
  | 'misconfigured'
  /** The sender hung up before its body ended; nothing was answered. */
  | 'aborted'
  /** A fault of the sidecar itself (500). */
  | 'internal_error'
  /** Verified; no route takes its event type and the endpoint refuses those (422). */
  | 'unrouted_refused'
  /** Verified; no route takes its event type and the endpoint drops those (200). */
  | 'unrouted_dropped';

/** The `endpoint` label of a request whose path matches no endpoint. */
export const UNKNOWN_ENDPOINT_LABEL = '(unknown)';

/** The ingress metrics, registered on one registry. */
export interface IngressMetrics {
  readonly requests: Counter<'endpoint' | 'outcome'>;
  readonly verifications: Counter<'endpoint' | 'scheme' | 'result'>;
  readonly forwardDuration: Histogram<'endpoint'>;
  readonly dedupStoreErrors: Counter;
}

/** Returns the metric already registered under `name`, else registers `create()`'s. */
function once<T>(registry: Registry, name: string, create: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? create();
}

/** Registers (or finds, for a second server on one registry) the ingress metrics. */
export function createIngressMetrics(registry: Registry): IngressMetrics {
  const registers = [registry];
  return {
    requests: once(
      registry,
      'hookgate_ingress_requests_total',
      () =>
        new Counter({
          name: 'hookgate_ingress_requests_total',
          help: 'Webhooks received by the ingress, by endpoint and final outcome.',
          labelNames: ['endpoint', 'outcome'],
          registers,
        }),
    ),
    verifications: once(
      registry,
      'hookgate_ingress_verifications_total',
      () =>
        new Counter({
          name: 'hookgate_ingress_verifications_total',
          help: 'Signature checks, by endpoint, scheme and result (verified or the failure code).',
          labelNames: ['endpoint', 'scheme', 'result'],
          registers,
        }),
    ),
    forwardDuration: once(
      registry,
      'hookgate_ingress_forward_duration_seconds',
      () =>
        new Histogram({
          name: 'hookgate_ingress_forward_duration_seconds',
          help: 'Time from forwarding a verified webhook to the app until its response headers, retries included.',
          labelNames: ['endpoint'],
          buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
          registers,
        }),
    ),
    dedupStoreErrors: once(
      registry,
      'hookgate_ingress_dedup_store_errors_total',
      () =>
        new Counter({
          name: 'hookgate_ingress_dedup_store_errors_total',
          help: 'Redis failures of the de-duplication store (each then used the pod-local store).',
          registers,
        }),
    ),
  };
}

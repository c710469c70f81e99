// The delivery-health report a sidecar sends the operator on the config channel (DESIGN.md:
// port 15012, "config stream and sidecar reports"), and what the operator aggregates from it into
// each WebhookEndpoint's `Healthy` condition and `status.deliveries`. One shape, shared by the
// sidecar that fills it, the channel that carries it and the aggregator that reads it, so the
// three can be built side by side. Counters are cumulative since the sidecar process started
// (like Prometheus counters): the aggregator takes differences between two reports of one pod and
// treats a smaller value (or a new `bootId`) as a restart.

/** The state of one endpoint's circuit breaker in one pod. */
export type CircuitState = 'closed' | 'open' | 'half-open';

/** One endpoint as one sidecar saw it. */
export interface EndpointHealthReport {
  /** `<namespace>/<name>` of the WebhookEndpoint. */
  readonly endpoint: string;
  /** Deliveries that ended in a 2xx (sync or async, after any retries), since start. */
  readonly delivered: number;
  /** Deliveries that ended in failure (attempts exhausted, dead-lettered, non-retryable), since start. */
  readonly failed: number;
  /** Deliveries moved to the dead-letter state, since start. */
  readonly deadLettered: number;
  /**
   * Deliveries dead-lettered since this pod's last success (not cumulative: a success sets it to
   * 0, and so does the endpoint being disabled in the config). Absent from older sidecars.
   */
  readonly deadLetteredInARow?: number;
  /** RFC 3339 time of the last successful delivery, if any. */
  readonly lastSuccessAt?: string;
  /** RFC 3339 time of the last failed delivery, if any. */
  readonly lastFailureAt?: string;
  /** A short reason for the last failure: a problem slug or `http-<status>` or `connect-error`. Never a body, URL query or secret. */
  readonly lastFailureReason?: string;
  readonly circuit: CircuitState;
  /** Deliveries waiting in this pod's queue (pending + retrying) for this endpoint. */
  readonly queueDepth: number;
  /** Dead letters held for this endpoint now. */
  readonly deadLetters: number;
  /**
   * Set when queueDepth and deadLetters count a queue the workload's pods share (Redis): the
   * `<namespace>/<workload>` scope, so the operator counts each shared queue once, not per pod.
   */
  readonly queueScope?: string;
}

/** What one sidecar sends every report interval. */
export interface SidecarHealthReport {
  /** Random per process start: a new value means the counters restarted from zero. */
  readonly bootId: string;
  /** The config generation this sidecar enforces. */
  readonly generation: number;
  /** RFC 3339 time the report was made. */
  readonly sentAt: string;
  readonly endpoints: readonly EndpointHealthReport[];
  /**
   * Operational webhooks (ADR 0025) this sidecar queued since the leader last took a report:
   * their delivery ids, so the operator stops offering them.
   */
  readonly operationalQueued?: readonly string[];
}

/** How often a sidecar reports, by default (the "report window" of the tests). */
export const DEFAULT_HEALTH_REPORT_INTERVAL_MS = 5_000;

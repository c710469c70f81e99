// Keeps this sidecar's delivery score per endpoint, from what the delivery core announces
// (delivery/ended.ts), and turns it into the report the operator aggregates (common/health.ts):
// cumulative counters since this process started, the last success and failure with a reason
// from the contract's short list, the breaker's state, and the queue's depth from its store.
import { randomUUID } from 'node:crypto';
import type {
  CircuitState,
  EndpointHealthReport,
  SidecarHealthReport,
} from '../../common/health.ts';
import type { DeliveryEvent, DeliveryEvents } from '../delivery/ended.ts';
import { INGRESS_PREFIX } from '../queue/ingress.ts';
import type { QueueStats } from '../queue/store.ts';

/**
 * Refusals that never judged the receiver: the app's own limits and the gateway's state. They
 * fail the app's request but say nothing of the endpoint's health (circuit-open does: it is the
 * receiver's failures, remembered).
 */
const NOT_THE_RECEIVER: ReadonlySet<string> = new Set([
  'rate-limited',
  'payload-too-large',
  'overloaded',
  'shutting-down',
  'queue-full',
  'queue-unavailable',
  'unknown-endpoint',
  'endpoint-paused',
  'endpoint-disabled',
]);

interface Score {
  delivered: number;
  failed: number;
  deadLettered: number;
  /** Dead letters since the last success: auto-disable's "in a row" (ADR 0025). */
  deadLetteredInARow: number;
  lastSuccessAt?: number;
  lastFailureAt?: number;
  lastFailureReason?: string;
  circuit: CircuitState;
}

/** What a report is made from besides the score: the config and the queue in force. */
export interface ReportInput {
  readonly namespace: string;
  readonly generation: number;
  /** Names of the endpoints in the config (egress and ingress): the report covers these. */
  readonly endpoints: readonly string[];
  /** Names of the endpoints the config says are disabled: their run of dead letters is over. */
  readonly disabled?: readonly string[] | undefined;
  /** The queue's counts now, when there is a queue. */
  readonly queue?: QueueStats | undefined;
  /** The queue's scope when the workload's pods share it (Redis). */
  readonly sharedQueueScope?: string | undefined;
  readonly now: number;
}

/** Scores endpoints by listening to one sidecar's delivery events. */
export class HealthCollector {
  /** New per process: the operator treats a new value as counters restarted. */
  readonly bootId = randomUUID();
  readonly #scores = new Map<string, Score>();
  readonly #maxEndpoints: number;
  readonly #unlisten: () => void;

  constructor(events: DeliveryEvents, maxEndpoints = 10_000) {
    this.#maxEndpoints = maxEndpoints;
    this.#unlisten = events.listen((e) => this.observe(e));
  }

  /** Scores one event (exposed for tests). */
  observe(event: DeliveryEvent): void {
    // Dynamic destinations are no WebhookEndpoint: nothing in the cluster to report them on.
    if (event.endpoint === 'dynamic') return;
    const name = event.endpoint.startsWith(INGRESS_PREFIX)
      ? event.endpoint.slice(INGRESS_PREFIX.length)
      : event.endpoint;
    if (event.kind !== 'circuit' && event.kind !== 'delivered') {
      if (NOT_THE_RECEIVER.has(event.reason)) return;
    }
    const score = this.#score(name);
    if (score === undefined) return;
    switch (event.kind) {
      case 'delivered':
        score.delivered++;
        score.deadLetteredInARow = 0;
        score.lastSuccessAt = event.at;
        return;
      case 'circuit':
        score.circuit = event.state;
        return;
      case 'failed':
        score.failed++;
        if (event.deadLettered) {
          score.deadLettered++;
          score.deadLetteredInARow++;
        }
        break;
      case 'attempt-failed':
        break;
    }
    score.lastFailureAt = event.at;
    score.lastFailureReason = event.reason;
  }

  /** The report for `input`'s endpoints. */
  report(input: ReportInput): SidecarHealthReport {
    const inConfig = new Set(input.endpoints);
    // Past the bound, endpoints the config no longer names go first.
    if (this.#scores.size > this.#maxEndpoints) {
      for (const name of this.#scores.keys()) if (!inConfig.has(name)) this.#scores.delete(name);
    }
    // The operator disabled these for their run of dead letters: once enabled, a new run starts.
    for (const name of input.disabled ?? []) {
      const s = this.#scores.get(name);
      if (s !== undefined) s.deadLetteredInARow = 0;
    }
    const endpoints = input.endpoints.map((name): EndpointHealthReport => {
      const s = this.#scores.get(name);
      const q =
        input.queue?.byEndpoint[name] ?? input.queue?.byEndpoint[`${INGRESS_PREFIX}${name}`];
      return {
        endpoint: `${input.namespace}/${name}`,
        delivered: s?.delivered ?? 0,
        failed: s?.failed ?? 0,
        deadLettered: s?.deadLettered ?? 0,
        deadLetteredInARow: s?.deadLetteredInARow ?? 0,
        ...(s?.lastSuccessAt === undefined
          ? {}
          : { lastSuccessAt: new Date(s.lastSuccessAt).toISOString() }),
        ...(s?.lastFailureAt === undefined
          ? {}
          : {
              lastFailureAt: new Date(s.lastFailureAt).toISOString(),
              lastFailureReason: s.lastFailureReason ?? 'unknown',
            }),
        circuit: s?.circuit ?? 'closed',
        queueDepth: (q?.pending ?? 0) + (q?.retrying ?? 0),
        deadLetters: q?.dead ?? 0,
        ...(input.sharedQueueScope === undefined ? {} : { queueScope: input.sharedQueueScope }),
      };
    });
    return {
      bootId: this.bootId,
      generation: input.generation,
      sentAt: new Date(input.now).toISOString(),
      endpoints,
    };
  }

  /** Stops listening. */
  close(): void {
    this.#unlisten();
  }

  #score(name: string): Score | undefined {
    let score = this.#scores.get(name);
    if (score === undefined) {
      // Names come from the config, but a bound keeps a bad config from growing this forever.
      if (this.#scores.size >= this.#maxEndpoints * 2) return undefined;
      score = {
        delivered: 0,
        failed: 0,
        deadLettered: 0,
        deadLetteredInARow: 0,
        circuit: 'closed',
      };
      this.#scores.set(name, score);
    }
    return score;
  }
}

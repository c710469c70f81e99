// Durable queue metrics. Depth and age are read from the store at scrape time (the store is the
// truth, shared by replicas); counters are this sidecar's own work. Dynamic destinations share the
// endpoint label `dynamic`, so customer hosts never become series.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { deliveryEvents, type DeliveryEvents } from '../delivery/ended.ts';
import type { QueueStore } from './store.ts';

/** The queue's metrics, registered on one registry. */
export interface QueueMetrics {
  accepted: Counter<'endpoint'>;
  refused: Counter<'endpoint' | 'bound'>;
  attempts: Counter<'endpoint' | 'result'>;
  delivered: Counter<'endpoint'>;
  deadLettered: Counter<'endpoint'>;
  deferred: Counter<'endpoint' | 'reason'>;
  replayed: Counter;
  latency: Histogram<'endpoint'>;
  /** How queued deliveries end, for the health collector. */
  events: DeliveryEvents;
}

/** The metrics label of a queue endpoint name. */
export function endpointLabel(endpointName: string): string {
  return endpointName.startsWith('dynamic:') ? 'dynamic' : endpointName;
}

/** Registers the queue metrics; depth gauges read `store` on every scrape. */
export function createQueueMetrics(
  registry: Registry,
  store: QueueStore,
  now: () => number = Date.now,
): QueueMetrics {
  const registers = [registry];
  new Gauge({
    name: 'hookgate_queue_depth',
    help: 'Deliveries in the durable queue by endpoint and state (pending, retrying, dead), shared by the replicas of the app.',
    labelNames: ['endpoint', 'state'],
    registers,
    async collect() {
      this.reset();
      const stats = await store.stats(now()).catch(() => undefined);
      if (stats === undefined) return;
      const sums = new Map<string, number>();
      for (const [endpoint, byState] of Object.entries(stats.byEndpoint)) {
        for (const [state, n] of Object.entries(byState)) {
          const key = `${endpointLabel(endpoint)}\u0000${state}`;
          sums.set(key, (sums.get(key) ?? 0) + n);
        }
      }
      for (const [key, n] of sums) {
        const [endpoint, state] = key.split('\u0000') as [string, string];
        this.set({ endpoint, state }, n);
      }
      oldest.set(stats.oldestPendingAgeMs / 1000);
    },
  });
  const oldest = new Gauge({
    name: 'hookgate_queue_oldest_pending_age_seconds',
    help: 'Age of the oldest delivery still waiting to be delivered (pending or retrying); 0 when none.',
    registers,
  });
  return {
    accepted: new Counter({
      name: 'hookgate_queue_accepted_total',
      help: 'Deliveries durably queued and answered 202 Accepted.',
      labelNames: ['endpoint'],
      registers,
    }),
    refused: new Counter({
      name: 'hookgate_queue_refused_total',
      help: 'Async deliveries refused with 503 because the queue was full (bound: endpoint, total, bytes) or unavailable.',
      labelNames: ['endpoint', 'bound'],
      registers,
    }),
    attempts: new Counter({
      name: 'hookgate_queue_attempts_total',
      help: 'Background attempts by endpoint and result (2xx, 4xx, 5xx, connect_error, timeout, reset, ...).',
      labelNames: ['endpoint', 'result'],
      registers,
    }),
    delivered: new Counter({
      name: 'hookgate_queue_delivered_total',
      help: 'Queued deliveries the receiver accepted (2xx).',
      labelNames: ['endpoint'],
      registers,
    }),
    deadLettered: new Counter({
      name: 'hookgate_queue_dead_lettered_total',
      help: 'Queued deliveries moved to the dead letters (schedule used up or a final failure).',
      labelNames: ['endpoint'],
      registers,
    }),
    deferred: new Counter({
      name: 'hookgate_queue_deferred_total',
      help: 'Attempts put off without counting against the schedule (rate_limited, circuit_open, shutdown).',
      labelNames: ['endpoint', 'reason'],
      registers,
    }),
    replayed: new Counter({
      name: 'hookgate_queue_replayed_total',
      help: 'Dead letters replayed through the admin API.',
      registers,
    }),
    latency: new Histogram({
      name: 'hookgate_queue_delivery_latency_seconds',
      help: 'Time from 202 Accepted to the receiver accepting the delivery, retries included.',
      labelNames: ['endpoint'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30, 300, 3600, 36000],
      registers,
    }),
    events: deliveryEvents(registry),
  };
}

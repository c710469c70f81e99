// The operator's metrics: what an on-call engineer asks first — is it reconciling, how fast, is
// anything queued, are the watches healthy, how much is cached, is this replica the leader.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** The operator's metric handles. */
export interface OperatorMetrics {
  readonly reconciles: Counter<'result'>;
  readonly reconcileSeconds: Histogram;
  readonly queueDepth: Gauge;
  readonly watchRestarts: Counter<'resource' | 'reason'>;
  readonly cacheObjects: Gauge<'resource'>;
  readonly apiWrites: Counter<'resource'>;
  readonly leader: Gauge;
}

/**
 * Registers the operator's metrics on `registry`. `cacheSizes` is read at scrape time, so the
 * gauge is never stale.
 */
export function createOperatorMetrics(
  registry: Registry,
  cacheSizes: () => Readonly<Record<string, number>>,
): OperatorMetrics {
  const registers = [registry];
  return {
    reconciles: new Counter({
      name: 'hookgate_operator_reconciles_total',
      help: 'Namespace reconciles by result: changed (wrote something), unchanged, error.',
      labelNames: ['result'],
      registers,
    }),
    reconcileSeconds: new Histogram({
      name: 'hookgate_operator_reconcile_duration_seconds',
      help: 'Time to reconcile one namespace, writes included.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    queueDepth: new Gauge({
      name: 'hookgate_operator_queue_depth',
      help: 'Namespaces waiting to be reconciled.',
      registers,
    }),
    watchRestarts: new Counter({
      name: 'hookgate_operator_watch_restarts_total',
      help: 'Watches restarted abnormally: expired (410 Gone, relisted), stalled (watchdog, relisted), error (retried with backoff).',
      labelNames: ['resource', 'reason'],
      registers,
    }),
    cacheObjects: new Gauge({
      name: 'hookgate_operator_cache_objects',
      help: 'Objects held in the informer caches, by resource.',
      labelNames: ['resource'],
      registers,
      collect(this: Gauge<'resource'>): void {
        for (const [resource, size] of Object.entries(cacheSizes())) this.set({ resource }, size);
      },
    }),
    apiWrites: new Counter({
      name: 'hookgate_operator_api_writes_total',
      help: 'Writes to the API server by resource (configmaps, secrets, webhookendpoints/status, events, leases, …).',
      labelNames: ['resource'],
      registers,
    }),
    leader: new Gauge({
      name: 'hookgate_operator_leader',
      help: '1 while this replica holds the leader Lease and reconciles, else 0.',
      registers,
    }),
  };
}

/** The resource a request path writes: `configmaps`, `webhookendpoints/status`, `events`, … */
export function writtenResource(path: string): string {
  const parts = path
    .split('?')[0]!
    .split('/')
    .filter((p) => p !== '');
  // /api/v1/namespaces/<ns>/<resource>[/<name>[/<subresource>]] and the /apis/<group> form.
  const start = parts[0] === 'api' ? 2 : 3;
  const rest = parts.slice(start);
  const body = rest[0] === 'namespaces' ? rest.slice(2) : rest;
  const [resource = 'unknown', , subresource] = body;
  return subresource === undefined ? resource : `${resource}/${subresource}`;
}

// Delivery health reporting composed in one place (ADR 0024): the collector listens to this
// sidecar's delivery events, the reporter sends its report on the config channel every interval.
// Only with a config stream: without an operator to report to, the metrics are the health.
import type { Registry } from 'prom-client';
import {
  DEFAULT_HEALTH_REPORT_INTERVAL_MS,
  type SidecarHealthReport,
} from '../../common/health.ts';
import type { Logger } from '../../common/log.ts';
import type { OperationalDelivery } from '../../common/operational.ts';
import type { LoadedConfig } from '../config/load.ts';
import { deliveryEvents } from '../delivery/ended.ts';
import type { QueueStore } from '../queue/store.ts';
import { HealthCollector } from './collector.ts';
import { HealthReporter, type ReportAnswer } from './reporter.ts';

export { HealthCollector } from './collector.ts';
export { HealthReporter } from './reporter.ts';

/** What reporting needs from the sidecar. */
export interface HealthReportingOptions {
  readonly registry: Registry;
  /** The config channel's `report()` (sidecar/config/stream.ts). */
  readonly send: (report: SidecarHealthReport) => Promise<ReportAnswer>;
  readonly config: () => LoadedConfig | undefined;
  readonly queue?:
    { readonly store: QueueStore; readonly backend: string; readonly scope: string } | undefined;
  readonly log: Logger;
  /** Queues operational webhooks the operator hands over (ADR 0025); absent without a queue. */
  readonly queueOperational?:
    ((deliveries: readonly OperationalDelivery[]) => Promise<string[]>) | undefined;
  readonly intervalMs?: number;
  readonly now?: () => number;
}

/** Starts collecting now and reporting every interval; `stop` ends both. */
export function startHealthReporting(options: HealthReportingOptions): {
  readonly collector: HealthCollector;
  readonly reporter: HealthReporter;
  stop(): Promise<void>;
} {
  const collector = new HealthCollector(deliveryEvents(options.registry));
  const now = options.now ?? Date.now;
  const { queue } = options;
  const reporter = new HealthReporter({
    collector,
    send: options.send,
    intervalMs: options.intervalMs ?? DEFAULT_HEALTH_REPORT_INTERVAL_MS,
    now,
    log: options.log.child({ component: 'health' }),
    ...(options.queueOperational === undefined
      ? {}
      : { queueOperational: options.queueOperational }),
    input: async () => {
      const loaded = options.config();
      const namespace = loaded?.config.namespace;
      // Reports name endpoints `<namespace>/<name>`: a config without its namespace has none.
      if (loaded === undefined || namespace === undefined) return undefined;
      const { config } = loaded;
      return {
        namespace,
        generation: config.generation,
        endpoints: [...config.endpoints.map((e) => e.name), ...config.ingress.map((i) => i.name)],
        disabled: config.endpoints.filter((e) => e.disabled !== undefined).map((e) => e.name),
        queue: await queue?.store.stats(now()).catch(() => undefined),
        sharedQueueScope: queue?.backend === 'redis' ? queue.scope : undefined,
      };
    },
  });
  reporter.start();
  return {
    collector,
    reporter,
    stop: async () => {
      await reporter.stop();
      collector.close();
    },
  };
}

// Delivery health composed in one place (ADR 0024): the aggregator every replica feeds with the
// reports that reach it (the config server's ReportSink), and the status writer that only the
// leader runs. main.ts makes one and hands `sink` to the config server.
import type { Logger } from '../../common/log.ts';
import type { ResourceCache } from '../cache.ts';
import { systemClock, type Clock } from '../clock.ts';
import type { ReportSink } from '../config-server/reports.ts';
import type { EventRecorder } from '../events.ts';
import type { CacheChange } from '../kube/informer.ts';
import type { KubeClient } from '../kube/client.ts';
import type { KubeObject } from '../kube/types.ts';
import { OperationalOutbox } from '../operational/outbox.ts';
import { HealthAggregator } from './aggregate.ts';
import { disabledReason } from '../lifecycle/disabled.ts';
import { HEALTHY, healthSettings, type HealthSettings } from './settings.ts';
import { HealthStatusWriter } from './writer.ts';

export { HealthAggregator } from './aggregate.ts';
export { HealthStatusWriter } from './writer.ts';
export { healthSettings, HEALTHY, HEALTH_FIELD_MANAGER } from './settings.ts';

/** What delivery health needs from the operator. */
export interface DeliveryHealthOptions {
  readonly client: KubeClient;
  readonly endpoints: Pick<ResourceCache, 'namespaces' | 'list' | 'get' | 'upsert'>;
  /** WebhookPolicies: their autoDisable rules (none given: nothing is ever disabled). */
  readonly policies?: Pick<ResourceCache, 'get'>;
  readonly events: Pick<EventRecorder, 'record'>;
  readonly isLeader: () => boolean;
  readonly log: Logger;
  readonly clock?: Clock;
  readonly settings?: Partial<HealthSettings>;
}

/** The running parts. */
export interface DeliveryHealth {
  /** Where the config server delivers reports, on every replica. */
  readonly sink: ReportSink;
  readonly aggregator: HealthAggregator;
  readonly writer: HealthStatusWriter;
  /** Operational webhooks waiting for a sidecar (ADR 0025). */
  readonly outbox: OperationalOutbox;
  stop(): Promise<void>;
}

/** Starts aggregating and (while leading) writing. */
export function startDeliveryHealth(options: DeliveryHealthOptions): DeliveryHealth {
  const settings = healthSettings(options.settings);
  const clock = options.clock ?? systemClock;
  const aggregator = new HealthAggregator({ clock, settings });
  const outbox = new OperationalOutbox({
    endpoints: options.endpoints,
    clock,
    log: options.log.child({ component: 'operational' }),
  });
  const writer = new HealthStatusWriter({
    client: options.client,
    endpoints: options.endpoints,
    policies: options.policies,
    aggregator,
    events: options.events,
    clock,
    log: options.log.child({ component: 'health' }),
    settings,
    isLeader: options.isLeader,
    operational: outbox,
  });
  writer.start();
  const sink: ReportSink = {
    onReport: (pod, report) => {
      aggregator.onReport(pod, report);
      // Only the leader announces, so only the leader has anything to hand over.
      if (!options.isLeader()) {
        outbox.clear();
        return undefined;
      }
      const operational = outbox.take(pod, report);
      return operational.length === 0 ? undefined : { operational };
    },
    writes: options.isLeader,
  };
  return { sink, aggregator, writer, outbox, stop: () => writer.stop() };
}

/**
 * The object as the reconciler reads it: without resourceVersion, Healthy and deliveries, but
 * with whether it is disabled (a Disabled mark is health the compile publishes).
 */
function withoutHealth(object: KubeObject | undefined): string {
  const status = { ...((object?.['status'] as Record<string, unknown> | undefined) ?? {}) };
  delete status['deliveries'];
  const conditions = status['conditions'] as { type?: string }[] | undefined;
  if (conditions !== undefined) status['conditions'] = conditions.filter((c) => c.type !== HEALTHY);
  const metadata = { ...object?.metadata };
  delete metadata.resourceVersion;
  const disabled = object === undefined ? undefined : disabledReason(object);
  return JSON.stringify({ ...object, metadata, status, disabled });
}

/**
 * True when a change to a WebhookEndpoint touched only its delivery health: nothing to compile,
 * so the reconciler need not run (a health write must not cost a namespace's compile).
 */
export function onlyHealthChanged(change: CacheChange): boolean {
  return (
    change.type === 'update' &&
    change.old !== undefined &&
    withoutHealth(change.old) === withoutHealth(change.object)
  );
}

/** True when a change marked an endpoint Disabled or lifted the mark (ADR 0021): compile it. */
export function disabledChanged(change: CacheChange): boolean {
  const before = change.old === undefined ? undefined : disabledReason(change.old);
  return before !== disabledReason(change.object);
}

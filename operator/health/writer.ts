// Writes the Healthy condition and `status.deliveries` of every WebhookEndpoint, while this
// replica leads: read the cache → compute with pure functions → write only what changed, under
// a field manager of its own (server-side apply keeps the reconciler's Ready apart). Writes are
// rate-limited twice: an endpoint at most once per `minWriteIntervalMs` unless its condition
// flips, and all endpoints together within `writesPerSecond`, flips first, then the stalest.
import type { DeliveryHealth } from '../../api/v1alpha1/endpoint.ts';
import type { Logger } from '../../common/log.ts';
import type { ResourceCache } from '../cache.ts';
import type { Clock } from '../clock.ts';
import { canonicalJson } from '../compile/compile.ts';
import { isStatus } from '../errors.ts';
import type { EventRecorder } from '../events.ts';
import type { KubeClient } from '../kube/client.ts';
import type { KubeObject } from '../kube/types.ts';
import { API_VERSION, GROUP, VERSION } from '../names.ts';
import { withTimes, type PreviousStatus } from '../status.ts';
import type { Condition } from '../../api/v1alpha1/endpoint.ts';
import type { HealthAggregator } from './aggregate.ts';
import { deliveriesSummary, healthyCondition } from './condition.ts';
import { HEALTHY, HEALTH_FIELD_MANAGER, HEALTH_REASON, type HealthSettings } from './settings.ts';

/** What the writer needs; all injected so tests can drive it. */
export interface HealthWriterOptions {
  readonly client: KubeClient;
  readonly endpoints: Pick<ResourceCache, 'namespaces' | 'list' | 'upsert'>;
  readonly aggregator: HealthAggregator;
  readonly events: Pick<EventRecorder, 'record'>;
  readonly clock: Clock;
  readonly log: Logger;
  readonly settings: HealthSettings;
  /** Only the leader writes. */
  readonly isLeader: () => boolean;
  /** Status writes in flight at once. */
  readonly concurrency?: number;
}

/** The health part of an endpoint's status, as written. */
export interface HealthStatus {
  readonly conditions: [Condition];
  readonly deliveries: DeliveryHealth;
}

interface Candidate {
  readonly object: KubeObject;
  readonly next: HealthStatus;
  readonly flip: boolean;
  readonly lastWrite: number;
}

type Status = PreviousStatus & { deliveries?: Partial<DeliveryHealth> };

function healthyOf(status: Status | undefined): Partial<Condition> | undefined {
  return status?.conditions?.find((c) => c.type === HEALTHY);
}

/** The health status `object` should have at `now`. */
export function healthStatusFor(
  object: KubeObject,
  aggregator: HealthAggregator,
  settings: HealthSettings,
  now: Date,
): HealthStatus {
  const { namespace, name, generation } = object.metadata;
  const previous = object['status'] as Status | undefined;
  const aggregate = aggregator.aggregate(`${namespace}/${name}`, now.getTime());
  const [condition] = withTimes(
    previous?.conditions,
    [healthyCondition(aggregate, settings)],
    generation ?? 0,
    now,
  ) as [Condition];
  return {
    conditions: [condition],
    deliveries: deliveriesSummary(aggregate, previous?.deliveries, settings),
  };
}

/** The owned part of a status in a form that compares equal when the content is. */
function view(condition: Partial<Condition> | undefined, deliveries: unknown): string {
  const { status, reason, message } = condition ?? {};
  return canonicalJson({ status, reason, message, deliveries });
}

/** Writes delivery health into WebhookEndpoint status. */
export class HealthStatusWriter {
  readonly #o: HealthWriterOptions;
  /** Endpoint uid → when its health was last written (epoch ms). */
  #lastWrite = new Map<string, number>();
  #leadingSince: number | undefined;
  #tokens: number;
  #tokensAt = 0;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<unknown> = Promise.resolve();

  constructor(options: HealthWriterOptions) {
    this.#o = options;
    this.#tokens = options.settings.writesPerSecond;
  }

  /** Ticks every `tickMs` until stopped. */
  start(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => {
      this.#running = this.#running.then(() =>
        this.tick().catch((err: unknown) =>
          this.#o.log.warn('health status writes failed', { error: (err as Error).message }),
        ),
      );
    }, this.#o.settings.tickMs);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  /** One pass: writes what is due within the budget; resolves with the number written. */
  async tick(): Promise<number> {
    const { settings, aggregator, clock } = this.#o;
    if (!this.#o.isLeader()) {
      this.#leadingSince = undefined;
      return 0;
    }
    const now = clock.now();
    const at = now.getTime();
    this.#leadingSince ??= at;
    // Until every pod had the time to report to this leader, an endpoint without reports may
    // just not have been heard of yet: NoReports waits.
    const settled = at - this.#leadingSince >= settings.staleMs;
    aggregator.prune(at);
    this.#refill(at);
    const candidates: Candidate[] = [];
    const seen = new Set<string>();
    for (const namespace of this.#o.endpoints.namespaces()) {
      for (const object of this.#o.endpoints.list(namespace)) {
        const uid = object.metadata.uid ?? '';
        if (object.metadata.deletionTimestamp !== undefined) continue;
        seen.add(uid);
        const next = healthStatusFor(object, aggregator, settings, now);
        const previous = healthyOf(object['status'] as Status | undefined);
        if (!settled && next.conditions[0].reason === HEALTH_REASON.noReports) continue;
        const before = (object['status'] as Status | undefined)?.deliveries;
        if (view(previous, before) === view(next.conditions[0], next.deliveries)) continue;
        const flip =
          previous?.status !== next.conditions[0].status ||
          previous.reason !== next.conditions[0].reason;
        const lastWrite = this.#lastWrite.get(uid) ?? 0;
        if (!flip && at - lastWrite < settings.minWriteIntervalMs) continue;
        candidates.push({ object, next, flip, lastWrite });
      }
    }
    for (const uid of this.#lastWrite.keys()) if (!seen.has(uid)) this.#lastWrite.delete(uid);
    candidates.sort((a, b) => Number(b.flip) - Number(a.flip) || a.lastWrite - b.lastWrite);
    const batch = candidates.slice(0, Math.floor(this.#tokens));
    this.#tokens -= batch.length;
    let next = 0;
    let written = 0;
    const worker = async (): Promise<void> => {
      while (next < batch.length) {
        const c = batch[next++]!;
        if (await this.#write(c, at)) written++;
      }
    };
    const concurrency = Math.min(this.#o.concurrency ?? 4, batch.length);
    await Promise.all(Array.from({ length: concurrency }, worker));
    return written;
  }

  #refill(at: number): void {
    const { writesPerSecond } = this.#o.settings;
    const elapsed = Math.max(0, at - this.#tokensAt);
    this.#tokensAt = at;
    this.#tokens = Math.min(writesPerSecond, this.#tokens + (elapsed * writesPerSecond) / 1000);
  }

  async #write(c: Candidate, at: number): Promise<boolean> {
    const { name, namespace, uid } = c.object.metadata;
    const path = `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/webhookendpoints/${name}/status`;
    let stored: KubeObject;
    try {
      stored = await this.#o.client.apply<KubeObject>(
        path,
        // The uid makes the write fail rather than land on a new object of the same name.
        {
          apiVersion: API_VERSION,
          kind: 'WebhookEndpoint',
          metadata: { name, namespace, uid },
          status: c.next,
        },
        HEALTH_FIELD_MANAGER,
      );
    } catch (err) {
      if (isStatus(err, 404) || isStatus(err, 409)) return false;
      this.#o.log.warn('health status not written', {
        namespace,
        name,
        error: (err as Error).message,
      });
      return false;
    }
    this.#lastWrite.set(uid ?? '', at);
    this.#o.endpoints.upsert(stored);
    await this.#announce(c, { ...stored, apiVersion: API_VERSION, kind: 'WebhookEndpoint' });
    return true;
  }

  /** Events for what changed: the circuit opening or closing, the condition flipping. */
  async #announce(c: Candidate, regarding: KubeObject): Promise<void> {
    const status = c.object['status'] as Status | undefined;
    const before = status?.deliveries?.circuit ?? 'closed';
    const after = c.next.deliveries.circuit;
    const condition = c.next.conditions[0];
    const { events } = this.#o;
    if (before !== 'open' && after === 'open') {
      await events.record(
        regarding,
        'Warning',
        'CircuitOpened',
        condition.message,
        'DeliveryHealth',
      );
    } else if (before !== 'closed' && after === 'closed') {
      await events.record(
        regarding,
        'Normal',
        'CircuitClosed',
        'the circuit closed: deliveries are sent again',
        'DeliveryHealth',
      );
    }
    const previous = healthyOf(status);
    // The first NoReports is every new endpoint's start, and CircuitOpen has its own Event.
    if (!c.flip || condition.reason === HEALTH_REASON.circuitOpen) return;
    if (previous === undefined && condition.reason === HEALTH_REASON.noReports) return;
    await events.record(
      regarding,
      condition.status === 'False' ? 'Warning' : 'Normal',
      condition.reason,
      `${HEALTHY}=${condition.status}: ${condition.message}`,
      'DeliveryHealth',
    );
  }
}

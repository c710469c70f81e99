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
import { disabledReason } from '../lifecycle/disabled.ts';
import { isStatus } from '../errors.ts';
import type { EventRecorder } from '../events.ts';
import type { KubeClient } from '../kube/client.ts';
import type { KubeObject } from '../kube/types.ts';
import { API_VERSION, GROUP, VERSION } from '../names.ts';
import { withTimes, type PreviousStatus } from '../status.ts';
import type { Condition } from '../../api/v1alpha1/endpoint.ts';
import type { OperationalEvents } from '../operational/outbox.ts';
import type { HealthAggregator } from './aggregate.ts';
import { deliveriesSummary, healthyCondition } from './condition.ts';
import { autoDisableRule, disableFinding, failingSince, type AutoDisableRule } from './disable.ts';
import {
  ENABLED_EVENT,
  HEALTHY,
  HEALTH_FIELD_MANAGER,
  HEALTH_REASON,
  type HealthSettings,
} from './settings.ts';

/** What the writer needs; all injected so tests can drive it. */
export interface HealthWriterOptions {
  readonly client: KubeClient;
  readonly endpoints: Pick<ResourceCache, 'namespaces' | 'list' | 'get' | 'upsert'>;
  /** WebhookPolicies, for the autoDisable rule of the policy in effect (`status.policy`). */
  readonly policies?: Pick<ResourceCache, 'get'> | undefined;
  readonly aggregator: HealthAggregator;
  readonly events: Pick<EventRecorder, 'record'>;
  readonly clock: Clock;
  readonly log: Logger;
  readonly settings: HealthSettings;
  /** Only the leader writes. */
  readonly isLeader: () => boolean;
  /** Where transitions become operational webhooks (ADR 0025); absent: none are sent. */
  readonly operational?: OperationalEvents | undefined;
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
  /** The condition changed status or reason (or was never written): not held back. */
  readonly flip: boolean;
  /** Write order: 2 a written condition flipped, 1 a first write, 0 a refresh. */
  readonly urgency: number;
  readonly lastWrite: number;
}

type Status = PreviousStatus & { deliveries?: Partial<DeliveryHealth> };

function healthyOf(status: Status | undefined): Partial<Condition> | undefined {
  return status?.conditions?.find((c) => c.type === HEALTHY);
}

/**
 * The health status `object` should have at `now`; with an autoDisable `rule`, Disabled when it
 * says so. Called only for an endpoint not disabled at its current generation.
 */
export function healthStatusFor(
  object: KubeObject,
  aggregator: HealthAggregator,
  settings: HealthSettings,
  now: Date,
  rule?: AutoDisableRule,
): HealthStatus {
  const { namespace, name, generation } = object.metadata;
  const previous = object['status'] as Status | undefined;
  const aggregate = aggregator.aggregate(`${namespace}/${name}`, now.getTime());
  const summary = deliveriesSummary(aggregate, previous?.deliveries, settings);
  // A Disabled mark of an older generation: the resource changed, which enabled it; a new run
  // of failures starts from here.
  const enabledAgain = healthyOf(previous)?.reason === HEALTH_REASON.disabled;
  const since = failingSince(
    aggregate,
    enabledAgain
      ? { lastSuccessTime: previous?.deliveries?.lastSuccessTime }
      : previous?.deliveries,
    summary.lastSuccessTime,
    now,
  );
  const inARow = aggregate?.deadLetteredInARow ?? 0;
  const deliveries: DeliveryHealth = {
    ...summary,
    ...(since === undefined ? {} : { failingSince: since }),
    ...(inARow === 0 ? {} : { deadLetteredInARow: inARow }),
  };
  const disable = disableFinding(aggregate, deliveries, rule, now);
  const [condition] = withTimes(
    previous?.conditions,
    [disable === undefined ? healthyCondition(aggregate, settings) : { type: HEALTHY, ...disable }],
    generation ?? 0,
    now,
  ) as [Condition];
  return { conditions: [condition], deliveries };
}

const keyOf = (object: KubeObject): string =>
  `${object.metadata.namespace}/${object.metadata.name}`;

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
  /** When every endpoint was last looked at. */
  #lastFull: number | undefined;
  #settled = false;
  /** Endpoints whose status differs (`<namespace>/<name>`): written as interval and budget allow. */
  #due = new Map<string, { flip: boolean; urgency: number; lastWrite: number }>();
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

  /**
   * One pass: looks at the endpoints whose view may have changed (all of them once per window
   * slice), notes those whose status differs as due, then writes the most urgent within the
   * budget: flips first, then first writes, then the stalest. Resolves with the number written.
   */
  async tick(): Promise<number> {
    const { settings, aggregator, clock } = this.#o;
    if (!this.#o.isLeader()) {
      this.#leadingSince = undefined;
      this.#due.clear();
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
    // Between slice boundaries only what reports changed can change a view: the pass over every
    // endpoint runs once per slice, the passes between look at the changed ones only.
    const changed = aggregator.takeChanged();
    const full =
      this.#lastFull === undefined ||
      at - this.#lastFull >= aggregator.sliceMs ||
      settled !== this.#settled;
    this.#settled = settled;
    if (full) {
      this.#lastFull = at;
      const live = new Set<string>();
      for (const object of this.#everyEndpoint()) {
        live.add(object.metadata.uid ?? '');
        this.#judge(object, now, settled);
      }
      for (const uid of this.#lastWrite.keys()) if (!live.has(uid)) this.#lastWrite.delete(uid);
    } else {
      for (const key of changed) {
        const object = this.#object(key);
        if (object === undefined) this.#due.delete(key);
        else this.#judge(object, now, settled);
      }
    }
    const ready = [...this.#due]
      .filter(([, d]) => d.flip || at - d.lastWrite >= settings.minWriteIntervalMs)
      .sort(([, a], [, b]) => b.urgency - a.urgency || a.lastWrite - b.lastWrite)
      .slice(0, Math.floor(this.#tokens));
    let next = 0;
    let written = 0;
    const worker = async (): Promise<void> => {
      while (next < ready.length) {
        const [key] = ready[next++]!;
        this.#due.delete(key);
        // Decided a while ago, perhaps: computed again, fresh, before it is written.
        const object = this.#object(key);
        const c = object === undefined ? undefined : this.#candidate(object, now, settled);
        if (c === undefined) continue;
        this.#tokens--;
        if (await this.#write(c, at)) written++;
      }
    };
    const concurrency = Math.min(this.#o.concurrency ?? 4, ready.length);
    await Promise.all(Array.from({ length: concurrency }, worker));
    return written;
  }

  /** Notes `object` as due when its health status differs from what it says, else not due. */
  #judge(object: KubeObject, now: Date, settled: boolean): void {
    const c = this.#candidate(object, now, settled);
    if (c === undefined) this.#due.delete(keyOf(object));
    else this.#due.set(keyOf(object), { flip: c.flip, urgency: c.urgency, lastWrite: c.lastWrite });
  }

  /** What to write to `object`, or undefined when its status already says it. */
  #candidate(object: KubeObject, now: Date, settled: boolean): Candidate | undefined {
    if (object.metadata.deletionTimestamp !== undefined) return undefined;
    // Disabled by the operator (ADR 0021) for this spec: that decision stands until the spec changes.
    if (disabledReason(object) !== undefined) return undefined;
    const next = healthStatusFor(
      object,
      this.#o.aggregator,
      this.#o.settings,
      now,
      this.#ruleFor(object),
    );
    const [condition] = next.conditions;
    if (!settled && condition.reason === HEALTH_REASON.noReports) return undefined;
    const status = object['status'] as Status | undefined;
    const previous = healthyOf(status);
    if (view(previous, status?.deliveries) === view(condition, next.deliveries)) return undefined;
    const flip = previous?.status !== condition.status || previous.reason !== condition.reason;
    const urgency = previous === undefined ? 1 : flip ? 2 : 0;
    const lastWrite = this.#lastWrite.get(object.metadata.uid ?? '') ?? 0;
    return { object, next, flip, urgency, lastWrite };
  }

  /** The autoDisable rule of the policy in effect for `object`, if it sets one. */
  #ruleFor(object: KubeObject): AutoDisableRule | undefined {
    const policy = (object['status'] as { policy?: unknown } | undefined)?.policy;
    if (typeof policy !== 'string' || policy === '' || this.#o.policies === undefined)
      return undefined;
    return autoDisableRule(this.#o.policies.get(object.metadata.namespace ?? '', policy));
  }

  #object(key: string): KubeObject | undefined {
    const slash = key.indexOf('/');
    return this.#o.endpoints.get(key.slice(0, slash), key.slice(slash + 1));
  }

  *#everyEndpoint(): Generator<KubeObject> {
    for (const namespace of this.#o.endpoints.namespaces())
      yield* this.#o.endpoints.list(namespace);
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

  /** Operational webhooks for what changed (ADR 0025): the same transitions the Events tell. */
  #operational(
    c: Candidate,
    regarding: KubeObject,
    previous: Partial<Condition> | undefined,
    before: string,
    after: string,
  ): void {
    const sink = this.#o.operational;
    if (sink === undefined) return;
    const next = c.next.deliveries;
    const condition = c.next.conditions[0];
    const lastFailure = next.lastFailure === undefined ? {} : { lastFailure: next.lastFailure };
    if (before !== 'open' && after === 'open')
      sink.emit(regarding, 'hookgate.circuit.opened', { pods: next.pods, ...lastFailure });
    else if (before !== 'closed' && after === 'closed')
      sink.emit(regarding, 'hookgate.circuit.closed', { pods: next.pods });
    // Dead letters arriving after a window without any: one event per burst, with its count.
    const deadBefore = (c.object['status'] as Status | undefined)?.deliveries?.deadLettered ?? 0;
    if (deadBefore === 0 && next.deadLettered > 0) {
      sink.emit(regarding, 'hookgate.delivery.dead_lettered', {
        deadLettered: next.deadLettered,
        windowSeconds: next.windowSeconds,
        deadLetters: next.deadLetters,
        ...lastFailure,
      });
    }
    const disabledNow = condition.reason === HEALTH_REASON.disabled;
    if (disabledNow && previous?.reason !== HEALTH_REASON.disabled) {
      sink.emit(regarding, 'hookgate.endpoint.disabled', {
        reason: condition.reason,
        message: condition.message,
        ...(next.failingSince === undefined ? {} : { failingSince: next.failingSince }),
        ...(next.deadLetteredInARow === undefined
          ? {}
          : { deadLetteredInARow: next.deadLetteredInARow }),
        ...lastFailure,
      });
    } else if (!disabledNow && previous?.reason === HEALTH_REASON.disabled) {
      sink.emit(regarding, 'hookgate.endpoint.enabled', {
        reason: condition.reason,
        message: condition.message,
      });
    }
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
    this.#operational(c, regarding, previous, before, after);
    // A change to the resource enabled a Disabled endpoint: said once, before the new condition.
    if (
      previous?.reason === HEALTH_REASON.disabled &&
      condition.reason !== HEALTH_REASON.disabled
    ) {
      await events.record(
        regarding,
        'Normal',
        ENABLED_EVENT,
        `enabled again: the resource changed (generation ${c.object.metadata.generation ?? 0}) since it was disabled; deliveries are sent and the queue drains`,
        'DeliveryHealth',
      );
    }
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

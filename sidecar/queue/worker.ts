// The background deliverer: claims due deliveries from the store and runs ONE attempt of each
// through the endpoint's ordinary pipeline (rate limit → breaker → sign → send), then settles it:
// delivered, a retry on the policy's schedule, dead, or — for a local refusal — deferred without
// burning the schedule. Concurrency is bounded overall and per endpoint; endpoints at their bound
// are skipped when claiming, so one slow receiver cannot fill the worker with work it only holds.
import type { Logger } from '../../common/log.ts';
import type { AttemptResult, Clock, Delivery } from '../delivery/delivery.ts';
import { resultReason, type DeliveryObservers } from '../delivery/observe.ts';
import { stepEvent } from '../delivery/ended.ts';
import type { EgressRuntime, EndpointRuntime } from '../delivery/runtime.ts';
import { INGRESS_PREFIX } from './ingress.ts';
import { endpointLabel, type QueueMetrics } from './metrics.ts';
import { countedAttempts, nextStep, type NextStep } from '../delivery/schedule.ts';
import { Batcher } from './batch.ts';
import type { QueueStore, QueuedDelivery, SettleRequest } from './store.ts';

/** How the worker runs. */
export interface WorkerSettings {
  /** Attempts in flight at once, all endpoints together. */
  readonly concurrency: number;
  /** Attempts in flight at once to one endpoint. */
  readonly endpointConcurrency: number;
  /** How long a claim holds a delivery; an attempt never runs past its lease. */
  readonly leaseMs: number;
  /** Idle poll interval: retries come due and other replicas enqueue without telling us. */
  readonly pollMs: number;
}

/** What the worker needs. */
export interface WorkerOptions {
  readonly store: QueueStore;
  /** The egress runtime in force (hot reload): endpoints, their pipelines and policies. */
  readonly runtime: () => EgressRuntime;
  readonly settings: WorkerSettings;
  readonly metrics: QueueMetrics;
  readonly log: Logger;
  readonly clock: Clock;
  readonly random?: () => number;
  /** Endpoints outside the egress config (buffered ingress), asked first. */
  readonly extraEndpoint?: (endpointName: string) => EndpointRuntime | undefined;
  /** Told when a delivery ended (delivered or dead); attempts they see in the pipeline. */
  readonly observers?: DeliveryObservers | undefined;
}

/** Shortest gap between claims while work keeps arriving. */
const CLAIM_BATCH_MS = 5;

/** Settlements per settle script (as ENQUEUE_BATCH for accepts). */
const SETTLE_BATCH = 128;

/** Room kept between an attempt's end and its lease's end, for settling (at most a quarter). */
const SETTLE_MARGIN_MS = 2000;

const pausedByRuntime = new WeakMap<EgressRuntime, readonly string[]>();

/** Names of the runtime's paused and disabled endpoints, computed once per configuration. */
function pausedEndpoints(rt: EgressRuntime): readonly string[] {
  let names = pausedByRuntime.get(rt);
  if (names === undefined) {
    names = [...rt.endpoints.values()]
      .filter((e) => e.paused || e.disabled !== undefined)
      .map((e) => e.name);
    pausedByRuntime.set(rt, names);
  }
  return names;
}

/** The endpoint runtime that delivers `d` now, or undefined when the config no longer has one. */
function endpointOf(rt: EgressRuntime, d: QueuedDelivery): EndpointRuntime | undefined {
  if (d.endpointName.startsWith('dynamic:')) {
    const host = new URL(d.url).hostname;
    return rt.dynamic.find((r) => r.admitsHost(host));
  }
  return rt.endpoints.get(d.endpointName);
}

function resultLabel(result: AttemptResult): string {
  if (result.kind === 'response') return `${Math.floor(result.status / 100)}xx`;
  if (result.kind === 'error') return result.error.replaceAll('-', '_');
  return result.problem.type.replaceAll('-', '_');
}

/** The background deliverer of one sidecar. */
export class QueueWorker {
  readonly #o: WorkerOptions;
  readonly #waiting = new Map<string, { d: QueuedDelivery; leaseEnd: number }[]>();
  readonly #running = new Map<string, number>();
  #held = 0;
  #active = 0;
  #stopped = true;
  #loopDone: Promise<void> = Promise.resolve();
  #wake: (() => void) | undefined;
  /** A wake-up came while the loop was busy: its next pause returns at once. */
  #kicked = false;
  #idle: (() => void) | undefined;
  /** Attempts that ended together, written together. */
  readonly #settlements: Batcher<SettleRequest, undefined>;

  constructor(options: WorkerOptions) {
    this.#o = options;
    this.#settlements = new Batcher(
      async (batch) => {
        await options.store.settleMany(batch);
        return batch.map(() => undefined);
      },
      { maxItems: SETTLE_BATCH, maxInFlight: 2 },
    );
  }

  /** Attempts in flight now. */
  get active(): number {
    return this.#active;
  }

  /** Starts claiming. */
  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#loopDone = this.#loop();
  }

  /** Tells the worker new work may be due now (an accept on this sidecar). */
  notify(): void {
    this.#kicked = true;
    this.#wake?.();
  }

  /**
   * Stops claiming, hands deliveries not yet started back to the queue, and waits up to `drainMs`
   * for attempts in flight to settle. Whatever is still leased after that comes back when its
   * lease runs out.
   */
  async stop(drainMs: number): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#wake?.();
    await this.#loopDone;
    const handBack: Promise<void>[] = [];
    for (const [endpoint, queue] of this.#waiting) {
      for (const { d } of queue.splice(0)) {
        this.#held--;
        this.#o.metrics.deferred.inc({ endpoint: endpointLabel(endpoint), reason: 'shutdown' });
        if (this.#o.store.defer !== undefined)
          handBack.push(this.#o.store.defer(d.deliveryId, this.#o.clock.now()).catch(() => {}));
      }
    }
    await Promise.all(handBack);
    if (this.#active > 0) {
      await Promise.race([
        new Promise<void>((resolve) => (this.#idle = resolve)),
        new Promise<void>((resolve) => setTimeout(resolve, drainMs).unref()),
      ]);
    }
  }

  async #loop(): Promise<void> {
    const { store, settings, log, clock } = this.#o;
    let failures = 0;
    while (!this.#stopped) {
      const want = settings.concurrency - this.#held;
      let claimed: QueuedDelivery[] = [];
      if (want > 0) {
        try {
          claimed = await store.claim(want, clock.now(), settings.leaseMs, this.#saturated());
          failures = 0;
        } catch (err) {
          failures++;
          if (failures === 1 || failures % 50 === 0)
            log.warn('queue claim failed', { error: (err as Error).message, failures });
          await this.#pause(Math.min(5000, 100 * 2 ** Math.min(failures, 6)));
          continue;
        }
      }
      const leaseEnd = clock.now() + settings.leaseMs;
      for (const d of claimed) {
        this.#held++;
        let queue = this.#waiting.get(d.endpointName);
        if (queue === undefined) this.#waiting.set(d.endpointName, (queue = []));
        queue.push({ d, leaseEnd });
        this.#pump(d.endpointName);
      }
      // A full batch means more may be due at once; otherwise wait for a wake-up or the poll.
      if (want <= 0 || claimed.length < want) await this.#pause(settings.pollMs);
    }
  }

  /**
   * Endpoints not to claim for: those at their concurrency bound (running or waiting), and paused
   * ones, whose deliveries stay queued in order until the endpoint is unpaused.
   */
  #saturated(): ReadonlySet<string> {
    const full = new Set<string>(pausedEndpoints(this.#o.runtime()));
    for (const [endpoint, queue] of this.#waiting) {
      if ((this.#running.get(endpoint) ?? 0) + queue.length >= this.#o.settings.endpointConcurrency)
        full.add(endpoint);
    }
    return full;
  }

  #pause(ms: number): Promise<void> {
    if (this.#kicked) {
      // Work arrived while claiming: claim again after a breath, so a burst of accepts is
      // claimed in a few batches rather than one round trip each.
      this.#kicked = false;
      return new Promise((resolve) => setTimeout(resolve, CLAIM_BATCH_MS));
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(), ms);
      const done = (): void => {
        clearTimeout(timer);
        this.#kicked = false;
        this.#wake = undefined;
        resolve();
      };
      this.#wake = done;
    });
  }

  /** Starts waiting deliveries of `endpoint` while it is under its bound. */
  #pump(endpoint: string): void {
    const queue = this.#waiting.get(endpoint);
    if (queue === undefined) return;
    while (
      queue.length > 0 &&
      (this.#running.get(endpoint) ?? 0) < this.#o.settings.endpointConcurrency
    ) {
      const next = queue.shift()!;
      this.#running.set(endpoint, (this.#running.get(endpoint) ?? 0) + 1);
      this.#active++;
      void this.#attempt(next.d, next.leaseEnd).finally(() => {
        this.#active--;
        this.#held--;
        const left = (this.#running.get(endpoint) ?? 1) - 1;
        if (left === 0 && queue.length === 0) {
          this.#running.delete(endpoint);
          this.#waiting.delete(endpoint);
        } else this.#running.set(endpoint, left);
        this.#pump(endpoint);
        if (this.#active === 0) this.#idle?.();
        this.#wake?.();
      });
    }
  }

  /** Runs one attempt of `d` and settles it. Never rejects. */
  async #attempt(d: QueuedDelivery, leaseEnd: number): Promise<void> {
    const { clock, metrics, log } = this.#o;
    const label = endpointLabel(d.endpointName);
    const started = clock.now();
    const endpoint = this.#o.extraEndpoint?.(d.endpointName) ?? endpointOf(this.#o.runtime(), d);
    const attempt = countedAttempts(d) + 1;
    let step: NextStep;
    let delivery: Delivery = {
      deliveryId: d.deliveryId,
      endpointName: label,
      url: new URL(d.url),
      method: d.method,
      headers: d.headers,
      body: d.body,
      deadline: started,
      mode: 'async',
      direction: d.endpointName.startsWith(INGRESS_PREFIX) ? 'ingress' : 'egress',
    };
    let reason: string | undefined;
    if (endpoint === undefined) {
      // The configuration no longer names this endpoint: keep it as a dead letter to replay.
      step = {
        kind: 'dead',
        record: { at: started, error: 'unknown-endpoint', durationMs: 0 },
        reason: 'the endpoint is no longer in the configuration',
      };
    } else {
      const timeoutMs = endpoint.plan.timeoutMs;
      const margin = Math.min(SETTLE_MARGIN_MS, this.#o.settings.leaseMs / 4);
      const budget = Math.min(timeoutMs, leaseEnd - margin - started);
      if (budget <= 0) {
        // Waited too long behind its endpoint: hand it back rather than race our own lease.
        step = { kind: 'defer', at: started + 100, reason: 'lease-short' };
      } else {
        delivery = { ...delivery, deadline: started + budget };
        const result = await endpoint.attempt(delivery, attempt);
        reason = resultReason(result);
        metrics.attempts.inc({ endpoint: label, result: resultLabel(result) });
        step = nextStep(result, attempt, started, clock.now(), endpoint.plan.retry, this.#o.random);
      }
    }
    await this.#settle(d, step);
    if (step.kind === 'delivered' || step.kind === 'dead')
      this.#o.observers?.ended({
        delivery,
        outcome: step.kind,
        attempts: attempt,
        ...(step.kind === 'dead' ? { reason: reason ?? step.record.error ?? 'dead' } : {}),
        at: clock.now(),
        ...(endpoint !== undefined ? { plan: endpoint.plan } : {}),
      });
    metrics.events.emit(stepEvent(label, step, clock.now()));
    // The next delivery in an ordered line is due now: claim it without waiting for the poll.
    if (d.ordered && (step.kind === 'delivered' || step.kind === 'dead')) this.notify();
    switch (step.kind) {
      case 'delivered':
        metrics.delivered.inc({ endpoint: label });
        metrics.latency.observe({ endpoint: label }, (clock.now() - d.acceptedAt) / 1000);
        return;
      case 'dead':
        metrics.deadLettered.inc({ endpoint: label });
        log.info('delivery dead-lettered', {
          endpoint: label,
          deliveryId: d.deliveryId,
          attempts: attempt,
          reason: step.reason,
        });
        return;
      case 'defer':
        metrics.deferred.inc({ endpoint: label, reason: step.reason.replaceAll('-', '_') });
        this.#wakeAt(step.at);
        return;
      case 'retry':
        this.#wakeAt(step.at);
        return;
    }
  }

  /** A retry due before the next poll wakes the loop at its time rather than a poll later. */
  #wakeAt(at: number): void {
    const wait = at - this.#o.clock.now();
    if (wait < this.#o.settings.pollMs) setTimeout(() => this.notify(), Math.max(0, wait)).unref();
  }

  /** Writes the step to the store, retrying a few times through a short store outage. */
  async #settle(d: QueuedDelivery, step: NextStep): Promise<void> {
    const { store, log } = this.#o;
    const write = (): Promise<void> => {
      if (step.kind === 'defer') {
        if (store.defer !== undefined) return store.defer(d.deliveryId, step.at);
        return store.settle(
          d.deliveryId,
          { at: this.#o.clock.now(), error: step.reason, durationMs: 0 },
          { kind: 'retry', at: step.at },
        );
      }
      return this.#settlements.add({
        deliveryId: d.deliveryId,
        attempt: step.record,
        next: step.kind === 'retry' ? { kind: 'retry', at: step.at } : { kind: step.kind },
      });
    };
    for (let tries = 1; ; tries++) {
      try {
        await write();
        return;
      } catch (err) {
        if (tries >= 8) {
          // The lease runs out and the delivery is attempted again: at least once, never lost.
          log.warn('queue settle failed; the delivery will be attempted again', {
            deliveryId: d.deliveryId,
            error: (err as Error).message,
          });
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, 100 * 2 ** tries));
      }
    }
  }
}

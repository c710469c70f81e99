// The delivery core's one observation point: every attempt of every delivery (sync, async,
// fan-out, buffered ingress) passes the observe layer, outermost in the pipeline, so local answers
// (rate limited, circuit open) are seen too; the sync loop and the queue worker report a
// delivery's end. Observers (the history recorder, the health collector) must not block: they
// are called inline and get what they need to copy, never a promise to wait on. One observer that
// throws is logged away from the others and from the delivery.
import type { AttemptResult, Clock, Delivery, Layer } from './delivery.ts';
import type { EndpointPlan } from './plan.ts';

/** One attempt that ended. */
export interface AttemptObservation {
  readonly delivery: Delivery;
  /** 1-based. */
  readonly attempt: number;
  /** Epoch ms when the attempt entered the pipeline. */
  readonly startedAt: number;
  readonly result: AttemptResult;
  /** The endpoint's plan (retention and body settings of the history among it). */
  readonly plan: EndpointPlan;
}

/** How a delivery ended: delivered, failed (sync, no more attempts) or dead (async). */
export interface DeliveryEnd {
  readonly delivery: Delivery;
  readonly outcome: 'delivered' | 'failed' | 'dead';
  readonly attempts: number;
  /** A problem slug, `http-<status>` or a transport error kind; absent when delivered. */
  readonly reason?: string;
  /** Epoch ms. */
  readonly at: number;
  /** Absent when the endpoint left the configuration (a queued delivery turned dead). */
  readonly plan?: EndpointPlan;
}

/** Something that watches deliveries. */
export interface DeliveryObserver {
  onAttempt?(observation: AttemptObservation): void;
  onDeliveryEnd?(end: DeliveryEnd): void;
}

/** The process's observers, called in the order they were added. */
export class DeliveryObservers {
  readonly #list: DeliveryObserver[] = [];
  readonly #onError: (err: unknown) => void;

  /** `onError` hears an observer's throw (logged; the delivery goes on). */
  constructor(onError: (err: unknown) => void = () => undefined) {
    this.#onError = onError;
  }

  /** Adds `observer`; returns its removal. */
  add(observer: DeliveryObserver): () => void {
    this.#list.push(observer);
    return () => {
      const at = this.#list.indexOf(observer);
      if (at !== -1) this.#list.splice(at, 1);
    };
  }

  /**
   * Whether no one watches attempts (the observe layer is left out of pipelines then). Observers
   * of delivery ends alone do not need the layer: the sync loop and the queue worker tell them.
   */
  get empty(): boolean {
    return !this.#list.some((o) => o.onAttempt !== undefined);
  }

  /** Tells every observer an attempt ended. */
  attempt(observation: AttemptObservation): void {
    this.#each((o) => o.onAttempt?.(observation));
  }

  /** Tells every observer a delivery ended. */
  ended(end: DeliveryEnd): void {
    this.#each((o) => o.onDeliveryEnd?.(end));
  }

  #each(call: (o: DeliveryObserver) => void): void {
    for (const o of this.#list) {
      try {
        call(o);
      } catch (err) {
        this.#onError(err);
      }
    }
  }
}

/** The layer that reports each attempt of `plan`'s endpoint to `observers` once it ended. */
export function observeLayer(
  observers: DeliveryObservers,
  plan: EndpointPlan,
  clock: Clock,
): Layer {
  // `then`, not an async function: it runs on every attempt, and an awaiting function costs a
  // second promise and a resumed frame per attempt (ADR 0022, "Issue 16, fourth step").
  return (next) => (delivery, attempt) => {
    const startedAt = clock.now();
    return next(delivery, attempt).then((result) => {
      observers.attempt({ delivery, attempt, startedAt, result, plan });
      return result;
    });
  };
}

/** The reason of a final result, as observers report it: never a body, a URL or a secret. */
export function resultReason(result: AttemptResult): string | undefined {
  if (result.kind === 'local') return result.problem.type;
  if (result.kind === 'error') return result.error;
  return result.status < 300 ? undefined : `http-${result.status}`;
}

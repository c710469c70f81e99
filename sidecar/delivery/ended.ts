// Where the delivery core says how deliveries end and what state a breaker is in, for whoever
// keeps score beyond the metrics: the health collector (sidecar/health/) that reports to the
// operator. One hub per sidecar, reached through its metrics registry (which every part already
// holds), so the core's signatures stay as they are. A listener's error never reaches a delivery.
import type { Registry } from 'prom-client';
import type { BreakerState } from './circuit-breaker.ts';
import type { AttemptResult } from './delivery.ts';
import type { NextStep } from './schedule.ts';

/** One thing the core announces; `endpoint` is the metrics label (`dynamic`, `ingress:<name>`). */
export type DeliveryEvent =
  | { readonly kind: 'delivered'; readonly endpoint: string; readonly at: number }
  /** The delivery is over and failed; `deadLettered` when it was kept as a dead letter. */
  | {
      readonly kind: 'failed';
      readonly endpoint: string;
      readonly at: number;
      readonly reason: string;
      readonly deadLettered: boolean;
    }
  /** One attempt of a queued delivery failed; another is scheduled. */
  | {
      readonly kind: 'attempt-failed';
      readonly endpoint: string;
      readonly at: number;
      readonly reason: string;
    }
  | { readonly kind: 'circuit'; readonly endpoint: string; readonly state: BreakerState };

/** Listeners of one sidecar's delivery events. */
export class DeliveryEvents {
  readonly #listeners = new Set<(event: DeliveryEvent) => void>();

  /** Adds `listener`; returns the function that removes it. */
  listen(listener: (event: DeliveryEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Tells every listener; `undefined` (nothing to tell) is allowed for the callers' brevity. */
  emit(event: DeliveryEvent | undefined): void {
    if (event === undefined) return;
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch {
        // Scorekeeping must never fail a delivery.
      }
    }
  }
}

const hubs = new WeakMap<Registry, DeliveryEvents>();

/** The hub of the sidecar whose metrics live in `registry`. */
export function deliveryEvents(registry: Registry): DeliveryEvents {
  let hub = hubs.get(registry);
  if (hub === undefined) hubs.set(registry, (hub = new DeliveryEvents()));
  return hub;
}

/**
 * Why an attempt failed, in the report's words: the problem slug of a local answer,
 * `http-<status>` of a response, the transport error (`connect-error`, `timeout`, `reset`…).
 * Never a body, a URL or a header.
 */
export function failureReason(result: AttemptResult): string {
  if (result.kind === 'local') return result.problem.type;
  if (result.kind === 'response') return `http-${result.status}`;
  return result.error;
}

/** What a synchronous delivery's end announces. */
export function syncEvent(
  endpoint: string,
  delivered: boolean,
  result: AttemptResult,
  at: number,
): DeliveryEvent {
  return delivered
    ? { kind: 'delivered', endpoint, at }
    : { kind: 'failed', endpoint, at, reason: failureReason(result), deadLettered: false };
}

/**
 * What a queued attempt's settled step announces: a delivery, a dead letter, a failed attempt
 * with another scheduled, or nothing for a deferral (a local refusal says nothing of the receiver).
 */
export function stepEvent(
  endpoint: string,
  step: NextStep,
  now: number,
): DeliveryEvent | undefined {
  if (step.kind === 'defer') return undefined;
  if (step.kind === 'delivered') return { kind: 'delivered', endpoint, at: now };
  const { status, error } = step.record;
  const failure = {
    endpoint,
    at: step.record.at,
    reason: status !== undefined ? `http-${status}` : (error ?? 'unknown'),
  };
  return step.kind === 'dead'
    ? { kind: 'failed', ...failure, deadLettered: true }
    : { kind: 'attempt-failed', ...failure };
}

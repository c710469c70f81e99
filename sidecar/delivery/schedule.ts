// What follows one background attempt: delivered, a retry after the plan's delay (the schedule
// entry, jittered, lengthened by a 429/503 Retry-After as in the sync loop: plan.ts), dead after
// the last entry, or — for a local refusal (rate limited, circuit open) — a deferral that does not burn the schedule. Pure:
// the worker feeds it the attempt's result, the attempts so far, the time and a random source.
import type { AttemptResult } from './delivery.ts';
import { retryDelayMs, type RetryPlan } from './plan.ts';
import type { AttemptRecord, QueuedDelivery } from '../queue/store.ts';

/** Attempt `error` codes of refusals the sidecar gave itself: never counted against the schedule. */
export const LOCAL_REFUSALS: ReadonlySet<string> = new Set([
  'rate-limited',
  'circuit-open',
  'endpoint-paused',
  'endpoint-disabled',
  'lease-short',
  'shutdown',
]);

/** The worker's next step for one attempt. */
export type NextStep =
  | { readonly kind: 'delivered'; readonly record: AttemptRecord }
  | { readonly kind: 'retry'; readonly at: number; readonly record: AttemptRecord }
  | { readonly kind: 'dead'; readonly record: AttemptRecord; readonly reason: string }
  /** Not attempted (a local refusal): due again at `at`, nothing recorded. */
  | { readonly kind: 'defer'; readonly at: number; readonly reason: string };

/** Shortest deferral of a locally refused delivery, so a refusal cannot spin the worker. */
export const MIN_DEFER_MS = 1000;

/**
 * Attempts that count against the schedule: those that left the sidecar since the last replay
 * (a replayed delivery gets the whole schedule again).
 */
export function countedAttempts(
  delivery: Pick<QueuedDelivery, 'attempts'> & {
    readonly lastReplayedAt?: number | undefined;
  },
): number {
  const since = delivery.lastReplayedAt ?? -Infinity;
  return delivery.attempts.filter(
    (a) => a.at >= since && !(a.error !== undefined && LOCAL_REFUSALS.has(a.error)),
  ).length;
}

/** The attempt record of a result that reached the pipeline's end. */
export function attemptRecord(result: AttemptResult, startedAt: number): AttemptRecord {
  switch (result.kind) {
    case 'response':
      return { at: startedAt, status: result.status, durationMs: result.durationMs };
    case 'error':
      return { at: startedAt, error: result.error, durationMs: result.durationMs };
    case 'local':
      return { at: startedAt, error: result.problem.type, durationMs: 0 };
  }
}

/**
 * Decides what follows attempt number `attempt` (1-based, counted attempts only) that started at
 * `startedAt` and ended at `now`.
 */
export function nextStep(
  result: AttemptResult,
  attempt: number,
  startedAt: number,
  now: number,
  plan: RetryPlan,
  random: () => number = Math.random,
): NextStep {
  if (result.kind === 'local') {
    const asked = result.problem['retryAfterMs'];
    const wait = typeof asked === 'number' ? asked : 0;
    return {
      kind: 'defer',
      at: now + Math.max(MIN_DEFER_MS, wait),
      reason: result.problem.type,
    };
  }
  const record = attemptRecord(result, startedAt);
  const decision = plan.classifier.classify(
    result.kind === 'response'
      ? { kind: 'response', status: result.status }
      : { kind: 'error', error: result.error },
  );
  if (decision.verdict === 'success') return { kind: 'delivered', record };
  if (decision.verdict === 'failure') return { kind: 'dead', record, reason: decision.reason };
  if (attempt >= plan.scheduleMs.length) {
    return {
      kind: 'dead',
      record,
      reason: `${decision.reason}; all ${plan.scheduleMs.length} attempts of the schedule used`,
    };
  }
  return {
    kind: 'retry',
    at: now + retryDelayMs(plan, 'async', attempt, result, now, random),
    record,
  };
}

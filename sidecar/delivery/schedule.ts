// What follows one background attempt: delivered, a retry at the policy's `retry.schedule` (with
// jitter, never earlier than a receiver's Retry-After), dead after the last entry, or — for a
// local refusal (rate limited, circuit open) — a deferral that does not burn the schedule. Pure:
// the worker feeds it the attempt's result, the attempts so far, the time and a random source.
import type { AttemptResult } from './delivery.ts';
import { parseRetryAfter } from './retry-after.ts';
import type { RetryClassifier } from './retry-classifier.ts';
import type { AttemptRecord, QueuedDelivery } from '../queue/store.ts';

/** Attempt `error` codes of refusals the sidecar gave itself: never counted against the schedule. */
export const LOCAL_REFUSALS: ReadonlySet<string> = new Set([
  'rate-limited',
  'circuit-open',
  'lease-short',
  'shutdown',
]);

/** The policy numbers the scheduler needs. */
export interface SchedulePolicy {
  /** Delay before attempt k+1 is `scheduleMs[k]`; its length is the attempt budget. */
  readonly scheduleMs: readonly number[];
  readonly classifier: RetryClassifier;
  readonly honorRetryAfter: boolean;
  /** Longest Retry-After honoured (the scheduler allows at least the longest schedule entry). */
  readonly maxRetryAfterMs: number;
  /** Spread of each delay, as a fraction (0.1 = ±10%); 0 for exact schedules. */
  readonly jitter: number;
}

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
  policy: SchedulePolicy,
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
  const decision = policy.classifier.classify(
    result.kind === 'response'
      ? { kind: 'response', status: result.status }
      : { kind: 'error', error: result.error },
  );
  if (decision.verdict === 'success') return { kind: 'delivered', record };
  if (decision.verdict === 'failure') return { kind: 'dead', record, reason: decision.reason };
  if (attempt >= policy.scheduleMs.length) {
    return {
      kind: 'dead',
      record,
      reason: `${decision.reason}; all ${policy.scheduleMs.length} attempts of the schedule used`,
    };
  }
  const planned = policy.scheduleMs[attempt]!;
  let delay = Math.round(planned * (1 + policy.jitter * (2 * random() - 1)));
  if (policy.honorRetryAfter && result.kind === 'response') {
    const header = result.headers['retry-after'];
    const longest = Math.max(policy.maxRetryAfterMs, ...policy.scheduleMs);
    const asked = parseRetryAfter(Array.isArray(header) ? header[0] : header, now, longest);
    if (asked !== undefined) delay = Math.max(delay, asked);
  }
  return { kind: 'retry', at: now + Math.max(0, delay), record };
}

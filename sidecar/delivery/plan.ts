// Endpoint plans: a resolved policy compiled once, at load, into frozen typed settings — every
// duration already in milliseconds, the retry classifier built, the signer checked. Everything
// downstream (the pipeline, the sync retry loop, the async schedule, the queue worker) reads the
// plan and never parses a duration again. A policy that cannot become a plan is a config error
// (sidecar/config/load.ts reports it with its path), never a runtime 400.
import { parseDuration } from '../../common/duration.ts';
import type { Policy } from '../config/schema.ts';
import { backoffDelayMs, backoffOptionProblems, type BackoffOptions } from './backoff.ts';
import type { CircuitBreakerOptions } from './circuit-breaker.ts';
import type { AttemptResult } from './delivery.ts';
import { parseRetryAfter } from './retry-after.ts';
import { createRetryClassifier, type RetryClassifier } from './retry-classifier.ts';

/** Spread of each async schedule entry under `jitter: full` (ADR 0014): ±10 %. */
export const SCHEDULE_JITTER = 0.1;

/** Statuses whose `Retry-After` is honoured, sync and async alike (ADR 0015). */
export const RETRY_AFTER_STATUSES: ReadonlySet<number> = new Set([429, 503]);

/** One endpoint's retry journey: which failures retry, how long to wait, and how often. */
export interface RetryPlan {
  readonly classifier: RetryClassifier;
  /** Sync: attempts, the first included. */
  readonly maxAttempts: number;
  /** Sync: delay growth between attempts. */
  readonly backoff: BackoffOptions;
  /** Sync: the whole delivery's time budget. */
  readonly syncDeadlineMs: number;
  /** Async: delay before attempt k+1 is `scheduleMs[k]`; its length is the attempt budget. */
  readonly scheduleMs: readonly number[];
  /** Async: spread of each entry as a fraction (0.1 = ±10 %); 0 keeps the schedule exact. */
  readonly scheduleJitter: number;
  /** Whether a 429/503 `Retry-After` sets the least wait, and its clamp. */
  readonly retryAfter: { readonly honor: boolean; readonly maxMs: number };
}

/** A rate limit in the limiter's terms. */
export interface LimitPlan {
  readonly rate: number;
  readonly per: 'second' | 'minute';
  readonly burst: number;
  readonly scope: 'pod' | 'global';
}

/** What the delivery history keeps of an endpoint's deliveries. */
export interface HistoryPlan {
  readonly maxDeliveries: number;
  readonly maxAgeMs: number;
  readonly maxBytes: number;
  readonly bodies: 'none' | 'truncated' | 'full';
  readonly maxBodyBytes: number;
  /** Lower-case header names redacted on top of the known credential and signature headers. */
  readonly secretHeaders: ReadonlySet<string>;
}

/** Everything about one endpoint's policy the delivery core needs, compiled. */
export interface EndpointPlan {
  /** The WebhookPolicy this came from; absent: built-in defaults. */
  readonly policyName: string | undefined;
  readonly timeoutMs: number;
  readonly maxPayloadBytes: number;
  readonly mode: 'sync' | 'async';
  readonly ordering: 'none' | 'per-endpoint';
  readonly retry: RetryPlan;
  readonly rateLimit: LimitPlan | undefined;
  /** Breaker settings (the breaker itself is state, kept across reloads by the runtime store). */
  readonly breaker: Omit<CircuitBreakerOptions, 'onTransition'> | undefined;
  readonly allowedHosts: readonly string[];
  readonly allowedCIDRs: readonly string[];
  readonly history: HistoryPlan;
}

/** The retry plan of a resolved policy's `retry`; throws RangeError listing every problem. */
export function compileRetryPlan(retry: Policy['retry']): RetryPlan {
  const backoff: BackoffOptions = {
    initialMs: parseDuration(retry.backoff.initial),
    maxMs: parseDuration(retry.backoff.max),
    multiplier: retry.backoff.multiplier,
    jitter: retry.backoff.jitter === 'full',
  };
  const problems = backoffOptionProblems(backoff);
  if (problems.length > 0) throw new RangeError(`retry.backoff: ${problems.join('; ')}`);
  return Object.freeze({
    classifier: createRetryClassifier(retry.retryOn),
    maxAttempts: retry.maxAttempts,
    backoff: Object.freeze(backoff),
    syncDeadlineMs: parseDuration(retry.syncDeadline),
    scheduleMs: Object.freeze(retry.schedule.map(parseDuration)),
    scheduleJitter: retry.backoff.jitter === 'full' ? SCHEDULE_JITTER : 0,
    retryAfter: Object.freeze({
      honor: retry.honorRetryAfter,
      maxMs: parseDuration(retry.maxRetryAfter),
    }),
  });
}

/** The plan of a resolved policy. */
export function compileEndpointPlan(policy: Policy): EndpointPlan {
  const limit = policy.rateLimit;
  const breaker = policy.circuitBreaker;
  return Object.freeze({
    policyName: policy.name,
    timeoutMs: parseDuration(policy.timeout),
    maxPayloadBytes: policy.maxPayloadBytes,
    mode: policy.delivery.mode,
    ordering: policy.delivery.ordering,
    retry: compileRetryPlan(policy.retry),
    rateLimit:
      limit === undefined
        ? undefined
        : Object.freeze({
            rate: limit.rate,
            per: limit.per,
            burst: limit.burst ?? limit.rate,
            scope: limit.scope,
          }),
    breaker:
      breaker === undefined
        ? undefined
        : Object.freeze({
            ...(breaker.consecutiveFailures !== undefined
              ? { consecutiveFailures: breaker.consecutiveFailures }
              : {}),
            ...(breaker.failureRatePercent !== undefined
              ? {
                  failureRatio: {
                    threshold: breaker.failureRatePercent / 100,
                    windowMs: parseDuration(breaker.window),
                    minRequests: breaker.minimumRequests,
                  },
                }
              : {}),
            openMs: parseDuration(breaker.openDuration),
            halfOpenProbes: breaker.halfOpenProbes,
          }),
    allowedHosts: Object.freeze([...(policy.destinations?.allowedHosts ?? [])]),
    allowedCIDRs: Object.freeze([...(policy.destinations?.allowedCIDRs ?? [])]),
    history: Object.freeze({
      maxDeliveries: policy.history.maxDeliveries,
      maxAgeMs: parseDuration(policy.history.maxAge),
      maxBytes: policy.history.maxBytes,
      bodies: policy.history.bodies,
      maxBodyBytes: policy.history.maxBodyBytes,
      secretHeaders: new Set(policy.history.secretHeaders.map((h) => h.toLowerCase())),
    }),
  });
}

/**
 * The wait a receiver asked for with `Retry-After`, clamped to the plan's `maxRetryAfter`; only
 * on 429 and 503 and only when the plan honours it (ADR 0015). Undefined otherwise.
 */
export function retryAfterWaitMs(
  plan: RetryPlan,
  result: AttemptResult,
  now: number,
): number | undefined {
  if (!plan.retryAfter.honor || result.kind !== 'response') return undefined;
  if (!RETRY_AFTER_STATUSES.has(result.status)) return undefined;
  const header = result.headers['retry-after'];
  return parseRetryAfter(Array.isArray(header) ? header[0] : header, now, plan.retryAfter.maxMs);
}

/** Which loop asks: the sync retry loop (backoff) or the async worker (schedule). */
export type RetryLoop = 'sync' | 'async';

/**
 * The one delay function: how long to wait after `attempts` attempts (1-based) ended with
 * `result` before the next one. The planned delay is the backoff (sync) or the schedule entry
 * (async), jittered as the plan says; a receiver's `Retry-After` may lengthen it, never shorten
 * it. Whether another attempt fits the budget is the loop's business.
 */
export function retryDelayMs(
  plan: RetryPlan,
  loop: RetryLoop,
  attempts: number,
  result: AttemptResult,
  now: number,
  random: () => number = Math.random,
): number {
  const planned =
    loop === 'sync'
      ? backoffDelayMs(plan.backoff, attempts - 1, random)
      : Math.round(
          (plan.scheduleMs[attempts] ?? plan.scheduleMs.at(-1)!) *
            (1 + plan.scheduleJitter * (2 * random() - 1)),
        );
  const asked = retryAfterWaitMs(plan, result, now);
  return Math.max(0, asked === undefined ? planned : Math.max(planned, asked));
}

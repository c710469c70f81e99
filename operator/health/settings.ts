// The numbers delivery health is judged and written by, in one frozen table (ADR 0024).
import { DEFAULT_HEALTH_REPORT_INTERVAL_MS } from '../../common/health.ts';

/** How reports are aggregated, judged and written. */
export interface HealthSettings {
  /** The recent window counts and the success rate cover. */
  readonly windowMs: number;
  /** A pod silent this long is aged out (deleted, or cut off): its reports no longer count. */
  readonly staleMs: number;
  /** Below this share of successes in the window (with at least one failure): FailingDeliveries. */
  readonly minSuccessRatio: number;
  /** An endpoint's status is written at most this often, unless its Healthy condition flips. */
  readonly minWriteIntervalMs: number;
  /** Status writes per second for all endpoints together (10,000 endpoints must not flood the API server). */
  readonly writesPerSecond: number;
  /** How often the writer looks for statuses to write. */
  readonly tickMs: number;
}

/** The defaults: a 60 s window, six missed reports to age a pod out, one write per 10 s per endpoint. */
export const DEFAULT_HEALTH_SETTINGS: HealthSettings = Object.freeze({
  windowMs: 60_000,
  staleMs: 6 * DEFAULT_HEALTH_REPORT_INTERVAL_MS,
  minSuccessRatio: 0.9,
  minWriteIntervalMs: 10_000,
  writesPerSecond: 20,
  tickMs: 1_000,
});

/** The defaults with `overrides`, frozen. */
export function healthSettings(overrides: Partial<HealthSettings> = {}): HealthSettings {
  return Object.freeze({ ...DEFAULT_HEALTH_SETTINGS, ...overrides });
}

/** Condition type and reasons of delivery health (DESIGN.md). */
export const HEALTHY = 'Healthy';

/** Reasons of the Healthy condition: CamelCase, stable, for alerts. */
export const HEALTH_REASON = {
  noReports: 'NoReports',
  circuitOpen: 'CircuitOpen',
  deadLetters: 'DeadLetters',
  failingDeliveries: 'FailingDeliveries',
  idle: 'Idle',
  delivering: 'Delivering',
  /** Turned off by a policy's autoDisable (ADR 0025); the reason operator/lifecycle/ reads. */
  disabled: 'Disabled',
} as const;

/** The Event recorded when a change to a Disabled endpoint enables it again. */
export const ENABLED_EVENT = 'Enabled';

/**
 * The field manager of health writes: its own, so server-side apply keeps the reconciler's
 * Accepted/Ready entries and this writer's Healthy entry and `status.deliveries` apart.
 */
export const HEALTH_FIELD_MANAGER = 'hookgate-operator-health';

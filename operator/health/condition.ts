// The Healthy condition and `status.deliveries` as pure functions of one endpoint's aggregate.
// The condition is an ordered chain of checks, first failure wins: what an engineer on call
// must act on first comes first. Messages carry counts, reasons and times, never a URL or body.
import type { DeliveryHealth } from '../../api/v1alpha1/endpoint.ts';
import { metaTime } from '../clock.ts';
import type { DesiredCondition } from '../status.ts';
import type { EndpointAggregate } from './aggregate.ts';
import { HEALTHY, HEALTH_REASON, type HealthSettings } from './settings.ts';

/** A check's finding: the condition's status, reason and message. */
type Finding = Omit<DesiredCondition, 'type'>;

/** One check: a finding, or undefined to let the next check speak. */
type HealthCheck = (a: EndpointAggregate, s: HealthSettings) => Finding | undefined;

const seconds = (ms: number): string => `${Math.round(ms / 1000)}s`;

/** `99.5%`, `100%`; undefined when nothing ended. */
export function successRate(delivered: number, failed: number): string | undefined {
  const total = delivered + failed;
  if (total === 0) return undefined;
  // Floor, so a single failure never shows as 100%.
  const tenths = Math.floor((delivered / total) * 1000);
  return `${tenths % 10 === 0 ? tenths / 10 : (tenths / 10).toFixed(1)}%`;
}

function lastFailureText(a: EndpointAggregate): string {
  return a.lastFailure === undefined
    ? ''
    : `; last failure ${a.lastFailure.reason} at ${metaTime(new Date(a.lastFailure.at))}`;
}

const CHECKS: readonly HealthCheck[] = [
  // A breaker open in any pod refuses deliveries there without sending them.
  (a) =>
    a.openPods === 0
      ? undefined
      : {
          status: 'False',
          reason: HEALTH_REASON.circuitOpen,
          message: `circuit open in ${a.openPods} of ${a.pods} pod(s): deliveries there are refused without being sent until a probe succeeds${lastFailureText(a)}`,
        },
  // Deliveries given up on in the window: they wait in the dead-letter queue for a replay.
  (a, s) =>
    a.deadLettered === 0
      ? undefined
      : {
          status: 'False',
          reason: HEALTH_REASON.deadLetters,
          message: `${a.deadLettered} deliveries dead-lettered in the last ${seconds(s.windowMs)} (${a.deadLetters} held)${lastFailureText(a)}; fix the receiver, then replay them`,
        },
  // Too large a share failed in the window.
  (a, s) => {
    const total = a.delivered + a.failed;
    if (a.failed === 0 || a.delivered / total >= s.minSuccessRatio) return undefined;
    return {
      status: 'False',
      reason: HEALTH_REASON.failingDeliveries,
      message: `${a.failed} of ${total} deliveries failed in the last ${seconds(s.windowMs)} (success ${successRate(a.delivered, a.failed)}, below ${s.minSuccessRatio * 100}%)${lastFailureText(a)}`,
    };
  },
  // Queued deliveries keep failing their attempts and none got through.
  (a, s) =>
    a.failuresSeen === 0 || a.delivered > 0
      ? undefined
      : {
          status: 'False',
          reason: HEALTH_REASON.failingDeliveries,
          message: `attempts keep failing and nothing was delivered in the last ${seconds(s.windowMs)} (${a.queueDepth} queued)${lastFailureText(a)}`,
        },
  // Nothing ended in the window: nothing says the receiver is unwell.
  (a, s) =>
    a.delivered + a.failed > 0
      ? undefined
      : {
          status: 'True',
          reason: HEALTH_REASON.idle,
          message: `no deliveries ended in the last ${seconds(s.windowMs)} (${a.pods} pod(s) reporting)`,
        },
];

/** The Healthy condition of an endpoint; `undefined` aggregate: no current report. */
export function healthyCondition(
  a: EndpointAggregate | undefined,
  s: HealthSettings,
): DesiredCondition {
  if (a === undefined) {
    return {
      type: HEALTHY,
      status: 'Unknown',
      reason: HEALTH_REASON.noReports,
      message: `no sidecar reported on this endpoint in the last ${seconds(s.staleMs)}: no running pod has it in its config, or reports do not reach the operator (port 15012)`,
    };
  }
  for (const check of CHECKS) {
    const finding = check(a, s);
    if (finding !== undefined) return { type: HEALTHY, ...finding };
  }
  return {
    type: HEALTHY,
    status: 'True',
    reason: HEALTH_REASON.delivering,
    message: `${successRate(a.delivered, a.failed)} of ${a.delivered + a.failed} deliveries succeeded in the last ${seconds(s.windowMs)}`,
  };
}

const later = (a: string | undefined, b: string | undefined): string | undefined =>
  a === undefined ? b : b === undefined ? a : Date.parse(a) >= Date.parse(b) ? a : b;

/**
 * `status.deliveries`. Last success and last failure outlive the pods that saw them: the later of
 * what is reported now and what the status already says (a restarted pod or operator forgets).
 */
export function deliveriesSummary(
  a: EndpointAggregate | undefined,
  previous: Partial<DeliveryHealth> | undefined,
  s: HealthSettings,
): DeliveryHealth {
  const reportedSuccess =
    a?.lastSuccessAt === undefined ? undefined : metaTime(new Date(a.lastSuccessAt));
  const lastSuccessTime = later(reportedSuccess, previous?.lastSuccessTime);
  const reportedFailure =
    a?.lastFailure === undefined
      ? undefined
      : { time: metaTime(new Date(a.lastFailure.at)), reason: a.lastFailure.reason };
  const before = previous?.lastFailure;
  const lastFailure =
    reportedFailure === undefined
      ? before
      : before === undefined || later(reportedFailure.time, before.time) === reportedFailure.time
        ? reportedFailure
        : before;
  const rate = successRate(a?.delivered ?? 0, a?.failed ?? 0);
  return {
    windowSeconds: Math.round(s.windowMs / 1000),
    pods: a?.pods ?? 0,
    delivered: a?.delivered ?? 0,
    failed: a?.failed ?? 0,
    deadLettered: a?.deadLettered ?? 0,
    ...(rate === undefined ? {} : { successRate: rate }),
    ...(lastSuccessTime === undefined ? {} : { lastSuccessTime }),
    ...(lastFailure === undefined ? {} : { lastFailure }),
    circuit: a?.circuit ?? 'closed',
    queueDepth: a?.queueDepth ?? 0,
    deadLetters: a?.deadLetters ?? 0,
  };
}

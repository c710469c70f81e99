// The auto-disable decision (ADR 0021, 0025): from an endpoint's aggregated health and the run of
// failures its status remembers, whether its policy's autoDisable says to turn it off. Pure
// functions; the writer records the decision as Healthy=False/Disabled at the endpoint's
// generation, which the compile publishes and the sidecar enforces (operator/lifecycle/).
import { parseDuration } from '../../common/duration.ts';
import type { DeliveryHealth } from '../../api/v1alpha1/endpoint.ts';
import { metaTime } from '../clock.ts';
import type { KubeObject } from '../kube/types.ts';
import type { DesiredCondition } from '../status.ts';
import type { EndpointAggregate } from './aggregate.ts';
import { HEALTH_REASON } from './settings.ts';

/** A policy's `spec.autoDisable`, typed once. */
export interface AutoDisableRule {
  /** The policy that says so, named in the condition's message. */
  readonly policy: string;
  /** `failingFor` as written (for messages) and in ms. */
  readonly failingFor?: { readonly text: string; readonly ms: number };
  readonly deadLettersInARow?: number;
}

const rules = new WeakMap<KubeObject, AutoDisableRule | undefined>();

/** The autoDisable rule of a WebhookPolicy object; undefined when it sets none (the default). */
export function autoDisableRule(policy: KubeObject | undefined): AutoDisableRule | undefined {
  if (policy === undefined) return undefined;
  if (rules.has(policy)) return rules.get(policy);
  const spec = policy['spec'] as { autoDisable?: Record<string, unknown> } | undefined;
  const a = spec?.autoDisable;
  let rule: AutoDisableRule | undefined;
  if (a !== undefined) {
    let failingFor: AutoDisableRule['failingFor'];
    try {
      if (typeof a['failingFor'] === 'string')
        failingFor = { text: a['failingFor'], ms: parseDuration(a['failingFor']) };
    } catch {
      // The CRD refuses a malformed duration; one stored before that rule is ignored.
    }
    const n = a['deadLettersInARow'];
    const deadLettersInARow =
      Number.isSafeInteger(n) && (n as number) > 0 ? (n as number) : undefined;
    if (failingFor !== undefined || deadLettersInARow !== undefined) {
      rule = {
        policy: policy.metadata.name,
        ...(failingFor === undefined ? {} : { failingFor }),
        ...(deadLettersInARow === undefined ? {} : { deadLettersInARow }),
      };
    }
  }
  rules.set(policy, rule);
  return rule;
}

/** Whether the window holds failures: failed deliveries or queued attempts failing. */
const failing = (a: EndpointAggregate): boolean => a.failed + a.failuresSeen > 0;

/**
 * When the current run of failures began (RFC 3339, the operator's clock), or undefined when no
 * run is on: a success (in the window, or a later lastSuccessTime than the status had) ends it,
 * failures with none start it, a quiet window keeps it (no traffic is no recovery).
 */
export function failingSince(
  a: EndpointAggregate | undefined,
  previous: Pick<Partial<DeliveryHealth>, 'failingSince' | 'lastSuccessTime'> | undefined,
  lastSuccessTime: string | undefined,
  now: Date,
): string | undefined {
  if (a === undefined) return previous?.failingSince;
  if (a.delivered > 0 || lastSuccessTime !== previous?.lastSuccessTime) return undefined;
  if (failing(a)) return previous?.failingSince ?? metaTime(now);
  return previous?.failingSince;
}

const ENABLE_HINT = 'change the WebhookEndpoint (kubectl edit, a GitOps commit) to enable it again';

/** The Disabled finding when `rule` says to disable, else undefined. */
export function disableFinding(
  a: EndpointAggregate | undefined,
  deliveries: DeliveryHealth,
  rule: AutoDisableRule | undefined,
  now: Date,
): Omit<DesiredCondition, 'type'> | undefined {
  if (rule === undefined || a === undefined) return undefined;
  const last =
    a.lastFailure === undefined
      ? ''
      : `, last failure ${a.lastFailure.reason} at ${metaTime(new Date(a.lastFailure.at))}`;
  const since = deliveries.failingSince === undefined ? NaN : Date.parse(deliveries.failingSince);
  // Failures still coming, none delivered, for the whole duration.
  if (
    rule.failingFor !== undefined &&
    failing(a) &&
    a.delivered === 0 &&
    now.getTime() - since >= rule.failingFor.ms
  ) {
    return {
      status: 'False',
      reason: HEALTH_REASON.disabled,
      message: `disabled by WebhookPolicy ${rule.policy} (autoDisable.failingFor ${rule.failingFor.text}): failing continuously since ${deliveries.failingSince}${last}; ${ENABLE_HINT}`,
    };
  }
  if (
    rule.deadLettersInARow !== undefined &&
    a.delivered === 0 &&
    a.deadLetteredInARow >= rule.deadLettersInARow
  ) {
    return {
      status: 'False',
      reason: HEALTH_REASON.disabled,
      message: `disabled by WebhookPolicy ${rule.policy} (autoDisable.deadLettersInARow ${rule.deadLettersInARow}): ${a.deadLetteredInARow} deliveries dead-lettered in a row${last}; ${ENABLE_HINT}`,
    };
  }
  return undefined;
}

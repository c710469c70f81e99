// Status as a pure function of what the compile decided, the status already written, the config
// generation and the time. lastTransitionTime moves only when a condition's status does, and a
// status equal to the one written is not written again.
import type { Condition } from '../api/v1alpha1/endpoint.ts';
import { metaTime } from './clock.ts';
import type { EndpointResult, PolicyResult, Verdict } from './compile/compile.ts';
import { canonicalJson } from './compile/compile.ts';
import { CONDITION, CONFIG_MAP_NAME, REASON } from './names.ts';

/** A condition before it gets its times. */
export interface DesiredCondition {
  readonly type: string;
  readonly status: 'True' | 'False' | 'Unknown';
  readonly reason: string;
  readonly message: string;
}

/** The status fields the operator owns on a WebhookEndpoint. */
export interface EndpointStatus {
  observedGeneration: number;
  conditions: Condition[];
  configGeneration?: number;
  policy?: string;
}

/** The status fields the operator owns on a WebhookPolicy. */
export interface PolicyStatus {
  observedGeneration: number;
  conditions: Condition[];
  configGeneration?: number;
  selectedEndpoints: number;
}

/** A status as read from the cache: anything, since another writer may have put it there. */
export interface PreviousStatus {
  readonly observedGeneration?: number | undefined;
  readonly configGeneration?: number | undefined;
  readonly conditions?: readonly Partial<Condition>[] | undefined;
}

/** Ready reasons of a namespace whose published config nears or passes the ConfigMap limit. */
export const SIZE_REASON = {
  /** Published, but the namespace's config is past 80 % of what a ConfigMap holds. */
  near: 'ConfigNearSizeLimit',
  /** The namespace's config no longer fits a ConfigMap: nothing new is published. */
  over: 'ConfigTooLarge',
} as const;

/** The namespace's config nearing or over the ConfigMap limit, as status and Events say it. */
export interface SizeNotice {
  readonly state: 'near' | 'over';
  /** One sentence: how big, the limit, what still works, what to do. */
  readonly message: string;
}

const KIB = (bytes: number): string => `${Math.ceil(bytes / 1024).toLocaleString('en')} KiB`;

/**
 * The notice for a namespace's published size, or undefined when it fits comfortably.
 * `generation` is the one in force (over the limit: the last that fitted). The message names the
 * thresholds, not the exact size, so that it (and every status quoting it) stays the same while
 * the namespace grows; the Event about the transition carries the size.
 */
export function sizeNotice(
  namespace: string,
  state: 'fits' | 'near' | 'over',
  limits: { readonly nearBytes: number; readonly maxBytes: number },
  generation: number,
): SizeNotice | undefined {
  if (state === 'fits') return undefined;
  const fix = 'move endpoints to another namespace or delete unused ones';
  if (state === 'near') {
    return {
      state,
      message: `the sidecar config of namespace ${namespace} is past ${KIB(limits.nearBytes)} of the ${KIB(limits.maxBytes)} a ConfigMap holds: past the limit, changes in this namespace are not published; ${fix}`,
    };
  }
  const kept =
    generation > 0
      ? `config generation ${generation} stays in force for every sidecar (mounted and streamed)`
      : 'nothing is published here';
  return {
    state,
    message: `the sidecar config of namespace ${namespace} is over the ${KIB(limits.maxBytes)} a ConfigMap holds: ${kept}, and changes in this namespace are not published until it fits; ${fix}`,
  };
}

/** What the status of one object is computed from besides the compile result. */
export interface StatusContext {
  /** The object's `metadata.generation`. */
  readonly generation: number;
  /** The namespace's config generation now published. */
  readonly configGeneration: number;
  readonly now: Date;
  /** Set when the namespace's config nears or passes the ConfigMap limit. */
  readonly size?: SizeNotice | undefined;
}

/** A condition that changed status or reason: what an Event reports. */
export interface Transition extends DesiredCondition {
  /** Whether the condition existed before. */
  readonly initial: boolean;
  /** Whether its status changed (false: only the reason did). */
  readonly statusChanged: boolean;
}

/** Attaches times: lastTransitionTime is kept while the status stays the same. */
export function withTimes(
  previous: readonly Partial<Condition>[] | undefined,
  desired: readonly DesiredCondition[],
  observedGeneration: number,
  now: Date,
): Condition[] {
  return desired.map((d) => {
    const before = previous?.find((c) => c.type === d.type);
    const keep = before?.status === d.status && typeof before.lastTransitionTime === 'string';
    return {
      type: d.type,
      status: d.status,
      observedGeneration,
      lastTransitionTime: keep ? before.lastTransitionTime! : metaTime(now),
      reason: d.reason,
      message: d.message,
    };
  });
}

function acceptedCondition(verdict: Verdict): DesiredCondition {
  return verdict.ok
    ? {
        type: CONDITION.accepted,
        status: 'True',
        reason: REASON.accepted,
        message: 'the spec and the Secrets it references are valid',
      }
    : {
        type: CONDITION.accepted,
        status: 'False',
        reason: verdict.reason,
        message: verdict.message,
      };
}

function wasReady(previous: PreviousStatus | undefined): boolean {
  return (
    previous?.conditions?.some((c) => c.type === CONDITION.ready && c.status === 'True') ?? false
  );
}

/**
 * The endpoint's status. `entryUnchanged`: its entry in the config is the same as in the config
 * published before, so the generation it was published in stays — a change to one endpoint does
 * not rewrite the status of every other endpoint in the namespace.
 */
export function endpointStatus(
  result: EndpointResult,
  previous: PreviousStatus | undefined,
  entryUnchanged: boolean,
  context: StatusContext,
): EndpointStatus {
  const size = context.size;
  const kept = entryUnchanged && wasReady(previous) && previous?.configGeneration !== undefined;
  // Over the size limit only what the last published config already holds is in force.
  const published = result.accepted.ok && (size?.state !== 'over' || kept);
  const configGeneration = !published
    ? undefined
    : kept
      ? previous.configGeneration
      : context.configGeneration;
  const ready: DesiredCondition = !result.accepted.ok
    ? {
        type: CONDITION.ready,
        status: 'False',
        reason: REASON.notAccepted,
        message: `not published: ${result.accepted.message}`,
      }
    : !published
      ? {
          type: CONDITION.ready,
          status: 'False',
          reason: SIZE_REASON.over,
          message: `not published: ${size!.message}`,
        }
      : {
          type: CONDITION.ready,
          status: 'True',
          reason: size === undefined ? REASON.published : SIZE_REASON[size.state],
          message: `published in config generation ${configGeneration} (ConfigMap ${CONFIG_MAP_NAME})${size === undefined ? '' : `; ${size.message}`}`,
        };
  const status: EndpointStatus = {
    observedGeneration: context.generation,
    conditions: withTimes(
      previous?.conditions,
      [acceptedCondition(result.accepted), ready],
      context.generation,
      context.now,
    ),
  };
  if (configGeneration !== undefined) status.configGeneration = configGeneration;
  if (result.policy !== undefined) status.policy = result.policy;
  return status;
}

/**
 * The status of an endpoint or policy in a namespace that has not opted in, when the operator
 * reads Secrets only where namespaces did: nothing is checked or published there.
 */
export function notEnabledStatus(
  namespace: string,
  previous: PreviousStatus | undefined,
  context: Omit<StatusContext, 'configGeneration'>,
): { observedGeneration: number; conditions: Condition[] } {
  const why = `namespace ${namespace} has not opted in: the operator reads no Secrets there`;
  const fix = 'label it hookgate.io/injection=enabled';
  return {
    observedGeneration: context.generation,
    conditions: withTimes(
      previous?.conditions,
      [
        {
          type: CONDITION.accepted,
          status: 'Unknown',
          reason: REASON.namespaceNotEnabled,
          message: `not checked: ${why}; ${fix}`,
        },
        {
          type: CONDITION.ready,
          status: 'False',
          reason: REASON.namespaceNotEnabled,
          message: `not published: ${why}; ${fix}`,
        },
      ],
      context.generation,
      context.now,
    ),
  };
}

const MAX_NAMES = 10;

function conflictMessage(overriddenBy: PolicyResult['overriddenBy']): string {
  const parts = [...overriddenBy].map(([winner, endpoints]) => {
    const listed = endpoints.slice(0, MAX_NAMES).join(', ');
    const more = endpoints.length > MAX_NAMES ? ` and ${endpoints.length - MAX_NAMES} more` : '';
    return `the older WebhookPolicy "${winner}" is in effect for ${listed}${more}`;
  });
  return `${parts.join('; ')}. Narrow endpointSelector, or delete the overlapping policy`;
}

/**
 * The policy's status. Its configGeneration is the generation in which its current spec was
 * first published: kept while `metadata.generation` stays the same.
 */
export function policyStatus(
  result: PolicyResult,
  previous: PreviousStatus | undefined,
  context: StatusContext,
): PolicyStatus {
  const size = context.size;
  const kept =
    previous?.observedGeneration === context.generation &&
    wasReady(previous) &&
    previous.configGeneration !== undefined;
  const published = result.accepted.ok && (size?.state !== 'over' || kept);
  const configGeneration = !published
    ? undefined
    : kept
      ? previous.configGeneration
      : context.configGeneration;
  const conflicted: DesiredCondition =
    result.overriddenBy.size > 0
      ? {
          type: CONDITION.conflicted,
          status: 'True',
          reason: REASON.overridden,
          message: conflictMessage(result.overriddenBy),
        }
      : {
          type: CONDITION.conflicted,
          status: 'False',
          reason: REASON.noConflict,
          message: 'no older policy selects the endpoints this policy selects',
        };
  const ready: DesiredCondition = !result.accepted.ok
    ? {
        type: CONDITION.ready,
        status: 'False',
        reason: REASON.notAccepted,
        message: `not in effect: ${result.accepted.message}`,
      }
    : !published
      ? {
          type: CONDITION.ready,
          status: 'False',
          reason: SIZE_REASON.over,
          message: `not in effect: ${size!.message}`,
        }
      : {
          type: CONDITION.ready,
          status: 'True',
          reason: size === undefined ? REASON.published : SIZE_REASON[size.state],
          message: `in effect for ${result.inEffectFor} endpoint(s); published in config generation ${configGeneration} (ConfigMap ${CONFIG_MAP_NAME})${size === undefined ? '' : `; ${size.message}`}`,
        };
  const status: PolicyStatus = {
    observedGeneration: context.generation,
    conditions: withTimes(
      previous?.conditions,
      [acceptedCondition(result.accepted), ready, conflicted],
      context.generation,
      context.now,
    ),
    selectedEndpoints: result.inEffectFor,
  };
  if (configGeneration !== undefined) status.configGeneration = configGeneration;
  return status;
}

const OWNED_FIELDS = ['observedGeneration', 'configGeneration', 'policy', 'selectedEndpoints'];

/** The owned fields of a status, in a form that compares equal when the content is equal. */
function ownedView(status: object | undefined, types: readonly string[]): string {
  if (status === undefined) return '';
  const fields = status as Record<string, unknown> & {
    conditions?: readonly Partial<Condition>[];
  };
  const own = (fields.conditions ?? [])
    .filter((c) => c.type !== undefined && types.includes(c.type))
    .sort((a, b) => ((a.type ?? '') < (b.type ?? '') ? -1 : 1));
  return canonicalJson({
    ...Object.fromEntries(OWNED_FIELDS.map((f) => [f, fields[f]])),
    conditions: own,
  });
}

/** True when writing `next` would change what `previous` says (other writers' fields aside). */
export function statusDiffers(
  previous: object | undefined,
  next: EndpointStatus | PolicyStatus,
): boolean {
  const types = next.conditions.map((c) => c.type);
  return ownedView(previous, types) !== ownedView(next, types);
}

/** Conditions that are new or changed status or reason: what deserves an Event. */
export function transitions(
  previous: PreviousStatus | undefined,
  next: EndpointStatus | PolicyStatus,
): Transition[] {
  return next.conditions.flatMap((c) => {
    const before = previous?.conditions?.find((p) => p.type === c.type);
    if (before !== undefined && before.status === c.status && before.reason === c.reason) return [];
    return [
      {
        type: c.type,
        status: c.status,
        reason: c.reason,
        message: c.message,
        initial: before === undefined,
        statusChanged: before?.status !== c.status,
      },
    ];
  });
}

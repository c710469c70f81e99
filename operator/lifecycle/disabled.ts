// Whether the operator has disabled an endpoint (ADR 0021): its status holds the decision as the
// Healthy condition with reason Disabled, stamped with the generation it was taken at. A change
// to the resource (a new metadata.generation: kubectl edit, a GitOps commit) enables it again,
// the way Svix and Convoy users re-enable an endpoint, but in the cluster's own record.
import type { ObjectInput } from '../compile/compile.ts';

/** Condition type and reason that mark an endpoint disabled. */
export const DISABLED = { type: 'Healthy', reason: 'Disabled' } as const;

/** Longest reason handed to the sidecar (the problem detail quotes it). */
const MAX_REASON = 512;

interface ConditionView {
  readonly type?: unknown;
  readonly status?: unknown;
  readonly reason?: unknown;
  readonly message?: unknown;
  readonly observedGeneration?: unknown;
}

/** Why `object` is disabled at its current generation, or undefined when it is enabled. */
export function disabledReason(object: ObjectInput): string | undefined {
  const status = object['status'] as { conditions?: unknown } | undefined;
  const conditions = Array.isArray(status?.conditions)
    ? (status.conditions as ConditionView[])
    : [];
  const marked = conditions.find(
    (c) => c.type === DISABLED.type && c.status === 'False' && c.reason === DISABLED.reason,
  );
  if (marked === undefined) return undefined;
  // Decided about an older spec: the resource was changed since, which enables it.
  if (marked.observedGeneration !== object.metadata.generation) return undefined;
  const message = typeof marked.message === 'string' ? marked.message.trim() : '';
  return (message === '' ? 'disabled by the operator' : message).slice(0, MAX_REASON);
}

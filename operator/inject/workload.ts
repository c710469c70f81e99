// The workload a pod belongs to, for its durable queue's scope (DESIGN: `<namespace>/<workload>`,
// the pod's owning controller). Replicas of one workload share a queue; two workloads in one
// namespace never do, so a buffered ingress webhook is only ever forwarded to the app that
// accepted it (issue 15, item 2). Read from the pod at admission, with no API call.
import { createHash } from 'node:crypto';
import type { V1Pod } from '@kubernetes/client-node';

/** The owning controller of a pod: `Deployment/orders`, `StatefulSet/db`, `Pod/debug`. */
export interface Workload {
  readonly kind: string;
  readonly name: string;
}

/** Longest queue name the sidecar accepts (HOOKGATE_QUEUE_NAME). */
export const MAX_QUEUE_NAME = 63;

/**
 * The pod's owning controller. A ReplicaSet named `<deployment>-<pod-template-hash>` is its
 * Deployment's (the hash is the pod's own `pod-template-hash` label, so a ReplicaSet someone
 * created by hand stays a ReplicaSet); StatefulSet, DaemonSet, Job and any other controller are
 * themselves; a pod without a controller is its own workload, named by its name or, before the
 * API server has named it, its `generateName`.
 */
export function workloadOf(pod: V1Pod): Workload {
  const owner = pod.metadata?.ownerReferences?.find((o) => o.controller === true);
  if (owner === undefined) {
    const name = pod.metadata?.name ?? pod.metadata?.generateName?.replace(/-$/, '') ?? 'unnamed';
    return { kind: 'Pod', name: name === '' ? 'unnamed' : name };
  }
  const hash = pod.metadata?.labels?.['pod-template-hash'];
  if (
    owner.kind === 'ReplicaSet' &&
    owner.apiVersion.startsWith('apps/') &&
    hash !== undefined &&
    owner.name.endsWith(`-${hash}`)
  ) {
    return { kind: 'Deployment', name: owner.name.slice(0, -hash.length - 1) };
  }
  return { kind: owner.kind, name: owner.name };
}

/**
 * The queue name of a workload: `<kind>.<name>` in lower case (`deployment.orders`). Kinds have no
 * dot, so a Deployment and a StatefulSet of one name never share. Names past 63 characters keep
 * their first 54 and a digest of the whole, so they stay distinct and within the sidecar's bound.
 */
export function queueName(workload: Workload): string {
  const full = `${workload.kind.toLowerCase()}.${workload.name}`.replace(/[^a-z0-9_.-]/g, '-');
  if (full.length <= MAX_QUEUE_NAME) return full;
  const digest = createHash('sha256').update(full).digest('hex').slice(0, 8);
  return `${full.slice(0, MAX_QUEUE_NAME - digest.length - 1)}-${digest}`;
}

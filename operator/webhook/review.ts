// One AdmissionReview in, one answer out: the injector's decision carried in the shape the API
// server expects, plus an Event (best effort, de-duplicated) when a pod in an opted-in namespace
// is not injected.
import type { V1Pod } from '@kubernetes/client-node';
import type { Logger } from '../../common/log.ts';
import type { EventType } from '../events.ts';
import { decide, type InjectorOptions } from '../inject/inject.ts';
import type { KubeObject } from '../kube/types.ts';

/** The part of an AdmissionReview v1 request the injector reads. */
export interface AdmissionRequest {
  readonly uid: string;
  readonly kind?: { group?: string; version?: string; kind?: string };
  readonly resource?: { group?: string; version?: string; resource?: string };
  readonly subResource?: string;
  readonly namespace?: string;
  readonly operation?: string;
  readonly object?: unknown;
  readonly dryRun?: boolean;
}

/** An AdmissionReview v1 response. */
export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  patchType?: 'JSONPatch';
  patch?: string;
  status?: { code: number; reason?: string; message: string };
  warnings?: string[];
}

/** What a review resulted in, for metrics and logs. */
export interface ReviewResult {
  readonly response: AdmissionResponse;
  /** injected | skipped | rejected | ignored */
  readonly outcome: 'injected' | 'skipped' | 'rejected' | 'ignored';
  readonly reason: string;
}

/** Where skip Events go (the operator's EventRecorder). */
export type EventSink = (
  regarding: KubeObject,
  type: EventType,
  reason: string,
  note: string,
) => void;

/** Options for {@link Reviewer}. */
export interface ReviewerOptions {
  readonly injector: InjectorOptions;
  /** The namespace's published config generation; undefined: nothing published (yet). */
  readonly configGeneration: (namespace: string) => number | undefined;
  readonly events?: EventSink | undefined;
  /**
   * Namespaces never injected whatever their labels say: kube-system and the operator's own (its
   * pods cannot wait for the webhook they serve). The namespaceSelector excludes them too.
   */
  readonly excludedNamespaces?: readonly string[];
  readonly log: Logger;
  /** Milliseconds now, for Event de-duplication. */
  readonly now?: () => number;
}

/** One Event per owner and reason in this window. */
const EVENT_WINDOW_MS = 10 * 60_000;
const MAX_REMEMBERED = 10_000;

/** Answers AdmissionReviews for Pod CREATE. */
export class Reviewer {
  #options: ReviewerOptions;
  #now: () => number;
  #recent = new Map<string, number>();

  constructor(options: ReviewerOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** Decides and answers one request. Never throws for a well-formed request. */
  review(request: AdmissionRequest): ReviewResult {
    const { uid } = request;
    const isPodCreate =
      request.operation === 'CREATE' &&
      (request.kind?.group ?? '') === '' &&
      request.kind?.kind === 'Pod' &&
      (request.subResource ?? '') === '';
    const pod = request.object as V1Pod | undefined;
    if (!isPodCreate || typeof pod !== 'object' || pod === null) {
      return { response: { uid, allowed: true }, outcome: 'ignored', reason: 'NotPodCreate' };
    }
    const namespace = request.namespace ?? pod.metadata?.namespace ?? '';
    if ((this.#options.excludedNamespaces ?? ['kube-system']).includes(namespace)) {
      return { response: { uid, allowed: true }, outcome: 'ignored', reason: 'ExcludedNamespace' };
    }
    const generation = this.#options.configGeneration(namespace);
    const decision = decide(pod, generation, this.#options.injector);
    const who = podName(pod);

    switch (decision.action) {
      case 'reject':
        this.#options.log.info('pod refused', { namespace, pod: who, reason: decision.reason });
        return {
          response: {
            uid,
            allowed: false,
            status: { code: 400, reason: 'BadRequest', message: decision.message },
          },
          outcome: 'rejected',
          reason: decision.reason,
        };
      case 'skip': {
        if (decision.event && request.dryRun !== true) {
          this.#event(
            pod,
            namespace,
            'Normal',
            decision.reason,
            `pod ${who} not injected: ${decision.message}`,
          );
        }
        const response: AdmissionResponse = { uid, allowed: true };
        if (decision.patch.length > 0) {
          response.patchType = 'JSONPatch';
          response.patch = Buffer.from(JSON.stringify(decision.patch)).toString('base64');
        }
        return { response, outcome: 'skipped', reason: decision.reason };
      }
      case 'inject': {
        if (generation === undefined && request.dryRun !== true) {
          this.#event(
            pod,
            namespace,
            'Warning',
            'NoSidecarConfig',
            `pod ${who} injected, but namespace ${namespace} has no published hookgate config yet ` +
              '(no WebhookEndpoint): hookgate-proxy restarts until one is published, and the app waits for it',
          );
        }
        const response: AdmissionResponse = {
          uid,
          allowed: true,
          patchType: 'JSONPatch',
          patch: Buffer.from(JSON.stringify(decision.patch)).toString('base64'),
        };
        if (decision.warnings.length > 0) response.warnings = [...decision.warnings];
        return { response, outcome: 'injected', reason: 'Injected' };
      }
    }
  }

  /** Records an Event about the pod's controller (the pod has no name or uid yet), once per window. */
  #event(pod: V1Pod, namespace: string, type: EventType, reason: string, note: string): void {
    const sink = this.#options.events;
    if (sink === undefined) return;
    const owner = pod.metadata?.ownerReferences?.find((o) => o.controller === true);
    const regarding: KubeObject =
      owner !== undefined
        ? {
            apiVersion: owner.apiVersion,
            kind: owner.kind,
            metadata: { name: owner.name, namespace, uid: owner.uid },
          }
        : {
            apiVersion: 'v1',
            kind: 'Pod',
            metadata: { name: podName(pod).replace(/[-.]+$/, ''), namespace },
          };
    const key = `${namespace}/${regarding.kind ?? ''}/${regarding.metadata.name}/${reason}`;
    const now = this.#now();
    const last = this.#recent.get(key);
    if (last !== undefined && now - last < EVENT_WINDOW_MS) return;
    this.#recent.delete(key);
    this.#recent.set(key, now);
    if (this.#recent.size > MAX_REMEMBERED) {
      const oldest = this.#recent.keys().next().value;
      if (oldest !== undefined) this.#recent.delete(oldest);
    }
    sink(regarding, type, reason, note);
  }
}

/** The pod's name, or its generateName prefix (controllers' pods are named after admission). */
function podName(pod: V1Pod): string {
  return pod.metadata?.name ?? pod.metadata?.generateName ?? '(unnamed)';
}

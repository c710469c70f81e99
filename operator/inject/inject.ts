// The injection decision for one pod, as a pure function: inject (with the JSON patch), skip
// (with the reason, and whether it deserves an Event), or reject (naming every bad annotation and
// the fix). The webhook server only carries the answer to the API server.
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { ANNOTATION, SIDECAR_PORTS, readSettings, type SidecarDefaults } from './annotations.ts';
import { queueName, workloadOf } from './workload.ts';
import {
  EGRESS_URL,
  ENV_EGRESS_URL,
  PROXY_UID,
  SIDECAR_CONTAINER,
  VOLUME,
  sidecarContainer,
  sidecarVolumes,
  type SidecarEnvironment,
} from './sidecar.ts';

/** One RFC 6902 operation. */
export interface PatchOperation {
  readonly op: 'add' | 'replace' | 'test';
  readonly path: string;
  readonly value: unknown;
}

/** Builds the transparent-interception init container (issue 9); absent: not available. */
export type InterceptionBuilder = (input: {
  pod: V1Pod;
  appPorts: number[];
  proxyUid: number;
  image: string;
}) => V1Container;

/** Why a pod was not injected. */
export type SkipReason =
  /** The namespace opted in, the pod did not annotate `hookgate.io/inject: "true"`. */
  | 'NotAnnotated'
  /** The pod says `hookgate.io/inject: "false"`. */
  | 'OptedOut'
  /** The pod already has hookgate-proxy (reinvocation, or a pod made from an injected one). */
  | 'AlreadyInjected'
  /** hostNetwork pods share the node's ports: two of them on one node would collide. */
  | 'HostNetwork'
  /** Windows pods: the sidecar image is Linux only. */
  | 'UnsupportedOS';

/** The injector's answer for one pod. */
export type Decision =
  | {
      readonly action: 'inject';
      readonly patch: readonly PatchOperation[];
      /** The stamp written to `hookgate.io/injected`. */
      readonly stamp: InjectionStamp;
      readonly warnings: readonly string[];
    }
  | {
      readonly action: 'skip';
      readonly reason: SkipReason;
      readonly message: string;
      /** Whether this skip is worth an Event (not for reinvocations). */
      readonly event: boolean;
      /** Reinvocation: env for app containers added after the first pass. */
      readonly patch: readonly PatchOperation[];
    }
  | { readonly action: 'reject'; readonly reason: 'InvalidAnnotation'; readonly message: string };

/** What `hookgate.io/injected` records (JSON). */
export interface InjectionStamp {
  /** Version of the operator that injected. */
  readonly version: string;
  readonly image: string;
  /** The namespace's config generation at injection time; null: not published yet. */
  readonly configGeneration: number | null;
  readonly interception: 'explicit' | 'transparent';
}

/** What the injector is configured with. */
export interface InjectorOptions {
  readonly defaults: SidecarDefaults;
  /** The operator's version, for the stamp. */
  readonly version: string;
  readonly environment?: SidecarEnvironment;
  readonly interception?: InterceptionBuilder | undefined;
  /**
   * The operator's config stream, with the CA bundle as it is now (it rotates); absent, or no
   * bundle yet: the pod mounts the namespace's ConfigMap and Secret only.
   */
  readonly configStream?:
    { readonly url: string; readonly caBundle: () => string | undefined } | undefined;
}

/** Default terminationGracePeriodSeconds of a pod. */
const DEFAULT_GRACE_SECONDS = 30;

/** Escapes one JSON pointer segment. */
function pointer(segment: string): string {
  return segment.replaceAll('~', '~0').replaceAll('/', '~1');
}

/** Env operations giving each container HOOKGATE_EGRESS_URL when it has none. */
function envOperations(
  containers: readonly V1Container[] | undefined,
  field: 'containers' | 'initContainers',
): PatchOperation[] {
  const ops: PatchOperation[] = [];
  (containers ?? []).forEach((c, i) => {
    if (c.name === SIDECAR_CONTAINER || c.restartPolicy === 'Always') return;
    const variable = { name: ENV_EGRESS_URL, value: EGRESS_URL };
    if (c.env === undefined)
      ops.push({ op: 'add', path: `/spec/${field}/${i}/env`, value: [variable] });
    // An app that sets the variable itself keeps its value.
    else if (!c.env.some((e) => e.name === ENV_EGRESS_URL))
      ops.push({ op: 'add', path: `/spec/${field}/${i}/env/-`, value: variable });
  });
  return ops;
}

function hasSidecar(pod: V1Pod): boolean {
  return [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].some(
    (c) => c.name === SIDECAR_CONTAINER,
  );
}

/** Problems a pod's own spec has with the sidecar, named so the owner can fix them. */
function specConflicts(pod: V1Pod): string[] {
  const problems: string[] = [];
  const ours = new Set(Object.values(VOLUME) as string[]);
  for (const v of pod.spec?.volumes ?? []) {
    if (ours.has(v.name)) {
      problems.push(
        `spec.volumes: "${v.name}" is reserved for the hookgate sidecar; rename the volume`,
      );
    }
  }
  const sidecarPorts = new Set<number>(Object.values(SIDECAR_PORTS));
  for (const c of [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])]) {
    for (const p of c.ports ?? []) {
      if (sidecarPorts.has(p.containerPort)) {
        problems.push(
          `container "${c.name}" declares port ${p.containerPort}, which the hookgate sidecar listens on (15001, 15006, 15020); move it`,
        );
      }
    }
  }
  return problems;
}

/** Decides what to do with `pod` (an AdmissionReview's object on CREATE). */
export function decide(
  pod: V1Pod,
  configGeneration: number | undefined,
  options: InjectorOptions,
): Decision {
  const annotations = pod.metadata?.annotations ?? {};
  const inject = annotations[ANNOTATION.inject]?.trim();
  const skip = (reason: SkipReason, message: string, event = true): Decision => ({
    action: 'skip',
    reason,
    message,
    event,
    patch: [],
  });

  // Ordered checks: the first that applies decides.
  // Already injected: allowed as is; a container another webhook added since still gets the env.
  if (hasSidecar(pod)) {
    return {
      action: 'skip',
      reason: 'AlreadyInjected',
      message: `the pod already has the ${SIDECAR_CONTAINER} container`,
      event: false,
      patch: [
        ...envOperations(pod.spec?.initContainers, 'initContainers'),
        ...envOperations(pod.spec?.containers, 'containers'),
      ],
    };
  }
  // Opted out explicitly.
  if (inject === 'false') {
    return skip('OptedOut', `the pod opts out with ${ANNOTATION.inject}: "false"`);
  }
  // Not opted in: the namespace label alone is not enough.
  if (inject === undefined) {
    return skip(
      'NotAnnotated',
      `the namespace has injection enabled but the pod has no ${ANNOTATION.inject} annotation; ` +
        `add ${ANNOTATION.inject}: "true" to the pod template's metadata.annotations ` +
        `(annotations on the Deployment itself do not reach its pods)`,
    );
  }
  if (inject !== 'true') {
    return {
      action: 'reject',
      reason: 'InvalidAnnotation',
      message: `hookgate sidecar injection: ${ANNOTATION.inject}: "${inject}" is not "true" or "false"`,
    };
  }
  // hostNetwork: the sidecar's ports would be the node's.
  if (pod.spec?.hostNetwork === true) {
    return skip(
      'HostNetwork',
      "the pod uses hostNetwork: its sidecar ports (15001, 15006, 15020) would be the node's and collide; not injected",
    );
  }
  if (pod.spec?.os?.name === 'windows') {
    return skip('UnsupportedOS', 'the hookgate sidecar image is Linux only; not injected');
  }

  const grace = pod.spec?.terminationGracePeriodSeconds ?? DEFAULT_GRACE_SECONDS;
  const read = readSettings(annotations, options.defaults, grace);
  const problems = read.ok ? specConflicts(pod) : [...read.problems, ...specConflicts(pod)];
  if (
    read.ok &&
    read.settings.interception === 'transparent' &&
    options.interception === undefined
  ) {
    problems.push(
      `${ANNOTATION.interception}: "transparent" is not available in this hookgate-operator; remove the annotation or set it to "explicit"`,
    );
  }
  if (!read.ok || problems.length > 0) {
    return {
      action: 'reject',
      reason: 'InvalidAnnotation',
      message: `hookgate sidecar injection refused: ${problems.join('; ')}`,
    };
  }
  const settings = read.settings;

  const stamp: InjectionStamp = {
    version: options.version,
    image: settings.image,
    configGeneration: configGeneration ?? null,
    interception: settings.interception,
  };
  const caPem = options.configStream?.caBundle();
  const configStream =
    options.configStream === undefined || caPem === undefined || caPem === ''
      ? undefined
      : { url: options.configStream.url, caPem };
  const environment = { ...options.environment, configStream };
  const sidecar = sidecarContainer(settings, environment, queueName(workloadOf(pod)));
  const front: V1Container[] = [sidecar];
  if (settings.interception === 'transparent' && options.interception !== undefined) {
    let init: V1Container;
    try {
      init = options.interception({
        pod,
        appPorts: [settings.appPort],
        proxyUid: PROXY_UID,
        image: settings.image,
      });
    } catch (err) {
      // The builder names the bad interception annotation; the pod is refused like any other.
      return {
        action: 'reject',
        reason: 'InvalidAnnotation',
        message: `hookgate sidecar injection refused: ${(err as Error).message}`,
      };
    }
    // iptables first, so no app traffic leaves before the redirect is in place.
    front.unshift(init);
  }

  // Env first, on the original indices; then the insertions that shift them.
  const patch: PatchOperation[] = [
    ...envOperations(pod.spec?.initContainers, 'initContainers'),
    ...envOperations(pod.spec?.containers, 'containers'),
  ];
  if (pod.spec?.initContainers === undefined || pod.spec.initContainers.length === 0) {
    patch.push({ op: 'add', path: '/spec/initContainers', value: front });
  } else {
    // Before the pod's own init containers, so they can send webhooks too.
    for (const c of [...front].reverse())
      patch.push({ op: 'add', path: '/spec/initContainers/0', value: c });
  }
  const volumes = sidecarVolumes(configStream !== undefined);
  if (pod.spec?.volumes === undefined) {
    patch.push({ op: 'add', path: '/spec/volumes', value: volumes });
  } else {
    for (const v of volumes) patch.push({ op: 'add', path: '/spec/volumes/-', value: v });
  }
  const stampText = JSON.stringify(stamp);
  if (pod.metadata?.annotations === undefined) {
    patch.push({
      op: 'add',
      path: '/metadata/annotations',
      value: { [ANNOTATION.injected]: stampText },
    });
  } else {
    patch.push({
      op: 'add',
      path: `/metadata/annotations/${pointer(ANNOTATION.injected)}`,
      value: stampText,
    });
  }
  return { action: 'inject', patch, stamp, warnings: read.warnings };
}

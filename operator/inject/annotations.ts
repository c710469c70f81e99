// The pod annotations the injector reads, parsed whole: every bad value is reported at once, each
// naming the annotation, what is wrong and how to write it. Settings not annotated come from the
// operator's --sidecar-* flags.
import { isDuration, parseDuration } from '../../common/duration.ts';

/** Annotation prefix of every per-pod setting. */
export const ANNOTATION_PREFIX = 'hookgate.io/';

/** The annotations the injector reads (on the pod, i.e. the Deployment's pod template). */
export const ANNOTATION = {
  /** `"true"` opts the pod in (its namespace must be labelled too); `"false"` opts it out. */
  inject: 'hookgate.io/inject',
  /** The app's port: where ingress webhooks are forwarded (and captured, in transparent mode). */
  appPort: 'hookgate.io/app-port',
  /** Sidecar CPU request. */
  proxyCpu: 'hookgate.io/proxy-cpu',
  /** Sidecar memory request. */
  proxyMemory: 'hookgate.io/proxy-memory',
  /** Sidecar CPU limit. */
  proxyCpuLimit: 'hookgate.io/proxy-cpu-limit',
  /** Sidecar memory limit. */
  proxyMemoryLimit: 'hookgate.io/proxy-memory-limit',
  /** Sidecar log level. */
  logLevel: 'hookgate.io/log-level',
  /** How long the sidecar lets in-flight deliveries finish once it is told to stop. */
  drainTimeout: 'hookgate.io/drain-timeout',
  /** Sidecar image. */
  image: 'hookgate.io/image',
  /** `explicit` (the app calls HOOKGATE_EGRESS_URL) or `transparent` (iptables capture). */
  interception: 'hookgate.io/interception',
  /** Written by the injector: what was injected (JSON). */
  injected: 'hookgate.io/injected',
} as const;

/** Ports the sidecar listens on inside the pod: an app port must not take one. */
export const SIDECAR_PORTS = { egress: 15001, ingress: 15006, admin: 15020 } as const;

/** Sidecar settings that have an operator-wide default (the --sidecar-* flags). */
export interface SidecarDefaults {
  readonly image: string;
  readonly cpuRequest: string;
  readonly memoryRequest: string;
  readonly cpuLimit: string;
  readonly memoryLimit: string;
  readonly logLevel: string;
  readonly drainTimeout: string;
  /** Forward port when the pod does not name one (the CRD's documented default). */
  readonly appPort?: number;
  /**
   * Images `hookgate.io/image` may choose besides `image` (--sidecar-allowed-images). The image
   * also runs the root `hookgate-init` container of transparent pods, so the operator decides.
   */
  readonly allowedImages?: readonly string[];
}

/** Everything the injector needs to know about one pod, defaults filled in. */
export interface PodSettings {
  readonly image: string;
  readonly cpuRequest: string;
  readonly memoryRequest: string;
  readonly cpuLimit: string;
  readonly memoryLimit: string;
  readonly logLevel: string;
  readonly drainTimeout: string;
  readonly drainTimeoutMs: number;
  readonly appPort: number;
  readonly interception: 'explicit' | 'transparent';
}

/** The default app port (WebhookEndpoint `spec.forward.port` documents it). */
export const DEFAULT_APP_PORT = 8080;

const LOG_LEVELS = ['debug', 'info', 'warn', 'error'];
const QUANTITY = /^(\d+(\.\d+)?|\.\d+)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei|[eE]\d+)?$/;
const MULTIPLIER: Record<string, number> = {
  '': 1,
  m: 1e-3,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};
// A reference like registry.example:5000/team/image:tag@sha256:…; the kubelet judges the rest.
const IMAGE = /^[A-Za-z0-9][A-Za-z0-9._\-/:@+]{0,511}$/;
/** Longest drain the injector accepts. */
const MAX_DRAIN_MS = 10 * 60_000;

/** The numeric value of a Kubernetes quantity (`250m` → 0.25, `64Mi` → 67108864), or undefined. */
export function parseQuantity(value: string): number | undefined {
  const match = QUANTITY.exec(value);
  if (match === null) return undefined;
  const suffix = match[3] ?? '';
  const base = Number(match[1]);
  if (/^[eE]\d+$/.test(suffix)) return base * 10 ** Number(suffix.slice(1));
  return base * MULTIPLIER[suffix]!;
}

/** Result of {@link readSettings}: the settings, or every problem found. */
export type SettingsResult =
  | { readonly ok: true; readonly settings: PodSettings; readonly warnings: readonly string[] }
  | { readonly ok: false; readonly problems: readonly string[] };

type Annotations = Readonly<Record<string, string>>;

/**
 * Reads the per-pod settings from `annotations` over `defaults`. `graceSeconds` is the pod's
 * termination grace period: an annotated drain time must fit inside it.
 */
export function readSettings(
  annotations: Annotations,
  defaults: SidecarDefaults,
  graceSeconds: number,
): SettingsResult {
  const problems: string[] = [];
  const get = (name: string): string | undefined => {
    const v = annotations[name];
    return v === undefined ? undefined : v.trim();
  };

  const quantity = (name: string, fallback: string, kind: 'cpu' | 'memory'): [string, number] => {
    const raw = get(name);
    const value = raw ?? fallback;
    const parsed = parseQuantity(value);
    if (parsed === undefined) {
      problems.push(
        raw === undefined
          ? `the operator's default ${kind} "${value}" is not a quantity (fix the --sidecar-* flag)`
          : `${name}: "${raw}" is not a Kubernetes quantity; write it like ${kind === 'cpu' ? '100m or 0.5' : '128Mi or 1Gi'}`,
      );
      return [value, NaN];
    }
    return [value, parsed];
  };
  const [cpuRequest, cpuRequestN] = quantity(ANNOTATION.proxyCpu, defaults.cpuRequest, 'cpu');
  const [memoryRequest, memoryRequestN] = quantity(
    ANNOTATION.proxyMemory,
    defaults.memoryRequest,
    'memory',
  );
  const [cpuLimit, cpuLimitN] = quantity(ANNOTATION.proxyCpuLimit, defaults.cpuLimit, 'cpu');
  const [memoryLimit, memoryLimitN] = quantity(
    ANNOTATION.proxyMemoryLimit,
    defaults.memoryLimit,
    'memory',
  );
  // The API server would refuse request > limit with a message about the container; say which
  // annotation to change instead.
  const ordered = (
    request: [string, number, string],
    limit: [string, number, string],
    kind: string,
  ): void => {
    if (Number.isNaN(request[1]) || Number.isNaN(limit[1])) return;
    if (limit[1] <= 0) problems.push(`${limit[2]}: "${limit[0]}" must be above zero`);
    else if (request[1] > limit[1]) {
      problems.push(
        `${request[2]}: ${kind} request "${request[0]}" is above the ${kind} limit "${limit[0]}"; ` +
          `set ${limit[2]} to at least "${request[0]}" or lower the request`,
      );
    }
  };
  ordered(
    [cpuRequest, cpuRequestN, ANNOTATION.proxyCpu],
    [cpuLimit, cpuLimitN, ANNOTATION.proxyCpuLimit],
    'CPU',
  );
  ordered(
    [memoryRequest, memoryRequestN, ANNOTATION.proxyMemory],
    [memoryLimit, memoryLimitN, ANNOTATION.proxyMemoryLimit],
    'memory',
  );

  const rawLevel = get(ANNOTATION.logLevel);
  const logLevel = rawLevel ?? defaults.logLevel;
  if (rawLevel !== undefined && !LOG_LEVELS.includes(rawLevel)) {
    problems.push(`${ANNOTATION.logLevel}: "${rawLevel}" is not one of ${LOG_LEVELS.join(', ')}`);
  }

  const rawDrain = get(ANNOTATION.drainTimeout);
  const drainTimeout = rawDrain ?? defaults.drainTimeout;
  let drainTimeoutMs = 0;
  if (!isDuration(drainTimeout)) {
    problems.push(
      `${ANNOTATION.drainTimeout}: "${drainTimeout}" is not a duration; write it like 10s or 1m30s`,
    );
  } else {
    drainTimeoutMs = parseDuration(drainTimeout);
    if (rawDrain !== undefined && drainTimeoutMs > MAX_DRAIN_MS) {
      problems.push(`${ANNOTATION.drainTimeout}: "${rawDrain}" is longer than the 10m maximum`);
    } else if (rawDrain !== undefined && drainTimeoutMs >= graceSeconds * 1000) {
      // The kubelet kills whatever still runs at the end of the grace period, which the app's
      // own shutdown shares with the sidecar's drain.
      problems.push(
        `${ANNOTATION.drainTimeout}: "${rawDrain}" does not fit in the pod's ` +
          `terminationGracePeriodSeconds (${graceSeconds}); raise spec.terminationGracePeriodSeconds ` +
          `above the drain time or shorten the drain`,
      );
    }
  }

  const rawPort = get(ANNOTATION.appPort);
  let appPort = defaults.appPort ?? DEFAULT_APP_PORT;
  if (rawPort !== undefined) {
    const port = /^\d{1,5}$/.test(rawPort) ? Number(rawPort) : NaN;
    if (!(port >= 1 && port <= 65535)) {
      problems.push(`${ANNOTATION.appPort}: "${rawPort}" is not a port number from 1 to 65535`);
    } else if (Object.values(SIDECAR_PORTS).includes(port as 15001)) {
      problems.push(
        `${ANNOTATION.appPort}: ${port} is a port the sidecar listens on (15001, 15006, 15020); move the app to another port`,
      );
    } else appPort = port;
  }

  const rawImage = get(ANNOTATION.image);
  const image = rawImage ?? defaults.image;
  if (rawImage !== undefined && (rawImage === '' || !IMAGE.test(rawImage))) {
    problems.push(
      `${ANNOTATION.image}: "${rawImage}" is not an image reference; write it like ghcr.io/hookgate/sidecar:0.1.0`,
    );
  } else if (
    rawImage !== undefined &&
    rawImage !== defaults.image &&
    !(defaults.allowedImages ?? []).includes(rawImage)
  ) {
    problems.push(
      `${ANNOTATION.image}: "${rawImage}" is not an image this hookgate-operator allows; remove the annotation, or ask the platform team to add it to --sidecar-allowed-images`,
    );
  }

  const rawInterception = get(ANNOTATION.interception);
  const interception = rawInterception ?? 'explicit';
  if (interception !== 'explicit' && interception !== 'transparent') {
    problems.push(
      `${ANNOTATION.interception}: "${rawInterception}" is not "explicit" or "transparent"`,
    );
  }

  if (problems.length > 0) return { ok: false, problems };

  // Unknown hookgate.io/ keys: most likely a typo, which would otherwise be ignored in silence.
  const known = new Set<string>(Object.values(ANNOTATION));
  const warnings = Object.keys(annotations)
    .filter((k) => k.startsWith(ANNOTATION_PREFIX) && !known.has(k))
    .map((k) => `annotation ${k} is not a hookgate injector setting and is ignored`);

  return {
    ok: true,
    warnings,
    settings: {
      image,
      cpuRequest,
      memoryRequest,
      cpuLimit,
      memoryLimit,
      logLevel,
      drainTimeout,
      drainTimeoutMs,
      appPort,
      interception: interception as PodSettings['interception'],
    },
  };
}

// The init container that installs transparent interception in a pod's network namespace, built
// for the injector (pure: a pod and a few facts in, a container out). It runs the sidecar image's
// own `hookgate-sidecar iptables apply`, so the rules come from the same function as the dry run.
// It alone gets NET_ADMIN and NET_RAW, as root but not privileged, and exits before the app starts;
// the sidecar and the app run without those capabilities.
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import {
  DEFAULT_EGRESS_PORT,
  DEFAULT_INGRESS_PORT,
  InterceptionInputError,
  interceptionSettings,
  type InterceptionSettings,
} from './rules.ts';

/** Pod annotation turning transparent interception on: `transparent` (default `explicit`). */
export const ANNOTATION_INTERCEPTION = 'hookgate.io/interception';
/** How rules are installed: `iptables` (default), `iptables-legacy` or `nftables`. */
export const ANNOTATION_INTERCEPTION_MODE = 'hookgate.io/interception-mode';
/** Outbound destination ports captured, comma-separated (default `80`; `none`: no egress). */
export const ANNOTATION_EGRESS_PORTS = 'hookgate.io/egress-ports';
/** Destinations never captured, comma-separated addresses or CIDRs (e.g. the API server). */
export const ANNOTATION_EGRESS_EXCLUDE_CIDRS = 'hookgate.io/egress-exclude-cidrs';
/** IPv6 on captured ports: `reject` (default) or `off`. */
export const ANNOTATION_INTERCEPTION_IPV6 = 'hookgate.io/interception-ipv6';

/** Name of the init container. */
export const INTERCEPTION_INIT_CONTAINER = 'hookgate-init';

/** What the injector hands over. */
export interface InterceptionInitInput {
  /** The pod being admitted; its `hookgate.io/*` annotations tune the rules. */
  readonly pod: V1Pod;
  /** Ports where the app receives webhooks (the ingress endpoints' forward ports). */
  readonly appPorts: readonly number[];
  /** UID the sidecar container runs as (15000). */
  readonly proxyUid: number;
  /** The sidecar image (it carries iptables, iptables-legacy and nft). */
  readonly image: string;
}

/** Whether the pod asks for transparent interception. */
export function wantsTransparentInterception(pod: V1Pod): boolean {
  return pod.metadata?.annotations?.[ANNOTATION_INTERCEPTION] === 'transparent';
}

const FIELD_ANNOTATION: Readonly<Record<string, string>> = {
  mode: ANNOTATION_INTERCEPTION_MODE,
  egressPorts: ANNOTATION_EGRESS_PORTS,
  egressExcludeCidrs: ANNOTATION_EGRESS_EXCLUDE_CIDRS,
  ipv6: ANNOTATION_INTERCEPTION_IPV6,
};

/** Comma list of the annotation, `none`/empty as no entries. */
function list(value: string): string[] {
  const trimmed = value.trim();
  if (trimmed === '' || trimmed === 'none') return [];
  return trimmed.split(',').map((p) => p.trim());
}

/** The rule settings for `input`; the error names the annotation (or field) and the fix. */
export function interceptionSettingsForPod(input: InterceptionInitInput): InterceptionSettings {
  const annotations = input.pod.metadata?.annotations ?? {};
  const problems: string[] = [];
  const raw: Record<string, unknown> = {
    proxyUid: input.proxyUid,
    egressPort: DEFAULT_EGRESS_PORT,
    ingressPort: DEFAULT_INGRESS_PORT,
    appPorts: [...input.appPorts],
  };
  const mode = annotations[ANNOTATION_INTERCEPTION_MODE];
  if (mode !== undefined) raw['mode'] = mode;
  const ports = annotations[ANNOTATION_EGRESS_PORTS];
  if (ports !== undefined) {
    raw['egressPorts'] = list(ports).map((p) => {
      if (!/^\d{1,5}$/.test(p))
        problems.push(
          `${ANNOTATION_EGRESS_PORTS}: "${p}" is not a port; write e.g. "80,8080" or "none"`,
        );
      return Number(p);
    });
  }
  const cidrs = annotations[ANNOTATION_EGRESS_EXCLUDE_CIDRS];
  if (cidrs !== undefined) raw['egressExcludeCidrs'] = list(cidrs);
  const ipv6 = annotations[ANNOTATION_INTERCEPTION_IPV6];
  if (ipv6 !== undefined) raw['ipv6'] = ipv6;
  if (problems.length > 0) throw new InterceptionInputError(problems);
  try {
    return interceptionSettings(raw);
  } catch (err) {
    if (!(err instanceof InterceptionInputError)) throw err;
    throw new InterceptionInputError(
      err.problems.map((p) => {
        const field = p.split(/[.:]/)[0]!;
        const annotation = FIELD_ANNOTATION[field];
        if (annotation !== undefined)
          return `annotation ${annotation}: ${p.slice(p.indexOf(':') + 1).trim()}`;
        if (field === 'appPorts')
          return `app ports (hookgate.io/app-port, the ingress forward ports): ${p.slice(p.indexOf(':') + 1).trim()}`;
        return p;
      }),
    );
  }
}

/** The `hookgate-sidecar iptables apply` arguments for `settings` (after the program name). */
export function interceptionApplyArgs(settings: InterceptionSettings): string[] {
  const ports = (p: readonly number[]): string => (p.length === 0 ? 'none' : p.join(','));
  return [
    'iptables',
    'apply',
    '--mode',
    settings.mode,
    '--proxy-uid',
    String(settings.proxyUid),
    '--egress-port',
    String(settings.egressPort),
    '--ingress-port',
    String(settings.ingressPort),
    '--egress-ports',
    ports(settings.egressPorts),
    '--app-ports',
    ports(settings.appPorts),
    '--exclude-cidrs',
    settings.egressExcludeCidrs.length === 0 ? 'none' : settings.egressExcludeCidrs.join(','),
    '--ipv6',
    settings.ipv6,
  ];
}

/**
 * The init container installing transparent interception for `input.pod`. Throws an
 * {@link InterceptionInputError} naming the annotation at fault (the injector refuses the pod).
 */
export function interceptionInitContainer(input: InterceptionInitInput): V1Container {
  const settings = interceptionSettingsForPod(input);
  return {
    name: INTERCEPTION_INIT_CONTAINER,
    image: input.image,
    command: ['hookgate-sidecar'],
    args: interceptionApplyArgs(settings),
    resources: {
      requests: { cpu: '10m', memory: '32Mi' },
      limits: { cpu: '500m', memory: '128Mi' },
    },
    securityContext: {
      // Root only to talk to netfilter in the pod's own namespace; never privileged, and only
      // the two capabilities rule installation needs.
      runAsUser: 0,
      runAsGroup: 0,
      runAsNonRoot: false,
      privileged: false,
      allowPrivilegeEscalation: false,
      // iptables-legacy takes its lock in /run; the container exits within a second anyway.
      readOnlyRootFilesystem: false,
      capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] },
    },
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };
}

// The injector's command-line flags (contracts.md): where the admission webhook listens, how it
// gets its certificate, and the sidecar defaults every injected pod starts from.
import { parseDuration } from '../../common/duration.ts';
import { parseListenAddress, type ListenAddress } from '../../common/cli.ts';
import { VERSION } from '../../common/version.ts';
import { parseQuantity, type SidecarDefaults } from '../inject/annotations.ts';
import type { CertMode } from '../certs/manager.ts';

/** Default names (contracts.md). */
export const WEBHOOK_DEFAULTS = {
  addr: '0.0.0.0:9443',
  service: 'hookgate-operator-webhook',
  config: 'hookgate-sidecar-injector',
  secret: 'hookgate-webhook-tls',
  caValidity: '87600h',
  certValidity: '2160h',
} as const;

/** The default sidecar image: the same release as the operator. */
export const DEFAULT_SIDECAR_IMAGE = `ghcr.io/hookgate/sidecar:${VERSION}`;

/** `parseArgs` option definitions of the injector's flags. */
export const WEBHOOK_OPTIONS = {
  'webhook-addr': { type: 'string', default: WEBHOOK_DEFAULTS.addr },
  'webhook-cert-mode': { type: 'string', default: 'self-managed' },
  'webhook-service': { type: 'string', default: WEBHOOK_DEFAULTS.service },
  'webhook-config': { type: 'string', default: WEBHOOK_DEFAULTS.config },
  'webhook-secret': { type: 'string', default: WEBHOOK_DEFAULTS.secret },
  'webhook-ca-validity': { type: 'string', default: WEBHOOK_DEFAULTS.caValidity },
  'webhook-cert-validity': { type: 'string', default: WEBHOOK_DEFAULTS.certValidity },
  'webhook-extra-hosts': { type: 'string', default: '' },
  'sidecar-image': { type: 'string', default: DEFAULT_SIDECAR_IMAGE },
  'sidecar-allowed-images': { type: 'string', default: '' },
  'sidecar-cpu-request': { type: 'string', default: '50m' },
  'sidecar-memory-request': { type: 'string', default: '64Mi' },
  'sidecar-cpu-limit': { type: 'string', default: '1' },
  'sidecar-memory-limit': { type: 'string', default: '256Mi' },
  'sidecar-log-level': { type: 'string', default: 'info' },
  'sidecar-drain-timeout': { type: 'string', default: '10s' },
  'sidecar-redis-url': { type: 'string', default: '' },
} as const;

/** Usage lines of the injector's flags. */
export const WEBHOOK_USAGE = `  --webhook-addr HOST:PORT     admission webhook (HTTPS, POST /inject); "" disables it
                               (default: ${WEBHOOK_DEFAULTS.addr})
  --webhook-cert-mode MODE     self-managed (the operator issues and rotates a CA and serving
                               certificate and patches caBundle) | external (cert-manager fills
                               the Secret and injects caBundle) (default: self-managed)
  --webhook-service NAME       Service in front of the webhook (default: ${WEBHOOK_DEFAULTS.service})
  --webhook-config NAME        MutatingWebhookConfiguration (default: ${WEBHOOK_DEFAULTS.config})
  --webhook-secret NAME        TLS Secret in the operator's namespace (default: ${WEBHOOK_DEFAULTS.secret})
  --webhook-ca-validity D      self-managed CA lifetime; rotated at 2/3 (default: ${WEBHOOK_DEFAULTS.caValidity})
  --webhook-cert-validity D    serving certificate lifetime; renewed at 2/3 (default: ${WEBHOOK_DEFAULTS.certValidity})
  --webhook-extra-hosts H,…    more DNS names / IPs for the serving certificate (an operator run
                               outside the cluster behind a URL webhook)
  --sidecar-image IMAGE        (default: ${DEFAULT_SIDECAR_IMAGE})
  --sidecar-allowed-images I,… other images pods may choose with hookgate.io/image; it also runs
                               the root hookgate-init container (default: none but --sidecar-image)
  --sidecar-cpu-request Q      (default: 50m)      --sidecar-cpu-limit Q     (default: 1)
  --sidecar-memory-request Q   (default: 64Mi)     --sidecar-memory-limit Q  (default: 256Mi)
  --sidecar-log-level LEVEL    (default: info)     --sidecar-drain-timeout D (default: 10s)
  --sidecar-redis-url URL      Redis for the sidecars (default: $HOOKGATE_REDIS_URL); published in
                               each namespace's Secret hookgate-sidecar-secrets (key redis-url)
                               and referenced by the injected sidecars' HOOKGATE_REDIS_URL
                               Pods override the sidecar settings with hookgate.io/* annotations.
`;

/** Parsed injector flags. */
export interface WebhookFlags {
  /** undefined: the webhook is disabled. */
  readonly listen: ListenAddress | undefined;
  readonly certMode: CertMode;
  readonly service: string;
  readonly config: string;
  readonly secret: string;
  readonly caValidityMs: number;
  readonly certValidityMs: number;
  /** Extra names and IPs for the serving certificate. */
  readonly extraHosts: readonly string[];
  readonly sidecar: SidecarDefaults;
  readonly redisUrl: string | undefined;
}

type Values = { readonly [K in keyof typeof WEBHOOK_OPTIONS]: string };

const DNS_NAME = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/** Reads the injector's flags from parsed values, adding every problem to `problems`. */
export function readWebhookFlags(values: Values, problems: string[]): WebhookFlags {
  let listen: ListenAddress | undefined;
  if (values['webhook-addr'] !== '') {
    try {
      listen = parseListenAddress('--webhook-addr', values['webhook-addr']);
    } catch (err) {
      problems.push((err as Error).message);
    }
  }
  const mode = values['webhook-cert-mode'];
  if (mode !== 'self-managed' && mode !== 'external') {
    problems.push(`--webhook-cert-mode: "${mode}" is not self-managed or external`);
  }
  for (const flag of ['webhook-service', 'webhook-config', 'webhook-secret'] as const) {
    if (!DNS_NAME.test(values[flag])) problems.push(`--${flag}: "${values[flag]}" is not a name`);
  }
  const duration = (flag: keyof Values): number => {
    try {
      const ms = parseDuration(values[flag]);
      if (ms <= 0) problems.push(`--${flag}: must be above zero`);
      return ms;
    } catch (err) {
      problems.push(`--${flag}: ${(err as Error).message}`);
      return 0;
    }
  };
  const caValidityMs = duration('webhook-ca-validity');
  const certValidityMs = duration('webhook-cert-validity');
  if (caValidityMs > 0 && certValidityMs > caValidityMs) {
    problems.push('--webhook-cert-validity must not be longer than --webhook-ca-validity');
  }
  for (const flag of [
    'sidecar-cpu-request',
    'sidecar-memory-request',
    'sidecar-cpu-limit',
    'sidecar-memory-limit',
  ] as const) {
    if (parseQuantity(values[flag]) === undefined) {
      problems.push(`--${flag}: "${values[flag]}" is not a Kubernetes quantity (like 100m, 64Mi)`);
    }
  }
  if (!['debug', 'info', 'warn', 'error'].includes(values['sidecar-log-level'])) {
    problems.push(
      `--sidecar-log-level: "${values['sidecar-log-level']}" is not debug, info, warn or error`,
    );
  }
  duration('sidecar-drain-timeout');
  if (values['sidecar-image'].trim() === '') problems.push('--sidecar-image must not be empty');
  return {
    listen,
    certMode: mode as CertMode,
    service: values['webhook-service'],
    config: values['webhook-config'],
    secret: values['webhook-secret'],
    caValidityMs,
    certValidityMs,
    extraHosts: values['webhook-extra-hosts']
      .split(',')
      .map((h) => h.trim())
      .filter((h) => h !== ''),
    sidecar: {
      image: values['sidecar-image'],
      allowedImages: values['sidecar-allowed-images']
        .split(',')
        .map((i) => i.trim())
        .filter((i) => i !== ''),
      cpuRequest: values['sidecar-cpu-request'],
      memoryRequest: values['sidecar-memory-request'],
      cpuLimit: values['sidecar-cpu-limit'],
      memoryLimit: values['sidecar-memory-limit'],
      logLevel: values['sidecar-log-level'],
      drainTimeout: values['sidecar-drain-timeout'],
    },
    redisUrl: values['sidecar-redis-url'] === '' ? undefined : values['sidecar-redis-url'],
  };
}

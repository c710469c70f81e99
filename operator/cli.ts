// The operator's command-line flags, parsed whole: every problem is reported at once, naming the
// flag and an example, and the program exits with status 2.
import { parseArgs } from 'node:util';
import { parseListenAddress, type ListenAddress } from '../common/cli.ts';
import { parseDuration } from '../common/duration.ts';
import { OperatorError } from './errors.ts';
import { DEFAULT_LEASE_NAME, DEFAULT_LEASE_NAMESPACE, DEFAULT_SECRET_ROLE } from './names.ts';
import {
  WEBHOOK_OPTIONS,
  WEBHOOK_USAGE,
  readWebhookFlags,
  type WebhookFlags,
} from './webhook/flags.ts';

/** Usage text for `--help`. */
export const USAGE = `Usage: hookgate-operator [flags]

Reconciles WebhookEndpoints and WebhookPolicies into one sidecar ConfigMap and Secret per
namespace and reports status on every resource. Admin server: /healthz, /readyz, /metrics.

Flags:
  --kubeconfig FILE            kubeconfig to use (default: $KUBECONFIG, else in-cluster, else
                               ~/.kube/config)
  --watch-namespace NS[,NS…]   reconcile only these namespaces (default: all)
  --secret-role NAME           without --watch-namespace: read Secrets only in namespaces labelled
                               hookgate.io/injection=enabled, binding this ClusterRole there
                               (default: ${DEFAULT_SECRET_ROLE}); "" reads them cluster-wide
  --service-account NAME       the operator's ServiceAccount, in its own namespace, which those
                               RoleBindings name (default: hookgate-operator)
  --leader-elect true|false    compete for a Lease so one replica reconciles (default: true)
  --lease-name NAME            (default: ${DEFAULT_LEASE_NAME})
  --lease-namespace NS         (default: the pod's namespace in a cluster, else ${DEFAULT_LEASE_NAMESPACE})
  --lease-duration DURATION    how long a silent leader keeps the lease (default: 15s)
  --renew-deadline DURATION    a leader that cannot renew this long steps down (default: 10s)
  --retry-period DURATION      between lease attempts (default: 2s)
  --workers N                  namespaces reconciled at once (default: 2)
  --watch-timeout DURATION     server-side watch timeout; a watch silent longer than this plus
                               30s is declared stalled and the cache is listed again (default: 5m)
  --resync DURATION            reconcile every namespace this often as a safety net (default: 10m)
  --config-addr HOST:PORT      serve sidecars their scoped config and take their health reports
                               (HTTPS, the webhook's certificate; every replica); "" turns it off
                               and injected pods mount the namespace's Secret instead
                               (default: 0.0.0.0:15012, docs/adr/0020)
  --console-addr HOST:PORT     serve the web console here (e.g. 0.0.0.0:9090); "" (default) keeps
                               it off. Reads sidecars with HOOKGATE_ADMIN_TOKEN (docs/adr/0023)
${WEBHOOK_USAGE}  --help, --version

Environment:
  HOOKGATE_ADMIN_ADDR   admin listen address (default 0.0.0.0:8080)
  HOOKGATE_LOG_LEVEL    debug | info | warn | error (default info)
  POD_NAMESPACE         the operator's namespace (webhook Secret; default: in-cluster, else hookgate-system)
`;

/** Parsed flags. */
export interface OperatorFlags {
  readonly kubeconfig: string | undefined;
  readonly namespaces: readonly string[] | undefined;
  /** The ClusterRole bound per opted-in namespace; undefined: Secrets are read cluster-wide. */
  readonly secretRole: string | undefined;
  readonly serviceAccount: string;
  readonly leaderElect: boolean;
  readonly leaseName: string;
  readonly leaseNamespace: string | undefined;
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
  readonly workers: number;
  readonly watchTimeoutSeconds: number;
  readonly resyncMs: number;
  /** The admission webhook (sidecar injection). */
  readonly webhook: WebhookFlags;
  /** Where the config stream listens; undefined: off, pods get the mounts (ADR 0020). */
  readonly configServer: ListenAddress | undefined;
  /** Where the web console listens; undefined: off (ADR 0023). */
  readonly console: ListenAddress | undefined;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN =
  /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** `value` as an address; "" is off (undefined), a bad one a problem. */
function listenAddress(flag: string, value: string, problems: string[]): ListenAddress | undefined {
  if (value === '') return undefined;
  try {
    return parseListenAddress(flag, value);
  } catch (err) {
    problems.push((err as Error).message);
    return undefined;
  }
}

/** Parses the flags; throws `OperatorError` (`ERR_USAGE`) listing every problem. */
export function parseFlags(argv: readonly string[]): OperatorFlags {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: {
        kubeconfig: { type: 'string' },
        'watch-namespace': { type: 'string' },
        'secret-role': { type: 'string', default: DEFAULT_SECRET_ROLE },
        'service-account': { type: 'string', default: 'hookgate-operator' },
        'leader-elect': { type: 'string', default: 'true' },
        'lease-name': { type: 'string', default: DEFAULT_LEASE_NAME },
        'lease-namespace': { type: 'string' },
        'lease-duration': { type: 'string', default: '15s' },
        'renew-deadline': { type: 'string', default: '10s' },
        'retry-period': { type: 'string', default: '2s' },
        workers: { type: 'string', default: '2' },
        'watch-timeout': { type: 'string', default: '5m' },
        resync: { type: 'string', default: '10m' },
        'config-addr': { type: 'string', default: '0.0.0.0:15012' },
        'console-addr': { type: 'string', default: '' },
        ...WEBHOOK_OPTIONS,
      },
    }));
  } catch (err) {
    throw new OperatorError('ERR_USAGE', 400, (err as Error).message);
  }
  const problems: string[] = [];
  const duration = (flag: keyof typeof values): number => {
    try {
      return parseDuration(String(values[flag]));
    } catch (err) {
      problems.push(`--${flag}: ${(err as Error).message}`);
      return 0;
    }
  };
  const namespaces = values['watch-namespace']
    ?.split(',')
    .map((n) => n.trim())
    .filter((n) => n !== '');
  for (const ns of namespaces ?? []) {
    if (!DNS_LABEL.test(ns)) problems.push(`--watch-namespace: "${ns}" is not a namespace name`);
  }
  const secretRole = values['secret-role'];
  if (secretRole !== '' && !DNS_SUBDOMAIN.test(secretRole)) {
    problems.push(
      `--secret-role: "${secretRole.slice(0, 64)}" is not a ClusterRole name (e.g. ${DEFAULT_SECRET_ROLE})`,
    );
  }
  if (!DNS_SUBDOMAIN.test(values['service-account'])) {
    problems.push(
      `--service-account: "${values['service-account'].slice(0, 64)}" is not a ServiceAccount name (e.g. hookgate-operator)`,
    );
  }
  if (!['true', 'false'].includes(values['leader-elect'])) {
    problems.push(`--leader-elect: "${values['leader-elect']}" is not true or false`);
  }
  const workers = Number(values.workers);
  if (!Number.isInteger(workers) || workers < 1 || workers > 64) {
    problems.push(`--workers: "${values.workers}" is not a whole number from 1 to 64`);
  }
  const flags: OperatorFlags = {
    kubeconfig: values.kubeconfig,
    namespaces: namespaces === undefined || namespaces.length === 0 ? undefined : namespaces,
    secretRole: secretRole === '' ? undefined : secretRole,
    serviceAccount: values['service-account'],
    leaderElect: values['leader-elect'] === 'true',
    leaseName: values['lease-name'],
    leaseNamespace: values['lease-namespace'],
    leaseDurationMs: duration('lease-duration'),
    renewDeadlineMs: duration('renew-deadline'),
    retryPeriodMs: duration('retry-period'),
    workers,
    watchTimeoutSeconds: Math.max(1, Math.round(duration('watch-timeout') / 1000)),
    resyncMs: duration('resync'),
    webhook: readWebhookFlags(values, problems),
    configServer: listenAddress('--config-addr', values['config-addr'], problems),
    console: listenAddress('--console-addr', values['console-addr'], problems),
  };
  if (problems.length === 0 && flags.renewDeadlineMs >= flags.leaseDurationMs) {
    problems.push('--renew-deadline must be shorter than --lease-duration');
  }
  if (problems.length > 0) throw new OperatorError('ERR_USAGE', 400, problems.join('\n'));
  return flags;
}

// `kubectl hookgate` arguments, parsed whole into one frozen invocation: every problem is reported
// at once, naming the flag and an example, and the program exits with status 2 (kubectl's usage
// status). Times (`--since 1h`, `--until 2026-12-03T10:00:00Z`) are resolved here, once, against
// an injected clock.
import { parseArgs } from 'node:util';
import type { Outcome } from '../../common/history.ts';
import { parseDuration } from '../../common/duration.ts';
import { OUTCOMES } from '../console/data.ts';

/** The namespace the chart installs Hookgate into (README). */
export const DEFAULT_HOOKGATE_NAMESPACE = 'hookgate-system';
/** The console's Service, fixed by the chart (one Hookgate per cluster). */
export const CONSOLE_SERVICE = 'hookgate-console';
/** The local port `console` listens on unless --port names another (the console's own). */
const DEFAULT_CONSOLE_PORT = 9090;

/** Usage text for `--help`. */
export const USAGE = `Usage: kubectl hookgate COMMAND [flags]

See and replay Hookgate deliveries. Reaches the operator's console through the API server's
service proxy with your own credentials; Kubernetes RBAC decides what you see (get
webhookendpoints) and what you may replay (update webhookendpoints).

Commands:
  status                         endpoints with their health and queue depth
  deliveries                     deliveries, newest first
      --endpoint NAME              only this endpoint's
      --state STATE                ${OUTCOMES.join(' | ')}
      --event-type TYPE            only this event type
      --limit N                    a page of N (default 50, at most 500)
      --continue TOKEN             the next page (printed after a full page)
      -w, --watch                  keep printing deliveries as they change
  inspect ID                     one delivery with its attempts, request and responses
  replay ID                      replay one dead letter (same webhook-id)
  replay --endpoint NAME [--since WHEN] [--until WHEN]
                                 replay an endpoint's dead letters accepted in [since, until);
                                 WHEN is a duration back from now (1h, 30m) or an RFC 3339 time
  console [--port N] [--address IP]
                                 port-forward to the console and print its URL (default
                                 127.0.0.1:${DEFAULT_CONSOLE_PORT}); Ctrl-C stops

Flags:
  -n, --namespace NS             the namespace (default: the context's); inspect and replay ID
                                 search every namespace you may see unless -n is given
  -A, --all-namespaces           status and deliveries across every namespace you may see
  -o, --output FORMAT            json | yaml (default: a table)
      --context NAME             the kubeconfig context (default: the current one)
      --kubeconfig FILE          (default: $KUBECONFIG, else ~/.kube/config)
      --token TOKEN              a bearer token for the console instead of the kubeconfig's (for
                                 client-certificate users: kubectl create token SA -n NS)
      --hookgate-namespace NS    where Hookgate runs (default: ${DEFAULT_HOOKGATE_NAMESPACE})
  -h, --help, --version

Exit status: 0 done, 1 an error (including refused or not found), 2 a usage error.
`;

/** Output formats. */
export type OutputFormat = 'table' | 'json' | 'yaml';

/** Flags every command shares. */
export interface GlobalFlags {
  readonly namespace: string | undefined;
  readonly allNamespaces: boolean;
  readonly output: OutputFormat;
  readonly context: string | undefined;
  readonly kubeconfig: string | undefined;
  readonly token: string | undefined;
  readonly hookgateNamespace: string;
}

/** One parsed command. */
export type Command =
  | { readonly kind: 'help' }
  | { readonly kind: 'version' }
  | { readonly kind: 'status' }
  | {
      readonly kind: 'deliveries';
      readonly endpoint: string | undefined;
      readonly state: Outcome | undefined;
      readonly eventType: string | undefined;
      readonly limit: number;
      readonly continue: string | undefined;
      readonly watch: boolean;
    }
  | { readonly kind: 'inspect'; readonly id: string }
  | { readonly kind: 'replay'; readonly id: string }
  | {
      readonly kind: 'replay-range';
      readonly endpoint: string;
      /** epoch ms, inclusive */
      readonly since: number | undefined;
      /** epoch ms, exclusive */
      readonly until: number | undefined;
    }
  | { readonly kind: 'console'; readonly port: number; readonly address: string };

/** A whole invocation. */
export interface Invocation {
  readonly global: GlobalFlags;
  readonly command: Command;
}

/** A usage error: exit status 2, every problem listed. */
export class UsageError extends Error {
  constructor(problems: readonly string[]) {
    super(problems.join('\n'));
    this.name = 'UsageError';
  }
}

const OPTIONS = {
  namespace: { type: 'string', short: 'n' },
  'all-namespaces': { type: 'boolean', short: 'A' },
  output: { type: 'string', short: 'o' },
  context: { type: 'string' },
  kubeconfig: { type: 'string' },
  token: { type: 'string' },
  'hookgate-namespace': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
  endpoint: { type: 'string' },
  state: { type: 'string' },
  'event-type': { type: 'string' },
  limit: { type: 'string' },
  continue: { type: 'string' },
  watch: { type: 'boolean', short: 'w' },
  since: { type: 'string' },
  until: { type: 'string' },
  port: { type: 'string' },
  address: { type: 'string' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS }>>['values'];

/** The command-specific flags each command accepts (the shared ones are always allowed). */
const COMMAND_FLAGS: Readonly<Record<string, readonly (keyof typeof OPTIONS)[]>> = {
  status: [],
  deliveries: ['endpoint', 'state', 'event-type', 'limit', 'continue', 'watch'],
  inspect: [],
  replay: ['endpoint', 'since', 'until'],
  console: ['port', 'address'],
};
const SHARED: readonly (keyof typeof OPTIONS)[] = [
  'namespace',
  'all-namespaces',
  'output',
  'context',
  'kubeconfig',
  'token',
  'hookgate-namespace',
  'help',
  'version',
];

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** A time flag: a duration back from `now` or an RFC 3339 time, as epoch ms. */
function when(flag: string, value: string, now: number, problems: string[]): number | undefined {
  if (/^\d/.test(value) && !value.includes('-')) {
    try {
      return now - parseDuration(value);
    } catch {
      // not a duration: perhaps a time
    }
  }
  const ms = /^\d{4}-\d\d-\d\dT/.test(value) ? Date.parse(value) : NaN;
  if (Number.isFinite(ms)) return ms;
  problems.push(
    `--${flag}: "${value}" is neither a duration (1h, 30m) nor an RFC 3339 time (2026-12-03T10:00:00Z)`,
  );
  return undefined;
}

function name(flag: string, value: string | undefined, problems: string[]): string | undefined {
  if (value !== undefined && !DNS_LABEL.test(value))
    problems.push(`--${flag}: "${value.slice(0, 64)}" is not a Kubernetes name (e.g. orders)`);
  return value;
}

/** Parses `argv` (after `kubectl hookgate`); throws {@link UsageError}. */
export function parseInvocation(argv: readonly string[], now: number): Invocation {
  let values: Values;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: [...argv],
      options: OPTIONS,
      strict: true,
      allowPositionals: true,
    }));
  } catch (err) {
    throw new UsageError([`${(err as Error).message} (see kubectl hookgate --help)`]);
  }
  const problems: string[] = [];
  const output = values.output ?? 'table';
  if (!['table', 'json', 'yaml'].includes(output))
    problems.push(`--output: "${output}" is not json or yaml (leave it out for a table)`);
  if (values.namespace !== undefined && values['all-namespaces'] === true)
    problems.push('--namespace and --all-namespaces: give one of them');
  const global: GlobalFlags = {
    namespace: name('namespace', values.namespace, problems),
    allNamespaces: values['all-namespaces'] === true,
    output: output as OutputFormat,
    context: values.context,
    kubeconfig: values.kubeconfig,
    token: values.token,
    hookgateNamespace:
      name('hookgate-namespace', values['hookgate-namespace'], problems) ??
      DEFAULT_HOOKGATE_NAMESPACE,
  };
  if (values.help === true) return Object.freeze({ global, command: { kind: 'help' } as const });
  if (values.version === true)
    return Object.freeze({ global, command: { kind: 'version' } as const });

  const [verb, ...rest] = positionals;
  const allowed = verb === undefined ? undefined : COMMAND_FLAGS[verb];
  if (verb === undefined) throw new UsageError(['name a command (see kubectl hookgate --help)']);
  if (allowed === undefined)
    throw new UsageError([
      `unknown command "${verb}": one of ${Object.keys(COMMAND_FLAGS).join(', ')}`,
    ]);
  for (const flag of Object.keys(values) as (keyof typeof OPTIONS)[])
    if (!SHARED.includes(flag) && !allowed.includes(flag))
      problems.push(`--${flag} does not apply to ${verb}`);

  const command = ((): Command | undefined => {
    switch (verb) {
      case 'status':
      case 'console':
      case 'deliveries':
        if (rest.length > 0) problems.push(`${verb} takes no arguments (got "${rest[0]}")`);
        break;
      default:
        if (rest.length > 1) problems.push(`${verb} takes one delivery id`);
    }
    if (verb === 'status') return { kind: 'status' };
    if (verb === 'deliveries') {
      const state = values.state;
      if (state !== undefined && !OUTCOMES.includes(state as Outcome))
        problems.push(`--state: "${state}" is not one of ${OUTCOMES.join(', ')}`);
      const limit = Number(values.limit ?? 50);
      if (!Number.isInteger(limit) || limit < 1 || limit > 500)
        problems.push(`--limit: "${values.limit}" is not a whole number from 1 to 500`);
      return {
        kind: 'deliveries',
        endpoint: name('endpoint', values.endpoint, problems),
        state: state as Outcome | undefined,
        eventType: values['event-type'],
        limit,
        continue: values.continue,
        watch: values.watch === true,
      };
    }
    if (verb === 'console') {
      const port = Number(values.port ?? DEFAULT_CONSOLE_PORT);
      if (!Number.isInteger(port) || port < 0 || port > 65535)
        problems.push(`--port: "${values.port}" is not a port (0 picks a free one)`);
      return { kind: 'console', port, address: values.address ?? '127.0.0.1' };
    }
    const id = rest[0];
    if (verb === 'inspect') {
      if (id === undefined)
        problems.push('inspect needs a delivery id: kubectl hookgate inspect ID');
      return id === undefined ? undefined : { kind: 'inspect', id };
    }
    // replay: one id, or an endpoint and a range.
    if (id !== undefined) {
      if (values.endpoint !== undefined || values.since !== undefined || values.until !== undefined)
        problems.push('replay takes a delivery id or --endpoint with --since/--until, not both');
      return { kind: 'replay', id };
    }
    if (values.endpoint === undefined) {
      problems.push('replay needs a delivery id, or --endpoint NAME [--since WHEN] [--until WHEN]');
      return undefined;
    }
    const since =
      values.since === undefined ? undefined : when('since', values.since, now, problems);
    const until =
      values.until === undefined ? undefined : when('until', values.until, now, problems);
    if (since !== undefined && until !== undefined && since >= until)
      problems.push('--since must be before --until');
    return {
      kind: 'replay-range',
      endpoint: name('endpoint', values.endpoint, problems) ?? values.endpoint,
      since,
      until,
    };
  })();
  if (problems.length > 0 || command === undefined) throw new UsageError(problems);
  return Object.freeze({ global: Object.freeze(global), command: Object.freeze(command) });
}

// `hookgate-sidecar iptables --dry-run ...` prints the rule set; `hookgate-sidecar iptables apply
// ...` installs it (what the transparent-interception init container runs, as root with
// NET_ADMIN/NET_RAW). Both go through interceptionRules, so the reviewed text is the installed one.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import {
  formatRuleSet,
  interceptionRules,
  iptablesJumpDeletions,
  InterceptionInputError,
  type InterceptionInputIn,
  type RuleSet,
} from './rules.ts';

/** Usage of the `iptables` subcommand. */
export const INTERCEPTION_USAGE = `Usage: hookgate-sidecar iptables (--dry-run | apply) [options]

Prints (--dry-run) or installs (apply; root with NET_ADMIN) the transparent-interception rules in
the current network namespace. The init container of a pod annotated
hookgate.io/interception: transparent runs "apply".
Options:
  --mode iptables|iptables-legacy|nftables   how rules are installed (default iptables)
  --app-ports 8080,9090        inbound ports redirected to the ingress port (default none)
  --egress-ports 80,8080|none  outbound destination ports redirected to egress (default 80)
  --exclude-cidrs 10.96.0.1/32 destinations never redirected (default none)
  --proxy-uid 15000            the sidecar's UID, whose traffic is never redirected
  --egress-port 15001          the sidecar's egress port
  --ingress-port 15006         the sidecar's ingress port
  --ipv6 reject|off            reset IPv6 on captured ports (default), or no IPv6 rules
`;

const FLAGS = [
  'mode',
  'app-ports',
  'egress-ports',
  'exclude-cidrs',
  'proxy-uid',
  'egress-port',
  'ingress-port',
  'ipv6',
] as const;

/** `--name value` / `--name=value` for the names in FLAGS (common/cli's parser allows no digits). */
function parseFlags(argv: readonly string[]): Record<string, string> {
  const flags: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const match = /^--([a-z][a-z0-9-]*)(?:=(.*))?$/.exec(arg);
    if (match === null || !(FLAGS as readonly string[]).includes(match[1]!)) {
      throw new InterceptionInputError([`unknown argument "${arg}" (see --help)`]);
    }
    const value = match[2] ?? argv[++i];
    if (value === undefined || value === '')
      throw new InterceptionInputError([`--${match[1]} needs a value`]);
    flags[match[1]!] = value;
  }
  return flags;
}

/** Parses `80,8080` (or `none`) into numbers; the error names the flag. */
function portList(flag: string, value: string): number[] {
  if (value === 'none') return [];
  return value.split(',').map((part) => {
    const text = part.trim();
    if (!/^\d{1,5}$/.test(text))
      throw new InterceptionInputError([`--${flag}: "${text}" is not a port; write e.g. 80,8080`]);
    return Number(text);
  });
}

function integer(flag: string, value: string): number {
  if (!/^\d+$/.test(value))
    throw new InterceptionInputError([`--${flag}: "${value}" is not a whole number`]);
  return Number(value);
}

/** The rule-set input the flags describe (defaults left to the schema). */
export function inputFromFlags(argv: readonly string[]): InterceptionInputIn {
  const flags = parseFlags(argv);
  const input: Record<string, unknown> = {};
  if (flags['mode'] !== undefined) input['mode'] = flags['mode'];
  if (flags['app-ports'] !== undefined)
    input['appPorts'] = portList('app-ports', flags['app-ports']);
  if (flags['egress-ports'] !== undefined)
    input['egressPorts'] = portList('egress-ports', flags['egress-ports']);
  if (flags['exclude-cidrs'] !== undefined)
    input['egressExcludeCidrs'] =
      flags['exclude-cidrs'] === 'none' ? [] : flags['exclude-cidrs'].split(',');
  if (flags['proxy-uid'] !== undefined)
    input['proxyUid'] = integer('proxy-uid', flags['proxy-uid']);
  if (flags['egress-port'] !== undefined)
    input['egressPort'] = integer('egress-port', flags['egress-port']);
  if (flags['ingress-port'] !== undefined)
    input['ingressPort'] = integer('ingress-port', flags['ingress-port']);
  if (flags['ipv6'] !== undefined) input['ipv6'] = flags['ipv6'];
  return input;
}

/** Where `apply` writes what it did; injected by tests. */
export interface CommandIo {
  out: (text: string) => void;
  err: (text: string) => void;
  /** Runs argv with `input` on stdin; returns the exit status and stderr. */
  run: (argv: readonly string[], input: string) => { status: number; stderr: string };
  /** Whether the kernel has IPv6 (absent: IPv6 rules are skipped, nothing can bypass on it). */
  hasIpv6: () => boolean;
}

const processIo: CommandIo = {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  run: (argv, input) => {
    const result = spawnSync(argv[0]!, argv.slice(1), { input, encoding: 'utf8' });
    if (result.error !== undefined) return { status: 127, stderr: result.error.message };
    return { status: result.status ?? 1, stderr: result.stderr };
  },
  hasIpv6: () => existsSync('/proc/net/if_inet6'),
};

/** Installs `rules`: removes earlier jumps (re-run safe), then applies each script atomically. */
function apply(rules: RuleSet, io: CommandIo): number {
  for (const argv of iptablesJumpDeletions(rules.settings)) {
    if (argv[0]!.startsWith('ip6') && !io.hasIpv6()) continue;
    // A rule deleted per call; more than a few copies means something else is adding them.
    for (let i = 0; i < 8 && io.run(argv, '').status === 0; i++);
  }
  for (const script of rules.scripts) {
    if (script.family === 'ipv6' && !io.hasIpv6()) {
      io.err('hookgate-sidecar iptables: no IPv6 in this kernel; IPv6 rules skipped\n');
      continue;
    }
    const result = io.run(script.command, script.script);
    if (result.status !== 0) {
      io.err(
        `hookgate-sidecar iptables: ${script.command.join(' ')} failed (exit ${result.status}): ${result.stderr.trim()}\n` +
          "check that the container has NET_ADMIN and NET_RAW and that the kernel has the mode's backend; try --mode iptables-legacy or --mode nftables\n",
      );
      return 1;
    }
  }
  io.out(formatRuleSet(rules));
  io.out('hookgate-sidecar iptables: rules installed\n');
  return 0;
}

/** Runs `hookgate-sidecar iptables ...`; returns the exit status. */
export function runInterceptionCommand(argv: readonly string[], io: CommandIo = processIo): number {
  if (argv.includes('--help') || argv.length === 0) {
    io.out(INTERCEPTION_USAGE);
    return argv.length === 0 ? 2 : 0;
  }
  const dryRun = argv.includes('--dry-run');
  const doApply = argv[0] === 'apply';
  if (dryRun === doApply) {
    io.err('hookgate-sidecar iptables: give exactly one of --dry-run or apply (see --help)\n');
    return 2;
  }
  const rest = argv.filter((a, i) => a !== '--dry-run' && !(i === 0 && a === 'apply'));
  let rules: RuleSet;
  try {
    rules = interceptionRules(inputFromFlags(rest));
  } catch (err) {
    io.err(`hookgate-sidecar iptables: ${(err as Error).message}\n`);
    return 2;
  }
  if (dryRun) {
    io.out(formatRuleSet(rules));
    return 0;
  }
  return apply(rules, io);
}

// The one source of the transparent-interception rule set. `interceptionRules` turns the pod's
// facts (ports, the proxy's UID, the mode) into the exact scripts that `hookgate-sidecar iptables
// apply` feeds to iptables-restore / ip6tables-restore / nft, and that `--dry-run` prints. The
// init container, the dry run and the end-to-end test all go through it, so what is reviewed is
// what is installed. Pure: no process, no file, no clock.
import { isIPv4, isIPv6 } from 'node:net';
import { z } from 'zod';

/** How the rules are installed: iptables (the image's default backend), legacy, or native nft. */
export const INTERCEPTION_MODES = ['iptables', 'iptables-legacy', 'nftables'] as const;
/** One of {@link INTERCEPTION_MODES}. */
export type InterceptionMode = (typeof INTERCEPTION_MODES)[number];

/** Default UID of the sidecar container; its own traffic is never redirected. */
export const DEFAULT_PROXY_UID = 15000;
/** Default sidecar egress port (127.0.0.1). */
export const DEFAULT_EGRESS_PORT = 15001;
/** Default sidecar ingress port (0.0.0.0). */
export const DEFAULT_INGRESS_PORT = 15006;
/** Default outbound destination ports captured: plain HTTP. */
export const DEFAULT_EGRESS_PORTS: readonly number[] = Object.freeze([80]);

/** Names of the chains (iptables) and the table (nftables) the rules live in. */
export const CHAIN_INBOUND = 'HOOKGATE_INBOUND';
/** Output chain name (iptables). */
export const CHAIN_OUTPUT = 'HOOKGATE_OUTPUT';
/** The nftables table (family inet) holding every rule. */
export const NFT_TABLE = 'hookgate';

const port = z.number().int().min(1).max(65535);
const cidr = z.string().refine(
  (text) => {
    const [address = '', bits, extra] = text.split('/');
    if (extra !== undefined) return false;
    const max = isIPv4(address) ? 32 : isIPv6(address) ? 128 : -1;
    if (max < 0) return false;
    if (bits === undefined) return true;
    return /^\d{1,3}$/.test(bits) && Number(bits) <= max;
  },
  { message: 'write an address or CIDR, e.g. 10.0.0.0/8 or fd00::/8' },
);

/** What the rule set is computed from. */
export const InterceptionInput = z
  .object({
    mode: z.enum(INTERCEPTION_MODES).default('iptables'),
    /** UID of the sidecar: connections it opens are never redirected (no loops). */
    proxyUid: z.number().int().min(0).max(4_294_967_294).default(DEFAULT_PROXY_UID),
    /** Sidecar egress port (listens on 127.0.0.1). */
    egressPort: port.default(DEFAULT_EGRESS_PORT),
    /** Sidecar ingress port (listens on 0.0.0.0). */
    ingressPort: port.default(DEFAULT_INGRESS_PORT),
    /** Outbound TCP destination ports redirected to the egress port; empty: no egress capture. */
    egressPorts: z
      .array(port)
      .max(64)
      .default([...DEFAULT_EGRESS_PORTS]),
    /** Destinations (addresses or CIDRs) whose traffic is never captured, e.g. the API server. */
    egressExcludeCidrs: z.array(cidr).max(64).default([]),
    /** Inbound TCP ports of the app redirected to the ingress port; empty: no ingress capture. */
    appPorts: z.array(port).max(64).default([]),
    /**
     * IPv6: the sidecar listens on IPv4 only, so IPv6 traffic on captured ports is reset
     * (`reject`) rather than allowed to bypass it; `off` installs no IPv6 rule at all.
     */
    ipv6: z.enum(['reject', 'off']).default('reject'),
  })
  .strict()
  .superRefine((input, ctx) => {
    if (input.egressPorts.length === 0 && input.appPorts.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['appPorts'],
        message:
          'nothing to intercept: give the app ports (ingress) or egress ports, or drop transparent interception',
      });
    }
    const own = new Set([input.egressPort, input.ingressPort]);
    input.appPorts.forEach((p, i) => {
      if (own.has(p))
        ctx.addIssue({
          code: 'custom',
          path: ['appPorts', i],
          message: `port ${p} is the sidecar's own; an app port cannot be redirected to itself`,
        });
    });
    input.egressPorts.forEach((p, i) => {
      if (own.has(p))
        ctx.addIssue({
          code: 'custom',
          path: ['egressPorts', i],
          message: `port ${p} is the sidecar's own; capturing it would loop`,
        });
    });
  });
/** Input as given (defaults optional). */
export type InterceptionInputIn = z.input<typeof InterceptionInput>;
/** Input with defaults applied. */
export type InterceptionSettings = z.output<typeof InterceptionInput>;

/** One script of the rule set and the command that installs it (script on stdin). */
export interface RuleScript {
  /** What the script covers: `ipv4`, `ipv6` or `inet` (nftables: both families in one table). */
  readonly family: 'ipv4' | 'ipv6' | 'inet';
  /** argv of the installing command; the script goes to its stdin. */
  readonly command: readonly string[];
  /** The script, one rule a line, in the order the kernel evaluates them. */
  readonly script: string;
}

/** The complete rule set: scripts applied in order. */
export interface RuleSet {
  readonly settings: InterceptionSettings;
  readonly scripts: readonly RuleScript[];
}

/** Thrown for input that cannot make a rule set; the message names every field at fault. */
export class InterceptionInputError extends Error {
  override readonly name = 'InterceptionInputError';
  readonly code = 'invalid_interception_input';
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`invalid interception settings: ${problems.join('; ')}`);
    this.problems = problems;
  }
}

const unique = <T>(items: readonly T[]): T[] => [...new Set(items)];
const family = (c: string): 4 | 6 => (isIPv4(c.split('/')[0] ?? '') ? 4 : 6);

/** Parses and checks `input`; throws {@link InterceptionInputError} listing every problem. */
export function interceptionSettings(input: InterceptionInputIn): InterceptionSettings {
  const parsed = InterceptionInput.safeParse(input);
  if (!parsed.success) {
    throw new InterceptionInputError(
      parsed.error.issues.map((i) => `${i.path.join('.') || '(input)'}: ${i.message}`),
    );
  }
  const s = parsed.data;
  return {
    ...s,
    egressPorts: unique(s.egressPorts),
    appPorts: unique(s.appPorts),
    egressExcludeCidrs: unique(s.egressExcludeCidrs),
  };
}

/**
 * iptables-restore text for one family. IPv4 redirects captured ports to the sidecar (nat table);
 * IPv6 resets them (filter table), since the sidecar listens on IPv4 only and nothing may go
 * around it. The exclusions come first in both, in the same order.
 */
function iptablesRestore(s: InterceptionSettings, fam: 4 | 6): string {
  const redirect = fam === 4;
  const target = (port: number): string =>
    redirect ? `REDIRECT --to-ports ${port}` : 'REJECT --reject-with tcp-reset';
  const lines = [redirect ? '*nat' : '*filter'];
  if (s.appPorts.length > 0) lines.push(`:${CHAIN_INBOUND} - [0:0]`);
  if (s.egressPorts.length > 0) lines.push(`:${CHAIN_OUTPUT} - [0:0]`);
  if (s.appPorts.length > 0) {
    lines.push(
      `-A ${redirect ? 'PREROUTING' : 'INPUT'} -p tcp -j ${CHAIN_INBOUND}`,
      // The sidecar's own forward to the app arrives on lo: it must reach the app, not the sidecar.
      `-A ${CHAIN_INBOUND} -i lo -j RETURN`,
      ...s.appPorts.map(
        (p) => `-A ${CHAIN_INBOUND} -p tcp --dport ${p} -j ${target(s.ingressPort)}`,
      ),
    );
  }
  if (s.egressPorts.length > 0) {
    lines.push(
      `-A OUTPUT -p tcp -j ${CHAIN_OUTPUT}`,
      // The sidecar's own connections (its deliveries, its pass-through) go out as they are.
      `-A ${CHAIN_OUTPUT} -m owner --uid-owner ${s.proxyUid} -j RETURN`,
      `-A ${CHAIN_OUTPUT} -o lo -j RETURN`,
      ...s.egressExcludeCidrs
        .filter((c) => family(c) === fam)
        .map((c) => `-A ${CHAIN_OUTPUT} -d ${c} -j RETURN`),
      ...s.egressPorts.map(
        (p) => `-A ${CHAIN_OUTPUT} -p tcp --dport ${p} -j ${target(s.egressPort)}`,
      ),
    );
  }
  lines.push('COMMIT');
  return `${lines.join('\n')}\n`;
}

/** One nft script: a single inet table, replaced atomically (declare, delete, define). */
function nftables(s: InterceptionSettings): string {
  const ports = (list: readonly number[]): string =>
    list.length === 1 ? String(list[0]) : `{ ${list.join(', ')} }`;
  const excluded = (fam: 4 | 6): string[] => {
    const list = s.egressExcludeCidrs.filter((c) => family(c) === fam);
    if (list.length === 0) return [];
    const set = list.length === 1 ? list[0]! : `{ ${list.join(', ')} }`;
    return [`    ${fam === 4 ? 'ip' : 'ip6'} daddr ${set} return`];
  };
  const v6 = s.ipv6 === 'reject';
  const lines = [`table inet ${NFT_TABLE}`, `delete table inet ${NFT_TABLE}`];
  lines.push(`table inet ${NFT_TABLE} {`);
  if (s.appPorts.length > 0) {
    lines.push(
      '  chain prerouting {',
      '    type nat hook prerouting priority dstnat; policy accept;',
      '    iifname "lo" return',
      `    meta nfproto ipv4 tcp dport ${ports(s.appPorts)} redirect to :${s.ingressPort}`,
      '  }',
    );
  }
  if (s.egressPorts.length > 0) {
    lines.push(
      '  chain output {',
      // -100: the nat output hook's own priority (dstnat is prerouting's name for it).
      '    type nat hook output priority -100; policy accept;',
      `    meta skuid ${s.proxyUid} return`,
      '    oifname "lo" return',
      ...excluded(4),
      `    meta nfproto ipv4 tcp dport ${ports(s.egressPorts)} redirect to :${s.egressPort}`,
      '  }',
    );
  }
  if (v6 && s.appPorts.length > 0) {
    lines.push(
      '  chain input-ipv6 {',
      '    type filter hook input priority filter; policy accept;',
      '    iifname "lo" return',
      `    meta nfproto ipv6 tcp dport ${ports(s.appPorts)} reject with tcp reset`,
      '  }',
    );
  }
  if (v6 && s.egressPorts.length > 0) {
    lines.push(
      '  chain output-ipv6 {',
      '    type filter hook output priority filter; policy accept;',
      `    meta skuid ${s.proxyUid} return`,
      '    oifname "lo" return',
      ...excluded(6),
      `    meta nfproto ipv6 tcp dport ${ports(s.egressPorts)} reject with tcp reset`,
      '  }',
    );
  }
  lines.push('}');
  return `${lines.join('\n')}\n`;
}

/** The rule set for `input`, in the order the scripts must be applied. */
export function interceptionRules(input: InterceptionInputIn): RuleSet {
  const settings = interceptionSettings(input);
  if (settings.mode === 'nftables') {
    return {
      settings,
      scripts: [{ family: 'inet', command: ['nft', '-f', '-'], script: nftables(settings) }],
    };
  }
  const legacy = settings.mode === 'iptables-legacy' ? '-legacy' : '';
  const scripts: RuleScript[] = [
    {
      family: 'ipv4',
      command: [`iptables${legacy}-restore`, '--noflush'],
      script: iptablesRestore(settings, 4),
    },
  ];
  if (settings.ipv6 === 'reject') {
    scripts.push({
      family: 'ipv6',
      command: [`ip6tables${legacy}-restore`, '--noflush'],
      script: iptablesRestore(settings, 6),
    });
  }
  return { settings, scripts };
}

/**
 * Commands that remove the jumps into our chains before a re-apply (iptables modes), so running
 * `apply` twice leaves one copy of each rule; each is repeated until it fails. The chains
 * themselves are flushed by the `:CHAIN - [0:0]` lines of the restore script.
 */
export function iptablesJumpDeletions(settings: InterceptionSettings): string[][] {
  if (settings.mode === 'nftables') return [];
  const legacy = settings.mode === 'iptables-legacy' ? '-legacy' : '';
  const v4 = `iptables${legacy}`;
  const v6 = `ip6tables${legacy}`;
  const out: string[][] = [];
  if (settings.appPorts.length > 0) {
    out.push([v4, '-w', '-t', 'nat', '-D', 'PREROUTING', '-p', 'tcp', '-j', CHAIN_INBOUND]);
    if (settings.ipv6 === 'reject')
      out.push([v6, '-w', '-t', 'filter', '-D', 'INPUT', '-p', 'tcp', '-j', CHAIN_INBOUND]);
  }
  if (settings.egressPorts.length > 0) {
    out.push([v4, '-w', '-t', 'nat', '-D', 'OUTPUT', '-p', 'tcp', '-j', CHAIN_OUTPUT]);
    if (settings.ipv6 === 'reject')
      out.push([v6, '-w', '-t', 'filter', '-D', 'OUTPUT', '-p', 'tcp', '-j', CHAIN_OUTPUT]);
  }
  return out;
}

/** The rule set as a reviewer reads it: each script under a comment naming its command. */
export function formatRuleSet(rules: RuleSet): string {
  const s = rules.settings;
  const head = [
    `# hookgate transparent interception, mode ${s.mode}`,
    s.appPorts.length === 0
      ? '# inbound: not captured'
      : `# inbound TCP to app ports ${s.appPorts.join(', ')} -> ingress :${s.ingressPort}`,
    s.egressPorts.length === 0
      ? '# outbound: not captured'
      : `# outbound TCP to ports ${s.egressPorts.join(', ')} -> egress :${s.egressPort}, except UID ${s.proxyUid} and loopback`,
    `# IPv6: ${s.ipv6 === 'reject' ? 'captured ports are reset (the sidecar listens on IPv4)' : 'no rules'}`,
  ];
  const body = rules.scripts.map(
    (r) => `# ${r.family}: ${r.command.join(' ')} <<EOF\n${r.script}# EOF`,
  );
  return `${[...head, ...body].join('\n')}\n`;
}

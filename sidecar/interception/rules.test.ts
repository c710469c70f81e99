import { describe, expect, it } from 'vitest';
import {
  InterceptionInputError,
  interceptionRules,
  iptablesJumpDeletions,
  type InterceptionInputIn,
} from './rules.ts';

const scriptOf = (input: InterceptionInputIn, family: string): string | undefined =>
  interceptionRules(input).scripts.find((s) => s.family === family)?.script;

describe('interceptionRules', () => {
  it('redirects every app port, in order, and excludes the proxy UID before any redirect', () => {
    const v4 = scriptOf({ appPorts: [8080, 9090, 8080], egressPorts: [80, 8080] }, 'ipv4')!;
    const lines = v4.split('\n');
    expect(lines.filter((l) => l.includes('--to-ports 15006'))).toEqual([
      '-A HOOKGATE_INBOUND -p tcp --dport 8080 -j REDIRECT --to-ports 15006',
      '-A HOOKGATE_INBOUND -p tcp --dport 9090 -j REDIRECT --to-ports 15006',
    ]);
    const owner = lines.indexOf('-A HOOKGATE_OUTPUT -m owner --uid-owner 15000 -j RETURN');
    const loopback = lines.indexOf('-A HOOKGATE_OUTPUT -o lo -j RETURN');
    const firstRedirect = lines.findIndex((l) => l.includes('--to-ports 15001'));
    expect(owner).toBeGreaterThan(0);
    expect(owner).toBeLessThan(firstRedirect);
    expect(loopback).toBeLessThan(firstRedirect);
  });

  it.each<[InterceptionInputIn, string[], string[]]>([
    // No egress ports: ingress capture only, no OUTPUT chain at all (the app's egress is its own).
    [{ appPorts: [8080], egressPorts: [] }, ['HOOKGATE_INBOUND'], ['HOOKGATE_OUTPUT']],
    // No app ports: egress capture only, inbound untouched.
    [{ appPorts: [], egressPorts: [80] }, ['HOOKGATE_OUTPUT'], ['HOOKGATE_INBOUND']],
  ])('%j installs only the chains it needs', (input, present, absent) => {
    for (const family of ['ipv4', 'ipv6']) {
      const script = scriptOf(input, family)!;
      for (const chain of present) expect(script).toContain(`:${chain} - [0:0]`);
      for (const chain of absent) expect(script).not.toContain(chain);
    }
  });

  it('resets captured ports on IPv6 (filter table) unless ipv6 is off', () => {
    const v6 = scriptOf({ appPorts: [8080] }, 'ipv6')!;
    expect(v6).toMatch(/^\*filter\n/);
    expect(v6).toContain(
      '-A HOOKGATE_INBOUND -p tcp --dport 8080 -j REJECT --reject-with tcp-reset',
    );
    expect(v6).toContain('-A HOOKGATE_OUTPUT -p tcp --dport 80 -j REJECT --reject-with tcp-reset');
    expect(v6).not.toContain('REDIRECT');
    expect(
      interceptionRules({ appPorts: [8080], ipv6: 'off' }).scripts.map((s) => s.family),
    ).toEqual(['ipv4']);
  });

  it('puts excluded CIDRs in the family they belong to', () => {
    const input = { appPorts: [8080], egressExcludeCidrs: ['10.96.0.1/32', 'fd00::/8'] };
    expect(scriptOf(input, 'ipv4')).toContain('-A HOOKGATE_OUTPUT -d 10.96.0.1/32 -j RETURN');
    expect(scriptOf(input, 'ipv4')).not.toContain('fd00::/8');
    expect(scriptOf(input, 'ipv6')).toContain('-A HOOKGATE_OUTPUT -d fd00::/8 -j RETURN');
  });

  it.each([
    ['iptables', ['iptables-restore', '--noflush'], ['ip6tables-restore', '--noflush']],
    [
      'iptables-legacy',
      ['iptables-legacy-restore', '--noflush'],
      ['ip6tables-legacy-restore', '--noflush'],
    ],
  ] as const)('mode %s installs with %j', (mode, v4, v6) => {
    expect(interceptionRules({ mode, appPorts: [8080] }).scripts.map((s) => s.command)).toEqual([
      v4,
      v6,
    ]);
  });

  it('nftables: one inet table, replaced atomically, both families', () => {
    const { scripts } = interceptionRules({ mode: 'nftables', appPorts: [8080, 9090] });
    expect(scripts).toHaveLength(1);
    expect(scripts[0]!.command).toEqual(['nft', '-f', '-']);
    const text = scripts[0]!.script;
    expect(
      text.startsWith('table inet hookgate\ndelete table inet hookgate\ntable inet hookgate {\n'),
    ).toBe(true);
    expect(text).toContain('meta nfproto ipv4 tcp dport { 8080, 9090 } redirect to :15006');
    expect(text).toContain('meta skuid 15000 return');
    expect(text).toContain('meta nfproto ipv4 tcp dport 80 redirect to :15001');
    expect(text).toContain('meta nfproto ipv6 tcp dport 80 reject with tcp reset');
  });

  it.each([
    // Nothing to do is a mistake, not an empty rule set.
    [{ appPorts: [], egressPorts: [] }, 'appPorts: nothing to intercept'],
    // Redirecting the sidecar's own port to itself would loop.
    [{ appPorts: [15006] }, "appPorts.0: port 15006 is the sidecar's own"],
    [{ appPorts: [8080], egressPorts: [15001] }, "egressPorts.0: port 15001 is the sidecar's own"],
    [{ appPorts: [70000] }, 'appPorts.0'],
    [
      { appPorts: [8080], egressExcludeCidrs: ['10.0.0.0/33'] },
      'egressExcludeCidrs.0: write an address or CIDR',
    ],
    [{ appPorts: [8080], mode: 'ebpf' }, 'mode:'],
  ])('refuses %j naming the field', (input, message) => {
    let error: unknown;
    try {
      interceptionRules(input as InterceptionInputIn);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(InterceptionInputError);
    expect((error as InterceptionInputError).code).toBe('invalid_interception_input');
    expect((error as Error).message).toContain(message);
  });

  it('removes the jumps before a re-apply (iptables modes only)', () => {
    const settings = interceptionRules({ appPorts: [8080] }).settings;
    expect(iptablesJumpDeletions(settings)).toEqual([
      ['iptables', '-w', '-t', 'nat', '-D', 'PREROUTING', '-p', 'tcp', '-j', 'HOOKGATE_INBOUND'],
      ['ip6tables', '-w', '-t', 'filter', '-D', 'INPUT', '-p', 'tcp', '-j', 'HOOKGATE_INBOUND'],
      ['iptables', '-w', '-t', 'nat', '-D', 'OUTPUT', '-p', 'tcp', '-j', 'HOOKGATE_OUTPUT'],
      ['ip6tables', '-w', '-t', 'filter', '-D', 'OUTPUT', '-p', 'tcp', '-j', 'HOOKGATE_OUTPUT'],
    ]);
    expect(
      iptablesJumpDeletions(interceptionRules({ mode: 'nftables', appPorts: [1] }).settings),
    ).toEqual([]);
  });
});

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runInterceptionCommand, type CommandIo } from './cli.ts';

const golden = (name: string): string =>
  readFileSync(join(import.meta.dirname, 'testdata', name), 'utf8');

/** An io that records what would run; `fail` names a command that exits 1. */
function io(options: { ipv6?: boolean; fail?: string } = {}): {
  io: CommandIo;
  out: () => string;
  err: () => string;
  ran: { argv: readonly string[]; input: string }[];
} {
  const out: string[] = [];
  const err: string[] = [];
  const ran: { argv: readonly string[]; input: string }[] = [];
  return {
    io: {
      out: (t) => out.push(t),
      err: (t) => err.push(t),
      run: (argv, input) => {
        ran.push({ argv, input });
        if (argv.includes('-D')) return { status: 1, stderr: 'does not exist' };
        if (argv[0] === options.fail)
          return { status: 1, stderr: 'Permission denied (you must be root)' };
        return { status: 0, stderr: '' };
      },
      hasIpv6: () => options.ipv6 ?? true,
    },
    out: () => out.join(''),
    err: () => err.join(''),
    ran,
  };
}

describe('hookgate-sidecar iptables', () => {
  it.each([
    // The default mode: two app ports, port 80 captured, the API server excluded.
    [
      ['--dry-run', '--app-ports', '8080,9090', '--exclude-cidrs', '10.96.0.1/32'],
      'dry-run-iptables.txt',
    ],
    // nftables, ingress only.
    [
      ['--dry-run', '--mode', 'nftables', '--app-ports', '8080', '--egress-ports', 'none'],
      'dry-run-nftables.txt',
    ],
  ])('--dry-run %j prints the reviewed rules (%s)', (argv, file) => {
    const t = io();
    expect(runInterceptionCommand(argv, t.io)).toBe(0);
    expect(t.out()).toBe(golden(file));
    expect(t.ran).toEqual([]);
  });

  it('apply runs exactly the printed scripts, after removing earlier jumps', () => {
    const t = io();
    expect(runInterceptionCommand(['apply', '--app-ports', '8080'], t.io)).toBe(0);
    const restores = t.ran.filter((r) => !r.argv.includes('-D'));
    expect(restores.map((r) => r.argv)).toEqual([
      ['iptables-restore', '--noflush'],
      ['ip6tables-restore', '--noflush'],
    ]);
    for (const r of restores) expect(t.out()).toContain(r.input);
    const firstRestore = t.ran.findIndex((r) => !r.argv.includes('-D'));
    expect(t.ran.slice(0, firstRestore).every((r) => r.argv.includes('-D'))).toBe(true);
  });

  it('apply skips IPv6 on a kernel without it, and says so', () => {
    const t = io({ ipv6: false });
    expect(runInterceptionCommand(['apply', '--app-ports', '8080'], t.io)).toBe(0);
    expect(t.ran.some((r) => r.argv[0]!.startsWith('ip6'))).toBe(false);
    expect(t.err()).toContain('no IPv6 in this kernel');
  });

  it('apply fails with the command, its error and what to check', () => {
    const t = io({ fail: 'iptables-restore' });
    expect(runInterceptionCommand(['apply', '--app-ports', '8080'], t.io)).toBe(1);
    expect(t.err()).toContain('iptables-restore --noflush failed (exit 1): Permission denied');
    expect(t.err()).toContain('NET_ADMIN');
  });

  it.each([
    // Neither or both of --dry-run and apply.
    [['--app-ports', '8080'], 'exactly one of --dry-run or apply'],
    [['apply', '--dry-run', '--app-ports', '8080'], 'exactly one of --dry-run or apply'],
    // Bad values name the flag.
    [['--dry-run', '--app-ports', '80a'], '--app-ports: "80a" is not a port'],
    [['--dry-run', '--app-ports', '8080', '--ipv6', 'maybe'], 'ipv6:'],
    [['--dry-run', '--bogus', '1'], 'unknown argument "--bogus"'],
    // Nothing captured either way is a mistake.
    [['--dry-run', '--egress-ports', 'none'], 'appPorts: nothing to intercept'],
  ])('%j exits 2: %s', (argv, message) => {
    const t = io();
    expect(runInterceptionCommand(argv, t.io)).toBe(2);
    expect(t.err()).toContain(message);
  });
});

// `hookgate-sidecar iptables apply` against the real kernel, in a throw-away network namespace
// (root only): what it installs is what --dry-run printed, and running it again — an init
// container restarted in the same pod sandbox — leaves one copy of every rule.
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inputFromFlags } from '../../sidecar/interception/cli.ts';
import {
  formatRuleSet,
  interceptionRules,
  type InterceptionMode,
} from '../../sidecar/interception/rules.ts';
import { run } from './netns.ts';

const MAIN = join(resolve(import.meta.dirname, '../..'), 'sidecar/main.ts');
const isRoot = process.getuid?.() === 0;
const FLAGS = [
  '--app-ports',
  '8080,9090',
  '--egress-ports',
  '80',
  '--exclude-cidrs',
  '10.96.0.1/32',
];

/** The `-A` rules of an iptables-restore script, as iptables-save writes them back. */
function appended(script: string): string[] {
  return script
    .split('\n')
    .filter((l) => l.startsWith('-A '))
    .map((l) => l.replace(/-p tcp --dport/, '-p tcp -m tcp --dport'));
}

describe.skipIf(!isRoot).each<InterceptionMode>(['iptables', 'iptables-legacy', 'nftables'])(
  'hookgate-sidecar iptables apply --mode %s (runs as root only)',
  (mode) => {
    let ns: string | undefined;
    const apply = (): Promise<string> =>
      run('ip', [
        'netns',
        'exec',
        ns!,
        process.execPath,
        MAIN,
        'iptables',
        'apply',
        '--mode',
        mode,
        ...FLAGS,
      ]);

    beforeAll(async () => {
      ns = `hg-apply-${process.pid}-${randomBytes(3).toString('hex')}`;
      await run('ip', ['netns', 'add', ns]);
    });
    afterAll(async () => {
      if (ns !== undefined) await run('ip', ['netns', 'del', ns]).catch(() => undefined);
    });

    it('installs what --dry-run prints, once, however often it runs', async () => {
      // What --dry-run prints (its own output is pinned by the golden files of cli.test.ts).
      const printed = formatRuleSet(interceptionRules(inputFromFlags(['--mode', mode, ...FLAGS])));
      expect(await apply()).toContain('rules installed');
      await apply();
      if (mode === 'nftables') {
        const listed = await run('ip', ['netns', 'exec', ns!, 'nft', 'list', 'ruleset']);
        expect(listed.match(/table inet hookgate/g)).toHaveLength(1);
        expect(listed).toContain('tcp dport { 8080, 9090 } redirect to :15006');
        expect(listed).toContain('meta skuid 15000 return');
        expect(listed).toContain('ip daddr 10.96.0.1 return');
        expect(listed).toContain('tcp dport 80 redirect to :15001');
        return;
      }
      const legacy = mode === 'iptables-legacy' ? '-legacy' : '';
      const [v4, v6] = printed.split('# ipv6:');
      const saved4 = await run('ip', ['netns', 'exec', ns!, `iptables${legacy}-save`, '-t', 'nat']);
      const saved6 = await run('ip', [
        'netns',
        'exec',
        ns!,
        `ip6tables${legacy}-save`,
        '-t',
        'filter',
      ]);
      for (const [script, saved] of [
        [v4!, saved4],
        [v6!, saved6],
      ] as const) {
        const installed = saved.split('\n').filter((l) => l.startsWith('-A '));
        // Exactly the printed rules: nothing missing, no duplicate jump after the second run.
        expect([...installed].sort()).toEqual(appended(script).sort());
      }
    });
  },
);

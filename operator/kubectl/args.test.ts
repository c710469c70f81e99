import { describe, expect, it } from 'vitest';
import { UsageError, parseInvocation } from './args.ts';

const NOW = Date.parse('2026-12-03T12:00:00Z');

describe('kubectl hookgate arguments', () => {
  it.each([
    // kubectl's shared flags in short and long form, a table by default
    [
      ['deliveries', '-n', 'shop', '--endpoint', 'orders', '--state', 'dead'],
      {
        global: { namespace: 'shop', allNamespaces: false, output: 'table' },
        command: { kind: 'deliveries', endpoint: 'orders', state: 'dead', limit: 50, watch: false },
      },
    ],
    // -A, -w and -o json together
    [
      ['deliveries', '-A', '-w', '-o', 'json'],
      {
        global: { allNamespaces: true, output: 'json' },
        command: { kind: 'deliveries', watch: true },
      },
    ],
    // a duration back from now and an RFC 3339 time
    [
      ['replay', '--endpoint', 'orders', '--since', '1h', '--until', '2026-12-03T11:30:00Z'],
      {
        command: {
          kind: 'replay-range',
          endpoint: 'orders',
          since: NOW - 3_600_000,
          until: Date.parse('2026-12-03T11:30:00Z'),
        },
      },
    ],
    // replay by id; where Hookgate runs and the kubeconfig are flags
    [
      ['replay', 'msg_1', '--hookgate-namespace', 'gw', '--context', 'prod'],
      {
        global: { hookgateNamespace: 'gw', context: 'prod' },
        command: { kind: 'replay', id: 'msg_1' },
      },
    ],
    // console defaults to the console's own port on loopback
    [['console'], { command: { kind: 'console', port: 9090, address: '127.0.0.1' } }],
  ])('parses %j', (argv, expected) => {
    expect(parseInvocation(argv, NOW)).toMatchObject(expected);
  });

  it.each([
    // no command, an unknown one
    [[], /name a command/],
    [['tail'], /unknown command "tail"/],
    // a flag another command owns, with every problem listed at once
    [['status', '--since', '1h', '-o', 'xml'], /--output: "xml"[\s\S]*--since does not apply/],
    [['deliveries', '--state', 'lost'], /--state: "lost" is not one of/],
    [['deliveries', '-n', 'a', '-A'], /give one of them/],
    [['inspect'], /inspect needs a delivery id/],
    [['replay'], /replay needs a delivery id, or --endpoint/],
    [['replay', 'x', '--endpoint', 'orders'], /not both/],
    [['replay', '--endpoint', 'orders', '--since', 'yesterday'], /--since: "yesterday"/],
    [['replay', '--endpoint', 'orders', '--since', '1h', '--until', '2h'], /before --until/],
    [['deliveries', '--limit', '0'], /--limit/],
    [['deliveries', '--bogus'], /Unknown option/],
  ])('refuses %j', (argv, message) => {
    expect(() => parseInvocation(argv, NOW)).toThrow(UsageError);
    expect(() => parseInvocation(argv, NOW)).toThrow(message);
  });
});

import { describe, expect, it } from 'vitest';
import { parseFlags } from './cli.ts';

describe('parseFlags', () => {
  it('has defaults for a single in-cluster deployment', () => {
    expect(parseFlags([])).toMatchObject({
      kubeconfig: undefined,
      namespaces: undefined,
      leaderElect: true,
      leaseName: 'hookgate-operator',
      leaseNamespace: undefined,
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      workers: 2,
      watchTimeoutSeconds: 300,
      resyncMs: 600_000,
      secretRole: 'hookgate-operator-secrets',
      serviceAccount: 'hookgate-operator',
    });
  });

  it('--secret-role: a ClusterRole name, or "" for cluster-wide Secret access', () => {
    expect(parseFlags(['--secret-role=', '--service-account=op'])).toMatchObject({
      secretRole: undefined,
      serviceAccount: 'op',
    });
    expect(() => parseFlags(['--secret-role=Not A Role', '--service-account=x/y'])).toThrow(
      /--secret-role: "Not A Role" is not a ClusterRole name \(e\.g\. hookgate-operator-secrets\)\n--service-account: "x\/y" is not a ServiceAccount name/,
    );
  });

  it('reads every flag', () => {
    expect(
      parseFlags([
        '--kubeconfig=/tmp/kc',
        '--watch-namespace',
        'a, b',
        '--leader-elect=false',
        '--lease-duration=6s',
        '--renew-deadline=4s',
        '--retry-period=500ms',
        '--workers=4',
        '--watch-timeout=1m',
      ]),
    ).toMatchObject({
      kubeconfig: '/tmp/kc',
      namespaces: ['a', 'b'],
      leaderElect: false,
      leaseDurationMs: 6_000,
      renewDeadlineMs: 4_000,
      retryPeriodMs: 500,
      workers: 4,
      watchTimeoutSeconds: 60,
    });
  });

  it('reports every bad value at once, naming each flag', () => {
    let error: unknown;
    try {
      parseFlags(['--workers=0', '--lease-duration=soon', '--watch-namespace=Not_A_Namespace']);
    } catch (err) {
      error = err;
    }
    expect(error).toMatchObject({ code: 'ERR_USAGE' });
    const lines = (error as Error).message.split('\n');
    expect(lines).toEqual([
      expect.stringContaining('--watch-namespace: "Not_A_Namespace"') as unknown,
      expect.stringContaining('--workers: "0"') as unknown,
      expect.stringContaining('--lease-duration: "soon" is not a duration') as unknown,
    ]);
  });

  it('--config-addr: the config stream on 0.0.0.0:15012 by default, "" turns it off', () => {
    expect(parseFlags([]).configServer).toEqual({ host: '0.0.0.0', port: 15012 });
    expect(parseFlags(['--config-addr=127.0.0.1:9012']).configServer).toEqual({
      host: '127.0.0.1',
      port: 9012,
    });
    expect(parseFlags(['--config-addr=']).configServer).toBeUndefined();
    expect(() => parseFlags(['--config-addr=15012'])).toThrow(
      /--config-addr="15012" is not host:port/,
    );
  });

  it('refuses unknown flags and a renew deadline not shorter than the lease', () => {
    expect(() => parseFlags(['--nope'])).toThrow(/nope/);
    expect(() => parseFlags(['--renew-deadline=20s'])).toThrow(
      '--renew-deadline must be shorter than --lease-duration',
    );
  });
});

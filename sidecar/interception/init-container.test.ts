import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { inputFromFlags } from './cli.ts';
import {
  interceptionInitContainer,
  interceptionSettingsForPod,
  wantsTransparentInterception,
} from './init-container.ts';
import { interceptionSettings, InterceptionInputError } from './rules.ts';

const pod = (annotations: Record<string, string> = {}): V1Pod => ({
  metadata: {
    name: 'shop',
    annotations: { 'hookgate.io/interception': 'transparent', ...annotations },
  },
});

const base = { appPorts: [8080], proxyUid: 15000, image: 'ghcr.io/hookgate/sidecar:0.1.0' };

describe('interceptionInitContainer', () => {
  it('gives NET_ADMIN and NET_RAW to a root, non-privileged container that cannot escalate', () => {
    const c = interceptionInitContainer({ pod: pod(), ...base });
    expect(c.name).toBe('hookgate-init');
    expect(c.image).toBe(base.image);
    expect(c.securityContext).toMatchObject({
      runAsUser: 0,
      runAsNonRoot: false,
      privileged: false,
      allowPrivilegeEscalation: false,
      capabilities: { add: ['NET_ADMIN', 'NET_RAW'], drop: ['ALL'] },
    });
  });

  it('runs `hookgate-sidecar iptables apply` with every setting spelled out', () => {
    const c = interceptionInitContainer({ pod: pod(), ...base });
    expect(c.command).toEqual(['hookgate-sidecar']);
    expect(c.args).toEqual([
      'iptables',
      'apply',
      '--mode',
      'iptables',
      '--proxy-uid',
      '15000',
      '--egress-port',
      '15001',
      '--ingress-port',
      '15006',
      '--egress-ports',
      '80',
      '--app-ports',
      '8080',
      '--exclude-cidrs',
      'none',
      '--ipv6',
      'reject',
    ]);
  });

  it('round-trips: the command line parses back to the settings it came from (one source)', () => {
    const input = {
      pod: pod({
        'hookgate.io/interception-mode': 'nftables',
        'hookgate.io/egress-ports': '80, 8080',
        'hookgate.io/egress-exclude-cidrs': '10.96.0.1/32,fd00::/8',
        'hookgate.io/interception-ipv6': 'off',
      }),
      ...base,
      appPorts: [8080, 9090],
    };
    const c = interceptionInitContainer(input);
    const [, , ...flags] = c.args!;
    expect(interceptionSettings(inputFromFlags(flags))).toEqual(interceptionSettingsForPod(input));
  });

  it('egress-ports "none" captures ingress only', () => {
    const c = interceptionInitContainer({
      pod: pod({ 'hookgate.io/egress-ports': 'none' }),
      ...base,
    });
    expect(c.args).toContain('none');
    expect(c.args![c.args!.indexOf('--egress-ports') + 1]).toBe('none');
  });

  it.each([
    [{ 'hookgate.io/interception-mode': 'ebpf' }, 'annotation hookgate.io/interception-mode'],
    [{ 'hookgate.io/egress-ports': '80,http' }, 'hookgate.io/egress-ports: "http" is not a port'],
    [
      { 'hookgate.io/egress-exclude-cidrs': 'cluster' },
      'annotation hookgate.io/egress-exclude-cidrs',
    ],
    [{ 'hookgate.io/interception-ipv6': 'yes' }, 'annotation hookgate.io/interception-ipv6'],
  ])('refuses %j naming the annotation', (annotations, message) => {
    expect(() => interceptionInitContainer({ pod: pod(annotations), ...base })).toThrow(
      InterceptionInputError,
    );
    expect(() => interceptionInitContainer({ pod: pod(annotations), ...base })).toThrow(message);
  });

  it('refuses a pod with nothing to intercept, naming the app ports', () => {
    expect(() =>
      interceptionInitContainer({
        pod: pod({ 'hookgate.io/egress-ports': 'none' }),
        ...base,
        appPorts: [],
      }),
    ).toThrow('app ports');
  });

  it('reads the opt-in annotation', () => {
    expect(wantsTransparentInterception(pod())).toBe(true);
    expect(wantsTransparentInterception({ metadata: { annotations: {} } })).toBe(false);
    expect(
      wantsTransparentInterception({
        metadata: { annotations: { 'hookgate.io/interception': 'explicit' } },
      }),
    ).toBe(false);
  });
});

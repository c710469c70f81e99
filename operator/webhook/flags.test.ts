import { describe, expect, it } from 'vitest';
import { parseFlags } from '../cli.ts';

describe('injector flags', () => {
  it('default to the names in contracts.md and the documented sidecar defaults', () => {
    expect(parseFlags([]).webhook).toEqual({
      listen: { host: '0.0.0.0', port: 9443 },
      certMode: 'self-managed',
      service: 'hookgate-operator-webhook',
      config: 'hookgate-sidecar-injector',
      secret: 'hookgate-webhook-tls',
      caValidityMs: 87600 * 3_600_000,
      certValidityMs: 2160 * 3_600_000,
      extraHosts: [],
      sidecar: {
        image: 'ghcr.io/hookgate/sidecar:0.1.0',
        // No other image may be chosen per pod unless the operator lists it.
        allowedImages: [],
        cpuRequest: '50m',
        memoryRequest: '64Mi',
        cpuLimit: '1',
        memoryLimit: '256Mi',
        logLevel: 'info',
        drainTimeout: '10s',
      },
      redisUrl: undefined,
    });
  });

  it('disables the webhook with an empty address', () => {
    expect(parseFlags(['--webhook-addr=']).webhook.listen).toBeUndefined();
  });

  it('reports every bad value at once, naming each flag', () => {
    expect(() =>
      parseFlags([
        '--webhook-addr=nowhere',
        '--webhook-cert-mode=acme',
        '--sidecar-cpu-request=lots',
        '--sidecar-log-level=loud',
        '--sidecar-drain-timeout=10',
      ]),
    ).toThrow(
      /--webhook-addr.*\n--webhook-cert-mode.*\n--sidecar-cpu-request.*\n--sidecar-log-level.*\n--sidecar-drain-timeout/,
    );
  });
});

import { describe, expect, it } from 'vitest';
import { compileNamespace, type ObjectInput } from '../compile/compile.ts';
import { disabledReason } from './disabled.ts';

function endpoint(generation: number, condition?: Record<string, unknown>): ObjectInput {
  return {
    apiVersion: 'hookgate.io/v1alpha1',
    kind: 'WebhookEndpoint',
    metadata: { name: 'orders', namespace: 'shop', generation },
    spec: { direction: 'Egress', url: 'https://hooks.example.com/orders' },
    ...(condition === undefined ? {} : { status: { conditions: [condition] } }),
  };
}

const disabledAt = (generation: number): Record<string, unknown> => ({
  type: 'Healthy',
  status: 'False',
  reason: 'Disabled',
  observedGeneration: generation,
  lastTransitionTime: '2026-12-03T12:00:00Z',
  message: 'failing continuously for 1h (last: http-503)',
});

describe('disabled endpoints', () => {
  // Each row: what the status says, and whether the endpoint is disabled now.
  it.each([
    ['no status', endpoint(3), undefined],
    [
      'disabled at this generation',
      endpoint(3, disabledAt(3)),
      'failing continuously for 1h (last: http-503)',
    ],
    ['disabled before the last change: enabled again', endpoint(4, disabledAt(3)), undefined],
    [
      'unhealthy for another reason',
      endpoint(3, { ...disabledAt(3), reason: 'CircuitOpen' }),
      undefined,
    ],
  ] as const)('%s', (_what, object, reason) => {
    expect(disabledReason(object)).toBe(reason);
  });

  it('publishes the reason to the sidecar, and drops it once the resource changes', () => {
    const compiled = (object: ObjectInput) =>
      compileNamespace({ namespace: 'shop', endpoints: [object], policies: [], secrets: new Map() })
        .config.endpoints?.[0]?.disabled;
    expect(compiled(endpoint(3, disabledAt(3)))).toEqual({
      reason: 'failing continuously for 1h (last: http-503)',
    });
    expect(compiled(endpoint(4, disabledAt(3)))).toBeUndefined();
  });
});

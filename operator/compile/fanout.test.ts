// Compiling subscriptions, filters, fan-out caps and ingress routes into the sidecar config.
import { describe, expect, it } from 'vitest';
import { SidecarConfig } from '../../sidecar/config/schema.ts';
import { REASON } from '../names.ts';
import { compileNamespace, type ObjectInput } from './compile.ts';

const namespace = 'shop';

function object(
  kind: 'WebhookEndpoint' | 'WebhookPolicy',
  name: string,
  spec: Record<string, unknown>,
  labels: Record<string, string> = {},
): ObjectInput {
  return {
    apiVersion: 'hookgate.io/v1alpha1',
    kind,
    metadata: {
      name,
      namespace,
      uid: `uid-${name}`,
      generation: 1,
      creationTimestamp: '2026-01-01T00:00:00Z',
      labels,
    },
    spec,
  };
}

const compile = (endpoints: ObjectInput[], policies: ObjectInput[] = []) =>
  compileNamespace({ namespace, endpoints, policies, secrets: new Map() });

describe('compileNamespace: fan-out and routing', () => {
  it('carries eventTypes, filter, labels and the policy fan-out cap into the egress entry', () => {
    const out = compile(
      [
        object(
          'WebhookEndpoint',
          'acme-orders',
          {
            direction: 'Egress',
            url: 'https://acme.example/hooks',
            eventTypes: ['order.*', 'invoice.paid'],
            filter: '$.data.amount >= 100',
          },
          { customer: 'acme' },
        ),
      ],
      [
        object('WebhookPolicy', 'guard', {
          endpointSelector: { matchLabels: { customer: 'acme' } },
          fanOut: { maxEndpoints: 50 },
        }),
      ],
    );
    const config = SidecarConfig.parse(out.config);
    expect(config.endpoints[0]).toMatchObject({
      name: 'acme-orders',
      labels: { customer: 'acme' },
      eventTypes: ['order.*', 'invoice.paid'],
      filter: '$.data.amount >= 100',
      policy: { name: 'guard', fanOut: { maxEndpoints: 50 } },
    });
  });

  it('refuses a malformed filter the CRD let through, naming the field and the position', () => {
    const out = compile([
      object('WebhookEndpoint', 'bad', {
        direction: 'Egress',
        url: 'https://a.example',
        eventTypes: ['*'],
        filter: '$.data.amount >> 100',
      }),
    ]);
    const result = out.endpoints[0]!;
    expect(result.accepted).toMatchObject({ ok: false, reason: REASON.invalidSpec });
    expect(result.accepted.ok === false && result.accepted.message).toMatch(
      /^spec\.filter: at character \d+: /,
    );
    expect(out.config.endpoints ?? []).toHaveLength(0);
  });

  it('compiles ingress routes, the event type source and the unrouted rule', () => {
    const forward = {
      port: 8080,
      eventType: { header: 'X-GitHub-Event' },
      routes: [{ eventTypes: ['push'], port: 9001, path: '/ci' }, { eventTypes: ['issues'] }],
      unrouted: 'drop',
    };
    const out = compileNamespace({
      namespace,
      endpoints: [
        object('WebhookEndpoint', 'events', {
          direction: 'Ingress',
          path: '/events',
          verify: { scheme: 'github', secretRef: { name: 'gh' } },
          forward,
        }),
      ],
      policies: [],
      secrets: new Map([
        [
          'gh',
          {
            name: 'gh',
            resourceVersion: '1',
            data: { secret: Buffer.from('s3cret').toString('base64') },
          },
        ],
      ]),
    });
    expect(out.endpoints[0]!.accepted).toEqual({ ok: true });
    expect(SidecarConfig.parse(out.config).ingress[0]!.forward).toEqual({
      ...forward,
      buffered: false,
    });
  });
});

// Subscriptions, filters and ingress routes on the real API server: a malformed filter (or a
// misplaced field) is refused at apply time with the field named; good ones are stored as written.
// Server-side dry run: nothing is stored.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serverSideApply, type Manifest } from '../cluster/apply.ts';
import { createTestNamespace, kubeClients, type KubeClients } from '../support/kube.ts';

type Spec = Record<string, unknown>;

const egress: Spec = {
  direction: 'Egress',
  url: 'https://hooks.example.com/orders',
  eventTypes: ['order.*'],
};
const ingress: Spec = {
  direction: 'Ingress',
  path: '/github',
  verify: { scheme: 'github', secretRef: { name: 'github-webhook' } },
};

const endpoint = (spec: Spec): Manifest => ({
  apiVersion: 'hookgate.io/v1alpha1',
  kind: 'WebhookEndpoint',
  metadata: { name: 'fanout' },
  spec,
});

// [what the row proves, manifest, field path the message must name, words it must contain]
const refused: [string, Manifest, string, string][] = [
  ...(
    [
      ['a bare word instead of a path', 'amount > 100'],
      ['single quotes', "$.data.currency == 'EUR'"],
      ['a string after >', '$.data.amount > "100"'],
      ['unbalanced parentheses', '($.data.amount > 1'],
      ['three levels of parentheses', '((($.a == 1)))'],
      ['= for ==', '$.a = 1'],
      ['an empty in-list', '$.a in []'],
      ['a call', 'eval("process.exit()")'],
      ['a dangling operator', '$.a == 1 ||'],
    ] as const
  ).map(([what, filter]): [string, Manifest, string, string] => [
    `filter: ${what}`,
    endpoint({ ...egress, filter }),
    'spec.filter',
    'not a valid filter expression',
  ]),
  [
    'filter: longer than 1024 characters',
    endpoint({ ...egress, filter: `$.a in [${'1,'.repeat(600)}1]` }),
    'spec.filter',
    'Too long',
  ],
  [
    'a filter needs eventTypes',
    endpoint({ direction: 'Egress', url: 'https://a.example', filter: '$.a == 1' }),
    'spec.eventTypes',
    'set eventTypes too',
  ],
  [
    'event type patterns: wildcards only as the last segment',
    endpoint({ ...egress, eventTypes: ['order.*.created'] }),
    'spec.eventTypes[0]',
    'should match',
  ],
  [
    'eventTypes are a set',
    endpoint({ ...egress, eventTypes: ['a', 'a'] }),
    // Server-side apply refuses a duplicate in a list-type set before validation runs.
    'spec.eventTypes',
    'duplicate entries',
  ],
  [
    'eventTypes are for egress',
    endpoint({ ...ingress, eventTypes: ['push'] }),
    'spec.direction',
    'eventTypes and filter apply to Egress endpoints only',
  ],
  [
    'routes need an event type source for schemes without a default',
    endpoint({
      ...ingress,
      verify: { scheme: 'bearer', secretRef: { name: 't' } },
      forward: { routes: [{ eventTypes: ['x'], port: 9000 }] },
    }),
    'spec.forward.eventType',
    'needs forward.eventType',
  ],
  [
    'event type source: header or jsonPath, not both',
    endpoint({
      ...ingress,
      forward: { eventType: { header: 'X-Event', jsonPath: '$.type' } },
    }),
    'spec.forward.eventType',
    'exactly one of',
  ],
  [
    'jsonPath is a path',
    endpoint({ ...ingress, forward: { eventType: { jsonPath: 'type' } } }),
    'spec.forward.eventType.jsonPath',
    'should match',
  ],
  [
    'unrouted is default, refuse or drop',
    endpoint({ ...ingress, forward: { unrouted: 'ignore' } }),
    'spec.forward.unrouted',
    'supported values',
  ],
];

describe('fan-out and routing fields on the real API server', () => {
  let kube: KubeClients;
  let namespace: string;
  beforeAll(async () => {
    kube = kubeClients();
    namespace = await createTestNamespace(kube.core, 'fanout-api');
  });
  afterAll(async () => {
    await kube.core.deleteNamespace({ name: namespace });
  });

  it.each(refused)('refuses %s', async (_what, manifest, field, words) => {
    const res = await serverSideApply(kube.kubeConfig, manifest, {
      fieldManager: 'hookgate-test',
      namespace,
      dryRun: true,
    });
    expect(res.status).toBeGreaterThanOrEqual(400);
    const message = res.body.message ?? '';
    expect(message, message).toContain(`${field}:`);
    expect(message).toContain(words);
  });

  it.each([
    [
      'a filter with every construct',
      '!exists($.data.refund) && ($.data.amount >= 100 || $.data.currency in ["EUR", "USD"]) && $.data.items[0]["sku"] != null',
    ],
    ['a multi-line filter', '$.data.amount > 1\n  && $.type == "order.created"'],
  ])('stores %s as written', async (_what, filter) => {
    const manifest = endpoint({ ...egress, eventTypes: ['order.*', '*', 'invoice.paid'], filter });
    const res = await serverSideApply(kube.kubeConfig, manifest, {
      fieldManager: 'hookgate-test',
      namespace,
      dryRun: true,
    });
    expect(res.status, res.body.message).toBeLessThan(300);
    expect((res.body['spec'] as Spec)['filter']).toBe(filter);
  });

  it('stores ingress routes as written', async () => {
    const forward = {
      port: 8080,
      eventType: { header: 'X-GitHub-Event' },
      routes: [
        { eventTypes: ['push'], port: 9001 },
        { eventTypes: ['pull_request', 'issues'], path: '/prs' },
      ],
      unrouted: 'refuse',
    };
    const res = await serverSideApply(kube.kubeConfig, endpoint({ ...ingress, forward }), {
      fieldManager: 'hookgate-test',
      namespace,
      dryRun: true,
    });
    expect(res.status, res.body.message).toBeLessThan(300);
    expect((res.body['spec'] as Spec)['forward']).toEqual(forward);
  });
});

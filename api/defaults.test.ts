import { describe, expect, it } from 'vitest';
import { EgressEndpoint, Policy } from '../sidecar/config/schema.ts';
import { customResourceDefinitions, type SchemaNode } from './crd.ts';
import { ENDPOINT_DEFAULTS, POLICY_DEFAULTS, formatDefault } from './v1alpha1/defaults.ts';

/** Every leaf of the defaults table as [dotted path, value]. */
function leaves(table: object, prefix = ''): [string, unknown][] {
  return Object.entries(table).flatMap(([key, value]): [string, unknown][] =>
    typeof value === 'object' && value !== null && !Array.isArray(value)
      ? leaves(value as object, `${prefix}${key}.`)
      : [[`${prefix}${key}`, value]],
  );
}

/** The WebhookPolicy CRD's schema node at `spec.<path>`. */
function crdNode(path: string): SchemaNode | undefined {
  const crd = customResourceDefinitions().find(
    (c) => (c['spec'] as { names: { kind: string } }).names.kind === 'WebhookPolicy',
  )!;
  const spec = crd['spec'] as { versions: { schema: { openAPIV3Schema: SchemaNode } }[] };
  let node: SchemaNode | undefined = spec.versions[0]!.schema.openAPIV3Schema;
  for (const key of ['spec', ...path.split('.')]) {
    node = (node?.['properties'] as Record<string, SchemaNode> | undefined)?.[key];
  }
  return node;
}

/** The value at a dotted path. */
function at(value: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((v, k) => (v as Record<string, unknown>)?.[k], value);
}

/** The `Default: …` a description documents, or undefined. */
function documented(description: unknown): string | undefined {
  if (typeof description !== 'string') return undefined;
  return /Default: (.*?)\.(?:\s|$)/.exec(description)?.[1];
}

// What the sidecar applies to a policy that sets only what has no default.
const applied = Policy.parse({
  rateLimit: { rate: 1 },
  circuitBreaker: { consecutiveFailures: 1 },
});

describe('the defaults table', () => {
  it.each(leaves(POLICY_DEFAULTS))(
    // Each row: kubectl explain documents the table's value, and the sidecar applies that value.
    'spec.%s: documented in the CRD and applied by the sidecar',
    (path, value) => {
      expect(documented(crdNode(path)?.['description'])).toBe(formatDefault(value));
      expect(formatDefault(at(applied, path))).toBe(formatDefault(value));
    },
  );

  it('documents no policy default outside the table (except burst, which follows rate)', () => {
    const inTable = new Set(leaves(POLICY_DEFAULTS).map(([path]) => path));
    const stray: string[] = [];
    const visit = (node: SchemaNode, path: string): void => {
      if (path !== '' && documented(node['description']) !== undefined && !inTable.has(path))
        stray.push(path);
      for (const [key, child] of Object.entries(
        (node['properties'] ?? {}) as Record<string, SchemaNode>,
      ))
        visit(child, path === '' ? key : `${path}.${key}`);
    };
    visit(crdNode('retry')!, 'retry');
    for (const key of ['rateLimit', 'circuitBreaker', 'timeout', 'maxPayloadBytes', 'delivery'])
      visit(crdNode(key)!, key);
    expect(stray).toEqual(['rateLimit.burst']);
  });
});

describe('the endpoint defaults table', () => {
  const crd = customResourceDefinitions().find(
    (c) => (c['spec'] as { names: { kind: string } }).names.kind === 'WebhookEndpoint',
  )!;
  const spec = (crd['spec'] as { versions: { schema: { openAPIV3Schema: SchemaNode } }[] })
    .versions[0]!.schema.openAPIV3Schema;
  const node = (path: string): SchemaNode | undefined =>
    ['spec', ...path.split('.')].reduce<SchemaNode | undefined>(
      (n, key) => (n?.['properties'] as Record<string, SchemaNode> | undefined)?.[key],
      spec,
    );
  const applied = EgressEndpoint.parse({
    name: 'e',
    url: 'https://e.example',
    tls: {},
  });

  // Each row: kubectl explain documents the table's value, and the sidecar applies that value.
  it.each([
    ['paused', ENDPOINT_DEFAULTS.paused],
    ['tls.minVersion', ENDPOINT_DEFAULTS.tls.minVersion],
  ] as const)('spec.%s: documented in the CRD and applied by the sidecar', (path, value) => {
    expect(documented(node(path)?.['description'])).toBe(formatDefault(value));
    expect(formatDefault(at(applied, path))).toBe(formatDefault(value));
  });
});

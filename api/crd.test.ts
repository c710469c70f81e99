import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { describe, expect, it } from 'vitest';
import { customResourceDefinitions, type SchemaNode } from './crd.ts';
import { staleFiles } from './generate.ts';
import { WebhookEndpoint } from './v1alpha1/endpoint.ts';
import { WebhookPolicy } from './v1alpha1/policy.ts';

/** Every schema node under `node`, with its path. */
function* walk(node: SchemaNode, path: string): Generator<[string, SchemaNode]> {
  yield [path, node];
  for (const [name, child] of Object.entries(
    (node['properties'] ?? {}) as Record<string, SchemaNode>,
  )) {
    yield* walk(child, `${path}.${name}`);
  }
  if (typeof node['items'] === 'object') yield* walk(node['items'] as SchemaNode, `${path}[]`);
  if (typeof node['additionalProperties'] === 'object') {
    yield* walk(node['additionalProperties'] as SchemaNode, `${path}{}`);
  }
}

const schemas = customResourceDefinitions().map((crd) => {
  const spec = crd['spec'] as {
    names: { kind: string };
    versions: { schema: { openAPIV3Schema: SchemaNode } }[];
  };
  const root = spec.versions[0]!.schema.openAPIV3Schema;
  const properties = root['properties'] as Record<string, SchemaNode>;
  return { kind: spec.names.kind, spec: properties['spec']!, status: properties['status']! };
});
const nodes = schemas.flatMap((s) => [
  ...walk(s.spec, `${s.kind}.spec`),
  ...walk(s.status, `${s.kind}.status`),
]);

describe('generated CRDs', () => {
  it('match the files in crds/ and charts/ (run make generate after changing api/)', () => {
    expect(staleFiles()).toEqual([]);
  });

  // The API server rejects a schema that is not structural; these are the rules zod's output
  // breaks unless crd.ts reshapes it, plus the limits CEL cost estimation needs.
  it('are structural: no additionalProperties beside properties, no defaults, no unions', () => {
    const offenders = nodes.filter(
      ([, n]) =>
        ('properties' in n && 'additionalProperties' in n) ||
        'default' in n ||
        'anyOf' in n ||
        'oneOf' in n ||
        n['type'] === undefined,
    );
    expect(offenders.map(([p]) => p)).toEqual([]);
  });

  it('bound every string, list and map so CEL rules stay within the cost budget', () => {
    const unbounded = nodes.filter(
      ([, n]) =>
        (n['type'] === 'string' &&
          n['maxLength'] === undefined &&
          n['enum'] === undefined &&
          n['format'] === undefined) ||
        (n['type'] === 'array' && n['maxItems'] === undefined) ||
        (n['type'] === 'object' && 'additionalProperties' in n && n['maxProperties'] === undefined),
    );
    expect(unbounded.map(([p]) => p)).toEqual([]);
  });

  it('describe every field for kubectl explain', () => {
    const undocumented = nodes.filter(
      ([, n]) => typeof n['description'] !== 'string' || n['description'] === '',
    );
    expect(undocumented.map(([p]) => p)).toEqual([]);
  });
});

describe('examples/', () => {
  const dir = resolve(import.meta.dirname, '../examples');
  const docs = readdirSync(dir)
    .filter((f) => f.endsWith('.yaml'))
    .flatMap((f) =>
      parseAllDocuments(readFileSync(join(dir, f), 'utf8')).map((d) => [f, d.toJS()] as const),
    )
    .filter(([, doc]) => (doc as { apiVersion?: string }).apiVersion === 'hookgate.io/v1alpha1');

  it('has an egress endpoint per signing scheme, GitHub and Stripe ingress, two policies', () => {
    const specs = docs.map(
      ([, d]) => d as { kind: string; spec: Record<string, { scheme?: string }> },
    );
    expect(
      new Set(
        specs
          .filter((d) => d.kind === 'WebhookEndpoint')
          .map((d) => d.spec['signing']?.scheme ?? d.spec['verify']?.scheme),
      ),
    ).toEqual(new Set(['standard-webhooks', 'github', 'hmac', 'stripe']));
    expect(specs.filter((d) => d.kind === 'WebhookPolicy')).toHaveLength(2);
  });

  // The TypeScript side reads what the API server accepts: same schemas, same verdict.
  it.each(docs)('%s parses with the zod schema', (_file, doc) => {
    const schema =
      (doc as { kind: string }).kind === 'WebhookPolicy' ? WebhookPolicy : WebhookEndpoint;
    expect(schema.safeParse(doc).error).toBeUndefined();
  });
});

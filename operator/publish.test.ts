import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { SidecarConfig } from '../sidecar/config/schema.ts';
import { compileNamespace, type ObjectInput } from './compile/compile.ts';
import { CONFIG_KEY, GENERATION_ANNOTATION } from './names.ts';
import {
  CONFIG_MAP_MAX_BYTES,
  NEAR_LIMIT_RATIO,
  OBJECT_MAX_BYTES,
  entryKey,
  ownerOf,
  planPublish,
  publishedEntries,
  renderConfig,
  type ApplyManifest,
  type Published,
} from './publish.ts';

const whsec = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;

function endpoint(name: string, url: string): ObjectInput {
  return {
    apiVersion: 'hookgate.io/v1alpha1',
    kind: 'WebhookEndpoint',
    metadata: { name, uid: `uid-${name}`, generation: 1 },
    spec: { direction: 'Egress', url, signing: { secretRef: { name: 'k' } } },
  };
}

function compile(url = 'https://a.example/hook'): ReturnType<typeof compileNamespace> {
  return compileNamespace({
    namespace: 'shop',
    endpoints: [endpoint('a', url)],
    policies: [],
    secrets: new Map([
      [
        'k',
        {
          name: 'k',
          resourceVersion: '4',
          data: { secret: Buffer.from(whsec).toString('base64') },
        },
      ],
    ]),
  });
}

const owners = [ownerOf('WebhookEndpoint', 'a', 'uid-a')];

/** What the cache would hold after the plan's writes went through. */
function applied(plan: ReturnType<typeof planPublish>, previous: Published): Published {
  const configMap = plan.configMap ?? (previous.configMap as ApplyManifest);
  const secret = plan.secret?.('cm-uid') ?? (previous.secret as ApplyManifest);
  return {
    configMap: { ...configMap, metadata: { ...configMap.metadata, uid: 'cm-uid' } },
    secret,
    highestStatusGeneration: 0,
  };
}

describe('planPublish', () => {
  it('publishes generation 1 first: a config the sidecar schema accepts, and the keys', () => {
    const plan = planPublish('shop', compile(), { highestStatusGeneration: 0 }, owners);
    expect(plan.generation).toBe(1);
    expect(plan.configMap?.metadata.annotations).toEqual({ [GENERATION_ANNOTATION]: '1' });
    const text = plan.configMap?.['data'] as Record<string, string>;
    const config = SidecarConfig.parse(parse(text[CONFIG_KEY]!));
    expect(config.generation).toBe(1);
    expect(config.endpoints.map((e) => e.name)).toEqual(['a']);
    expect(plan.secret?.('cm-uid')).toMatchObject({
      metadata: { ownerReferences: [{ kind: 'ConfigMap', uid: 'cm-uid', controller: true }] },
      data: { k_secret_4: Buffer.from(whsec).toString('base64') },
    });
  });

  it('continues from the highest generation statuses report when the ConfigMap is gone', () => {
    expect(planPublish('shop', compile(), { highestStatusGeneration: 41 }, owners).generation).toBe(
      42,
    );
  });

  // Each row: what changes between two compiles, the generation after, and which objects are written.
  it.each([
    { what: 'nothing', url: 'https://a.example/hook', owners, gen: 1, cm: false, secret: false },
    { what: 'the config', url: 'https://b.example/hook', owners, gen: 2, cm: true, secret: false },
    {
      what: 'only the owners (metadata, not content)',
      url: 'https://a.example/hook',
      owners: [...owners, ownerOf('WebhookPolicy', 'p', 'uid-p')],
      gen: 1,
      cm: true,
      secret: false,
    },
  ])('$what changed → generation $gen', ({ url, owners: nextOwners, gen, cm, secret }) => {
    const first = planPublish('shop', compile(), { highestStatusGeneration: 0 }, owners);
    const cached = applied(first, { highestStatusGeneration: 0 });
    const next = planPublish('shop', compile(url), cached, nextOwners);
    expect(next.generation).toBe(gen);
    expect(next.configMap !== undefined).toBe(cm);
    expect(next.secret !== undefined).toBe(secret);
  });

  it('moves the generation when only the Secret data differs', () => {
    const first = planPublish('shop', compile(), { highestStatusGeneration: 0 }, owners);
    const cached = applied(first, { highestStatusGeneration: 0 });
    const tampered = { ...cached, secret: { ...cached.secret!, data: { k_secret_4: 'eA==' } } };
    const next = planPublish('shop', compile(), tampered, owners);
    expect([next.generation, next.configMap !== undefined, next.secret !== undefined]).toEqual([
      2,
      true,
      true,
    ]);
  });
});

describe('renderConfig', () => {
  it('writes JSON (which is YAML) after a comment header, one list entry per line', () => {
    const compiled = compile();
    const text = renderConfig(compiled.config, 5);
    expect(text.split('\n').filter((l) => l.startsWith('#'))).toHaveLength(2);
    expect(text.split('\n').filter((l) => l.startsWith('    {"name":"a"'))).toHaveLength(1);
    const json = JSON.parse(text.replace(/^(#[^\n]*\n)+/, '')) as { generation: number };
    expect(json).toEqual({ generation: 5, ...compiled.config });
    expect(parse(text)).toEqual(json);
  });
});

describe('publishedEntries', () => {
  it('reads back each entry exactly as the compile wrote it', () => {
    const compiled = compile();
    const plan = planPublish('shop', compiled, { highestStatusGeneration: 0 }, owners);
    const text = (plan.configMap?.['data'] as Record<string, string>)[CONFIG_KEY];
    expect(publishedEntries(text).get(entryKey('Egress', 'a'))).toBe(compiled.endpoints[0]?.entry);
    expect(publishedEntries('{not yaml: [').size).toBe(0);
  });
});

describe('publishSize', () => {
  /** A compile of `n` endpoints, each carrying `headerBytes` of static header values. */
  function big(n: number, headerBytes: number): ReturnType<typeof compileNamespace> {
    return compileNamespace({
      namespace: 'shop',
      endpoints: Array.from({ length: n }, (_, i) => ({
        ...endpoint(`ep-${i}`, `https://${i}.example/hook`),
        spec: {
          direction: 'Egress',
          url: `https://${i}.example/hook`,
          signing: { secretRef: { name: 'k' } },
          headers: { 'X-Blob': 'x'.repeat(headerBytes) },
        },
      })),
      policies: [],
      secrets,
    });
  }
  const secrets = new Map([
    [
      'k',
      { name: 'k', resourceVersion: '4', data: { secret: Buffer.from(whsec).toString('base64') } },
    ],
  ]);

  // Each row: endpoints of ~4 KiB each, the state, and whether the ConfigMap is written.
  it.each([
    { n: 150, state: 'fits', written: true },
    { n: 220, state: 'near', written: true },
    { n: 270, state: 'over', written: false },
  ])('$n endpoints of 4 KiB → $state', ({ n, state, written }) => {
    const plan = planPublish('shop', big(n, 4000), { highestStatusGeneration: 0 }, owners);
    expect(plan.size.state).toBe(state);
    expect(plan.configMap !== undefined).toBe(written);
    expect(plan.secret !== undefined).toBe(written);
    if (written) {
      const data = plan.configMap?.['data'] as Record<string, string>;
      expect(plan.size.dataBytes).toBe(
        Buffer.byteLength(CONFIG_KEY) + Buffer.byteLength(data[CONFIG_KEY]!),
      );
    }
  });

  it('over the limit keeps the generation already published and writes nothing', () => {
    const first = planPublish('shop', compile(), { highestStatusGeneration: 0 }, owners);
    const cached = applied(first, { highestStatusGeneration: 0 });
    const next = planPublish('shop', big(300, 4000), cached, owners);
    expect([next.size.state, next.generation, next.configMap, next.secret]).toEqual([
      'over',
      1,
      undefined,
      undefined,
    ]);
  });

  it('counts the owner references: a namespace of many small resources nears the object limit', () => {
    const many = Array.from({ length: 10_000 }, (_, i) =>
      ownerOf('WebhookEndpoint', `endpoint-${i}`, `0000000${i}-aaaa-bbbb-cccc-dddddddddddd`),
    );
    const plan = planPublish('shop', compile(), { highestStatusGeneration: 0 }, many);
    expect(plan.size.dataBytes).toBeLessThan(CONFIG_MAP_MAX_BYTES / 100);
    expect(plan.size.objectBytes).toBeGreaterThan(OBJECT_MAX_BYTES * NEAR_LIMIT_RATIO);
    expect(plan.size.state).not.toBe('fits');
  });
});

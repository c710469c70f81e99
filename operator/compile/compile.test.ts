import { describe, expect, it } from 'vitest';
import { SidecarConfig } from '../../sidecar/config/schema.ts';
import { REASON, SECRET_MOUNT_PATH, SECRET_NAME } from '../names.ts';
import { compileNamespace, type CompileInput, type ObjectInput } from './compile.ts';
import type { SecretView } from './secrets.ts';

const namespace = 'shop';
const whsec = `whsec_${Buffer.alloc(32, 7).toString('base64')}`;
const whsecOld = `whsec_${Buffer.alloc(32, 9).toString('base64')}`;

function endpoint(
  name: string,
  spec: Record<string, unknown>,
  options: { labels?: Record<string, string>; created?: string } = {},
): ObjectInput {
  return {
    apiVersion: 'hookgate.io/v1alpha1',
    kind: 'WebhookEndpoint',
    metadata: {
      name,
      namespace,
      uid: `uid-${name}`,
      generation: 1,
      creationTimestamp: options.created ?? '2026-01-01T00:00:00Z',
      labels: options.labels ?? {},
    },
    spec,
  };
}

function policy(
  name: string,
  spec: Record<string, unknown>,
  created = '2026-01-01T00:00:00Z',
): ObjectInput {
  return {
    apiVersion: 'hookgate.io/v1alpha1',
    kind: 'WebhookPolicy',
    metadata: { name, namespace, uid: `uid-${name}`, generation: 1, creationTimestamp: created },
    spec,
  };
}

function secret(name: string, data: Record<string, string>, resourceVersion = '10'): SecretView {
  return {
    name,
    resourceVersion,
    data: Object.fromEntries(
      Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
    ),
  };
}

function input(
  endpoints: ObjectInput[],
  policies: ObjectInput[] = [],
  secrets: SecretView[] = [],
): CompileInput {
  return { namespace, endpoints, policies, secrets: new Map(secrets.map((s) => [s.name, s])) };
}

const egress = (url = 'https://hooks.example.com/orders'): Record<string, unknown> => ({
  direction: 'Egress',
  url,
});
const signed = (
  secretName: string,
  extra: Record<string, unknown> = {},
): Record<string, unknown> => ({
  ...egress(),
  signing: { secretRef: { name: secretName }, ...extra },
});

describe('compileNamespace', () => {
  it('sets interception.unmatched from the oldest policy that says (issue 15, item 1)', () => {
    const none = compileNamespace(input([endpoint('a', egress())]));
    expect(none.config.interception).toBeUndefined();
    const out = compileNamespace(
      input(
        [endpoint('a', egress())],
        [
          policy(
            'newer',
            { endpointSelector: {}, interception: { unmatched: 'passthrough' } },
            '2026-02-01T00:00:00Z',
          ),
          policy(
            'older',
            { endpointSelector: {}, interception: { unmatched: 'refuse' } },
            '2026-01-15T00:00:00Z',
          ),
          policy('oldest', { endpointSelector: {} }, '2026-01-01T00:00:00Z'),
        ],
      ),
    );
    expect(out.config.interception).toEqual({ unmatched: 'refuse' });
    // What the sidecar then loads.
    expect(SidecarConfig.parse(out.config).interception.unmatched).toBe('refuse');
  });

  it("carries the policy's history retention to its endpoints, where the recorder reads it (issue 16)", () => {
    const history = {
      maxDeliveries: 500,
      maxAge: '6h',
      bodies: 'none',
      secretHeaders: ['X-Partner-Key'],
    } as const;
    const out = compileNamespace(
      input([endpoint('a', egress())], [policy('kept', { endpointSelector: {}, history })]),
    );
    const parsed = SidecarConfig.parse(out.config);
    // Set fields as written, the rest the defaults table's.
    expect(parsed.endpoints[0]?.policy.history).toEqual({
      ...history,
      secretHeaders: ['X-Partner-Key'],
      maxBytes: 67_108_864,
      maxBodyBytes: 4096,
    });
  });

  it("carries the policy's allowed CIDRs to its endpoints, where the SSRF guard reads them", () => {
    const out = compileNamespace(
      input(
        [endpoint('internal', egress('http://10.20.0.5/hook'), { labels: { tier: 'internal' } })],
        [
          policy('internal', {
            endpointSelector: { matchLabels: { tier: 'internal' } },
            destinations: { allowedCIDRs: ['10.20.0.0/16'] },
          }),
        ],
      ),
    );
    const parsed = SidecarConfig.parse(out.config);
    expect(parsed.endpoints[0]?.policy.destinations).toEqual({
      allowedHosts: [],
      allowedCIDRs: ['10.20.0.0/16'],
    });
  });

  it('publishes an endpoint with no policy under the built-in defaults', () => {
    const out = compileNamespace(
      input(
        [endpoint('orders', signed('orders-key'), { labels: { tier: 'gold' } })],
        [],
        [secret('orders-key', { secret: whsec })],
      ),
    );
    expect(out.endpoints).toEqual([
      {
        name: 'orders',
        accepted: { ok: true },
        policy: undefined,
        entry: expect.any(String) as unknown,
      },
    ]);
    expect(out.config.endpoints).toEqual([
      {
        name: 'orders',
        url: 'https://hooks.example.com/orders',
        labels: { tier: 'gold' },
        signing: { secrets: [{ source: { file: `${SECRET_MOUNT_PATH}/orders-key_secret_10` } }] },
      },
    ]);
    expect(out.secretData).toEqual({
      'orders-key_secret_10': Buffer.from(whsec).toString('base64'),
    });
    // The sidecar fills in the defaults: what the CRD descriptions promise.
    const parsed = SidecarConfig.parse(out.config);
    expect(parsed.endpoints[0]?.policy.retry.maxAttempts).toBe(3);
    expect(parsed.endpoints[0]?.policy.timeout).toBe('10s');
    expect(parsed.endpoints[0]?.signing.scheme).toBe('standard-webhooks');
  });

  // Each row: policies (name, selector, creation time) and which one each endpoint gets.
  it.each([
    {
      what: 'the oldest selecting policy wins',
      policies: [
        ['young', { matchLabels: { tier: 'gold' } }, '2026-03-01T00:00:00Z'],
        ['old', {}, '2026-01-01T00:00:00Z'],
      ],
      expected: { gold: 'old', plain: 'old' },
      conflicts: { young: { old: ['gold'] } },
    },
    {
      what: 'a younger policy still applies where the older one does not select',
      policies: [
        ['young', {}, '2026-03-01T00:00:00Z'],
        ['old', { matchLabels: { tier: 'gold' } }, '2026-01-01T00:00:00Z'],
      ],
      expected: { gold: 'old', plain: 'young' },
      conflicts: { young: { old: ['gold'] } },
    },
    {
      what: 'equal creation times fall back to name order',
      policies: [
        ['b-policy', {}, '2026-01-01T00:00:00Z'],
        ['a-policy', {}, '2026-01-01T00:00:00Z'],
      ],
      expected: { gold: 'a-policy', plain: 'a-policy' },
      conflicts: { 'b-policy': { 'a-policy': ['gold', 'plain'] } },
    },
    {
      what: 'matchExpressions NotIn selects endpoints without the label too',
      policies: [
        [
          'not-gold',
          { matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['gold'] }] },
          '2026-01-01T00:00:00Z',
        ],
      ],
      expected: { gold: undefined, plain: 'not-gold' },
      conflicts: {},
    },
  ] as const)('$what', ({ policies, expected, conflicts }) => {
    const out = compileNamespace(
      input(
        [
          endpoint('gold', egress(), { labels: { tier: 'gold' } }),
          endpoint('plain', egress(), { labels: {} }),
        ],
        policies.map(([name, selector, created]) =>
          policy(name, { endpointSelector: selector, retry: { maxAttempts: 5 } }, created),
        ),
      ),
    );
    expect(Object.fromEntries(out.endpoints.map((e) => [e.name, e.policy]))).toEqual(expected);
    expect(
      Object.fromEntries(
        out.policies
          .filter((p) => p.overriddenBy.size > 0)
          .map((p) => [p.name, Object.fromEntries(p.overriddenBy)]),
      ),
    ).toEqual(conflicts);
    for (const e of out.config.endpoints ?? [])
      expect(e.policy?.name).toBe(expected[e.name as 'gold']);
  });

  // Each row: a broken reference; the endpoint is refused with a reason naming the Secret and key
  // (never the value), is left out, and the healthy endpoint still publishes.
  const NOT_USABLE =
    'is not a usable Standard Webhooks secret: store whsec_ followed by the padded base64 of 24 to 64 random bytes, e.g. whsec_$(openssl rand -base64 32)';
  it.each([
    {
      what: 'a missing Secret',
      secrets: [],
      reason: REASON.secretNotFound,
      message: 'Secret "broken-key" (spec.signing.secretRef) does not exist in namespace "shop"',
    },
    {
      what: 'a missing key',
      secrets: [secret('broken-key', { other: whsec })],
      reason: REASON.secretKeyNotFound,
      message: 'Secret "broken-key" has no key "secret" (spec.signing.secretRef)',
    },
    {
      what: 'an empty value (the sidecar would refuse the whole file)',
      secrets: [secret('broken-key', { secret: '  \n' })],
      reason: REASON.secretValueInvalid,
      message: 'key "secret" of Secret "broken-key" (spec.signing.secretRef) is empty',
    },
    {
      what: 'a value not in whsec_ form for Standard Webhooks',
      secrets: [secret('broken-key', { secret: 'hunter2-plain-password' })],
      reason: REASON.secretValueInvalid,
      message: `key "secret" of Secret "broken-key" (spec.signing.secretRef) ${NOT_USABLE}`,
    },
    {
      // The same words for a whsec_ value of the wrong length: status never tells the length.
      what: 'a whsec_ value too short to sign with',
      secrets: [
        secret('broken-key', { secret: `whsec_${Buffer.from('hunter2').toString('base64')}` }),
      ],
      reason: REASON.secretValueInvalid,
      message: `key "secret" of Secret "broken-key" (spec.signing.secretRef) ${NOT_USABLE}`,
    },
  ])('refuses $what and publishes the rest', ({ secrets, reason, message }) => {
    const out = compileNamespace(
      input(
        [endpoint('broken', signed('broken-key')), endpoint('healthy', signed('good-key'))],
        [],
        [...secrets, secret('good-key', { secret: whsec })],
      ),
    );
    const broken = out.endpoints.find((e) => e.name === 'broken');
    expect(broken?.accepted).toEqual({ ok: false, reason, message });
    expect(broken?.entry).toBeUndefined();
    expect(JSON.stringify(out)).not.toContain('hunter2');
    expect(out.config.endpoints?.map((e) => e.name)).toEqual(['healthy']);
    expect(Object.keys(out.secretData)).toEqual(['good-key_secret_10']);
  });

  it('signs with github and hmac schemes using any non-empty value', () => {
    const out = compileNamespace(
      input(
        [
          endpoint('gh', signed('plain', { scheme: 'github' })),
          endpoint(
            'custom',
            signed('plain', { scheme: 'hmac', hmac: { header: 'X-Sig', prefix: 'sha256=' } }),
          ),
        ],
        [],
        [secret('plain', { secret: 'not-a-whsec' })],
      ),
    );
    expect(out.endpoints.every((e) => e.accepted.ok)).toBe(true);
    expect(out.config.endpoints?.map((e) => e.signing)).toEqual([
      {
        scheme: 'hmac',
        secrets: [{ source: { file: `${SECRET_MOUNT_PATH}/plain_secret_10` } }],
        hmac: { header: 'X-Sig', prefix: 'sha256=' },
      },
      { scheme: 'github', secrets: [{ source: { file: `${SECRET_MOUNT_PATH}/plain_secret_10` } }] },
    ]);
    // Two endpoints reading one key share one copy.
    expect(Object.keys(out.secretData)).toEqual(['plain_secret_10']);
  });

  it('signs with the previous secrets until they expire, in order', () => {
    const out = compileNamespace(
      input(
        [
          endpoint(
            'rotating',
            signed('new-key', {
              previousSecrets: [
                { secretRef: { name: 'old-key', key: 'k' }, expiresAt: '2026-12-15T00:00:00Z' },
              ],
            }),
          ),
        ],
        [],
        [secret('new-key', { secret: whsec }, '20'), secret('old-key', { k: whsecOld }, '5')],
      ),
    );
    expect(out.config.endpoints?.[0]?.signing?.secrets).toEqual([
      { source: { file: `${SECRET_MOUNT_PATH}/new-key_secret_20` } },
      { source: { file: `${SECRET_MOUNT_PATH}/old-key_k_5` }, expiresAt: '2026-12-15T00:00:00Z' },
    ]);
  });

  it('names a rotated Secret by its new version, so the config file itself changes', () => {
    const before = compileNamespace(
      input([endpoint('orders', signed('key'))], [], [secret('key', { secret: whsec }, '10')]),
    );
    const after = compileNamespace(
      input([endpoint('orders', signed('key'))], [], [secret('key', { secret: whsecOld }, '11')]),
    );
    expect(after.endpoints[0]?.entry).not.toBe(before.endpoints[0]?.entry);
    expect(Object.keys(after.secretData)).toEqual(['key_secret_11']);
  });

  it('compiles ingress receivers: verify secrets, basic-auth keys, forward, policy payload cap', () => {
    const out = compileNamespace(
      input(
        [
          endpoint(
            'github',
            {
              direction: 'Ingress',
              path: '/github',
              verify: { scheme: 'github', secretRef: { name: 'gh' }, tolerance: '1m' },
              forward: { port: 9000, path: '/hooks' },
            },
            { labels: { provider: 'github' } },
          ),
          endpoint('legacy', {
            direction: 'Ingress',
            path: '/legacy',
            verify: { scheme: 'basic', secretRef: { name: 'creds' } },
          }),
        ],
        [policy('small', { endpointSelector: {}, maxPayloadBytes: 4096 })],
        [
          secret('gh', { secret: 'gh-secret' }),
          secret('creds', { username: 'u', password: 'p' }, '3'),
        ],
      ),
    );
    expect(out.config.ingress).toEqual([
      {
        name: 'github',
        path: '/github',
        verify: {
          scheme: 'github',
          secrets: [{ file: `${SECRET_MOUNT_PATH}/gh_secret_10` }],
          tolerance: '1m',
        },
        forward: { port: 9000, path: '/hooks' },
        maxPayloadBytes: 4096,
      },
      {
        name: 'legacy',
        path: '/legacy',
        verify: {
          scheme: 'basic',
          username: { file: `${SECRET_MOUNT_PATH}/creds_username_3` },
          password: { file: `${SECRET_MOUNT_PATH}/creds_password_3` },
        },
        maxPayloadBytes: 4096,
      },
    ]);
    expect(out.endpoints.map((e) => e.policy)).toEqual(['small', 'small']);
    expect(out.policies[0]?.inEffectFor).toBe(2);
  });

  it('gives a contested ingress path to the oldest endpoint; the newer one is refused', () => {
    const verify = { scheme: 'bearer', secretRef: { name: 'token' } };
    const out = compileNamespace(
      input(
        [
          endpoint(
            'a-newer',
            { direction: 'Ingress', path: '/hook', verify },
            {
              created: '2026-02-01T00:00:00Z',
            },
          ),
          endpoint(
            'z-older',
            { direction: 'Ingress', path: '/hook', verify },
            {
              created: '2026-01-01T00:00:00Z',
            },
          ),
        ],
        [],
        [secret('token', { secret: 't0ken' })],
      ),
    );
    expect(out.endpoints.map((e) => [e.name, e.accepted.ok])).toEqual([
      ['a-newer', false],
      ['z-older', true],
    ]);
    expect(out.endpoints[0]?.accepted).toMatchObject({
      reason: REASON.pathConflict,
      message: expect.stringContaining('older WebhookEndpoint "z-older"') as unknown,
    });
  });

  it('lets an endpoint timeout override its policy timeout', () => {
    const out = compileNamespace(
      input(
        [endpoint('fast', { ...egress(), timeout: '2s' })],
        [policy('p', { endpointSelector: {}, timeout: '10s', rateLimit: { rate: 5 } })],
      ),
    );
    expect(out.config.endpoints?.[0]?.policy).toEqual({
      name: 'p',
      timeout: '2s',
      rateLimit: { rate: 5 },
    });
  });

  it('publishes dynamic destinations from policies, oldest first, signing from their Secret', () => {
    const out = compileNamespace(
      input(
        [],
        [
          policy(
            'partners',
            {
              endpointSelector: { matchLabels: { none: 'x' } },
              destinations: {
                allowedHosts: ['*.partner.example'],
                signing: { secretRef: { name: 'dyn' } },
              },
            },
            '2026-02-01T00:00:00Z',
          ),
          policy(
            'internal',
            { endpointSelector: {}, destinations: { allowedCIDRs: ['10.0.0.0/8'] } },
            '2026-01-01T00:00:00Z',
          ),
        ],
        [secret('dyn', { secret: whsec })],
      ),
    );
    expect(out.config.dynamic).toEqual([
      { policy: { name: 'internal', destinations: { allowedCIDRs: ['10.0.0.0/8'] } } },
      {
        signing: { secrets: [{ source: { file: `${SECRET_MOUNT_PATH}/dyn_secret_10` } }] },
        policy: { name: 'partners', destinations: { allowedHosts: ['*.partner.example'] } },
      },
    ]);
  });

  it('does not apply a policy whose Secret is missing; endpoints fall to the next policy', () => {
    const out = compileNamespace(
      input(
        [endpoint('orders', egress())],
        [
          policy(
            'old-broken',
            { endpointSelector: {}, destinations: { signing: { secretRef: { name: 'gone' } } } },
            '2026-01-01T00:00:00Z',
          ),
          policy('young', { endpointSelector: {} }, '2026-02-01T00:00:00Z'),
        ],
      ),
    );
    expect(out.policies.map((p) => [p.name, p.accepted.ok, p.inEffectFor])).toEqual([
      ['old-broken', false, 0],
      ['young', true, 1],
    ]);
    expect(out.policies[0]?.accepted).toMatchObject({ reason: REASON.secretNotFound });
    expect(out.endpoints[0]?.policy).toBe('young');
    expect(out.config.dynamic).toEqual([]);
  });

  // Each row: an endpoint refused before any Secret is looked at, and the reason.
  it.each([
    {
      what: 'a spec the API schema refuses',
      spec: { direction: 'Sideways', url: 'https://x.example' },
      reason: REASON.invalidSpec,
      message: 'spec.direction',
    },
    {
      what: "a reference to the operator's own Secret",
      spec: signed(SECRET_NAME),
      reason: REASON.reservedSecretName,
      message: `names Secret "${SECRET_NAME}"`,
    },
    {
      what: "a URL the sidecar's stricter schema refuses",
      spec: egress('https://'),
      reason: REASON.invalidConfig,
      message: 'url',
    },
    {
      what: 'basic auth with extra credentials it cannot use',
      spec: {
        direction: 'Ingress',
        path: '/b',
        verify: {
          scheme: 'basic',
          secretRef: { name: 'creds' },
          additionalSecretRefs: [{ name: 'creds2' }],
        },
      },
      reason: REASON.invalidSpec,
      message: 'spec.verify.additionalSecretRefs',
    },
  ])('refuses $what', ({ spec, reason, message }) => {
    const out = compileNamespace(input([endpoint('bad', spec)]));
    expect(out.endpoints[0]?.accepted).toMatchObject({
      ok: false,
      reason,
      message: expect.stringContaining(message) as unknown,
    });
    expect(out.config.endpoints).toEqual([]);
  });

  it('is deterministic: the order objects arrive in does not change the output', () => {
    const objects = ['c', 'a', 'b'].map((n) => endpoint(n, signed('k'), { labels: { n } }));
    const policies = [
      policy('p2', { endpointSelector: {} }),
      policy('p1', { endpointSelector: {} }),
    ];
    const secrets = [secret('k', { secret: whsec })];
    const one = compileNamespace(input(objects, policies, secrets));
    const two = compileNamespace(input([...objects].reverse(), [...policies].reverse(), secrets));
    expect(JSON.stringify(two.config)).toBe(JSON.stringify(one.config));
    expect(two.endpoints).toEqual(one.endpoints);
    expect(one.config.endpoints?.map((e) => e.name)).toEqual(['a', 'b', 'c']);
  });
});

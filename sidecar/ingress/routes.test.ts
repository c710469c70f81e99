import { describe, expect, it } from 'vitest';
import { parseConfig } from '../config/load.ts';
import type { SecretSource, Verify } from '../config/schema.ts';
import { compileRoutes, verifyOptions } from './routes.ts';

/** Secret sources resolve to `secret:<env name>`, so the mapping is visible in the result. */
const secret = (s: SecretSource): string => ('env' in s ? `secret:${s.env}` : `file:${s.file}`);
const base = { secrets: [{ env: 'A' }, { env: 'B' }], tolerance: '5m' } as const;

describe('verifyOptions', () => {
  it.each([
    // timestamped schemes get the tolerance in whole seconds
    [
      { ...base, scheme: 'standard-webhooks' },
      { scheme: 'standard-webhooks', secrets: ['secret:A', 'secret:B'], toleranceSeconds: 300 },
    ],
    [
      { ...base, scheme: 'stripe', tolerance: '90s' },
      { scheme: 'stripe', secrets: ['secret:A', 'secret:B'], toleranceSeconds: 90 },
    ],
    // rounded up: 1500ms is a 2 s window, never a 1 s one
    [
      { ...base, scheme: 'slack', tolerance: '1500ms' },
      { scheme: 'slack', secrets: ['secret:A', 'secret:B'], toleranceSeconds: 2 },
    ],
    // no timestamp signed: no tolerance passed
    [
      { ...base, scheme: 'github' },
      { scheme: 'github', secrets: ['secret:A', 'secret:B'] },
    ],
    [
      { ...base, scheme: 'shopify' },
      { scheme: 'shopify', secrets: ['secret:A', 'secret:B'] },
    ],
    // config `bearer` is the library's `bearer-token`; each secret is an accepted token
    [
      { ...base, scheme: 'bearer' },
      { scheme: 'bearer-token', tokens: ['secret:A', 'secret:B'] },
    ],
    // config `basic` is `basic-auth`, its credential read from two sources
    [
      {
        scheme: 'basic',
        secrets: [],
        tolerance: '5m',
        username: { env: 'U' },
        password: { file: 'p' },
      },
      { scheme: 'basic-auth', credentials: [{ username: 'secret:U', password: 'file:p' }] },
    ],
  ] as [Verify, unknown][])('maps %o', (verify, expected) => {
    expect(verifyOptions(verify, secret)).toEqual(expected);
  });

  it('maps the generic HMAC settings one to one', () => {
    const verify: Verify = {
      scheme: 'hmac',
      secrets: [{ env: 'H' }],
      tolerance: '2m',
      hmac: {
        header: 'X-Sig',
        algorithm: 'sha512',
        encoding: 'base64',
        prefix: 'sha512=',
        timestampHeader: 'X-Ts',
      },
    };
    expect(verifyOptions(verify, secret)).toEqual({
      scheme: 'hmac',
      secrets: ['secret:H'],
      header: 'X-Sig',
      algorithm: 'sha512',
      encoding: 'base64',
      prefix: 'sha512=',
      timestampHeader: 'X-Ts',
      toleranceSeconds: 120,
    });
  });
});

describe('compileRoutes', () => {
  const load = (yaml: string, env: Record<string, string>): ReturnType<typeof parseConfig> =>
    parseConfig(yaml, 'test.yaml', '/nonexistent', env);

  it('builds one route per path with the settings a request needs', async () => {
    const loaded = await load(
      [
        'namespace: shop',
        'ingress:',
        '  - name: gh',
        '    path: /hooks/github',
        '    verify: { scheme: github, secrets: [{ env: GH }] }',
        '    forward: { port: 9000, path: /github, buffered: true }',
        '    deduplication: { window: 1h }',
        '    maxPayloadBytes: 2048',
        '  - name: partner',
        '    path: /hooks/partner',
        '    verify: { scheme: bearer, secrets: [{ env: TOKEN }] }',
      ].join('\n'),
      { GH: 'gh-secret', TOKEN: 'tok' },
    );
    const routes = compileRoutes(loaded);
    expect([...routes.keys()]).toEqual(['/hooks/github', '/hooks/partner']);
    const gh = routes.get('/hooks/github')!;
    expect(gh).toMatchObject({
      endpointName: 'gh',
      scheme: 'github',
      misconfigured: undefined,
      maxPayloadBytes: 2048,
      forwardPort: 9000,
      forwardPath: '/github',
      buffered: true,
      dedupWindowMs: 3_600_000,
      dedupWindow: '1h',
      dedupScope: 'shop/gh',
      idBindingHeader: 'x-hub-signature-256',
    });
    expect(gh.verifier).toBeTypeOf('function');
    expect([...gh.credentialHeaders]).toEqual([]);
    const partner = routes.get('/hooks/partner')!;
    // defaults: the app on 8080 at the arrival path, a 24 h window, 1 MiB
    expect(partner).toMatchObject({
      forwardPort: 8080,
      forwardPath: undefined,
      dedupWindowMs: 86_400_000,
      maxPayloadBytes: 1_048_576,
      idBindingHeader: undefined,
    });
    // the bearer token stops at the sidecar
    expect([...partner.credentialHeaders]).toEqual(['authorization']);
  });

  it('keeps a route whose secret cannot verify, with the reason and no verifier', async () => {
    const loaded = await load(
      'ingress:\n  - name: sw\n    path: /sw\n    verify: { scheme: standard-webhooks, secrets: [{ env: S }] }\n',
      { S: 'not-a-whsec-secret' },
    );
    const route = compileRoutes(loaded).get('/sw')!;
    expect(route.verifier).toBeUndefined();
    expect(route.misconfigured).toContain('secrets[0]');
    expect(route.misconfigured).not.toContain('not-a-whsec-secret');
    expect(route.dedupScope).toBe('sw');
  });
});

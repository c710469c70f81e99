import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.ts';
import { loadConfigFile, parseConfig } from './load.ts';

const dir = mkdtempSync(join(tmpdir(), 'hookgate-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, 'orders.key'), 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n');
writeFileSync(join(dir, 'bad.key'), 'whsec_not base64!\n');

const problemsOf = async (text: string): Promise<readonly string[]> => {
  try {
    await parseConfig(text, 'sidecar.yaml', dir, {});
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).code).toBe('ERR_CONFIG_INVALID');
    return (err as ConfigError).problems;
  }
  throw new Error('the config was accepted');
};

describe('parseConfig', () => {
  it('fills the defaults a platform engineer expects and reads secrets', async () => {
    const loaded = await parseConfig(
      `endpoints:\n  - name: orders\n    url: https://hooks.example.com/orders\n    signing:\n      secrets: [{ source: { file: orders.key } }]\n`,
      'sidecar.yaml',
      dir,
      {},
    );
    const orders = loaded.config.endpoints[0]!;
    expect(orders.signing.scheme).toBe('standard-webhooks');
    expect(orders.policy.retry).toMatchObject({
      maxAttempts: 3,
      backoff: { initial: '200ms', max: '10s', multiplier: 2, jitter: 'full' },
      syncDeadline: '30s',
      schedule: ['0s', '5s', '5m', '30m', '2h', '5h', '10h', '10h'],
    });
    expect(orders.policy.maxPayloadBytes).toBe(1_048_576);
    expect(loaded.config.listen).toEqual({ egress: '127.0.0.1:15001', ingress: '0.0.0.0:15006' });
    expect(loaded.secret(orders.signing.secrets[0]!.source)).toBe(
      'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
    );
    expect(Object.isFrozen(orders.policy.retry.backoff)).toBe(true);
  });

  // The injector's hookgate.io/app-port reaches the sidecar as HOOKGATE_APP_PORT: it is the port of
  // ingress endpoints that name none, never of those that do.
  it('forwards to HOOKGATE_APP_PORT unless the endpoint names a port', async () => {
    const text = [
      'ingress:',
      '  - name: gh',
      '    path: /github',
      '    verify: { scheme: github, secrets: [{ env: GH }] }',
      '  - name: pinned',
      '    path: /pinned',
      '    verify: { scheme: github, secrets: [{ env: GH }] }',
      '    forward: { port: 9000 }',
    ].join('\n');
    const env = { GH: 'secret', HOOKGATE_APP_PORT: '3000' };
    const loaded = await parseConfig(text, 'sidecar.yaml', dir, env);
    expect(loaded.config.ingress.map((i) => i.forward.port)).toEqual([3000, 9000]);
    const plain = await parseConfig(text, 'sidecar.yaml', dir, { GH: 'secret' });
    expect(plain.config.ingress.map((i) => i.forward.port)).toEqual([8080, 9000]);
    await expect(
      parseConfig(text, 'sidecar.yaml', dir, { ...env, HOOKGATE_APP_PORT: '80a' }),
    ).rejects.toMatchObject({
      problems: ['HOOKGATE_APP_PORT: "80a" is not a port from 1 to 65535'],
    });
  });

  it('lists every problem with its path, not just the first', async () => {
    const problems = await problemsOf(
      [
        'endpoints:',
        '  - name: Orders',
        '    url: ftp://x',
        '    policy: { timeout: 5 minutes, retry: { maxAttempts: 0 } }',
        '  - name: b',
        '    url: https://b.example',
        '    signing: { scheme: hmac, secrets: [{ source: { file: b.key } }] }',
        'surprise: true',
      ].join('\n'),
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^endpoints\[0\]\.name: use lower-case/),
        expect.stringMatching(/^endpoints\[0\]\.url: use an absolute http/),
        expect.stringMatching(/^endpoints\[0\]\.policy\.timeout: write a duration like 500ms/),
        expect.stringMatching(/^endpoints\[0\]\.policy\.retry\.maxAttempts: /),
        'endpoints[1].signing.hmac: set hmac exactly when scheme is hmac',
        expect.stringMatching(/^\(top level\): Unrecognized key: "surprise"/),
      ]),
    );
    expect(problems).toHaveLength(6);
  });

  it('refuses secrets it cannot read, naming the field and never a value', async () => {
    const problems = await problemsOf(
      [
        'endpoints:',
        '  - name: a',
        '    url: https://a.example',
        '    signing: { secrets: [{ source: { file: missing.key } }] }',
        'ingress:',
        '  - name: gh',
        '    path: /github',
        '    verify: { scheme: github, secrets: [{ env: GH_SECRET }] }',
      ].join('\n'),
    );
    expect(problems).toEqual([
      `endpoints[0].signing.secrets[0].source.file: cannot read ${join(dir, 'missing.key')} (ENOENT)`,
      'ingress[0].verify.secrets[0].env: environment variable GH_SECRET is not set',
    ]);
  });

  it.each([
    // issue 15, item 8: credentials in a URL are dropped by the sender, so refuse them here.
    [
      'endpoints:\n  - name: a\n    url: https://user:pass@hooks.example.com/in\n',
      'endpoints[0].url: remove user:pass@ from the URL',
    ],
    // The sidecar's own ports would loop a forwarded webhook back through it.
    [
      'ingress:\n  - name: a\n    path: /a\n    verify: { scheme: bearer, secrets: [{ file: orders.key }] }\n    forward: { port: 15001 }\n',
      "ingress[0].forward.port: 15001, 15006, 15020 are the sidecar's own ports",
    ],
    [
      'ingress:\n  - name: a\n    path: /a\n    verify: { scheme: bearer, secrets: [{ file: orders.key }] }\n    forward: { routes: [{ eventTypes: [push], port: 15020 }] }\n',
      "ingress[0].forward.routes[0].port: 15001, 15006, 15020 are the sidecar's own ports",
    ],
    // A static Host (any case) would clash with the receiver's, which the sidecar writes: every
    // attempt failed with 502 before this was refused (the API refuses it in spec.headers too).
    [
      'endpoints:\n  - name: a\n    url: https://hooks.example.com/in\n    headers: { Host: other.example }\n',
      'endpoints[0].headers: headers may not set webhook-id, webhook-timestamp, webhook-signature, x-hub-signature-256, host,',
    ],
  ])('refuses %j naming the field and the fix', async (text, problem) => {
    const problems = await problemsOf(text);
    expect(
      problems.some((p) => p.startsWith(problem)),
      problems.join('\n'),
    ).toBe(true);
  });

  it('refuses duplicate endpoint names and ingress paths', async () => {
    const problems = await problemsOf(
      [
        'endpoints: [{ name: a, url: "https://a.example" }, { name: a, url: "https://b.example" }]',
        'ingress:',
        '  - { name: x, path: /hook, verify: { scheme: bearer, secrets: [{ env: T }] } }',
        '  - { name: y, path: /hook, verify: { scheme: bearer, secrets: [{ env: T }] } }',
      ].join('\n'),
    );
    expect(problems).toEqual([
      'endpoints[1].name: duplicate endpoint name "a" (also endpoints[0])',
      'ingress[1].path: duplicate ingress path "/hook" (also ingress[0])',
    ]);
  });

  // Three configs that passed the schema and then broke every egress request (issue 19): each is
  // now refused at load with the path at fault.
  it.each([
    [
      'backoff.max below backoff.initial',
      'policy: { retry: { backoff: { initial: 1s, max: 100ms } } }',
      'endpoints[0].policy.retry.backoff.max: must be at least backoff.initial (100ms < 1s): raise max or lower initial',
    ],
    [
      'a breaker with no threshold',
      'policy: { circuitBreaker: { openDuration: 5s } }',
      'endpoints[0].policy.circuitBreaker: set consecutiveFailures, failureRatePercent or both: otherwise the breaker never opens',
    ],
    [
      'a malformed whsec_ secret',
      'signing: { secrets: [{ source: { file: bad.key } }] }',
      expect.stringMatching(/^endpoints\[0\]\.signing: secrets\[0\] /),
    ],
  ])('refuses %s with its path', async (_what, settings, problem) => {
    const problems = await problemsOf(
      `endpoints:\n  - { name: orders, url: "https://hooks.example.com", ${settings} }\n`,
    );
    expect(problems).toEqual([problem]);
    // The secret's bytes never appear in a problem.
    expect(problems.join('\n')).not.toContain('not base64');
  });

  // The operator publishes and streams `#` comment lines then JSON: read without the YAML parser,
  // to the same config the YAML form gives; a broken JSON body still gets the YAML parser's report.
  it('reads the published form (comment header, then JSON) as the YAML form', async () => {
    const doc = {
      endpoints: [
        {
          name: 'orders',
          url: 'https://hooks.example.com/orders',
          signing: { secrets: [{ source: { file: 'orders.key' } }] },
        },
      ],
    };
    const yaml = `endpoints:\n  - name: orders\n    url: https://hooks.example.com/orders\n    signing:\n      secrets: [{ source: { file: orders.key } }]\n`;
    const published = `# generated by hookgate-operator\n#   generation 7\n\n${JSON.stringify(doc)}\n`;
    const fromJson = await parseConfig(published, 'sidecar.json', dir, {});
    const fromYaml = await parseConfig(yaml, 'sidecar.yaml', dir, {});
    expect(fromJson.config).toEqual(fromYaml.config);
    expect(fromJson.secret(fromJson.config.endpoints[0]!.signing.secrets[0]!.source)).toBe(
      'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
    );
    const broken = await problemsOf('# header\n{"endpoints": [}\n');
    expect(broken.length).toBeGreaterThan(0);
    expect(broken.every((p) => p.startsWith('YAML: '))).toBe(true);
  });

  it('reports YAML syntax errors and unreadable files as ConfigError', async () => {
    expect(await problemsOf('endpoints: [')).toEqual([expect.stringMatching(/^YAML: /)]);
    await expect(loadConfigFile(join(dir, 'nope.yaml'))).rejects.toMatchObject({
      code: 'ERR_CONFIG_INVALID',
      problems: ['cannot read the file (ENOENT)'],
    });
  });
});

import { describe, expect, it } from 'vitest';
import { createCertificate } from '../../../operator/certs/x509.ts';
import { parseConfig } from '../../config/load.ts';
import { ConfigError } from '../../errors.ts';

const notBefore = new Date(Date.now() - 60_000);
const notAfter = new Date(Date.now() + 86_400_000);
const ca = createCertificate({ commonName: 'ca', notBefore, notAfter, isCA: true });
const other = createCertificate({ commonName: 'other', notBefore, notAfter, isCA: true });

const yaml = `
endpoints:
  - name: orders
    url: https://hooks.example.com/orders
    auth:
      basic: { username: { env: USER }, password: { env: PASSWORD } }
      headers: [{ name: X-Api-Key, value: { env: KEY } }]
    tls:
      clientCertificate: { certificate: { env: CERT }, key: { env: TLS_KEY } }
`;
const env = {
  USER: 'hookgate',
  PASSWORD: 'pw-never-in-errors',
  KEY: 'key-never-in-errors',
  CERT: ca.certPem,
  TLS_KEY: ca.keyPem,
};

describe('credential and TLS plans', () => {
  it('compiles basic and secret headers into the headers the layer adds', async () => {
    const loaded = await parseConfig(yaml, 'test.yaml', '/', env);
    const plan = loaded.egress.endpoints.get('orders')!;
    expect(plan.credentials?.headers).toEqual({
      'x-api-key': 'key-never-in-errors',
      authorization: `Basic ${Buffer.from('hookgate:pw-never-in-errors').toString('base64')}`,
    });
    expect(plan.tls?.minVersion).toBe('TLSv1.2');
    expect(plan.paused).toBe(false);
  });

  it('refuses a key that does not match its certificate, naming the path and not the key', async () => {
    const err = await parseConfig(yaml, 'test.yaml', '/', { ...env, TLS_KEY: other.keyPem }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems;
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^endpoints\[0\]\.tls: the client certificate/);
    expect(problems[0]).not.toContain('PRIVATE KEY');
  });

  it('refuses basic and oauth2 together', async () => {
    const both = yaml.replace(
      '      headers:',
      '      oauth2: { tokenURL: https://auth.example.com/t, clientId: { env: USER }, clientSecret: { env: KEY } }\n      headers:',
    );
    await expect(parseConfig(both, 'test.yaml', '/', env)).rejects.toThrow(
      /endpoints\[0\]\.auth\.oauth2: set basic or oauth2, not both/,
    );
  });
});

import { describe, expect, it } from 'vitest';
import { createCertificate } from '../certs/x509.ts';
import { SidecarConfig } from '../../sidecar/config/schema.ts';
import { scopeConfig } from '../config-server/scope.ts';
import { REASON, SECRET_MOUNT_PATH } from '../names.ts';
import { compileNamespace, type ObjectInput } from './compile.ts';
import { slimCaConfigMap } from '../cache.ts';
import {
  configMapRefNames,
  publishedKey,
  secretRefNames,
  type ConfigMapView,
  type SecretView,
} from './secrets.ts';

const namespace = 'shop';
const now = new Date();
const later = new Date(now.getTime() + 86_400_000);
const ca = createCertificate({ commonName: 'ca', notBefore: now, notAfter: later, isCA: true });
const client = createCertificate({
  commonName: 'orders-client',
  notBefore: now,
  notAfter: later,
  isCA: false,
  client: true,
  hosts: ['orders-client.example'],
  issuer: ca,
});
const other = createCertificate({ commonName: 'x', notBefore: now, notAfter: later, isCA: true });

// The values no status message may repeat.
const VALUES = {
  password: 'p4ssw0rd-not-in-status',
  apiKey: 'api-key-not-in-status',
  clientSecret: 'client-secret-not-in-status',
};

function secret(name: string, data: Record<string, string>, resourceVersion = '7'): SecretView {
  return {
    name,
    resourceVersion,
    data: Object.fromEntries(
      Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
    ),
  };
}

const allSecrets = [
  secret('receiver-basic', { username: 'hookgate', password: VALUES.password }),
  secret('receiver-key', { value: VALUES.apiKey }),
  secret('oauth', { 'client-id': 'orders', 'client-secret': VALUES.clientSecret }),
  secret('orders-client-tls', { 'tls.crt': client.certPem, 'tls.key': client.keyPem }),
  secret('receiver-ca', { 'ca.crt': ca.certPem }),
];

function endpoint(name: string, spec: Record<string, unknown>): ObjectInput {
  return {
    apiVersion: 'hookgate.io/v1alpha1',
    kind: 'WebhookEndpoint',
    metadata: { name, namespace, uid: `uid-${name}`, generation: 1, labels: {} },
    spec: { direction: 'Egress', url: 'https://hooks.example.com/orders', ...spec },
  };
}

// What the CA ConfigMap cache keeps of a ConfigMap (operator/cache.ts).
function configMap(
  name: string,
  data: Record<string, string>,
  resourceVersion = '9',
  binaryData: Record<string, string> = {},
): ConfigMapView {
  const slim = slimCaConfigMap({
    metadata: { name, namespace, resourceVersion },
    data,
    binaryData,
  });
  return {
    name,
    resourceVersion,
    data: slim['data'] as Record<string, string>,
    otherKeys: slim['otherKeys'] as string[],
  };
}

const allConfigMaps = [
  configMap('receiver-ca', { 'ca.crt': ca.certPem, 'app.json': '{"big":"config"}' }),
];

function compile(
  endpoints: ObjectInput[],
  secrets: SecretView[] = allSecrets,
  configMaps: ConfigMapView[] = allConfigMaps,
) {
  return compileNamespace({
    namespace,
    endpoints,
    policies: [],
    secrets: new Map(secrets.map((s) => [s.name, s])),
    configMaps: new Map(configMaps.map((c) => [c.name, c])),
  });
}

const basicAndKey = {
  auth: {
    basic: { secretRef: { name: 'receiver-basic' } },
    headers: [{ name: 'X-Api-Key', secretKeyRef: { name: 'receiver-key' } }],
  },
};
const oauth2 = {
  auth: {
    oauth2: {
      tokenURL: 'https://auth.example.com/oauth/token',
      clientId: { secretKeyRef: { name: 'oauth' } },
      clientSecret: { secretKeyRef: { name: 'oauth' } },
      scopes: ['webhooks:write'],
      audience: 'https://hooks.example.com',
    },
  },
};
const caFromConfigMap = {
  tls: { caBundle: { configMapKeyRef: { name: 'receiver-ca' } }, serverName: 'hooks.internal' },
};
const mtls = {
  tls: {
    clientCertificate: { secretName: 'orders-client-tls' },
    caBundle: { secretKeyRef: { name: 'receiver-ca' } },
    serverName: 'hooks.internal',
    minVersion: 'TLSv1.3',
  },
};

describe('receiver credentials in the compile', () => {
  it('points auth and tls at published copies and publishes exactly those keys', () => {
    const out = compile([endpoint('orders', { ...basicAndKey, ...mtls, paused: true })]);
    expect(out.endpoints[0]!.accepted).toEqual({ ok: true });
    const entry = out.config.endpoints![0]!;
    const file = (k: string): { file: string } => ({ file: `${SECRET_MOUNT_PATH}/${k}` });
    expect(entry.auth).toEqual({
      basic: {
        username: file('receiver-basic_username_7'),
        password: file('receiver-basic_password_7'),
      },
      headers: [{ name: 'X-Api-Key', value: file('receiver-key_value_7') }],
    });
    expect(entry.tls).toEqual({
      clientCertificate: {
        certificate: file('orders-client-tls_tls.crt_7'),
        key: file('orders-client-tls_tls.key_7'),
      },
      ca: file('receiver-ca_ca.crt_7'),
      serverName: 'hooks.internal',
      minVersion: 'TLSv1.3',
    });
    expect(entry.paused).toBe(true);
    expect(Object.keys(out.secretData).sort()).toEqual([
      'orders-client-tls_tls.crt_7',
      'orders-client-tls_tls.key_7',
      'receiver-basic_password_7',
      'receiver-basic_username_7',
      'receiver-ca_ca.crt_7',
      'receiver-key_value_7',
    ]);
    // The config text itself holds no value, only file names.
    expect(JSON.stringify(out.config)).not.toContain(VALUES.password);
    expect(SidecarConfig.safeParse(out.config).success).toBe(true);
  });

  it('compiles oauth2 with its client id and secret from their default keys', () => {
    const out = compile([endpoint('orders', oauth2)]);
    expect(out.config.endpoints![0]!.auth?.oauth2).toEqual({
      tokenURL: 'https://auth.example.com/oauth/token',
      clientId: { file: `${SECRET_MOUNT_PATH}/oauth_client-id_7` },
      clientSecret: { file: `${SECRET_MOUNT_PATH}/oauth_client-secret_7` },
      scopes: ['webhooks:write'],
      audience: 'https://hooks.example.com',
    });
  });

  it('ships credential secrets only to pods the endpoint selects', () => {
    const out = compile([
      endpoint('orders', { ...basicAndKey, workloadSelector: { matchLabels: { app: 'orders' } } }),
      endpoint('billing', {}),
    ]);
    const published = {
      namespace,
      generation: 3,
      document: JSON.parse(JSON.stringify(out.config)) as Record<string, unknown>,
      secretData: out.secretData,
    };
    const selectors = (name: string): { matchLabels: Record<string, string> } | undefined =>
      name === 'orders' ? { matchLabels: { app: 'orders' } } : undefined;
    const billingPod = scopeConfig(published, { app: 'billing' }, selectors);
    expect(Object.keys(billingPod.secrets)).toEqual([]);
    const ordersPod = scopeConfig(published, { app: 'orders' }, selectors);
    expect(Object.keys(ordersPod.secrets)).toHaveLength(3);
  });

  // Each row: a missing Secret or key refuses the endpoint with a reason and the field path,
  // and the message never carries a value.
  it.each([
    [
      'basic Secret missing',
      basicAndKey,
      allSecrets.filter((s) => s.name !== 'receiver-basic'),
      REASON.secretNotFound,
      'spec.auth.basic.secretRef',
    ],
    [
      'API key Secret has no value key',
      basicAndKey,
      allSecrets.map((s) =>
        s.name === 'receiver-key' ? secret('receiver-key', { other: 'x' }) : s,
      ),
      REASON.secretKeyNotFound,
      'spec.auth.headers[0].secretKeyRef',
    ],
    [
      'client secret key missing',
      oauth2,
      allSecrets.map((s) => (s.name === 'oauth' ? secret('oauth', { 'client-id': 'orders' }) : s)),
      REASON.secretKeyNotFound,
      'spec.auth.oauth2.clientSecret.secretKeyRef',
    ],
    [
      'client certificate Secret missing',
      mtls,
      allSecrets.filter((s) => s.name !== 'orders-client-tls'),
      REASON.secretNotFound,
      'spec.tls.clientCertificate.secretName',
    ],
    [
      'client key does not match the certificate',
      mtls,
      allSecrets.map((s) =>
        s.name === 'orders-client-tls'
          ? secret('orders-client-tls', { 'tls.crt': client.certPem, 'tls.key': other.keyPem })
          : s,
      ),
      REASON.secretValueInvalid,
      'spec.tls.clientCertificate.secretName',
    ],
    [
      'CA bundle is not PEM',
      mtls,
      allSecrets.map((s) =>
        s.name === 'receiver-ca' ? secret('receiver-ca', { 'ca.crt': 'not a certificate' }) : s,
      ),
      REASON.secretValueInvalid,
      'spec.tls.caBundle.secretKeyRef',
    ],
  ])('%s', (_what, spec, secrets, reason, path) => {
    const out = compile([endpoint('orders', spec), endpoint('billing', {})], secrets);
    const orders = out.endpoints.find((e) => e.name === 'orders')!;
    expect(orders.accepted).toMatchObject({ ok: false, reason });
    const message = (orders.accepted as { message: string }).message;
    expect(message).toContain(path);
    for (const value of [...Object.values(VALUES), client.keyPem, other.keyPem])
      expect(message).not.toContain(value);
    // The other endpoint still publishes.
    expect(out.config.endpoints!.map((e) => e.name)).toEqual(['billing']);
  });

  it('watches every Secret a credential names', () => {
    const spec = { ...basicAndKey, ...oauth2.auth, ...mtls };
    const names = secretRefNames({ ...spec, auth: { ...basicAndKey.auth, ...oauth2.auth } });
    expect([...names].sort()).toEqual([
      'oauth',
      'orders-client-tls',
      'receiver-basic',
      'receiver-ca',
      'receiver-key',
    ]);
  });

  it('publishes a CA bundle from a ConfigMap under a key that names the kind', () => {
    // One endpoint trusts the Secret "receiver-ca", the other the ConfigMap of the same name.
    const out = compile([
      endpoint('orders', caFromConfigMap),
      endpoint('billing', { tls: { caBundle: { secretKeyRef: { name: 'receiver-ca' } } } }),
    ]);
    expect(out.endpoints.map((e) => e.accepted)).toEqual([{ ok: true }, { ok: true }]);
    const tls = (name: string) => out.config.endpoints!.find((e) => e.name === name)!.tls;
    expect(tls('orders')).toEqual({
      ca: { file: `${SECRET_MOUNT_PATH}/ConfigMap_receiver-ca_ca.crt_9` },
      serverName: 'hooks.internal',
    });
    expect(tls('billing')?.ca).toEqual({ file: `${SECRET_MOUNT_PATH}/receiver-ca_ca.crt_7` });
    expect(
      Buffer.from(out.secretData['ConfigMap_receiver-ca_ca.crt_9']!, 'base64').toString(),
    ).toBe(ca.certPem);
    expect(Object.keys(out.secretData).sort()).toEqual([
      'ConfigMap_receiver-ca_ca.crt_9',
      'receiver-ca_ca.crt_7',
    ]);
  });

  it('never gives a ConfigMap and a Secret one published key, even past the length limit', () => {
    const long = 'a'.repeat(250);
    const source = { name: long, resourceVersion: '5' };
    expect(publishedKey(source, 'ca.crt', 'ConfigMap')).not.toBe(publishedKey(source, 'ca.crt'));
    expect(publishedKey(source, 'ca.crt', 'ConfigMap')).toMatch(/^ConfigMap_h_[0-9a-f]{32}_5$/);
  });

  it('keeps only certificate keys of a ConfigMap, and the names of the others', () => {
    const slim = slimCaConfigMap({
      metadata: { name: 'app', namespace, resourceVersion: '3', labels: { a: 'b' } },
      data: { 'ca.crt': ca.certPem, 'settings.json': 'x'.repeat(100_000) },
      binaryData: { 'truststore.jks': 'AAAA' },
    });
    expect(slim).toEqual({
      metadata: { name: 'app', namespace, uid: undefined, resourceVersion: '3' },
      data: { 'ca.crt': ca.certPem },
      otherKeys: ['settings.json', 'truststore.jks'],
    });
  });

  // Each row: a ConfigMap reference that cannot be used; the message says ConfigMap (never
  // Secret), names the field, and repeats no value of the ConfigMap.
  it.each([
    ['ConfigMap missing', [], REASON.configMapNotFound, 'ConfigMap "receiver-ca" (spec.tls'],
    [
      'key missing',
      [configMap('receiver-ca', { 'tls.crt': ca.certPem })],
      REASON.configMapKeyNotFound,
      'ConfigMap "receiver-ca" has no key "ca.crt"',
    ],
    [
      'value is not PEM',
      [configMap('receiver-ca', { 'ca.crt': 'not-a-certificate-4e1f' })],
      REASON.configMapValueInvalid,
      'is not a PEM CA bundle',
    ],
    [
      'key only in binaryData',
      [configMap('receiver-ca', {}, '9', { 'ca.crt': 'AAAA' })],
      REASON.configMapValueInvalid,
      'is not a PEM CA bundle',
    ],
    [
      'a certificate mark around garbage',
      [
        configMap('receiver-ca', {
          'ca.crt': '-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----',
        }),
      ],
      REASON.configMapValueInvalid,
      'is not a PEM CA bundle',
    ],
  ] as const)('%s', (_what, configMaps, reason, words) => {
    const out = compile(
      [endpoint('orders', caFromConfigMap), endpoint('billing', {})],
      allSecrets,
      [...configMaps],
    );
    const orders = out.endpoints.find((e) => e.name === 'orders')!;
    expect(orders.accepted).toMatchObject({ ok: false, reason });
    const message = (orders.accepted as { message: string }).message;
    expect(message).toContain(words);
    expect(message).toContain('spec.tls.caBundle.configMapKeyRef');
    expect(message).not.toContain('Secret');
    expect(message).not.toContain('not-a-certificate-4e1f');
    expect(message).not.toContain('garbage');
    expect(out.config.endpoints!.map((e) => e.name)).toEqual(['billing']);
  });

  it('watches the ConfigMaps a CA bundle names, apart from Secrets', () => {
    const spec = { ...caFromConfigMap, auth: basicAndKey.auth };
    expect([...configMapRefNames(spec)]).toEqual(['receiver-ca']);
    expect(secretRefNames(spec).has('receiver-ca')).toBe(false);
  });
});

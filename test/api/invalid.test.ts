// Bad manifests never get in: the real API server refuses each with a message that names the
// field (and, for cross-field rules, says what to change). Server-side dry run: nothing is stored.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serverSideApply, type Manifest } from '../cluster/apply.ts';
import { createTestNamespace, kubeClients, type KubeClients } from '../support/kube.ts';

type Spec = Record<string, unknown>;

const egress: Spec = {
  direction: 'Egress',
  url: 'https://hooks.example.com/orders',
  signing: { secretRef: { name: 'orders-signing' } },
};
const ingress: Spec = {
  direction: 'Ingress',
  path: '/github',
  verify: { scheme: 'github', secretRef: { name: 'github-webhook' } },
};
const oauth2 = {
  tokenURL: 'https://auth.example.com/token',
  clientId: { secretKeyRef: { name: 'oauth' } },
  clientSecret: { secretKeyRef: { name: 'oauth' } },
};
const policy: Spec = { endpointSelector: { matchLabels: { tier: 'standard' } } };

const endpoint = (spec: Spec): Manifest => ({
  apiVersion: 'hookgate.io/v1alpha1',
  kind: 'WebhookEndpoint',
  metadata: { name: 'bad' },
  spec,
});
const webhookPolicy = (spec: Spec): Manifest => ({
  apiVersion: 'hookgate.io/v1alpha1',
  kind: 'WebhookPolicy',
  metadata: { name: 'bad' },
  spec,
});

// [what the row proves, manifest, field path the message must name, words it must contain]
const cases: [string, Manifest, string, string][] = [
  [
    'direction is required',
    endpoint({ url: 'https://a.example' }),
    'spec.direction',
    'Required value',
  ],
  [
    'direction is Egress or Ingress',
    endpoint({ ...egress, direction: 'Outbound' }),
    'spec.direction',
    'supported values',
  ],
  [
    'egress needs a url',
    endpoint({ direction: 'Egress' }),
    'spec.url',
    "set the receiver's https:// URL",
  ],
  [
    'url must be http(s)',
    endpoint({ ...egress, url: 'ftp://files.example.com' }),
    'spec.url',
    'should match',
  ],
  [
    'url must parse as a URL',
    endpoint({ ...egress, url: 'https://exa mple.com/x' }),
    'spec.url',
    'absolute http',
  ],
  [
    // issue 15, item 8: credentials in a URL would be dropped silently
    'url must not carry user:pass@',
    endpoint({ ...egress, url: 'https://user:pass@hooks.example.com/orders' }),
    'spec.url',
    'must not carry user:pass@',
  ],
  [
    // issue 15, item 8: the sidecar's own ports would loop a webhook through it
    'forward.port is not the sidecar ingress port',
    endpoint({ ...ingress, forward: { port: 15006 } }),
    'spec.forward.port',
    "the sidecar's own ports",
  ],
  [
    'a route port is not the sidecar admin port',
    endpoint({ ...ingress, forward: { routes: [{ eventTypes: ['push'], port: 15020 }] } }),
    'spec.forward.routes[0].port',
    "the sidecar's own ports",
  ],
  [
    'ingress needs a path',
    endpoint({ direction: 'Ingress', verify: ingress['verify'] }),
    'spec.path',
    'set the path providers POST to',
  ],
  [
    'ingress needs verify',
    endpoint({ direction: 'Ingress', path: '/x' }),
    'spec.verify',
    'choose a verification scheme',
  ],
  ['path starts with /', endpoint({ ...ingress, path: 'github' }), 'spec.path', 'should match'],
  [
    'egress fields are forbidden on ingress',
    endpoint({ ...ingress, url: 'https://a.example' }),
    'spec.direction',
    'apply to Egress endpoints only',
  ],
  [
    'ingress fields are forbidden on egress',
    endpoint({ ...egress, path: '/x' }),
    'spec.direction',
    'apply to Ingress endpoints only',
  ],
  [
    'signing scheme is one of three',
    endpoint({ ...egress, signing: { scheme: 'jwt', secretRef: { name: 's' } } }),
    'spec.signing.scheme',
    'supported values',
  ],
  [
    'signing needs a secretRef',
    endpoint({ ...egress, signing: { scheme: 'github' } }),
    'spec.signing.secretRef',
    'Required value',
  ],
  [
    'secretRef name is a DNS name',
    endpoint({ ...egress, signing: { secretRef: { name: 'Orders_Signing' } } }),
    'spec.signing.secretRef.name',
    'should match',
  ],
  [
    'hmac scheme needs its settings',
    endpoint({ ...egress, signing: { scheme: 'hmac', secretRef: { name: 's' } } }),
    'spec.signing.hmac',
    'exactly when signing.scheme is hmac',
  ],
  [
    'hmac algorithm is sha256 or sha512',
    endpoint({
      ...egress,
      signing: {
        scheme: 'hmac',
        secretRef: { name: 's' },
        hmac: { header: 'X-Sig', algorithm: 'md5' },
      },
    }),
    'spec.signing.hmac.algorithm',
    'supported values',
  ],
  [
    'previousSecrets only with standard-webhooks',
    endpoint({
      ...egress,
      signing: {
        scheme: 'github',
        secretRef: { name: 's' },
        previousSecrets: [{ secretRef: { name: 'old' }, expiresAt: '2026-12-01T00:00:00Z' }],
      },
    }),
    'spec.signing.previousSecrets',
    'rotate by switching secretRef',
  ],
  [
    'expiresAt is an RFC 3339 time',
    endpoint({
      ...egress,
      signing: {
        secretRef: { name: 's' },
        previousSecrets: [{ secretRef: { name: 'old' }, expiresAt: 'next tuesday' }],
      },
    }),
    'spec.signing.previousSecrets[0].expiresAt',
    'date-time',
  ],
  [
    'timeout is a duration',
    endpoint({ ...egress, timeout: '5 minutes' }),
    'spec.timeout',
    'should match',
  ],
  [
    'durations have no days',
    endpoint({ ...egress, timeout: '1d' }),
    'spec.timeout',
    'should match',
  ],
  [
    'static headers cannot forge signatures',
    endpoint({ ...egress, headers: { 'Webhook-Signature': 'v1,forged' } }),
    'spec.headers',
    'the sidecar writes them',
  ],
  [
    'static headers cannot set hop-by-hop headers',
    endpoint({ ...egress, headers: { Connection: 'close' } }),
    'spec.headers',
    'the sidecar writes them',
  ],
  [
    'verify scheme is a known one',
    endpoint({ ...ingress, verify: { scheme: 'paypal', secretRef: { name: 's' } } }),
    'spec.verify.scheme',
    'supported values',
  ],
  [
    'verify hmac needs its settings',
    endpoint({ ...ingress, verify: { scheme: 'hmac', secretRef: { name: 's' } } }),
    'spec.verify.hmac',
    'exactly when verify.scheme is hmac',
  ],
  [
    'tolerance is a positive duration',
    endpoint({
      ...ingress,
      verify: { scheme: 'stripe', secretRef: { name: 's' }, tolerance: '-5m' },
    }),
    'spec.verify.tolerance',
    'should match',
  ],
  [
    'forward port is at least 1',
    endpoint({ ...ingress, forward: { port: 0 } }),
    'spec.forward.port',
    'should be greater than or equal to 1',
  ],
  [
    'forward port is at most 65535',
    endpoint({ ...ingress, forward: { port: 70000 } }),
    'spec.forward.port',
    'should be less than or equal to 65535',
  ],
  [
    'selector operator is a known one',
    endpoint({
      ...egress,
      workloadSelector: { matchExpressions: [{ key: 'app', operator: 'Like', values: ['x'] }] },
    }),
    'spec.workloadSelector.matchExpressions[0].operator',
    'supported values',
  ],
  [
    'In needs values',
    endpoint({
      ...egress,
      workloadSelector: { matchExpressions: [{ key: 'app', operator: 'In' }] },
    }),
    'spec.workloadSelector.matchExpressions[0].values',
    'at least one value',
  ],
  [
    'unknown fields are refused',
    endpoint({ ...egress, retries: 3 }),
    '.spec.retries',
    'field not declared in schema',
  ],
  [
    'policy needs an endpointSelector',
    webhookPolicy({ retry: { maxAttempts: 3 } }),
    'spec.endpointSelector',
    'Required value',
  ],
  [
    'backoff max is at least initial',
    webhookPolicy({ ...policy, retry: { backoff: { initial: '10s', max: '1s' } } }),
    'spec.retry.backoff.max',
    'raise max or lower initial',
  ],
  [
    // An unset initial is its default (200ms): max alone below it is refused too.
    'backoff max alone is at least the default initial',
    webhookPolicy({ ...policy, retry: { backoff: { max: '100ms' } } }),
    'spec.retry.backoff.max',
    'raise max or lower initial',
  ],
  [
    'backoff multiplier is at least 1',
    webhookPolicy({ ...policy, retry: { backoff: { multiplier: 0.5 } } }),
    'spec.retry.backoff.multiplier',
    'greater than or equal to 1',
  ],
  [
    'maxAttempts is at least 1',
    webhookPolicy({ ...policy, retry: { maxAttempts: 0 } }),
    'spec.retry.maxAttempts',
    'greater than or equal to 1',
  ],
  [
    'retryOn names failure classes',
    webhookPolicy({ ...policy, retry: { retryOn: ['500'] } }),
    'spec.retry.retryOn[0]',
    'supported values',
  ],
  [
    'retryOn has no duplicates',
    webhookPolicy({ ...policy, retry: { retryOn: ['5xx', '5xx'] } }),
    '.spec.retry.retryOn',
    'duplicate entries for key [="5xx"]',
  ],
  [
    'syncDeadline is at least timeout',
    webhookPolicy({ ...policy, timeout: '30s', retry: { syncDeadline: '10s' } }),
    'spec.retry.syncDeadline',
    'raise syncDeadline or lower timeout',
  ],
  [
    'rate limit scope is pod or global',
    webhookPolicy({ ...policy, rateLimit: { rate: 10, scope: 'cluster' } }),
    'spec.rateLimit.scope',
    'supported values',
  ],
  [
    'rate limit unit is second or minute',
    webhookPolicy({ ...policy, rateLimit: { rate: 10, per: 'hour' } }),
    'spec.rateLimit.per',
    'supported values',
  ],
  [
    'rate limit needs a rate',
    webhookPolicy({ ...policy, rateLimit: { burst: 5 } }),
    'spec.rateLimit.rate',
    'Required value',
  ],
  [
    'breaker needs a way to open',
    webhookPolicy({ ...policy, circuitBreaker: { openDuration: '30s' } }),
    'spec.circuitBreaker',
    'otherwise the breaker never opens',
  ],
  [
    'failure rate is a percentage',
    webhookPolicy({ ...policy, circuitBreaker: { failureRatePercent: 150 } }),
    'spec.circuitBreaker.failureRatePercent',
    'less than or equal to 100',
  ],
  [
    'allowed CIDRs are CIDRs',
    webhookPolicy({ ...policy, destinations: { allowedCIDRs: ['10.0.0.0/33'] } }),
    'spec.destinations.allowedCIDRs[0]',
    'must be a CIDR',
  ],
  [
    'allowed hosts are host names',
    webhookPolicy({ ...policy, destinations: { allowedHosts: ['https://x.example'] } }),
    'spec.destinations.allowedHosts[0]',
    'should match',
  ],
  [
    'maxPayloadBytes is at most 25 MiB',
    webhookPolicy({ ...policy, maxPayloadBytes: 100_000_000 }),
    'spec.maxPayloadBytes',
    'less than or equal to 26214400',
  ],
  [
    'ordering per-endpoint needs async',
    webhookPolicy({ ...policy, delivery: { mode: 'sync', ordering: 'per-endpoint' } }),
    'spec.delivery.ordering',
    'needs mode async',
  ],
  [
    'async schedule entries are durations',
    webhookPolicy({ ...policy, retry: { schedule: ['0s', 'soon'] } }),
    'spec.retry.schedule[1]',
    'should match',
  ],
  // spec.history (issue 16): retention is bounded, bodies a known word.
  [
    'history.maxDeliveries is at least 1',
    webhookPolicy({ ...policy, history: { maxDeliveries: 0 } }),
    'spec.history.maxDeliveries',
    'greater than or equal to 1',
  ],
  [
    'history.maxBytes is at most 4 GiB',
    webhookPolicy({ ...policy, history: { maxBytes: 10_000_000_000 } }),
    'spec.history.maxBytes',
    'less than or equal to 4294967296',
  ],
  [
    'history.maxAge is a duration',
    webhookPolicy({ ...policy, history: { maxAge: '3 days' } }),
    'spec.history.maxAge',
    'should match',
  ],
  [
    'history.bodies is none, truncated or full',
    webhookPolicy({ ...policy, history: { bodies: 'some' } }),
    'spec.history.bodies',
    'supported values',
  ],
  [
    'history.maxBodyBytes is at most 1 MiB',
    webhookPolicy({ ...policy, history: { maxBodyBytes: 2_000_000 } }),
    'spec.history.maxBodyBytes',
    'less than or equal to 1048576',
  ],
  [
    'history.secretHeaders are header names',
    webhookPolicy({ ...policy, history: { secretHeaders: ['X Bad'] } }),
    'spec.history.secretHeaders[0]',
    'should match',
  ],
  // Credentials and pause (issue 17, ADR 0021).
  [
    'auth is basic or oauth2, not both',
    endpoint({
      ...egress,
      auth: {
        basic: { secretRef: { name: 'receiver-basic' } },
        oauth2,
      },
    }),
    'spec.auth.oauth2',
    'set one of auth.basic and auth.oauth2',
  ],
  [
    'auth is not empty',
    endpoint({ ...egress, auth: {} }),
    'spec.auth',
    'auth needs basic, oauth2 or headers',
  ],
  [
    'basic names its Secret',
    endpoint({ ...egress, auth: { basic: {} } }),
    'spec.auth.basic.secretRef',
    'Required value',
  ],
  [
    'the token endpoint is https',
    endpoint({
      ...egress,
      auth: {
        oauth2: { ...oauth2, tokenURL: 'http://auth.example.com/token' },
      },
    }),
    'spec.auth.oauth2.tokenURL',
    'should match',
  ],
  [
    'oauth2 needs a client secret',
    endpoint({
      ...egress,
      auth: {
        oauth2: { tokenURL: oauth2.tokenURL, clientId: oauth2.clientId },
      },
    }),
    'spec.auth.oauth2.clientSecret',
    'Required value',
  ],
  [
    'a scope has no spaces',
    endpoint({
      ...egress,
      auth: {
        oauth2: { ...oauth2, scopes: ['read write'] },
      },
    }),
    'spec.auth.oauth2.scopes[0]',
    'should match',
  ],
  [
    'a credential header is not one the sidecar writes',
    endpoint({
      ...egress,
      auth: { headers: [{ name: 'Webhook-Signature', secretKeyRef: { name: 'api-key' } }] },
    }),
    'spec.auth.headers[0].name',
    'may not be one of',
  ],
  [
    'credential header names are unique',
    endpoint({
      ...egress,
      auth: {
        headers: [
          { name: 'X-Api-Key', secretKeyRef: { name: 'api-key' } },
          { name: 'X-Api-Key', secretKeyRef: { name: 'other-key' } },
        ],
      },
    }),
    'spec.auth.headers',
    'duplicate entries for key [name="X-Api-Key"]',
  ],
  [
    'auth.headers does not write Authorization next to basic',
    endpoint({
      ...egress,
      auth: {
        basic: { secretRef: { name: 'receiver-basic' } },
        headers: [{ name: 'authorization', secretKeyRef: { name: 'api-key' } }],
      },
    }),
    'spec.auth.headers',
    'may not set Authorization',
  ],
  [
    'a static header does not overwrite a credential',
    endpoint({
      ...egress,
      headers: { Authorization: 'Bearer static' },
      auth: { basic: { secretRef: { name: 'receiver-basic' } } },
    }),
    'spec.headers',
    'a header is set twice',
  ],
  [
    'tls needs an https url',
    endpoint({ ...egress, url: 'http://hooks.example.com/orders', tls: { minVersion: 'TLSv1.3' } }),
    'spec.tls',
    'needs an https://',
  ],
  [
    'operationalEvents names Hookgate event types',
    endpoint({ ...egress, operationalEvents: ['hookgate.endpoint.deleted'] }),
    'spec.operationalEvents[0]',
    'supported values',
  ],
  [
    'operationalEvents lists each type once',
    endpoint({
      ...egress,
      operationalEvents: ['hookgate.circuit.opened', 'hookgate.circuit.opened'],
    }),
    'spec.operationalEvents',
    'duplicate entries',
  ],
  [
    'operationalEvents is egress-only',
    endpoint({ ...ingress, operationalEvents: ['hookgate.endpoint.disabled'] }),
    'spec.direction',
    'operationalEvents apply to Egress endpoints only',
  ],
  [
    'autoDisable needs a rule',
    webhookPolicy({ ...policy, autoDisable: {} }),
    'spec.autoDisable',
    'otherwise nothing ever disables an endpoint',
  ],
  [
    'autoDisable.failingFor is at least 5m',
    webhookPolicy({ ...policy, autoDisable: { failingFor: '90s' } }),
    'spec.autoDisable.failingFor',
    'failingFor must be at least 5m',
  ],
  [
    'autoDisable.failingFor is a Go duration (no days)',
    webhookPolicy({ ...policy, autoDisable: { failingFor: '5d' } }),
    'spec.autoDisable.failingFor',
    'should match',
  ],
  [
    'autoDisable.deadLettersInARow is at least 1',
    webhookPolicy({ ...policy, autoDisable: { deadLettersInARow: 0 } }),
    'spec.autoDisable.deadLettersInARow',
    'greater than or equal to 1',
  ],
  [
    'minVersion is TLSv1.2 or TLSv1.3',
    endpoint({ ...egress, tls: { minVersion: 'TLSv1.0' } }),
    'spec.tls.minVersion',
    'supported values',
  ],
  [
    'the client certificate is a Secret name',
    endpoint({ ...egress, tls: { clientCertificate: { secretName: 'Client_Cert' } } }),
    'spec.tls.clientCertificate.secretName',
    'should match',
  ],
  [
    'caBundle takes one source: both secretKeyRef and configMapKeyRef is refused',
    endpoint({
      ...egress,
      tls: {
        caBundle: {
          secretKeyRef: { name: 'receiver-ca' },
          configMapKeyRef: { name: 'receiver-ca' },
        },
      },
    }),
    'spec.tls.caBundle',
    'set exactly one of caBundle.secretKeyRef and caBundle.configMapKeyRef',
  ],
  [
    'caBundle takes one source: neither is refused',
    endpoint({ ...egress, tls: { caBundle: {} } }),
    'spec.tls.caBundle',
    'set exactly one of caBundle.secretKeyRef and caBundle.configMapKeyRef',
  ],
  [
    'a ConfigMap key is a data key name',
    endpoint({
      ...egress,
      tls: { caBundle: { configMapKeyRef: { name: 'receiver-ca', key: 'ca crt' } } },
    }),
    'spec.tls.caBundle.configMapKeyRef.key',
    'should match',
  ],
  [
    'a ConfigMap name is a DNS subdomain',
    endpoint({ ...egress, tls: { caBundle: { configMapKeyRef: { name: 'Trust_Bundle' } } } }),
    'spec.tls.caBundle.configMapKeyRef.name',
    'should match',
  ],
  [
    'serverName is a DNS name',
    endpoint({ ...egress, tls: { serverName: 'hooks example' } }),
    'spec.tls.serverName',
    'should match',
  ],
  [
    'paused is a boolean',
    endpoint({ ...egress, paused: 'yes' }),
    'spec.paused',
    'expected boolean',
  ],
  [
    'auth, tls, paused and operationalEvents are egress-only',
    endpoint({ ...ingress, paused: true }),
    'spec.direction',
    'auth, tls, paused and operationalEvents apply to Egress endpoints only',
  ],
];

describe('invalid manifests on the real API server', () => {
  let kube: KubeClients;
  let namespace: string;
  beforeAll(async () => {
    kube = kubeClients();
    namespace = await createTestNamespace(kube.core, 'invalid');
  });
  afterAll(async () => {
    await kube.core.deleteNamespace({ name: namespace });
  });

  it('has at least 25 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(25);
  });

  it.each(cases)('%s', async (_what, manifest, field, words) => {
    const res = await serverSideApply(kube.kubeConfig, manifest, {
      fieldManager: 'hookgate-invalid',
      namespace,
      dryRun: true,
    });
    expect(res.status).toBeGreaterThanOrEqual(400);
    const message = res.body.message ?? '';
    expect(message).toContain(`${field}:`);
    expect(message).toContain(words);
  });
});

// The operator against the real API server: credential Secrets referenced by spec.auth and
// spec.tls are checked in order (missing Secret, missing key, unusable certificate), each
// refusal names the field; once present they reach the published config, a rotated Secret is
// published again, and no value ever appears in status or Events.
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { createCertificate } from '../../operator/certs/x509.ts';
import type { KubeObject } from '../../operator/kube/types.ts';
import { createTestNamespace, kubeClients, type KubeClients } from '../support/kube.ts';
import {
  apply,
  condition,
  createOperatorIdentity,
  endpointManifest,
  eventsFor,
  hookgatePath,
  loadPublished,
  read,
  secretManifest,
  startOperator,
  type OperatorIdentity,
  type RunningOperator,
} from '../operator/support.ts';

const poll = { timeout: 20_000, interval: 100 };
const notBefore = new Date(Date.now() - 60_000);
const notAfter = new Date(Date.now() + 86_400_000);
const ca = createCertificate({ commonName: 'ca', notBefore, notAfter, isCA: true });
const client = createCertificate({
  commonName: 'partner-client',
  notBefore,
  notAfter,
  isCA: false,
  client: true,
  hosts: ['partner-client.example'],
  issuer: ca,
});
const stranger = createCertificate({ commonName: 's', notBefore, notAfter, isCA: true });

const SECRET_VALUES = ['client-secret-first-7c1d', 'client-secret-second-e2a0', 'api-key-5f3b'];

describe('receiver credentials through the operator', () => {
  let kube: KubeClients;
  let adminConfig: KubeConfig;
  let identity: OperatorIdentity;
  let ns: string;
  let running: RunningOperator | undefined;

  beforeAll(async () => {
    kube = kubeClients();
    adminConfig = kube.kubeConfig;
    identity = await createOperatorIdentity(adminConfig, join(inject('pkiDir'), 'ca.crt'));
  });
  afterAll(async () => {
    await identity.remove();
  });
  beforeEach(async () => {
    ns = await createTestNamespace(kube.core, 'cred');
    running = await startOperator(identity, [ns]);
  });
  afterEach(async () => {
    await running?.stop();
    running = undefined;
    await kube.core.deleteNamespace({ name: ns });
  });

  const partner = async (): Promise<KubeObject | undefined> =>
    read(adminConfig, hookgatePath(ns, 'webhookendpoints', 'partner'));
  const accepted = async (): Promise<{ reason: string; message: string } | undefined> =>
    condition(await partner(), 'Accepted');

  it('refuses each missing piece naming its field, then publishes and rotates', async () => {
    await apply(
      adminConfig,
      endpointManifest(ns, 'partner', {
        direction: 'Egress',
        url: 'https://hooks.partner.example/orders',
        paused: true,
        auth: {
          oauth2: {
            tokenURL: 'https://auth.partner.example/token',
            clientId: { secretKeyRef: { name: 'partner-oauth' } },
            clientSecret: { secretKeyRef: { name: 'partner-oauth' } },
          },
          headers: [{ name: 'X-Api-Key', secretKeyRef: { name: 'partner-key' } }],
        },
        tls: { clientCertificate: { secretName: 'partner-tls' } },
      }),
    );
    await expect.poll(async () => (await accepted())?.reason, poll).toBe('SecretNotFound');
    expect((await accepted())?.message).toContain('spec.auth.oauth2.clientId.secretKeyRef');
    expect(condition(await partner(), 'Ready')).toMatchObject({ status: 'False' });

    // Every Secret there, one key missing; the certificate's key does not belong to it.
    await apply(adminConfig, secretManifest(ns, 'partner-oauth', { 'client-id': 'orders' }));
    await apply(adminConfig, secretManifest(ns, 'partner-key', { value: SECRET_VALUES[2]! }));
    await apply(adminConfig, {
      ...secretManifest(ns, 'partner-tls', {
        'tls.crt': client.certPem,
        'tls.key': stranger.keyPem,
      }),
      type: 'kubernetes.io/tls',
    });
    await expect.poll(async () => (await accepted())?.reason, poll).toBe('SecretKeyNotFound');
    expect((await accepted())?.message).toBe(
      'Secret "partner-oauth" has no key "client-secret" (spec.auth.oauth2.clientSecret.secretKeyRef)',
    );

    await apply(
      adminConfig,
      secretManifest(ns, 'partner-oauth', {
        'client-id': 'orders',
        'client-secret': SECRET_VALUES[0]!,
      }),
    );
    await expect.poll(async () => (await accepted())?.reason, poll).toBe('SecretValueInvalid');
    expect((await accepted())?.message).toContain('spec.tls.clientCertificate.secretName');

    await apply(adminConfig, {
      ...secretManifest(ns, 'partner-tls', { 'tls.crt': client.certPem, 'tls.key': client.keyPem }),
      type: 'kubernetes.io/tls',
    });
    await expect.poll(async () => condition(await partner(), 'Ready')?.status, poll).toBe('True');
    const plan = async (): Promise<string | undefined> =>
      (await loadPublished(adminConfig, ns))?.loaded.egress.endpoints.get('partner')?.credentials
        ?.oauth2?.clientSecret;
    expect(await plan()).toBe(SECRET_VALUES[0]);
    const published = (await loadPublished(adminConfig, ns))!.loaded.egress.endpoints.get(
      'partner',
    )!;
    expect(published.paused).toBe(true);
    expect(published.credentials?.headers['x-api-key']).toBe(SECRET_VALUES[2]);
    expect(published.tls?.cert).toBe(client.certPem.trim());

    // Rotation: the new value is published without touching the endpoint.
    await apply(
      adminConfig,
      secretManifest(ns, 'partner-oauth', {
        'client-id': 'orders',
        'client-secret': SECRET_VALUES[1]!,
      }),
    );
    await expect.poll(plan, poll).toBe(SECRET_VALUES[1]);

    const status = JSON.stringify((await partner())?.['status']);
    const notes = (await eventsFor(adminConfig, ns, 'partner')).map((e) => e.note).join('\n');
    expect(notes).not.toBe('');
    for (const value of [...SECRET_VALUES, client.keyPem.trim(), stranger.keyPem.trim()]) {
      expect(status).not.toContain(value);
      expect(notes).not.toContain(value);
    }
  });
});

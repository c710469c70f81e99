// Least-privilege Secret access by default (issue 15, item 5): the operator runs under the RBAC
// of the chart rendered with its default values. It holds no Secret access of its own; a
// namespace labelled hookgate.io/injection=enabled gets a RoleBinding to the Secret ClusterRole
// and is reconciled, a namespace that has not opted in stays unreadable (the API server answers
// 403), and opting out removes the binding.
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createCertificate } from '../../operator/certs/x509.ts';
import { kubeRequest } from '../cluster/apply.ts';
import { createTestNamespace, kubeClients, type KubeClients } from '../support/kube.ts';
import {
  admin,
  apply,
  condition,
  createOperatorIdentity,
  endpointManifest,
  hookgatePath,
  loadPublished,
  read,
  secretManifest,
  startOperator,
  whsec,
  type OperatorIdentity,
  type RunningOperator,
} from './support.ts';

const poll = { timeout: 30_000, interval: 200 };
const RBAC = '/apis/rbac.authorization.k8s.io/v1';

describe('operator Secret access when every namespace is reconciled (chart defaults)', () => {
  let kube: KubeClients;
  let adminConfig: KubeConfig;
  let identity: OperatorIdentity;
  let running: RunningOperator | undefined;
  let role: string;
  /** Only this file's namespaces opt in: other test files share the API server. */
  let run: string;
  const namespaces: string[] = [];

  beforeAll(async () => {
    kube = kubeClients();
    adminConfig = kube.kubeConfig;
    identity = await createOperatorIdentity(adminConfig, join(inject('pkiDir'), 'ca.crt'), {
      rbac: 'chart',
    });
    role = `hookgate-operator-secrets-${identity.namespace}`;
    run = identity.namespace;
  });
  afterAll(async () => {
    await running?.stop();
    for (const ns of namespaces) await kube.core.deleteNamespace({ name: ns });
    await identity.remove();
  });

  /** A namespace with a signing Secret and an endpoint using it; opted in when `optIn`. */
  /** The chart-default opt-in mode, selecting only this run's namespaces. */
  const secretAccess = () => ({
    role,
    serviceAccount: { namespace: identity.namespace, name: 'hookgate-operator' },
    selector: `hookgate.io/injection=enabled,hookgate-test-run=${run}`,
    retryMs: 200,
  });
  const namespaceWithEndpoint = async (optIn: boolean): Promise<string> => {
    const ns = await createTestNamespace(kube.core, 'sa', {
      'hookgate-test-run': run,
      ...(optIn ? { 'hookgate.io/injection': 'enabled' } : {}),
    });
    namespaces.push(ns);
    await apply(adminConfig, secretManifest(ns, 'orders-signing', { secret: whsec(7) }));
    await apply(
      adminConfig,
      endpointManifest(ns, 'orders', {
        direction: 'Egress',
        url: 'https://hooks.example.com/orders',
        signing: { secretRef: { name: 'orders-signing' } },
      }),
    );
    return ns;
  };
  /** The status code the API server answers the operator's own credentials with. */
  const asOperator = async (method: string, path: string, body?: unknown): Promise<number> =>
    (
      await kubeRequest(
        identity.kubeConfig,
        method,
        path,
        body === undefined ? undefined : JSON.stringify(body),
      )
    ).status;
  /** Sets (or, with null, removes) a namespace's opt-in label as the admin. */
  const optInLabel = async (ns: string, value: string | null): Promise<void> => {
    const res = await kubeRequest(
      adminConfig,
      'PATCH',
      `/api/v1/namespaces/${ns}`,
      JSON.stringify({ metadata: { labels: { 'hookgate.io/injection': value } } }),
      'application/merge-patch+json',
    );
    expect(res.status, String(res.body.message)).toBe(200);
  };
  const ready = async (ns: string): Promise<ReturnType<typeof condition>> =>
    condition(await read(adminConfig, hookgatePath(ns, 'webhookendpoints', 'orders')), 'Ready');
  const binding = (ns: string): ReturnType<typeof read> =>
    read(adminConfig, `${RBAC}/namespaces/${ns}/rolebindings/${role}`);

  it('reads Secrets only where a namespace opted in, and gives the access back on opt-out', async () => {
    const optedIn = await namespaceWithEndpoint(true);
    const other = await namespaceWithEndpoint(false);
    // A binding left by an earlier leader in a namespace that has since opted out.
    const stale = await createTestNamespace(kube.core, 'sa', { 'hookgate-test-run': run });
    namespaces.push(stale);
    await admin(adminConfig, 'POST', `${RBAC}/namespaces/${stale}/rolebindings`, {
      metadata: { name: role, labels: { 'app.kubernetes.io/managed-by': 'hookgate-operator' } },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
      subjects: [{ kind: 'ServiceAccount', name: 'hookgate-operator', namespace: run }],
    });

    // The chart's RBAC alone: no Secret anywhere, not even listing them cluster-wide.
    expect(await asOperator('GET', `/api/v1/namespaces/${optedIn}/secrets/orders-signing`)).toBe(
      403,
    );
    expect(await asOperator('GET', '/api/v1/secrets?limit=1')).toBe(403);

    running = await startOperator(identity, [], {
      namespaces: undefined,
      secretAccess: secretAccess(),
    });

    // The opted-in namespace: bound, reconciled, its endpoint Ready with its Secret published.
    await expect
      .poll(async () => (await binding(optedIn))?.['roleRef'], poll)
      .toEqual({
        apiGroup: 'rbac.authorization.k8s.io',
        kind: 'ClusterRole',
        name: role,
      });
    await expect.poll(async () => (await ready(optedIn))?.status, poll).toBe('True');
    const published = await loadPublished(adminConfig, optedIn);
    expect(published?.loaded.config.endpoints.map((e) => e.name)).toEqual(['orders']);
    expect(await asOperator('GET', `/api/v1/namespaces/${optedIn}/secrets/orders-signing`)).toBe(
      200,
    );

    // The other namespace: no binding, no Secret read, nothing published; the status says why.
    await expect.poll(async () => binding(stale), poll).toBeUndefined();
    expect(await binding(other)).toBeUndefined();
    expect(await asOperator('GET', `/api/v1/namespaces/${other}/secrets/orders-signing`)).toBe(403);
    expect(await asOperator('GET', `/api/v1/namespaces/${other}/secrets`)).toBe(403);
    expect(await loadPublished(adminConfig, other)).toBeUndefined();
    await expect
      .poll(() => ready(other), poll)
      .toMatchObject({
        status: 'False',
        reason: 'NamespaceNotEnabled',
        message: expect.stringContaining('label it hookgate.io/injection=enabled') as unknown,
      });
    // The operator may bind only its Secret role: a binding to any other is refused.
    expect(
      await asOperator('POST', `${RBAC}/namespaces/${other}/rolebindings`, {
        metadata: { name: role },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'admin' },
        subjects: [{ kind: 'ServiceAccount', name: 'hookgate-operator', namespace: run }],
      }),
    ).toBe(403);

    // Opting out: the binding goes, and with it the operator's access.
    await optInLabel(optedIn, null);
    await expect.poll(async () => binding(optedIn), poll).toBeUndefined();
    await expect
      .poll(() => asOperator('GET', `/api/v1/namespaces/${optedIn}/secrets/orders-signing`), poll)
      .toBe(403);
    expect(running.operator.caches.secrets.scopes).toEqual([]);
    await expect.poll(async () => (await ready(optedIn))?.reason, poll).toBe('NamespaceNotEnabled');

    // Opting in again restores it.
    await optInLabel(optedIn, 'enabled');
    await expect.poll(async () => (await binding(optedIn)) !== undefined, poll).toBe(true);
    await expect.poll(async () => (await ready(optedIn))?.status, poll).toBe('True');
    expect(running.operator.readiness()).toBeUndefined();
    await running.stop();
    running = undefined;
  });

  it('only the leader writes bindings; the standby lists the Secrets too and takes over', async () => {
    const lease = {
      namespace: identity.namespace,
      name: `secrets-${run}`.slice(0, 63),
      leaseDurationMs: 6_000,
      renewDeadlineMs: 4_000,
      retryPeriodMs: 300,
    };
    const replica = (name: string): Promise<RunningOperator> =>
      startOperator(identity, [], {
        namespaces: undefined,
        leaderElection: { ...lease, identity: name },
        secretAccess: secretAccess(),
      });
    const first = await replica('first');
    await expect.poll(() => first.operator.isLeader, poll).toBe(true);
    const second = await replica('second');
    try {
      const ns = await namespaceWithEndpoint(true);
      await expect.poll(async () => (await ready(ns))?.status, poll).toBe('True');
      // The standby's cache for the namespace is listed, so it can lead at once…
      await expect.poll(() => second.operator.caches.secrets.synced(ns), poll).toBe(true);
      // …but it wrote nothing: no binding, no status.
      expect(second.operator.isLeader).toBe(false);
      expect(second.writes.filter((w) => !w.includes('/leases'))).toEqual([]);
      await expect
        .poll(() => first.writes, poll)
        .toContain(`POST ${RBAC}/namespaces/${ns}/rolebindings`);

      await first.stop(true);
      await expect.poll(() => second.operator.isLeader, poll).toBe(true);
      await optInLabel(ns, null);
      await expect.poll(async () => binding(ns), poll).toBeUndefined();
      // The binding can be gone (the admin's GET) a moment before the standby's client has its
      // answer to the DELETE, which is when the write is recorded.
      await expect
        .poll(() => second.writes, poll)
        .toContain(`DELETE ${RBAC}/namespaces/${ns}/rolebindings/${role}`);
    } finally {
      await first.stop(true).catch(() => undefined);
      await second.stop(true);
    }
  });

  it('reads a CA ConfigMap where a namespace opted in, and no ConfigMap where it did not', async () => {
    const notBefore = new Date(Date.now() - 60_000);
    const ca = createCertificate({
      commonName: 'receiver-ca',
      notBefore,
      notAfter: new Date(notBefore.getTime() + 86_400_000),
      isCA: true,
    });
    const withCa = async (optIn: boolean): Promise<string> => {
      const ns = await namespaceWithEndpoint(optIn);
      await apply(adminConfig, {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'receiver-ca', namespace: ns },
        data: { 'ca.crt': ca.certPem },
      });
      await apply(
        adminConfig,
        endpointManifest(ns, 'orders', {
          direction: 'Egress',
          url: 'https://hooks.example.com/orders',
          signing: { secretRef: { name: 'orders-signing' } },
          tls: { caBundle: { configMapKeyRef: { name: 'receiver-ca' } } },
        }),
      );
      return ns;
    };
    const optedIn = await withCa(true);
    const other = await withCa(false);
    const caPath = (ns: string): string => `/api/v1/namespaces/${ns}/configmaps/receiver-ca`;
    // The chart's RBAC alone reads no user ConfigMap anywhere.
    expect(await asOperator('GET', caPath(optedIn))).toBe(403);
    expect(await asOperator('GET', '/api/v1/configmaps?limit=1')).toBe(403);

    running = await startOperator(identity, [], {
      namespaces: undefined,
      secretAccess: secretAccess(),
    });
    await expect.poll(async () => (await ready(optedIn))?.status, poll).toBe('True');
    const published = await loadPublished(adminConfig, optedIn);
    expect(published?.loaded.egress.endpoints.get('orders')?.tls?.ca).toBe(ca.certPem.trim());
    expect(await asOperator('GET', caPath(optedIn))).toBe(200);
    expect(running.operator.caches.caBundles.scopes).toContain(optedIn);

    // Not opted in: no ConfigMap read, no cache, the usual NamespaceNotEnabled.
    expect(await asOperator('GET', caPath(other))).toBe(403);
    expect(await asOperator('GET', `/api/v1/namespaces/${other}/configmaps`)).toBe(403);
    expect(running.operator.caches.caBundles.scopes).not.toContain(other);
    await expect.poll(async () => (await ready(other))?.reason, poll).toBe('NamespaceNotEnabled');
    await running.stop();
    running = undefined;
  });
});

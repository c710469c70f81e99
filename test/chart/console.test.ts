// The chart's console (ADR 0023): off by default; on, a ClusterIP Service, the operator's flag and
// port, and RBAC that is enough and no more, applied for real: under the chart's ServiceAccount
// the operator keeps its admin key Secret (two replicas agree on one key), reviews tokens and
// access and lists sidecar pods; any authenticated user may reach the Service's proxy, and only it.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { adminTokenFor, ensureAdminKey } from '../../operator/console/admin-token.ts';
import { KubeApiError } from '../../operator/errors.ts';
import { KubeClient } from '../../operator/kube/client.ts';
import { fromKubeconfig } from '../../operator/kube/config.ts';
import { createTestNamespace, kubeClients, uniqueName } from '../support/kube.ts';
import { kubectlApply } from './apply.ts';
import { find, helm, parseObjects, template, type K8sObject } from './helm.ts';

beforeAll(async () => void (await helm()), 600_000);

interface Container {
  args: string[];
  ports: { name: string; containerPort: number }[];
}

function operatorContainer(objects: readonly K8sObject[]): Container {
  const deployment = find(objects, 'Deployment', 'hookgate-operator') as K8sObject & {
    spec: { template: { spec: { containers: Container[] } } };
  };
  return deployment.spec.template.spec.containers[0]!;
}

const CONSOLE_KINDS = ['Service', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding'];
const consoleObjects = (objects: readonly K8sObject[]): K8sObject[] =>
  objects.filter(
    (o) => CONSOLE_KINDS.includes(o.kind) && o.metadata.name.startsWith('hookgate-console'),
  );

describe('the chart and the console', () => {
  it('is off by default: no flag, no port, no Service, no RBAC', async () => {
    const objects = parseObjects((await template('hookgate-system')).stdout);
    const container = operatorContainer(objects);
    expect(container.args.filter((a) => a.startsWith('--console-addr'))).toEqual([]);
    expect(container.ports.map((p) => p.name)).not.toContain('console');
    expect(consoleObjects(objects)).toEqual([]);
  });

  it('console.enabled: the flag, the port, a ClusterIP Service, and the proxy Role for every authenticated user', async () => {
    const objects = parseObjects(
      (await template('hookgate-system', { 'console.enabled': 'true' })).stdout,
    );
    const container = operatorContainer(objects);
    expect(container.args).toContain('--console-addr=0.0.0.0:9090');
    expect(container.ports).toContainEqual({
      name: 'console',
      containerPort: 9090,
      protocol: 'TCP',
    });
    expect(find(objects, 'Service', 'hookgate-console')['spec']).toMatchObject({
      type: 'ClusterIP',
      ports: [{ name: 'console', port: 9090, targetPort: 'console', protocol: 'TCP' }],
    });
    expect(find(objects, 'Role', 'hookgate-console-proxy')['rules']).toEqual([
      {
        apiGroups: [''],
        resources: ['services/proxy'],
        resourceNames: ['hookgate-console', 'http:hookgate-console:console'],
        verbs: ['get', 'create'],
      },
    ]);
    expect(find(objects, 'RoleBinding', 'hookgate-console-proxy')['subjects']).toEqual([
      { apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'system:authenticated' },
    ]);
    const closed = parseObjects(
      (
        await template('hookgate-system', {
          'console.enabled': 'true',
          'console.proxyForAuthenticatedUsers': 'false',
        })
      ).stdout,
    );
    expect(consoleObjects(closed).map((o) => `${o.kind}/${o.metadata.name}`)).not.toContain(
      'RoleBinding/hookgate-console-proxy',
    );
  });

  describe('its RBAC, applied', () => {
    const cleanups: (() => Promise<unknown>)[] = [];
    afterAll(async () => {
      for (const c of cleanups.reverse()) await c().catch(() => undefined);
    });

    it('lets the operator keep one admin key, review users and find sidecars; lets users reach the console Service only', async () => {
      const { core } = kubeClients();
      const admin = new KubeClient(await fromKubeconfig(inject('kubeconfig')));
      cleanups.push(() => admin.close());
      const namespace = await createTestNamespace(core, 'hookgate-chart-console');
      const objects = parseObjects(
        (await template(namespace, { 'console.enabled': 'true' })).stdout,
      );
      // Cluster-scoped names get a suffix: test files share one API server.
      const suffix = uniqueName('t');
      const rename = (o: K8sObject): K8sObject => {
        if (o.kind === 'ClusterRole')
          return { ...o, metadata: { ...o.metadata, name: `${o.metadata.name}-${suffix}` } };
        if (o.kind === 'ClusterRoleBinding') {
          const roleRef = o['roleRef'] as { name: string };
          return {
            ...o,
            metadata: { ...o.metadata, name: `${o.metadata.name}-${suffix}` },
            roleRef: { ...roleRef, name: `${roleRef.name}-${suffix}` },
          };
        }
        return o;
      };
      const rbac = objects
        .filter(
          (o) =>
            o.kind === 'ServiceAccount' ||
            (CONSOLE_KINDS.includes(o.kind) && o.kind !== 'Service') ||
            o.metadata.name === 'hookgate-console',
        )
        .map(rename);
      const applied = await kubectlApply(inject('kubeconfig'), rbac);
      expect(applied.stderr).toBe('');
      for (const o of rbac.filter((x) => x.kind.startsWith('Cluster'))) {
        const kind = o.kind === 'ClusterRole' ? 'clusterroles' : 'clusterrolebindings';
        cleanups.push(() =>
          admin.request('DELETE', `/apis/rbac.authorization.k8s.io/v1/${kind}/${o.metadata.name}`),
        );
      }

      // The operator, as its ServiceAccount's token.
      const token = async (sa: string): Promise<string> =>
        (
          await admin.request<{ status: { token: string } }>(
            'POST',
            `/api/v1/namespaces/${namespace}/serviceaccounts/${sa}/token`,
            { body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: {} } },
          )
        ).status.token;
      const asToken = async (t: string): Promise<KubeClient> => {
        const base = await fromKubeconfig(inject('kubeconfig'));
        const client = new KubeClient({
          server: base.server,
          tls: { ca: base.tls.ca },
          headers: () => Promise.resolve({ authorization: `Bearer ${t}` }),
        });
        cleanups.push(() => client.close());
        return client;
      };
      const operator = await asToken(await token('hookgate-operator'));
      await admin.request('POST', `/api/v1/namespaces/${namespace}/serviceaccounts`, {
        body: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'someone' } },
      });
      // Two replicas starting: both end with the one key, and it is not readable by a user.
      const [a, b] = await Promise.all([
        ensureAdminKey(operator, namespace),
        ensureAdminKey(operator, namespace),
      ]);
      expect(a).toBe(b);
      expect(await ensureAdminKey(operator, namespace)).toBe(a);
      expect(adminTokenFor(a, 'shop')).not.toBe(adminTokenFor(a, 'billing'));
      const review = await operator.request<{ status: { authenticated: boolean } }>(
        'POST',
        '/apis/authentication.k8s.io/v1/tokenreviews',
        {
          body: {
            apiVersion: 'authentication.k8s.io/v1',
            kind: 'TokenReview',
            spec: { token: await token('someone') },
          },
        },
      );
      expect(review.status.authenticated).toBe(true);
      await operator.request('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SubjectAccessReview',
          spec: {
            user: 'someone',
            resourceAttributes: {
              group: 'hookgate.io',
              resource: 'webhookendpoints',
              verb: 'get',
              namespace: 'default',
            },
          },
        },
      });
      await operator.request('GET', '/api/v1/namespaces/default/pods');

      // A user with no role of their own reaches the console's proxy (503: no pod serves it here),
      // and not the operator's webhook Service.
      const user = await asToken(await token('someone'));
      const proxy = (service: string): Promise<number> =>
        user
          .open('GET', `/api/v1/namespaces/${namespace}/services/${service}/proxy/healthz`)
          .then(async (r) => (await r.body.text(), r.statusCode));
      expect(await proxy('http:hookgate-console:console')).toBe(503);
      expect(await proxy('https:hookgate-operator-webhook:https-webhook')).toBe(403);
      // And cannot read the admin key.
      await expect(
        user.request('GET', `/api/v1/namespaces/${namespace}/secrets/hookgate-console-admin`),
      ).rejects.toBeInstanceOf(KubeApiError);
    });
  });
});

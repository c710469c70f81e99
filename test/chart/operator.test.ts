// The chart runs the operator: its RBAC, flags and environment (NODE_OPTIONS included), taken
// from the rendered manifests, start the real operator under the chart's ServiceAccount (a
// TokenRequest token), which becomes ready, wins the Lease in the release namespace and publishes
// an endpoint. Flags this operator does not know yet (the injector's, issue 8) are left out, so
// the test covers them once they exist; the webhook server is kept off (it is tested by its own
// tests, and the cluster's one webhook configuration is shared).
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { kubeRequest } from '../cluster/apply.ts';
import { freePort, startProcess, waitFor, type ManagedProcess } from '../cluster/process.ts';
import { createTestNamespace, kubeClients } from '../support/kube.ts';
import { kubectlApply } from './apply.ts';
import { find, helm, parseObjects, root, template, type K8sObject } from './helm.ts';

beforeAll(async () => void (await helm()), 600_000);

interface Container {
  args: string[];
  env: { name: string; value?: string }[];
}

describe('the chart runs the operator', () => {
  const cleanups: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  it('under its RBAC, flags and environment: ready, leading, publishing', async () => {
    const { kubeConfig, core } = kubeClients();
    const kubeconfig = inject('kubeconfig');
    const namespace = await createTestNamespace(core, 'hookgate-chart-op');
    const appNamespace = await createTestNamespace(core, 'chart-op-app', {
      'hookgate.io/injection': 'enabled',
    });
    // watchNamespaces, so that the operator reconciles only this test's namespace (the API server
    // is shared): its Secrets come from the chart's Role there. The default mode, Secrets per
    // opted-in namespace, runs under the chart's RBAC in test/operator/secret-access.test.ts.
    const objects = parseObjects(
      (await template(namespace, { 'operator.watchNamespaces': `{${appNamespace}}` })).stdout,
    );

    // RBAC for real. Cluster-scoped names get the namespace as suffix: test files share one API
    // server, and the operator's own tests apply deploy/operator-rbac.yaml's ClusterRole.
    const clusterRole = `hookgate-operator-${namespace}`;
    const rbac: K8sObject[] = objects
      .filter((o) =>
        ['ServiceAccount', 'ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding'].includes(
          o.kind,
        ),
      )
      .map((o) => {
        if (o.kind === 'ClusterRole')
          return { ...o, metadata: { ...o.metadata, name: clusterRole } };
        if (o.kind === 'ClusterRoleBinding') {
          return {
            ...o,
            metadata: { ...o.metadata, name: clusterRole },
            roleRef: { ...(o['roleRef'] as object), name: clusterRole },
          };
        }
        return o;
      });
    // ServiceAccount, ClusterRole and binding, own Role and binding, the app's Role and binding.
    expect(rbac).toHaveLength(7);
    const applied = await kubectlApply(kubeconfig, rbac);
    expect(applied.stderr).toBe('');
    for (const kind of ['clusterroles', 'clusterrolebindings']) {
      cleanups.push(() =>
        kubeRequest(
          kubeConfig,
          'DELETE',
          `/apis/rbac.authorization.k8s.io/v1/${kind}/${clusterRole}`,
        ),
      );
    }

    // A kubeconfig for the ServiceAccount, as the in-cluster token would be.
    const token = await kubeRequest(
      kubeConfig,
      'POST',
      `/api/v1/namespaces/${namespace}/serviceaccounts/hookgate-operator/token`,
      JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: {} }),
    );
    expect(token.status).toBe(201);
    const dir = mkdtempSync(join(tmpdir(), 'hookgate-chart-op-'));
    const saKubeconfig = join(dir, 'kubeconfig');
    writeFileSync(
      saKubeconfig,
      stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [
          {
            name: 'test',
            cluster: {
              server: kubeConfig.getCurrentCluster()?.server,
              'certificate-authority': join(inject('pkiDir'), 'ca.crt'),
            },
          },
        ],
        users: [{ name: 'sa', user: { token: (token.body['status'] as { token: string }).token } }],
        contexts: [{ name: 'sa', context: { cluster: 'test', user: 'sa' } }],
        'current-context': 'sa',
      }),
      { mode: 0o600 },
    );

    // The container's flags and environment, as the chart renders them.
    const deployment = find(objects, 'Deployment', 'hookgate-operator') as K8sObject & {
      spec: { template: { spec: { containers: Container[] } } };
    };
    const container = deployment.spec.template.spec.containers[0]!;
    const help = await promisify(execFile)(process.execPath, [
      join(root, 'operator', 'main.ts'),
      '--help',
    ]);
    const known = new Set([...help.stdout.matchAll(/--([a-z][a-z-]*)/g)].map((m) => m[1]!));
    const flagName = (arg: string): string => /^--([a-z-]+)/.exec(arg)?.[1] ?? arg;
    const args = container.args.filter(
      (a) => known.has(flagName(a)) && !flagName(a).startsWith('webhook-'),
    );
    expect(args).toEqual(
      expect.arrayContaining([
        '--leader-elect=true',
        '--workers=2',
        `--watch-namespace=${appNamespace}`,
      ]),
    );
    if (known.has('webhook-addr')) args.push('--webhook-addr=');
    args.push(
      `--kubeconfig=${saKubeconfig}`,
      // Until the operator reads POD_NAMESPACE (issue 8), the in-cluster file names the Lease's.
      `--lease-namespace=${namespace}`,
      '--lease-duration=4s',
      '--renew-deadline=3s',
      '--retry-period=1s',
    );
    const env = Object.fromEntries(container.env.map((e) => [e.name, e.value ?? '']));
    const adminPort = await freePort();
    const operator: ManagedProcess = startProcess(
      'hookgate-operator',
      process.execPath,
      [join(root, 'operator', 'main.ts'), ...args],
      join(dir, 'operator.log'),
      {
        env: {
          ...process.env,
          ...env,
          // The downward API's value in a cluster.
          POD_NAMESPACE: namespace,
          HOOKGATE_ADMIN_ADDR: `127.0.0.1:${adminPort}`,
        },
      },
    );
    cleanups.push(() => operator.stop());
    expect(env['NODE_OPTIONS']).toContain('--max-old-space-size=');

    await waitFor(
      'the operator /readyz',
      async () => ((await fetch(`http://127.0.0.1:${adminPort}/readyz`)).ok ? true : undefined),
      { timeoutMs: 30_000, process: operator },
    );
    const lease = await waitFor(
      'the Lease in the release namespace',
      async () => {
        const res = await kubeRequest(
          kubeConfig,
          'GET',
          `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/hookgate-operator`,
        );
        return res.status === 200 ? res.body : undefined;
      },
      { timeoutMs: 30_000, process: operator },
    );
    expect((lease['spec'] as { holderIdentity?: string }).holderIdentity).toBeTruthy();

    // An endpoint in the opted-in namespace turns Ready: reads, status writes and publishing work.
    const applyApp = await kubectlApply(kubeconfig, [
      {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: 'orders-signing', namespace: appNamespace },
        stringData: { secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' },
      },
      {
        apiVersion: 'hookgate.io/v1alpha1',
        kind: 'WebhookEndpoint',
        metadata: { name: 'acme-orders', namespace: appNamespace },
        spec: {
          direction: 'Egress',
          url: 'https://hooks.acme.example/orders',
          signing: { secretRef: { name: 'orders-signing' } },
        },
      },
    ]);
    expect(applyApp.stderr).toBe('');
    await waitFor(
      'acme-orders Ready',
      async () => {
        const res = await kubeRequest(
          kubeConfig,
          'GET',
          `/apis/hookgate.io/v1alpha1/namespaces/${appNamespace}/webhookendpoints/acme-orders`,
        );
        const conditions = (
          res.body['status'] as { conditions?: { type: string; status: string }[] }
        )?.conditions;
        return conditions?.some((c) => c.type === 'Ready' && c.status === 'True')
          ? true
          : undefined;
      },
      { timeoutMs: 30_000, process: operator },
    );
    const published = await kubeRequest(
      kubeConfig,
      'GET',
      `/api/v1/namespaces/${appNamespace}/configmaps/hookgate-sidecar-config`,
    );
    expect(published.status).toBe(200);
  });
});

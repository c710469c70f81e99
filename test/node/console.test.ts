// The console as a user turns it on: `helm upgrade --set console.enabled=true` on the node's
// release, the console served by the operator's own pods, and `kubectl hookgate console` reaching
// it through a real port-forward (a WebSocket through the API server and the kubelet to the pod),
// signed in with a ServiceAccount token whose RBAC decides what it sees (the forward itself is an
// admin's: it takes port-forward rights in the operator's namespace). `kubectl hookgate status`
// goes through the API server's service proxy to the same pods. Turned off again afterwards, so
// the other files run on the chart's defaults.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { startPlugin } from '../kubectl/ground.ts';
import { OPERATOR_NAMESPACE, upgradeChart } from './chart.ts';
import { apply, kubectl, until } from './kube.ts';
import { prepareNamespace } from './workloads.ts';

const unsupported = inject('nodeUnsupported');

/** `kubectl-hookgate args` against the node's operator. */
function plugin(kubeconfig: string, args: readonly string[]): ReturnType<typeof startPlugin> {
  return startPlugin(kubeconfig, [...args, '--hookgate-namespace', OPERATOR_NAMESPACE]);
}

describe.skipIf(unsupported !== '')('the console on the node', () => {
  const kubeconfig = inject('nodeKubeconfig');
  const dir = mkdtempSync(join(tmpdir(), 'hookgate-node-console-'));
  let namespace: string;
  let viewer: string;

  beforeAll(async () => {
    await upgradeChart(kubeconfig, ['console.enabled=true']);
    ({ namespace } = await prepareNamespace('console'));
    // A user who may get WebhookEndpoints in this namespace only, signed in with their own token.
    await apply(
      namespace,
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'viewer' } },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: { name: 'endpoint-viewer' },
        rules: [
          {
            apiGroups: ['hookgate.io'],
            resources: ['webhookendpoints'],
            verbs: ['get', 'list', 'watch'],
          },
        ],
      },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: 'viewer' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'endpoint-viewer' },
        subjects: [{ kind: 'ServiceAccount', name: 'viewer', namespace }],
      },
    );
    const token = await kubectl(['-n', namespace, 'create', 'token', 'viewer']);
    const raw = JSON.parse(
      await kubectl(['config', 'view', '--raw', '--minify', '-o', 'json']),
    ) as {
      clusters: { cluster: { server: string; 'certificate-authority-data': string } }[];
    };
    const cluster = raw.clusters[0]!.cluster;
    viewer = join(dir, 'viewer.kubeconfig');
    writeFileSync(
      viewer,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'node', cluster }],
        users: [{ name: 'viewer', user: { token } }],
        contexts: [{ name: 'viewer', context: { cluster: 'node', user: 'viewer', namespace } }],
        'current-context': 'viewer',
      }),
      { mode: 0o600 },
    );
  });

  afterAll(async () => {
    if (namespace !== undefined)
      await kubectl(['delete', 'namespace', namespace, '--wait=false']).catch(() => undefined);
    await upgradeChart(kubeconfig, ['console.enabled=false']);
    rmSync(dir, { recursive: true, force: true });
  });

  it('is reached by kubectl hookgate console through a real port-forward, and shows the user what RBAC allows', async () => {
    // Forwarding takes port-forward rights in the operator's namespace (an admin's, here); what
    // the console then shows is the signed-in token's business.
    const forward = plugin(kubeconfig, ['console', '--port', '0']);
    const url = await until(
      'the console URL',
      () => Promise.resolve(/Console: (http:\/\/127\.0\.0\.1:\d+\/)/.exec(forward.output())?.[1]),
      60_000,
      200,
    ).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}; plugin printed: ${forward.output()}`);
    });
    // The login page, served by the operator's pod at the end of the forward.
    const login = await fetch(`${url}login`);
    expect(login.status).toBe(200);
    expect(await login.text()).toContain('Hookgate');
    // Signed in with the token: who the API server says it is, and only its namespace.
    const token = (await kubectl(['-n', namespace, 'create', 'token', 'viewer'])).trim();
    const auth = { authorization: `Bearer ${token}` };
    const whoami = (await (await fetch(`${url}api/v1/whoami`, { headers: auth })).json()) as {
      username: string;
    };
    expect(whoami.username).toBe(`system:serviceaccount:${namespace}:viewer`);
    const namespaces = await (await fetch(`${url}api/v1/namespaces`, { headers: auth })).json();
    expect(JSON.stringify(namespaces)).toContain(namespace);
    expect(JSON.stringify(namespaces)).not.toContain(OPERATOR_NAMESPACE);
    // Without a token: nothing but the refusal.
    expect((await fetch(`${url}api/v1/namespaces`)).status).toBe(401);
    const ended = await forward.stop();
    expect(ended.code).toBe(0);
    expect(ended.stdout + ended.stderr).not.toContain(token);
  });

  it('answers kubectl hookgate status through the service proxy with the namespace’s endpoints', async () => {
    const status = await plugin(viewer, ['status']).closed;
    expect(status.stderr).toBe('');
    expect(status.code).toBe(0);
    const [header, ...rows] = status.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^ENDPOINT\s+DIRECTION\s+READY\s+HEALTHY/);
    expect(rows.map((r) => r.split(/\s+/)[0])).toContain('receiver');
  });
});

// The real Helm chart on the real node (installed by the node project's global setup, from the
// images built here): two operator replicas Ready, one of them leading, the injection webhook
// answering through its Service, the CRDs established.
import { describe, expect, inject, it } from 'vitest';
import { OPERATOR_NAMESPACE } from './chart.ts';
import { getJson, kubectl, pods } from './kube.ts';
import { createNamespace } from './workloads.ts';

const unsupported = inject('nodeUnsupported');

describe.skipIf(unsupported !== '')('the Helm chart on the node', () => {
  it('runs two operator replicas Ready from the built image, and exactly one holds the Lease', async () => {
    const deployment = await getJson<{ status: { readyReplicas?: number; replicas?: number } }>(
      OPERATOR_NAMESPACE,
      'deployment/hookgate-operator',
    );
    expect(deployment.status).toMatchObject({ replicas: 2, readyReplicas: 2 });
    const operators = await pods(OPERATOR_NAMESPACE, 'app.kubernetes.io/name=hookgate');
    expect(operators.map((p) => p.status.phase)).toEqual(['Running', 'Running']);
    const lease = await getJson<{ spec: { holderIdentity?: string } }>(
      OPERATOR_NAMESPACE,
      'lease/hookgate-operator',
    );
    const leaders = operators.filter((p) =>
      lease.spec.holderIdentity?.startsWith(`${p.metadata.name}_`),
    );
    expect(leaders).toHaveLength(1);
  });

  it('serves the injection webhook through its Service, from both replicas', async () => {
    const config = await getJson<{
      webhooks: { clientConfig: { service?: { name: string; namespace: string } } }[];
    }>('', 'mutatingwebhookconfiguration/hookgate-sidecar-injector');
    expect(config.webhooks[0]?.clientConfig.service).toMatchObject({
      name: 'hookgate-operator-webhook',
      namespace: OPERATOR_NAMESPACE,
    });
    const slices = await getJson<{ items: { endpoints: { conditions: { ready: boolean } }[] }[] }>(
      OPERATOR_NAMESPACE,
      'endpointslices',
      '-l',
      'kubernetes.io/service-name=hookgate-operator-webhook',
    );
    expect(slices.items.flatMap((s) => s.endpoints).filter((e) => e.conditions.ready)).toHaveLength(
      2,
    );
    // A server-side dry run goes through admission: the API server calls the webhook's Service.
    const namespace = await createNamespace('node-chart');
    try {
      const pod = JSON.parse(
        await kubectl(
          ['-n', namespace, 'create', '--dry-run=server', '-o', 'json', '-f', '-'],
          JSON.stringify({
            apiVersion: 'v1',
            kind: 'Pod',
            metadata: { name: 'probe', annotations: { 'hookgate.io/inject': 'true' } },
            spec: { containers: [{ name: 'app', image: inject('nodeImages')['sidecar'] }] },
          }),
        ),
      ) as { spec: { initContainers?: { name: string }[] } };
      expect(pod.spec.initContainers?.map((c) => c.name)).toContain('hookgate-proxy');
    } finally {
      await kubectl(['delete', 'namespace', namespace, '--wait=false']);
    }
  });

  it('has both CRDs Established', async () => {
    const out = await kubectl([
      'wait',
      '--for=condition=Established',
      'crd/webhookendpoints.hookgate.io',
      'crd/webhookpolicies.hookgate.io',
      '--timeout=10s',
    ]);
    expect(out.split('\n')).toHaveLength(2);
  });
});

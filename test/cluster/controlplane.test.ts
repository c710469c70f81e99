// The test control plane is a real one: the API server stores and serves objects, and the
// controller-manager's controllers act on them (Deployment → ReplicaSet → Pod).
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { waitFor } from './process.ts';
import { createTestNamespace, kubeClients, type KubeClients } from '../support/kube.ts';

describe('test control plane', () => {
  let kube: KubeClients;
  let namespace: string;

  beforeAll(async () => {
    kube = kubeClients();
    namespace = await createTestNamespace(kube.core, 'controlplane');
  });
  afterAll(async () => {
    await kube.core.deleteNamespace({ name: namespace });
  });

  it('serves the pinned Kubernetes version', async () => {
    const { VersionApi } = await import('@kubernetes/client-node');
    const version = await kube.kubeConfig.makeApiClient(VersionApi).getCode();
    expect(version.gitVersion).toBe(inject('kubernetesVersion'));
  });

  it('stores a ConfigMap and returns it as written', async () => {
    await kube.core.createNamespacedConfigMap({
      namespace,
      body: { metadata: { name: 'settings' }, data: { 'config.yaml': 'generation: 1\n' } },
    });
    const read = await kube.core.readNamespacedConfigMap({ namespace, name: 'settings' });
    expect(read.data).toEqual({ 'config.yaml': 'generation: 1\n' });
    expect(read.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('runs the controller-manager: a Deployment gets a ReplicaSet and a Pod', async () => {
    const labels = { app: 'web' };
    const deployment = await kube.apps.createNamespacedDeployment({
      namespace,
      body: {
        metadata: { name: 'web' },
        spec: {
          replicas: 1,
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: { containers: [{ name: 'app', image: 'registry.invalid/app:1' }] },
          },
        },
      },
    });

    const replicaSet = await waitFor(
      'a ReplicaSet owned by the Deployment',
      async () => {
        const list = await kube.apps.listNamespacedReplicaSet({ namespace });
        return list.items.find((rs) =>
          rs.metadata?.ownerReferences?.some((o) => o.uid === deployment.metadata?.uid),
        );
      },
      { timeoutMs: 30_000 },
    );
    const pod = await waitFor(
      'a Pod owned by the ReplicaSet',
      async () => {
        const list = await kube.core.listNamespacedPod({ namespace });
        return list.items.find((p) =>
          p.metadata?.ownerReferences?.some((o) => o.uid === replicaSet.metadata?.uid),
        );
      },
      { timeoutMs: 30_000 },
    );
    expect(pod.metadata?.labels).toMatchObject(labels);
    expect(pod.spec?.containers[0]?.image).toBe('registry.invalid/app:1');
    // No scheduler or kubelet: the pod is created and stays Pending, which is all injection needs.
    expect(pod.status?.phase).toBe('Pending');
  });
});

// A WebhookPolicy change reaches a running sidecar: the operator rewrites the namespace's
// ConfigMap, the kubelet refreshes the pod's ConfigMap volume, the sidecar reloads it. The time
// from `kubectl apply` to the first refusal is printed — the kubelet's ConfigMap-volume latency,
// the figure the config-distribution work must beat. Only an upper bound is asserted: it is the
// kubelet's sync period (1 min by default) plus its cache TTL, so 150 s is a generous ceiling.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { apply, readyPods, type Pod } from './kube.ts';
import {
  deployOrders,
  prepareNamespace,
  removeNamespace,
  send,
  SERVICE_CIDR,
} from './workloads.ts';

const unsupported = inject('nodeUnsupported');

describe.skipIf(unsupported !== '')('a policy change on a running sidecar', () => {
  let namespace = '';
  let app: Pod;

  beforeAll(async () => {
    ({ namespace } = await prepareNamespace('node-policy'));
    app = await deployOrders(namespace);
  });

  afterAll(() => removeNamespace(namespace));

  it('enforces a new rate limit without a restart, and reports how long it took', async () => {
    const appIp = app.status.podIP ?? '';
    for (let n = 0; n < 3; n++) expect((await send(appIp, 'receiver', { n })).status).toBe(204);

    const applied = Date.now();
    await apply(namespace, {
      apiVersion: 'hookgate.io/v1alpha1',
      kind: 'WebhookPolicy',
      metadata: { name: 'in-cluster' },
      spec: {
        endpointSelector: { matchLabels: { to: 'receiver' } },
        destinations: { allowedCIDRs: [SERVICE_CIDR] },
        rateLimit: { rate: 1, per: 'minute', burst: 1 },
      },
    });
    let refused: { status: number; body: string } | undefined;
    while (refused === undefined && Date.now() - applied < 150_000) {
      const result = await send(appIp, 'receiver');
      if (result.status === 429) refused = result;
      else await new Promise((resolve) => setTimeout(resolve, 250));
    }
    const latencyMs = Date.now() - applied;
    console.log(
      `policy change enforced by the running sidecar ${latencyMs} ms after kubectl apply`,
    );
    expect(refused?.status).toBe(429);
    expect(JSON.parse(refused?.body ?? '{}')).toMatchObject({ status: 429 });
    const [pod] = (await readyPods(namespace, 'app=orders', 1, 10_000)) as [Pod];
    expect(pod.metadata.name).toBe(app.metadata.name);
    expect(
      pod.status.initContainerStatuses?.find((c) => c.name === 'hookgate-proxy')?.restartCount,
    ).toBe(0);
  });
});

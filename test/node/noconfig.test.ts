// Test (7), the ordering case: a pod created in an opted-in namespace before the namespace has any
// hookgate config is injected anyway, its controller gets a `NoSidecarConfig` Warning event, the
// app does not run without its sidecar, and once the WebhookEndpoint and policy exist the same
// Deployment's pod turns 2/2 Ready and delivers.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { apply, getJson, pods, readyPods, until, type Pod } from './kube.ts';
import {
  applyEgressSetup,
  applyReceiver,
  applyScripts,
  createNamespace,
  newSigningSecret,
  received,
  removeNamespace,
  send,
} from './workloads.ts';
import { ordersDeployment } from './apps.ts';

const unsupported = inject('nodeUnsupported');

interface CoreEvent {
  reason?: string;
  type?: string;
  message?: string;
  involvedObject?: { kind?: string };
}

describe.skipIf(unsupported !== '')('a pod created before its namespace has config', () => {
  const secret = newSigningSecret();
  let namespace = '';

  beforeAll(async () => {
    namespace = await createNamespace('node-noconfig');
    await applyScripts(namespace);
    await applyReceiver(namespace);
  });

  afterAll(() => removeNamespace(namespace));

  it('gets NoSidecarConfig, waits without its sidecar, and starts once the config exists', async () => {
    await apply(namespace, ordersDeployment(inject('nodeImages')['sidecar'] ?? '', {}));
    const event = await until(
      'a NoSidecarConfig event',
      async () =>
        (await getJson<{ items: CoreEvent[] }>(namespace, 'events')).items.find(
          (e) => e.reason === 'NoSidecarConfig',
        ),
      60_000,
    );
    expect(event.type).toBe('Warning');
    expect(event.involvedObject?.kind).toBe('ReplicaSet');
    expect(event.message).toContain(`namespace ${namespace} has no published hookgate config`);

    // Injected, but neither container is Ready while there is no config.
    const [waiting] = (await until(
      'the orders pod',
      async () => {
        const found = await pods(namespace, 'app=orders');
        return found.length === 1 && found[0]!.status.initContainerStatuses !== undefined
          ? found
          : undefined;
      },
      60_000,
    )) as [Pod];
    expect(waiting.spec.initContainers?.map((c) => c.name)).toContain('hookgate-proxy');
    expect(waiting.status.conditions?.find((c) => c.type === 'Ready')?.status).not.toBe('True');
    expect(waiting.status.containerStatuses?.find((c) => c.name === 'app')?.ready).not.toBe(true);

    await applyEgressSetup(namespace, secret);
    // The kubelet's restart back-off decides how soon the sidecar tries again (10 s, 20 s, …).
    const [app] = (await readyPods(namespace, 'app=orders', 1, 180_000)) as [Pod];
    expect(app.metadata.name).toBe(waiting.metadata.name);
    const [receiver] = (await readyPods(namespace, 'app=receiver', 1, 60_000)) as [Pod];
    const result = await send(app.status.podIP ?? '', 'receiver');
    expect(result.status).toBe(204);
    expect(await received(receiver.status.podIP ?? '')).toHaveLength(1);
  }, 330_000);
});

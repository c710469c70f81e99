// Transparent mode on the node: the injector's real init container installs the interception
// rules in the pod's network namespace; an unmodified app's plain `POST http://<service>/hook`
// (port 80, captured) leaves the pod signed by the sidecar, and a webhook sent to the app's own
// port (8080, captured) reaches the app only once the sidecar has verified it.
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  egressObjects,
  githubIngressObjects,
  inbox,
  receiverObjects,
  sendGithubWebhook,
} from './apps.ts';
import { apply, kubectl, readyPods, type Pod } from './kube.ts';
import {
  applyScripts,
  createNamespace,
  deployOrders,
  newSigningSecret,
  received,
  removeNamespace,
} from './workloads.ts';

const unsupported = inject('nodeUnsupported');

describe.skipIf(unsupported !== '')('transparent interception on the node', () => {
  const secret = newSigningSecret();
  const githubSecret = newSigningSecret();
  let namespace = '';
  let app: Pod;
  let receiver: Pod;

  beforeAll(async () => {
    namespace = await createNamespace('node-transparent');
    await applyScripts(namespace);
    // Port 80: the port transparent mode captures by default (plain HTTP only).
    await apply(
      namespace,
      ...receiverObjects(inject('nodeImages')['sidecar'] ?? '', 'receiver', 80),
    );
    const objects = egressObjects(namespace, secret) as { kind: string; spec: { url?: string } }[];
    for (const o of objects)
      if (o.kind === 'WebhookEndpoint')
        o.spec.url = `http://receiver.${namespace}.svc.cluster.local/hook`;
    await apply(namespace, ...objects, ...githubIngressObjects(githubSecret));
    await kubectl([
      '-n',
      namespace,
      'wait',
      '--for=condition=Ready',
      'whe/receiver',
      'whe/github',
      '--timeout=60s',
    ]);
    app = await deployOrders(namespace, {
      annotations: { 'hookgate.io/interception': 'transparent' },
    });
    [receiver] = (await readyPods(namespace, 'app=receiver', 1, 120_000)) as [Pod];
  });

  afterAll(() => removeNamespace(namespace));

  it('ran the interception init container to completion before the sidecar and the app', () => {
    const names = app.spec.initContainers?.map((c) => c.name) ?? [];
    expect(names.at(-1)).toBe('hookgate-proxy');
    expect(names.length).toBeGreaterThan(1);
    const rules = app.status.initContainerStatuses?.find((c) => c.name === names[0]);
    expect(rules?.state?.terminated?.exitCode).toBe(0);
  });

  it("signs an unmodified app's plain POST to the receiver's URL", async () => {
    const target = `http://receiver.${namespace}.svc.cluster.local/hook`;
    const res = await fetch(
      `http://${app.status.podIP ?? ''}:9000/plain?url=${encodeURIComponent(target)}`,
    );
    const result = (await res.json()) as {
      status: number;
      deliveryId: string | null;
      body: string;
    };
    expect([result.status, result.body]).toEqual([204, '']);
    expect(result.deliveryId).toMatch(/.+/);
    const [webhook] = await received(receiver.status.podIP ?? '');
    expect(webhook?.headers['webhook-id']).toBe(result.deliveryId);
    expect(new Webhook(secret).verify(webhook?.body ?? '', webhook?.headers ?? {})).toMatchObject({
      type: 'order.created',
    });
  });

  it("verifies a webhook sent to the app's own port before the app sees it; a forged one gets 401", async () => {
    // The provider knows only the app's port: the rules send it to the sidecar's ingress (15006).
    const url = `http://${app.status.podIP ?? ''}:8080/github`;
    const forged = await sendGithubWebhook(url, githubSecret, { forged: true });
    expect(forged.status).toBe(401);
    expect(await inbox(app.status.podIP ?? '')).toEqual([]);
    const genuine = await sendGithubWebhook(url, githubSecret);
    expect(genuine.status).toBe(204);
    const got = await inbox(app.status.podIP ?? '');
    expect(got.map((w) => [w.path, w.body])).toEqual([['/hooks/github', genuine.payload]]);
  });
});

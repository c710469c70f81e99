// An annotated Deployment on the real node: the injector gives its pods `hookgate-proxy` as a
// native sidecar, the kubelet starts it first and both containers run (2/2); the app's webhook goes
// through the sidecar to a receiver Service by its DNS name (CoreDNS, kube-proxy), signed the
// Standard Webhooks way — checked here by the `standardwebhooks` library.
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { apply, kubectl, readyPods, type Pod } from './kube.ts';
import {
  appPodTemplate,
  applyEgressSetup,
  applyReceiver,
  applyScripts,
  createNamespace,
  newSigningSecret,
  received,
  send,
} from './workloads.ts';

const unsupported = inject('nodeUnsupported');

describe.skipIf(unsupported !== '')(
  `an injected Deployment on the node${unsupported === '' ? '' : ` (not run: ${unsupported})`}`,
  () => {
    const secret = newSigningSecret();
    let namespace: string;
    let app: Pod;
    let receiver: Pod;

    beforeAll(async () => {
      namespace = await createNamespace('node-sidecar');
      await applyScripts(namespace);
      await applyReceiver(namespace);
      await applyEgressSetup(namespace, secret);
      await apply(namespace, {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'orders' },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: 'orders' } },
          template: appPodTemplate(),
        },
      });
      [app] = (await readyPods(namespace, 'app=orders', 1, 120_000)) as [Pod];
      [receiver] = (await readyPods(namespace, 'app=receiver', 1, 120_000)) as [Pod];
    });

    afterAll(async () => {
      if (namespace !== undefined)
        await kubectl(['delete', 'namespace', namespace, '--wait=false']);
    });

    it('runs hookgate-proxy as a native sidecar next to the app: 2/2 Ready', () => {
      const sidecar = app.spec.initContainers?.find((c) => c.name === 'hookgate-proxy');
      expect(sidecar?.restartPolicy).toBe('Always');
      expect(sidecar?.image).toBe(inject('nodeImages')['sidecar']);
      const sidecarStatus = app.status.initContainerStatuses?.find(
        (c) => c.name === 'hookgate-proxy',
      );
      expect(sidecarStatus).toMatchObject({ ready: true, started: true, restartCount: 0 });
      expect(app.status.containerStatuses?.map((c) => [c.name, c.ready])).toEqual([['app', true]]);
    });

    it('delivers the app webhook to the receiver Service by DNS name, signed (verified by standardwebhooks)', async () => {
      const result = await send(app.status.podIP ?? '', 'receiver');
      expect(result.status).toBe(204);
      expect(result.deliveryId).toMatch(/.+/);
      const got = await received(receiver.status.podIP ?? '');
      expect(got).toHaveLength(1);
      const [webhook] = got as [(typeof got)[number]];
      expect(webhook.path).toBe('/hook');
      expect(webhook.headers['webhook-id']).toBe(result.deliveryId);
      // Throws when the signature or timestamp does not verify.
      const payload = new Webhook(secret).verify(webhook.body, webhook.headers) as { type: string };
      expect(payload.type).toBe('order.created');
      expect(() => new Webhook(newSigningSecret()).verify(webhook.body, webhook.headers)).toThrow();
    });
  },
);

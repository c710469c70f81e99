// An annotated Deployment on the real node: the injector gives its pods `hookgate-proxy` as a
// native sidecar, the kubelet starts it first and both containers run (2/2); the app's webhook goes
// through the sidecar to a receiver Service by its DNS name (CoreDNS, kube-proxy), signed the
// Standard Webhooks way — checked here by the `standardwebhooks` library.
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Pod } from './kube.ts';
import {
  deployOrders,
  newSigningSecret,
  prepareNamespace,
  received,
  removeNamespace,
  send,
} from './workloads.ts';

const unsupported = inject('nodeUnsupported');

describe.skipIf(unsupported !== '')(
  `an injected Deployment on the node${unsupported === '' ? '' : ` (not run: ${unsupported})`}`,
  () => {
    const secret = newSigningSecret();
    let namespace = '';
    let app: Pod;
    let receiver: Pod;

    beforeAll(async () => {
      ({ namespace, receiver } = await prepareNamespace('node-sidecar', { secret }));
      app = await deployOrders(namespace);
    });

    afterAll(() => removeNamespace(namespace));

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

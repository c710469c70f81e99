// The API server reaches admission webhooks served by tests on the host over loopback (URL-based
// clientConfig), the way the operator's injector will be tested.
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { waitFor } from './process.ts';
import { createTestNamespace, kubeClients, uniqueName, type KubeClients } from '../support/kube.ts';

interface AdmissionRequest {
  uid: string;
  operation: string;
  namespace: string;
  object: { metadata: { name: string; labels?: Record<string, string> } };
}

describe('admission webhooks on loopback', () => {
  let kube: KubeClients;
  let namespace: string;
  let server: Server;
  let webhookName: string;
  const seen: AdmissionRequest[] = [];

  beforeAll(async () => {
    kube = kubeClients();
    const pki = inject('pkiDir');
    // Answers every review by adding a label, so the test can see the mutation land.
    server = createServer(
      { cert: readFileSync(join(pki, 'webhook.crt')), key: readFileSync(join(pki, 'webhook.key')) },
      (req, res) => {
        let body = '';
        req.setEncoding('utf8');
        req.on('data', (chunk: string) => (body += chunk));
        req.on('end', () => {
          const review = JSON.parse(body) as { request: AdmissionRequest };
          seen.push(review.request);
          const patch = [{ op: 'add', path: '/metadata/labels', value: { mutated: 'yes' } }];
          res.setHeader('content-type', 'application/json');
          res.end(
            JSON.stringify({
              apiVersion: 'admission.k8s.io/v1',
              kind: 'AdmissionReview',
              response: {
                uid: review.request.uid,
                allowed: true,
                patchType: 'JSONPatch',
                patch: Buffer.from(JSON.stringify(patch)).toString('base64'),
              },
            }),
          );
        });
      },
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;

    webhookName = uniqueName('hookgate-test');
    namespace = await createTestNamespace(kube.core, 'admission', { 'hookgate-test': webhookName });
    await kube.admission.createMutatingWebhookConfiguration({
      body: {
        metadata: { name: webhookName },
        webhooks: [
          {
            name: 'label.hookgate.test',
            admissionReviewVersions: ['v1'],
            sideEffects: 'None',
            failurePolicy: 'Fail',
            timeoutSeconds: 5,
            clientConfig: {
              url: `https://127.0.0.1:${port}/mutate`,
              caBundle: Buffer.from(readFileSync(join(pki, 'ca.crt'))).toString('base64'),
            },
            rules: [
              {
                operations: ['CREATE'],
                apiGroups: [''],
                apiVersions: ['v1'],
                resources: ['configmaps'],
              },
            ],
            // Only this test's namespace, so other tests sharing the API server are untouched.
            namespaceSelector: { matchLabels: { 'hookgate-test': webhookName } },
          },
        ],
      },
    });
  });

  afterAll(async () => {
    await kube.admission.deleteMutatingWebhookConfiguration({ name: webhookName });
    await kube.core.deleteNamespace({ name: namespace });
    await new Promise((resolve) => server.close(resolve));
  });

  it('calls the webhook over TLS and applies its patch', async () => {
    // The API server picks up a new webhook configuration within a moment: create until it does.
    let attempt = 0;
    const mutated = await waitFor(
      'a ConfigMap mutated by the webhook',
      async () => {
        const created = await kube.core.createNamespacedConfigMap({
          namespace,
          body: { metadata: { name: `probe-${attempt++}` }, data: { a: 'b' } },
        });
        return created.metadata?.labels?.['mutated'] === 'yes' ? created : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    const review = seen.find((r) => r.object.metadata.name === mutated.metadata?.name);
    expect(review).toMatchObject({ operation: 'CREATE', namespace });
    expect(mutated.data).toEqual({ a: 'b' });
  });
});

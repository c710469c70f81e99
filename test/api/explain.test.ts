// `kubectl explain` and `kubectl get` read the CRDs the way an engineer on call would: the
// descriptions written in the zod schemas, short names, the hookgate category, printer columns.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { serverSideApply } from '../cluster/apply.ts';
import { kubectlPath } from '../cluster/controlplane.ts';
import { createTestNamespace, kubeClients, type KubeClients } from '../support/kube.ts';

const run = promisify(execFile);
const kubectl = async (...args: string[]): Promise<string> =>
  (await run(kubectlPath(), ['--kubeconfig', inject('kubeconfig'), ...args])).stdout;

describe('kubectl', () => {
  let kube: KubeClients;
  let namespace: string;
  beforeAll(async () => {
    kube = kubeClients();
    namespace = await createTestNamespace(kube.core, 'kubectl');
  });
  afterAll(async () => {
    await kube.core.deleteNamespace({ name: namespace });
  });

  it('explains webhookendpoint.spec.signing with the schema descriptions', async () => {
    const out = await kubectl('explain', 'webhookendpoint.spec.signing');
    expect(out).toContain('GROUP:      hookgate.io');
    expect(out).toContain('How the sidecar signs webhooks sent to this endpoint.');
    expect(out).toMatch(/previousSecrets\s+<\[\]Object>/);
    expect(out).toContain('Key rotation: every webhook is also signed with these secrets');
    expect(out).toMatch(/scheme\s+<string>\s+enum: standard-webhooks, github, hmac/);
  });

  it('explains status.deliveries, the delivery health the sidecars report', async () => {
    const out = await kubectl('explain', 'webhookendpoint.status.deliveries');
    expect(out).toContain('Delivery health reported by the sidecars every few seconds');
    expect(out).toMatch(/successRate\s+<string>/);
    expect(out).toMatch(/circuit\s+<string> -required-\s+enum: closed, open, half-open/);
    const lastFailure = await kubectl('explain', 'webhookendpoint.status.deliveries.lastFailure');
    expect(lastFailure).toMatch(/Never a body, URL or\s+secret\./);
  });

  it('knows the short names and the hookgate category, and prints the columns on call needs', async () => {
    await serverSideApply(
      kube.kubeConfig,
      {
        apiVersion: 'hookgate.io/v1alpha1',
        kind: 'WebhookEndpoint',
        metadata: { name: 'orders' },
        spec: {
          direction: 'Egress',
          url: 'https://hooks.example.com/orders',
          eventTypes: ['order.*', 'invoice.paid'],
          paused: true,
        },
      },
      { fieldManager: 'hookgate-test', namespace },
    );
    const whe = await kubectl('get', 'whe', '-n', namespace);
    expect(whe.split('\n')[0]).toMatch(
      /^NAME\s+DIRECTION\s+URL\s+PATH\s+EVENTS\s+POLICY\s+READY\s+HEALTHY\s+REASON\s+PAUSED\s+SUCCESS\s+AGE$/,
    );
    // Paused (planned maintenance) shows on the line; Disabled shows under REASON.
    expect(whe).toMatch(/\strue\s+\d+s$/m);
    expect(whe).toMatch(/^orders\s+Egress\s+https:\/\/hooks\.example\.com\/orders\s/m);
    // What an endpoint subscribes to, as the API server prints a list column.
    expect(whe).toContain('["order.*","invoice.paid"]');
    const category = await kubectl('get', 'hookgate', '-n', namespace, '-o', 'name');
    expect(category.trim()).toBe('webhookendpoint.hookgate.io/orders');
    // kubectl reports "No resources found" on stderr: stdout stays empty, the short name resolved.
    expect(await kubectl('get', 'whp', '-n', namespace)).toBe('');
  });
});

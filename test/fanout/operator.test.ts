// From resources to fan-out: subscriptions, a filter, labels, a policy's fan-out cap and ingress
// routes applied to the real API server, compiled by the real operator (under its shipped RBAC),
// and the published config run by a real egress server against real receivers.
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { Webhook } from 'standardwebhooks';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { createLogger } from '../../common/log.ts';
import { startEgressServer } from '../../sidecar/egress/server.ts';
import { startReceiver, type Receiver } from '../egress/harness.ts';
import { createTestNamespace, kubeClients } from '../support/kube.ts';
import {
  apply,
  condition,
  createOperatorIdentity,
  endpointManifest,
  hookgatePath,
  loadPublished,
  policyManifest,
  read,
  secretManifest,
  startOperator,
  whsec,
  type OperatorIdentity,
  type RunningOperator,
} from '../operator/support.ts';

const poll = { timeout: 30_000, interval: 200 };

describe('operator → sidecar: fan-out configured with resources', () => {
  let adminConfig: KubeConfig;
  let identity: OperatorIdentity;
  let ns: string;
  let running: RunningOperator | undefined;
  const open: { close(): Promise<void> }[] = [];

  beforeAll(async () => {
    const kube = kubeClients();
    adminConfig = kube.kubeConfig;
    identity = await createOperatorIdentity(adminConfig, join(inject('pkiDir'), 'ca.crt'));
    ns = await createTestNamespace(kube.core, 'fanout-op');
    running = await startOperator(identity, [ns]);
  });
  afterEach(async () => {
    for (const c of open.splice(0)) await c.close();
  });
  afterAll(async () => {
    await running?.stop();
    await kubeClients().core.deleteNamespace({ name: ns });
    await identity.remove();
  });

  it('publishes subscriptions and routes, and the sidecar fans out as the resources say', async () => {
    const receivers: Receiver[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await startReceiver();
      receivers.push(r);
      open.push(r);
    }
    const [acme, globex, initech] = receivers as [Receiver, Receiver, Receiver];
    for (const [i, name] of ['acme', 'globex', 'initech'].entries())
      await apply(adminConfig, secretManifest(ns, `${name}-signing`, { secret: whsec(i + 1) }));
    await apply(adminConfig, secretManifest(ns, 'github-webhook', { secret: 'gh' }));
    await apply(
      adminConfig,
      policyManifest(ns, 'customers', {
        endpointSelector: { matchExpressions: [{ key: 'customer', operator: 'Exists' }] },
        destinations: { allowedCIDRs: ['127.0.0.0/8'] },
        fanOut: { maxEndpoints: 10 },
      }),
    );
    const egress = (url: string, secret: string, extra: Record<string, unknown>) => ({
      direction: 'Egress',
      url: `${url}/hook`,
      signing: { secretRef: { name: secret } },
      ...extra,
    });
    await apply(
      adminConfig,
      endpointManifest(ns, 'acme', egress(acme.url, 'acme-signing', { eventTypes: ['order.*'] }), {
        customer: 'acme',
      }),
    );
    await apply(
      adminConfig,
      endpointManifest(
        ns,
        'globex',
        egress(globex.url, 'globex-signing', {
          eventTypes: ['*'],
          filter: '$.data.amount >= 1000',
        }),
        { customer: 'globex' },
      ),
    );
    await apply(
      adminConfig,
      endpointManifest(
        ns,
        'initech',
        egress(initech.url, 'initech-signing', { eventTypes: ['invoice.paid'] }),
        { customer: 'initech' },
      ),
    );
    await apply(
      adminConfig,
      endpointManifest(ns, 'github', {
        direction: 'Ingress',
        path: '/github',
        verify: { scheme: 'github', secretRef: { name: 'github-webhook' } },
        forward: { routes: [{ eventTypes: ['push'], port: 9001 }], unrouted: 'refuse' },
      }),
    );

    await expect
      .poll(async () => {
        const states = await Promise.all(
          ['acme', 'globex', 'initech', 'github'].map(async (name) => {
            const object = await read(adminConfig, hookgatePath(ns, 'webhookendpoints', name));
            return condition(object, 'Ready')?.status;
          }),
        );
        return states.every((s) => s === 'True');
      }, poll)
      .toBe(true);
    const published = await loadPublished(adminConfig, ns);
    const config = published!.loaded.config;
    expect(config.endpoints.find((e) => e.name === 'globex')).toMatchObject({
      eventTypes: ['*'],
      filter: '$.data.amount >= 1000',
      labels: { customer: 'globex' },
      policy: { name: 'customers', fanOut: { maxEndpoints: 10 } },
    });
    expect(config.ingress[0]!.forward).toMatchObject({
      routes: [{ eventTypes: ['push'], port: 9001 }],
      unrouted: 'refuse',
    });

    const server = await startEgressServer('127.0.0.1', 0, {
      config: () => published!.loaded,
      registry: new Registry(),
      log: createLogger({ test: 'fanout-operator' }, 'error'),
    });
    open.push({ close: () => server.close(100) });
    const res = await fetch(`http://127.0.0.1:${server.port}/_events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'hookgate-event-type': 'order.created' },
      body: JSON.stringify({ type: 'order.created', data: { amount: 50 } }),
    });
    expect(res.status).toBe(200);
    const answer = (await res.json()) as { deliveries: { endpoint: string }[]; filtered: number };
    // acme subscribes to order.*; globex's filter does not hold for 50; initech wants invoices.
    expect(answer.deliveries.map((d) => d.endpoint)).toEqual(['acme']);
    expect(answer.filtered).toBe(1);
    const seen = acme.received[0]!;
    expect(() =>
      new Webhook(whsec(1)).verify(seen.body, seen.headers as Record<string, string>),
    ).not.toThrow();
    expect(globex.received).toHaveLength(0);
    expect(initech.received).toHaveLength(0);
  });
});

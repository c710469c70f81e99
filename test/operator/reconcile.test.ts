// The operator against the real API server, running under its shipped RBAC: what people apply
// turns into the published config and Secret, and every resource's status says what happened.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { KubeConfig } from '@kubernetes/client-node';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { adminTokenFor, adminTokens } from '../../operator/console/admin-token.ts';
import type { KubeObject } from '../../operator/kube/types.ts';
import { CONFIG_MAP_NAME, GENERATION_ANNOTATION, SECRET_NAME } from '../../operator/names.ts';
import { kubectlPath } from '../cluster/controlplane.ts';
import { createTestNamespace, kubeClients, type KubeClients } from '../support/kube.ts';
import {
  admin,
  apply,
  condition,
  createOperatorIdentity,
  endpointManifest,
  eventsFor,
  hookgatePath,
  loadPublished,
  policyManifest,
  read,
  secretManifest,
  startOperator,
  whsec,
  type OperatorIdentity,
  type RunningOperator,
} from './support.ts';

const execFileAsync = promisify(execFile);
const poll = { timeout: 20_000, interval: 100 };

describe('hookgate-operator reconciling a namespace', () => {
  let kube: KubeClients;
  let adminConfig: KubeConfig;
  let identity: OperatorIdentity;
  let ns: string;
  let running: RunningOperator | undefined;

  beforeAll(async () => {
    kube = kubeClients();
    adminConfig = kube.kubeConfig;
    identity = await createOperatorIdentity(adminConfig, join(inject('pkiDir'), 'ca.crt'));
  });
  afterAll(async () => {
    await identity.remove();
  });
  beforeEach(async () => {
    ns = await createTestNamespace(kube.core, 'op');
    running = await startOperator(identity, [ns]);
  });
  afterEach(async () => {
    await running?.stop();
    running = undefined;
    await kube.core.deleteNamespace({ name: ns });
  });

  const endpoint = (name: string): Promise<KubeObject | undefined> =>
    read(adminConfig, hookgatePath(ns, 'webhookendpoints', name));
  const policy = (name: string): Promise<KubeObject | undefined> =>
    read(adminConfig, hookgatePath(ns, 'webhookpolicies', name));
  const status = async (
    kind: 'webhookendpoints' | 'webhookpolicies',
    name: string,
  ): Promise<Record<string, unknown> | undefined> =>
    (await read(adminConfig, hookgatePath(ns, kind, name)))?.['status'] as
      Record<string, unknown> | undefined;
  const published = (): ReturnType<typeof loadPublished> => loadPublished(adminConfig, ns);
  const generationOf = async (): Promise<number | undefined> =>
    (await published())?.loaded.config.generation;

  it('publishes an endpoint with no policy under the built-in defaults; kubectl wait sees Ready', async () => {
    await apply(adminConfig, secretManifest(ns, 'orders-signing', { secret: whsec(1) }));
    await apply(
      adminConfig,
      endpointManifest(
        ns,
        'orders',
        {
          direction: 'Egress',
          url: 'https://hooks.example.com/orders',
          signing: { secretRef: { name: 'orders-signing' } },
          headers: { 'X-Tenant': 'acme' },
        },
        { customer: 'acme' },
      ),
    );
    await execFileAsync(kubectlPath(), [
      `--kubeconfig=${inject('kubeconfig')}`,
      'wait',
      '--for=condition=Ready',
      `--namespace=${ns}`,
      'webhookendpoint/orders',
      '--timeout=30s',
    ]);

    const config = (await published())!;
    expect(config.loaded.config.generation).toBe(1);
    const [entry] = config.loaded.config.endpoints;
    expect(entry).toMatchObject({
      name: 'orders',
      url: 'https://hooks.example.com/orders',
      labels: { customer: 'acme' },
      headers: { 'X-Tenant': 'acme' },
      // Built-in defaults, as the CRD descriptions state them.
      policy: { timeout: '10s', retry: { maxAttempts: 3 }, maxPayloadBytes: 1_048_576 },
    });
    expect(entry?.policy.name).toBeUndefined();
    // The sidecar reads the key from the mounted copy: the value people put in their Secret.
    expect(config.loaded.secret(entry!.signing.secrets[0]!.source)).toBe(whsec(1));
    expect(config.configMap.metadata.annotations?.[GENERATION_ANNOTATION]).toBe('1');

    const st = await status('webhookendpoints', 'orders');
    expect(st).toMatchObject({ observedGeneration: 1, configGeneration: 1 });
    expect(st?.['policy']).toBeUndefined();
    const object = await endpoint('orders');
    expect(condition(object, 'Accepted')).toMatchObject({ status: 'True', reason: 'Accepted' });
    expect(condition(object, 'Ready')).toMatchObject({ status: 'True', reason: 'Published' });
    await expect
      .poll(
        async () => (await eventsFor(adminConfig, ns, 'orders')).map((e) => [e.type, e.reason]),
        poll,
      )
      .toEqual([['Normal', 'Published']]);

    // Owned for garbage collection: the ConfigMap by the resources, the Secret by the ConfigMap.
    expect(config.configMap.metadata.ownerReferences).toEqual([
      expect.objectContaining({
        kind: 'WebhookEndpoint',
        name: 'orders',
        uid: object?.metadata.uid,
      }) as unknown,
    ]);
    expect(config.secret.metadata.ownerReferences).toEqual([
      expect.objectContaining({
        kind: 'ConfigMap',
        name: CONFIG_MAP_NAME,
        controller: true,
      }) as unknown,
    ]);
  });

  it('hands the sidecars a Redis URL through the published Secret, never the ConfigMap', async () => {
    await running?.stop();
    const url = 'redis://:s3cret-pass@redis.hookgate-system:6379/0';
    running = await startOperator(identity, [ns], { sidecarRedisUrl: url });
    await apply(
      adminConfig,
      endpointManifest(ns, 'plain', { direction: 'Egress', url: 'https://hooks.example.com/p' }),
    );
    await expect
      .poll(async () => (await published()) !== undefined, { timeout: 30_000 })
      .toBe(true);
    const { secret, configMap } = (await published())!;
    const data = secret['data'] as Record<string, string>;
    expect(Buffer.from(data['redis-url']!, 'base64').toString()).toBe(url);
    expect(JSON.stringify(configMap)).not.toContain('s3cret-pass');
  });

  it('publishes the namespace its own sidecar admin token in the Secret, never the ConfigMap', async () => {
    await running?.stop();
    const key = 'console-key-for-the-reconcile-test';
    running = await startOperator(identity, [ns], { sidecarAdminTokens: adminTokens(key) });
    await apply(
      adminConfig,
      endpointManifest(ns, 'tokened', { direction: 'Egress', url: 'https://hooks.example.com/t' }),
    );
    const token = adminTokenFor(key, ns);
    await expect
      .poll(async () => {
        const data = (await published())?.secret['data'] as Record<string, string> | undefined;
        return data?.['admin-token'] === undefined
          ? undefined
          : Buffer.from(data['admin-token'], 'base64').toString();
      }, poll)
      .toBe(token);
    expect(JSON.stringify((await published())!.configMap)).not.toContain(token);
  });

  it('follows updates and deletes; only what changed is rewritten', async () => {
    const egress = (url: string): Record<string, unknown> => ({ direction: 'Egress', url });
    await apply(adminConfig, endpointManifest(ns, 'a', egress('https://a.example/v1')));
    await expect.poll(() => generationOf(), poll).toBe(1);
    await expect
      .poll(async () => (await status('webhookendpoints', 'a'))?.['configGeneration'], poll)
      .toBe(1);

    await apply(adminConfig, endpointManifest(ns, 'a', egress('https://a.example/v2')));
    await expect
      .poll(async () => (await status('webhookendpoints', 'a'))?.['observedGeneration'], poll)
      .toBe(2);
    expect((await published())?.loaded.config.endpoints.map((e) => e.url)).toEqual([
      'https://a.example/v2',
    ]);
    expect(await status('webhookendpoints', 'a')).toMatchObject({ configGeneration: 2 });

    // A second endpoint: a new generation, and endpoint a's status is not touched.
    const before = (await endpoint('a'))?.metadata.resourceVersion;
    await apply(
      adminConfig,
      endpointManifest(ns, 'b', {
        direction: 'Ingress',
        path: '/b',
        verify: { scheme: 'bearer', secretRef: { name: 'b-token' } },
      }),
    );
    await apply(adminConfig, secretManifest(ns, 'b-token', { secret: 'b-bearer-token' }));
    await expect
      .poll(async () => condition(await endpoint('b'), 'Ready')?.status, poll)
      .toBe('True');
    const both = (await published())!;
    expect(both.loaded.config.ingress.map((i) => [i.name, i.path])).toEqual([['b', '/b']]);
    expect(both.loaded.secret(both.loaded.config.ingress[0]!.verify.secrets[0]!)).toBe(
      'b-bearer-token',
    );
    expect((await endpoint('a'))?.metadata.resourceVersion).toBe(before);

    await admin(adminConfig, 'DELETE', hookgatePath(ns, 'webhookendpoints', 'b'));
    await expect.poll(async () => (await published())?.loaded.config.ingress.length, poll).toBe(0);
    expect((await published())?.loaded.config.endpoints.map((e) => e.name)).toEqual(['a']);
  });

  it('applies the oldest selecting policy; the younger reports Conflicted naming it, until it is gone', async () => {
    await apply(
      adminConfig,
      policyManifest(ns, 'zz-old', {
        endpointSelector: {},
        retry: { maxAttempts: 7 },
        timeout: '4s',
      }),
    );
    // creationTimestamp has whole seconds: let the second policy be younger, though first by name.
    await sleep(1100);
    await apply(
      adminConfig,
      policyManifest(ns, 'aa-young', {
        endpointSelector: { matchLabels: { tier: 'gold' } },
        rateLimit: { rate: 5, scope: 'global' },
      }),
    );
    await apply(
      adminConfig,
      endpointManifest(
        ns,
        'gold',
        { direction: 'Egress', url: 'https://gold.example/' },
        { tier: 'gold' },
      ),
    );
    await expect
      .poll(async () => (await status('webhookendpoints', 'gold'))?.['policy'], poll)
      .toBe('zz-old');
    await expect
      .poll(async () => condition(await policy('aa-young'), 'Conflicted')?.status, poll)
      .toBe('True');
    const young = await policy('aa-young');
    expect(condition(young, 'Conflicted')).toMatchObject({
      reason: 'Overridden',
      message: expect.stringContaining(
        'the older WebhookPolicy "zz-old" is in effect for gold',
      ) as unknown,
    });
    expect(condition(young, 'Ready')?.status).toBe('True');
    expect(young?.['status']).toMatchObject({ selectedEndpoints: 0 });
    expect((await policy('zz-old'))?.['status']).toMatchObject({ selectedEndpoints: 1 });
    expect(condition(await policy('zz-old'), 'Conflicted')?.status).toBe('False');
    expect((await published())?.loaded.config.endpoints[0]?.policy).toMatchObject({
      name: 'zz-old',
      timeout: '4s',
      retry: { maxAttempts: 7 },
    });
    await expect
      .poll(
        async () => (await eventsFor(adminConfig, ns, 'aa-young')).map((e) => [e.type, e.reason]),
        poll,
      )
      .toContainEqual(['Warning', 'Overridden']);

    await admin(adminConfig, 'DELETE', hookgatePath(ns, 'webhookpolicies', 'zz-old'));
    await expect
      .poll(async () => (await status('webhookendpoints', 'gold'))?.['policy'], poll)
      .toBe('aa-young');
    await expect
      .poll(async () => condition(await policy('aa-young'), 'Conflicted')?.status, poll)
      .toBe('False');
    expect((await policy('aa-young'))?.['status']).toMatchObject({ selectedEndpoints: 1 });
    expect((await published())?.loaded.config.endpoints[0]?.policy).toMatchObject({
      name: 'aa-young',
      rateLimit: { rate: 5, scope: 'global' },
      timeout: '10s',
    });
  });

  it('rotates a Secret: the new value is published under a new generation, the old copy removed', async () => {
    await apply(adminConfig, secretManifest(ns, 'signing', { secret: whsec(1) }));
    await apply(
      adminConfig,
      endpointManifest(ns, 'orders', {
        direction: 'Egress',
        url: 'https://hooks.example.com/',
        signing: { secretRef: { name: 'signing' } },
      }),
    );
    await expect
      .poll(async () => condition(await endpoint('orders'), 'Ready')?.status, poll)
      .toBe('True');
    const first = (await published())!;
    const firstTransition = condition(await endpoint('orders'), 'Ready')?.lastTransitionTime;

    await apply(adminConfig, secretManifest(ns, 'signing', { secret: whsec(2) }));
    await expect.poll(() => generationOf(), poll).toBe(first.loaded.config.generation + 1);
    const second = (await published())!;
    const source = second.loaded.config.endpoints[0]!.signing.secrets[0]!.source;
    expect(second.loaded.secret(source)).toBe(whsec(2));
    expect(Object.keys(second.secret['data'] as object)).toHaveLength(1);
    await expect
      .poll(async () => (await status('webhookendpoints', 'orders'))?.['configGeneration'], poll)
      .toBe(second.loaded.config.generation);
    // Still Ready throughout: the transition time does not move.
    expect(condition(await endpoint('orders'), 'Ready')?.lastTransitionTime).toBe(firstTransition);
  });

  it('refuses an endpoint with a dangling Secret reference, publishes the rest, and recovers', async () => {
    await apply(
      adminConfig,
      endpointManifest(ns, 'fine', { direction: 'Egress', url: 'https://fine.example/' }),
    );
    await apply(
      adminConfig,
      endpointManifest(ns, 'dangling', {
        direction: 'Egress',
        url: 'https://dangling.example/',
        signing: { scheme: 'github', secretRef: { name: 'not-yet', key: 'token' } },
      }),
    );
    await expect
      .poll(async () => condition(await endpoint('dangling'), 'Accepted')?.status, poll)
      .toBe('False');
    const object = await endpoint('dangling');
    expect(condition(object, 'Accepted')).toMatchObject({
      reason: 'SecretNotFound',
      message: `Secret "not-yet" (spec.signing.secretRef) does not exist in namespace "${ns}"`,
    });
    expect(condition(object, 'Ready')).toMatchObject({ status: 'False', reason: 'NotAccepted' });
    expect((await published())?.loaded.config.endpoints.map((e) => e.name)).toEqual(['fine']);
    await expect
      .poll(
        async () => (await eventsFor(adminConfig, ns, 'dangling')).map((e) => [e.type, e.reason]),
        poll,
      )
      .toContainEqual(['Warning', 'SecretNotFound']);

    // The wrong key first: the reason names the key, never a value.
    await apply(adminConfig, secretManifest(ns, 'not-yet', { secret: 'gh-value-123' }));
    await expect
      .poll(async () => condition(await endpoint('dangling'), 'Accepted')?.reason, poll)
      .toBe('SecretKeyNotFound');
    expect(condition(await endpoint('dangling'), 'Accepted')?.message).toBe(
      'Secret "not-yet" has no key "token" (spec.signing.secretRef)',
    );
    await apply(
      adminConfig,
      secretManifest(ns, 'not-yet', { secret: 'gh-value-123', token: 'gh-value-123' }),
    );
    await expect
      .poll(async () => condition(await endpoint('dangling'), 'Ready')?.status, poll)
      .toBe('True');
    expect((await published())?.loaded.config.endpoints.map((e) => e.name)).toEqual([
      'dangling',
      'fine',
    ]);
    for (const e of await eventsFor(adminConfig, ns, 'dangling'))
      expect(e.note).not.toContain('gh-value-123');
  });

  it('converges with zero writes when restarted and nothing changed', async () => {
    await apply(adminConfig, secretManifest(ns, 'k', { secret: whsec(3) }));
    await apply(adminConfig, policyManifest(ns, 'p-old', { endpointSelector: {} }));
    await sleep(1100);
    await apply(adminConfig, policyManifest(ns, 'p-new', { endpointSelector: {} }));
    for (const name of ['one', 'two', 'three']) {
      await apply(
        adminConfig,
        endpointManifest(ns, name, {
          direction: 'Egress',
          url: `https://${name}.example/`,
          signing: { secretRef: { name: 'k' } },
        }),
      );
    }
    await apply(
      adminConfig,
      endpointManifest(ns, 'broken', {
        direction: 'Egress',
        url: 'https://x.example/',
        signing: { secretRef: { name: 'gone' } },
      }),
    );
    await expect
      .poll(
        async () =>
          Promise.all(
            ['one', 'two', 'three'].map(async (n) => condition(await endpoint(n), 'Ready')?.status),
          ),
        poll,
      )
      .toEqual(['True', 'True', 'True']);
    await expect
      .poll(async () => condition(await policy('p-new'), 'Conflicted')?.status, poll)
      .toBe('True');
    await expect.poll(() => running!.operator.idle, poll).toBe(true);

    const versions = async (): Promise<(string | undefined)[]> =>
      Promise.all(
        [
          `/api/v1/namespaces/${ns}/configmaps/${CONFIG_MAP_NAME}`,
          `/api/v1/namespaces/${ns}/secrets/${SECRET_NAME}`,
          ...['one', 'two', 'three', 'broken'].map((n) => hookgatePath(ns, 'webhookendpoints', n)),
          ...['p-old', 'p-new'].map((n) => hookgatePath(ns, 'webhookpolicies', n)),
        ].map(async (path) => (await read(adminConfig, path))?.metadata.resourceVersion),
      );
    const eventCount = async (): Promise<number> =>
      (
        await admin<{ items: unknown[] }>(
          adminConfig,
          'GET',
          `/apis/events.k8s.io/v1/namespaces/${ns}/events`,
        )
      ).items.length;
    const before = await versions();
    const eventsBefore = await eventCount();
    await running!.stop();

    running = await startOperator(identity, [ns]);
    await expect.poll(() => running!.operator.idle, poll).toBe(true);
    const reconciled = await running.registry.getSingleMetricAsString(
      'hookgate_operator_reconciles_total',
    );
    expect(reconciled).toMatch(/result="unchanged"} 1$/m);
    expect(running.writes).toEqual([]);
    expect(await versions()).toEqual(before);
    expect(await eventCount()).toBe(eventsBefore);
  });

  // The garbage collector notices new CRDs only on its 30 s discovery cycle: on a fresh control
  // plane this can take most of a minute.
  it('lets the garbage collector remove the ConfigMap and Secret with the last resource', async () => {
    await apply(
      adminConfig,
      endpointManifest(ns, 'only', { direction: 'Egress', url: 'https://only.example/' }),
    );
    await expect.poll(() => generationOf(), poll).toBe(1);
    await admin(adminConfig, 'DELETE', hookgatePath(ns, 'webhookendpoints', 'only'));
    await expect
      .poll(
        async () =>
          [
            await read(adminConfig, `/api/v1/namespaces/${ns}/configmaps/${CONFIG_MAP_NAME}`),
            await read(adminConfig, `/api/v1/namespaces/${ns}/secrets/${SECRET_NAME}`),
          ].every((o) => o === undefined),
        { timeout: 80_000, interval: 500 },
      )
      .toBe(true);
    // The operator does not bring them back for a namespace with nothing in it.
    expect(running?.writes.filter((w) => w.includes('/configmaps/'))).toHaveLength(1);
  }, 90_000);
});

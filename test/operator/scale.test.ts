// The operator at the edges of scale, against the real API server under its shipped RBAC: a bulk
// apply is summarized in one Event instead of one per object, and a namespace whose config nears
// or passes what a ConfigMap holds says so in every status and in Events, keeps the last config
// that fitted in force, and publishes again once it fits.
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import type { KubeObject } from '../../operator/kube/types.ts';
import { CONFIG_MAP_NAME, GENERATION_ANNOTATION } from '../../operator/names.ts';
import { createTestNamespace, kubeClients, type KubeClients } from '../support/kube.ts';
import {
  admin,
  apply,
  condition,
  createOperatorIdentity,
  endpointManifest,
  eventsFor,
  hookgatePath,
  read,
  secretManifest,
  startOperator,
  whsec,
  type OperatorIdentity,
  type RunningOperator,
} from './support.ts';

const poll = { timeout: 30_000, interval: 200 };

/** Runs `tasks` with at most `limit` at once. */
async function pool(tasks: (() => Promise<unknown>)[], limit: number): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < tasks.length) await tasks[next++]!();
    }),
  );
}
const SIGNING = whsec(9);

describe('hookgate-operator at scale', () => {
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
    ns = await createTestNamespace(kube.core, 'op-scale');
    await apply(adminConfig, secretManifest(ns, 'k', { secret: SIGNING }));
  });
  afterEach(async () => {
    await running?.stop();
    running = undefined;
    await kube.core.deleteNamespace({ name: ns });
  });

  /** Endpoint `name`, carrying `blobs` static headers of 4,000 bytes (a big config, quickly). */
  const bigEndpoint = (name: string, blobs: number): Parameters<typeof apply>[1] =>
    endpointManifest(ns, name, {
      direction: 'Egress',
      url: `https://${name}.example/hook`,
      signing: { secretRef: { name: 'k' } },
      headers: Object.fromEntries(
        Array.from({ length: blobs }, (_, i) => [`X-Blob-${i}`, String(i).repeat(4000)]),
      ),
    });
  const createAll = (names: string[], blobs: number): Promise<void> =>
    pool(
      names.map((n) => () => apply(adminConfig, bigEndpoint(n, blobs))),
      16,
    );
  const endpoint = (name: string): Promise<KubeObject | undefined> =>
    read(adminConfig, hookgatePath(ns, 'webhookendpoints', name));
  const ready = async (name: string): Promise<(string | undefined)[]> => {
    const c = condition(await endpoint(name), 'Ready');
    return [c?.status, c?.reason];
  };
  const configMap = (): Promise<KubeObject | undefined> =>
    read(adminConfig, `/api/v1/namespaces/${ns}/configmaps/${CONFIG_MAP_NAME}`);
  const generation = async (): Promise<string | undefined> =>
    (await configMap())?.metadata.annotations?.[GENERATION_ANNOTATION];
  /** `[type, reason]` of the Events about the published ConfigMap. */
  const configMapEvents = async (): Promise<string[][]> =>
    (await eventsFor(adminConfig, ns, CONFIG_MAP_NAME)).map((e) => [e.type, e.reason]);
  const names = (from: number, to: number, prefix = 'ep'): string[] =>
    Array.from({ length: to - from }, (_, i) => `${prefix}-${String(from + i).padStart(3, '0')}`);

  it('summarizes a bulk first publish in one Event about the ConfigMap, not one per object', async () => {
    const bulk = names(0, 30);
    await createAll(bulk, 0);
    // Started after the apply: the first reconcile publishes all thirty at once.
    running = await startOperator(identity, [ns]);
    await expect
      .poll(async () => (await Promise.all(bulk.map(ready))).map(([s]) => s), poll)
      .toEqual(bulk.map(() => 'True'));
    await expect.poll(() => running!.operator.idle, poll).toBe(true);
    const aboutConfigMap = await eventsFor(adminConfig, ns, CONFIG_MAP_NAME);
    expect(aboutConfigMap.map((e) => [e.type, e.reason])).toEqual([['Normal', 'Published']]);
    expect(aboutConfigMap[0]!.note).toBe(
      `30 resources published for the first time in config generation 1 and Ready: ${bulk
        .slice(0, 10)
        .map((n) => `WebhookEndpoint/${n}`)
        .join(', ')} and 20 more`,
    );
    for (const name of bulk.slice(0, 3)) expect(await eventsFor(adminConfig, ns, name)).toEqual([]);

    // One more, applied alone, gets its own Event as before.
    await createAll(['single'], 0);
    await expect
      .poll(async () => (await eventsFor(adminConfig, ns, 'single')).map((e) => e.reason), poll)
      .toEqual(['Published']);
  });

  it('says near and over the ConfigMap limit in status and Events, keeps the last config, and publishes again once it fits', async () => {
    // ~16 KiB per endpoint: 55 of them are past 800 KiB, 70 are over 1 MiB.
    const first = names(0, 55);
    await createAll(first, 4);
    running = await startOperator(identity, [ns]);
    await expect
      .poll(async () => (await Promise.all(first.map(ready))).map(([, reason]) => reason), poll)
      .toEqual(first.map(() => 'ConfigNearSizeLimit'));
    expect(await ready(first[0]!)).toEqual(['True', 'ConfigNearSizeLimit']);
    expect(condition(await endpoint(first[0]!), 'Ready')?.message).toContain(
      `the sidecar config of namespace ${ns} is past 800 KiB of the 1,024 KiB a ConfigMap holds`,
    );
    expect(await generation()).toBe('1');
    await expect.poll(configMapEvents, poll).toContainEqual(['Warning', 'ConfigNearSizeLimit']);

    // Over the limit: nothing new is published; what was published stays in force and says so.
    // Applied while the operator is stopped, so the fifteen arrive in one reconcile.
    await expect.poll(() => running!.operator.idle, poll).toBe(true);
    await running.stop();
    const extra = names(55, 70, 'more');
    await createAll(extra, 4);
    running = await startOperator(identity, [ns]);
    await expect
      .poll(async () => (await Promise.all(extra.map(ready))).map(([s, r]) => `${s}/${r}`), poll)
      .toEqual(extra.map(() => 'False/ConfigTooLarge'));
    const refused = condition(await endpoint(extra[0]!), 'Ready');
    expect(refused?.message).toContain(`is over the 1,024 KiB a ConfigMap holds`);
    expect(refused?.message).toContain('config generation 1 stays in force for every sidecar');
    await expect.poll(() => ready(first[0]!), poll).toEqual(['True', 'ConfigTooLarge']);
    expect((await endpoint(first[0]!))?.['status']).toMatchObject({ configGeneration: 1 });
    expect(await generation()).toBe('1');
    expect(JSON.stringify(await configMap())).not.toContain('more-055');
    await expect.poll(configMapEvents, poll).toContainEqual(['Warning', 'ConfigTooLarge']);
    const warnings = (await eventsFor(adminConfig, ns, CONFIG_MAP_NAME)).filter(
      (e) => e.reason === 'ConfigTooLarge',
    );
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.note).toMatch(/\(\d+ KiB of data, \d+ KiB as an object\)$/);
    // Each refused endpoint has its own Warning; the ones still in force have none for the size.
    await expect
      .poll(async () => (await eventsFor(adminConfig, ns, extra[0]!)).map((e) => e.reason), poll)
      .toEqual(['ConfigTooLarge']);
    expect((await eventsFor(adminConfig, ns, first[0]!)).map((e) => e.reason)).toEqual([]);

    // Back under the limit (and under 800 KiB): published in a new generation, warnings gone.
    await pool(
      [...extra, ...first.slice(40)].map(
        (n) => () => admin(adminConfig, 'DELETE', hookgatePath(ns, 'webhookendpoints', n)),
      ),
      16,
    );
    await expect.poll(() => generation(), poll).toBe('2');
    await expect.poll(() => ready(first[0]!), poll).toEqual(['True', 'Published']);
    await expect
      .poll(
        async () =>
          (await eventsFor(adminConfig, ns, CONFIG_MAP_NAME))
            .filter((e) => e.note.startsWith('the sidecar config fits again'))
            .map((e) => [e.type, e.reason]),
        poll,
      )
      .toEqual([['Normal', 'Published']]);
    const all = await admin<{ items: { note: string }[] }>(
      adminConfig,
      'GET',
      `/apis/events.k8s.io/v1/namespaces/${ns}/events`,
    );
    for (const e of all.items) expect(e.note).not.toContain(SIGNING);
  });
});

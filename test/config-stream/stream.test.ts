// Issue 20, end to end against the real API server: operator processes (main.ts) serve the config
// stream behind a round-robin proxy standing for their Service; real sidecar processes hold
// TokenRequest tokens bound to real Pod objects. What is asserted is the order of events: the
// sidecar's fallback file (the mounted ConfigMap) never changes, so a newer generation in force
// can only have come through the stream; generations seen by a sidecar never go down while it
// moves between two replicas; a killed operator leaves the sidecar enforcing what it had.
//
// One streamed sidecar process runs at a time (the orders pod's); the other workload is checked
// through the stream itself with its own token. Heavy steps get 120 s: the whole suite runs many
// files side by side on two cores, and reconnects back off with jitter.
import { readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parsePublishedJson } from '../../operator/config-server/scope.ts';
import { CONFIG_MAP_NAME, GENERATION_ANNOTATION } from '../../operator/names.ts';
import { waitFor } from '../cluster/process.ts';
import { applyWebhookRbac } from '../inject/support.ts';
import {
  admin,
  apply,
  createOperatorIdentity,
  endpointManifest,
  policyManifest,
  read,
  secretManifest,
  whsec,
  type OperatorIdentity,
} from '../operator/support.ts';
import { createTestNamespace, kubeClients, uniqueName } from '../support/kube.ts';
import {
  createWorkloadPod,
  firstEvent,
  forgerKey,
  podToken,
  resign,
  serviceAccountKey,
  sidecarConfig,
  sidecarMetric,
  startReplica,
  startServiceProxy,
  startStreamedSidecar,
  type Replica,
  type ServiceProxy,
  type StreamedSidecar,
} from './harness.ts';

const poll = { timeout: 40_000, interval: 50 };

describe('the config stream, end to end (issue 20)', { timeout: 120_000 }, () => {
  let adminConfig: KubeConfig;
  let identity: OperatorIdentity;
  let ns: string;
  let proxy: ServiceProxy;
  let caPem: string;
  let url: string;
  const replicas: Replica[] = [];
  const sidecars: StreamedSidecar[] = [];
  const cleanups: (() => Promise<unknown>)[] = [];
  const lease = uniqueName('hookgate-stream');
  const webhookConfig = uniqueName('hookgate-stream-injector');
  const pods: Record<string, { name: string; uid: string; serviceAccount: string }> = {};
  const tokens: Record<string, string> = {};

  const policy = (maxPayloadBytes: number): Promise<void> =>
    apply(
      adminConfig,
      policyManifest(ns, 'limits', {
        endpointSelector: { matchExpressions: [{ key: 'team', operator: 'Exists' }] },
        maxPayloadBytes,
        retry: { maxAttempts: 1 },
        destinations: { allowedCIDRs: ['127.0.0.0/8'] },
      }),
    );
  const published = async (): Promise<number> =>
    Number(
      (await read(adminConfig, `/api/v1/namespaces/${ns}/configmaps/${CONFIG_MAP_NAME}`))?.metadata
        .annotations?.[GENERATION_ANNOTATION] ?? 0,
    );
  /** Changes the policy and resolves with the generation the leader published for it. */
  const changePolicy = async (maxPayloadBytes: number): Promise<number> => {
    const before = await published();
    await policy(maxPayloadBytes);
    return waitFor(
      'a new generation',
      async () => {
        const now = await published();
        return now > before ? now : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 20 },
    );
  };
  /** The sidecar's answer to a 1,000-byte webhook: 413 once a policy limits bodies below it. */
  const send1000 = async (sidecar: StreamedSidecar): Promise<number> =>
    (
      await fetch(`${sidecar.process.egress}/orders`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ pad: 'x'.repeat(990) }),
      })
    ).status;
  const startReplicaNow = async (): Promise<Replica> => {
    const replica = await startReplica({ identity, namespace: ns, lease, webhookConfig });
    replicas.push(replica);
    return replica;
  };
  const startSidecar = async (dir?: string): Promise<StreamedSidecar> => {
    const sidecar = await startStreamedSidecar({
      url,
      caPem,
      token: tokens['orders']!,
      namespace: ns,
      podName: 'orders-0',
      ...(dir === undefined ? {} : { dir }),
    });
    sidecars.push(sidecar);
    return sidecar;
  };

  beforeAll(async () => {
    const kube = kubeClients();
    adminConfig = kube.kubeConfig;
    identity = await createOperatorIdentity(adminConfig, join(inject('pkiDir'), 'ca.crt'));
    cleanups.push(() => identity.remove());
    cleanups.push(await applyWebhookRbac(adminConfig, identity, webhookConfig));
    ns = await createTestNamespace(kube.core, 'stream', { 'hookgate.io/injection': 'enabled' });
    cleanups.push(() => admin(adminConfig, 'DELETE', `/api/v1/namespaces/${ns}`));

    // Two workloads in one namespace, each with its own endpoint and signing secret.
    for (const [workload, byte] of [
      ['orders', 1],
      ['billing', 2],
    ] as const) {
      await apply(adminConfig, secretManifest(ns, `${workload}-signing`, { secret: whsec(byte) }));
      await apply(
        adminConfig,
        endpointManifest(
          ns,
          workload,
          {
            direction: 'Egress',
            url: `https://127.0.0.1:9/${workload}`,
            signing: { secretRef: { name: `${workload}-signing` } },
            workloadSelector: { matchLabels: { app: workload } },
          },
          { team: workload },
        ),
      );
      const pod = await createWorkloadPod(
        adminConfig,
        ns,
        `${workload}-0`,
        { app: workload },
        workload,
      );
      pods[workload] = { name: `${workload}-0`, uid: pod.uid, serviceAccount: workload };
      tokens[workload] = await podToken(adminConfig, ns, workload, pods[workload]);
    }
    await policy(1_048_576);

    proxy = await startServiceProxy();
    cleanups.push(() => proxy.close());
    url = `https://127.0.0.1:${proxy.port}`;
    // Two replicas, as the chart runs them: one leads and publishes, both serve.
    const a = await startReplicaNow();
    const b = await startReplicaNow();
    proxy.backends = [a.configPort, b.configPort];
    const tls = await admin<{ data: Record<string, string> }>(
      adminConfig,
      'GET',
      `/api/v1/namespaces/${identity.namespace}/secrets/hookgate-webhook-tls`,
    );
    caPem = Buffer.from(tls.data['ca.crt']!, 'base64').toString('utf8');
    await waitFor('the first publish', async () => ((await published()) >= 1 ? true : undefined), {
      timeoutMs: 30_000,
    });
  }, 120_000);

  afterAll(async () => {
    for (const s of sidecars) await s.process.kill();
    for (const r of replicas) await r.kill();
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    for (const s of sidecars) rmSync(s.dir, { recursive: true, force: true });
  });

  it('refuses forged, expired, wrong-audience and unbound tokens, saying why and never echoing them', async () => {
    const real = tokens['orders']!;
    const key = serviceAccountKey(inject('pkiDir'));
    const past = Math.floor(Date.now() / 1000) - 3_600;
    const refused: [string, string][] = [
      // Signed by a key the API server does not trust.
      ['forged', resign(real, forgerKey(key), () => undefined)],
      // Signed by the real key, but expired an hour ago.
      [
        'expired',
        resign(real, key, (c) => {
          c['iat'] = past - 600;
          c['nbf'] = past - 600;
          c['exp'] = past;
        }),
      ],
      // A genuine token of the same pod, minted for the API server's audience.
      [
        'wrong audience',
        await podToken(
          adminConfig,
          ns,
          'orders',
          pods['orders']!,
          'https://kubernetes.default.svc',
        ),
      ],
      ['no token', ''],
    ];
    for (const [what, token] of refused) {
      const answer = await firstEvent(proxy.port, caPem, token);
      expect(answer.status, what).toBe(401);
      expect(JSON.parse(answer.body), what).toMatchObject({ status: 401, title: 'Unauthorized' });
      if (token !== '') expect(answer.body, what).not.toContain(token.split('.')[2]);
    }
    // A token whose pod is gone: the API server no longer accepts a token bound to it.
    await createWorkloadPod(adminConfig, ns, 'gone-0', { app: 'orders' }, 'orders');
    const gonePod = await admin<{ metadata: { uid: string } }>(
      adminConfig,
      'GET',
      `/api/v1/namespaces/${ns}/pods/gone-0`,
    );
    const goneToken = await podToken(adminConfig, ns, 'orders', {
      name: 'gone-0',
      uid: gonePod.metadata.uid,
    });
    await admin(adminConfig, 'DELETE', `/api/v1/namespaces/${ns}/pods/gone-0?gracePeriodSeconds=0`);
    await expect
      .poll(async () => (await firstEvent(proxy.port, caPem, goneToken)).status, poll)
      .toBe(401);
  });

  it('gives each workload only its own endpoints and only their secrets', async () => {
    for (const [workload, mine, theirs] of [
      ['orders', whsec(1), whsec(2)],
      ['billing', whsec(2), whsec(1)],
    ] as const) {
      const answer = await firstEvent(proxy.port, caPem, tokens[workload]!);
      expect(answer.status, workload).toBe(200);
      const event = answer.event!;
      expect(event.type).toBe('CONFIG');
      const config = parsePublishedJson(event.config) as { endpoints: { name: string }[] };
      expect(config.endpoints.map((e) => e.name)).toEqual([workload]);
      const values = Object.values(event.secrets).map((v) => Buffer.from(v, 'base64').toString());
      expect(values).toContain(mine);
      expect(values).not.toContain(theirs);
    }
  });

  it('a streamed sidecar enforces a WebhookPolicy change while its mounted file is unchanged', async () => {
    const sidecar = await startSidecar();
    const fallback = readFileSync(join(sidecar.dir, 'sidecar.yaml'), 'utf8');
    const before = await published();
    await expect.poll(async () => (await sidecarConfig(sidecar)).generation, poll).toBe(before);
    expect(await sidecarConfig(sidecar)).toMatchObject({
      source: 'stream',
      endpoints: [{ name: 'orders', policy: 'limits' }],
    });
    // What the sidecar holds on its disk: its own secret only, readable by its user only.
    const snapshot = readFileSync(sidecar.snapshotFile, 'utf8');
    expect(snapshot).toContain(Buffer.from(whsec(1)).toString('base64'));
    expect(snapshot).not.toContain(Buffer.from(whsec(2)).toString('base64'));
    expect(statSync(sidecar.snapshotFile).mode & 0o777).toBe(0o600);
    expect(await send1000(sidecar)).not.toBe(413);

    const changedAt = performance.now();
    await policy(100);
    await expect
      .poll(async () => (await sidecarConfig(sidecar)).generation, poll)
      .toBeGreaterThan(before);
    const enforcedAfterMs = performance.now() - changedAt;
    expect(await send1000(sidecar)).toBe(413);
    // Order of events: the mounted file (the ConfigMap volume) still holds what it held.
    expect(readFileSync(join(sidecar.dir, 'sidecar.yaml'), 'utf8')).toBe(fallback);
    expect(await sidecarMetric(sidecar, 'hookgate_sidecar_config_generation')).toBe(
      await published(),
    );
    // …and so does its readiness probe, for whoever curls it.
    const readyz = await fetch(`${sidecar.process.admin}/readyz`);
    expect(readyz.status).toBe(200);
    expect(await readyz.text()).toBe(
      `ok\nconfig generation ${await published()} from the stream\n`,
    );
    // A figure for the report, not an assertion (polling every 50 ms bounds its precision).
    console.log(
      `config stream: policy change enforced ${enforcedAfterMs.toFixed(0)} ms after apply`,
    );
  });

  it('generations only move forward while the sidecar moves between two replicas', async () => {
    const sidecar = sidecars.at(-1)!;
    const connectsBefore = sidecar.process.logs.filter(
      (l) => l['msg'] === 'config stream connected',
    ).length;
    for (let i = 0; i < 6; i++) {
      // Every other round a change; every round the Service's connections are cut, so the
      // sidecar reconnects to the next replica (round robin), whose caches may lag.
      if (i % 2 === 0) await changePolicy(200 + i);
      proxy.cut();
      await expect
        .poll(
          () => sidecar.process.logs.filter((l) => l['msg'] === 'config stream connected').length,
          poll,
        )
        .toBeGreaterThan(connectsBefore + i);
    }
    const latest = await published();
    await expect.poll(async () => (await sidecarConfig(sidecar)).generation, poll).toBe(latest);
    const reloads = sidecar.process.logs.filter((l) => l['msg'] === 'configuration reloaded');
    expect(reloads.length).toBeGreaterThan(0);
    for (const r of reloads) {
      expect(r['generation'] as number).toBeGreaterThanOrEqual(r['previousGeneration'] as number);
    }
  });

  it('operator killed: the sidecar keeps enforcing its config, and follows a restarted one', async () => {
    const sidecar = sidecars.at(-1)!;
    const held = await changePolicy(100);
    await expect.poll(async () => (await sidecarConfig(sidecar)).generation, poll).toBe(held);
    for (const r of replicas.splice(0)) await r.kill();
    proxy.backends = [];
    proxy.cut();
    await expect
      .poll(() => sidecarMetric(sidecar, 'hookgate_sidecar_config_stream_connected'), poll)
      .toBe(0);
    expect((await fetch(`${sidecar.process.admin}/readyz`)).status).toBe(200);
    expect((await sidecarConfig(sidecar)).generation).toBe(held);
    expect(await send1000(sidecar)).toBe(413);

    const restarted = await startReplicaNow();
    proxy.backends = [restarted.configPort];
    await expect
      .poll(() => sidecarMetric(sidecar, 'hookgate_sidecar_config_stream_connected'), poll)
      .toBe(1);
    await changePolicy(5_000);
    try {
      await expect
        .poll(async () => (await sidecarConfig(sidecar)).generation, poll)
        .toBeGreaterThan(held);
    } catch (err) {
      // Seen once in many runs: say what each side last did, so the next one can be explained.
      const tail = (logs: Record<string, unknown>[]): string =>
        JSON.stringify(logs.filter((l) => l['level'] !== 'debug').slice(-20));
      throw new Error(`sidecar ${tail(sidecar.process.logs)}\noperator ${tail(restarted.logs)}`, {
        cause: err,
      });
    }
    expect(await send1000(sidecar)).not.toBe(413);
  });

  it('a sidecar restarted while the operator is down starts from its persisted config', async () => {
    const previous = sidecars.at(-1)!;
    const held = (await sidecarConfig(previous)).generation;
    for (const r of replicas.splice(0)) await r.kill();
    proxy.backends = [];
    proxy.cut();
    await previous.process.kill();
    // The same pod's emptyDir: the container restarts, the folder stays.
    const restarted = await startSidecar(previous.dir);
    expect(await sidecarConfig(restarted)).toMatchObject({
      generation: held,
      source: 'snapshot',
      endpoints: [{ name: 'orders', policy: 'limits' }],
    });
    expect(await sidecarMetric(restarted, 'hookgate_sidecar_config_stream_connected')).toBe(0);
    expect(await send1000(restarted)).not.toBe(413);
    // The operator back: the sidecar connects and, holding the current view, is sent nothing new.
    const back = await startReplicaNow();
    proxy.backends = [back.configPort];
    await expect
      .poll(() => sidecarMetric(restarted, 'hookgate_sidecar_config_stream_connected'), poll)
      .toBe(1);
    expect((await sidecarConfig(restarted)).generation).toBe(held);
  });
});

// Several operator replicas as real processes (`hookgate-operator --kubeconfig …`), under the
// shipped RBAC: exactly one reconciles; a clean stop hands the Lease over at once; a killed
// leader is replaced once its Lease expires.
import { spawn, type ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestNamespace, kubeClients, uniqueName, type KubeClients } from '../support/kube.ts';
import {
  apply,
  condition,
  createOperatorIdentity,
  endpointManifest,
  hookgatePath,
  read,
  type OperatorIdentity,
} from './support.ts';

const root = resolve(import.meta.dirname, '../..');
const LEASE_SECONDS = 6;

interface Replica {
  readonly child: ChildProcess;
  readonly port: number;
  readonly exited: Promise<void>;
}

async function startReplica(
  identity: OperatorIdentity,
  namespace: string,
  lease: string,
): Promise<Replica> {
  const child = spawn(
    process.execPath,
    [
      join(root, 'operator', 'main.ts'),
      `--kubeconfig=${identity.kubeconfigPath}`,
      `--watch-namespace=${namespace}`,
      `--lease-namespace=${identity.namespace}`,
      `--lease-name=${lease}`,
      `--lease-duration=${LEASE_SECONDS}s`,
      '--renew-deadline=4s',
      '--retry-period=500ms',
      // Leader election only: the admission webhook is tested in test/inject.
      '--webhook-addr=',
    ],
    {
      env: { ...process.env, HOOKGATE_ADMIN_ADDR: '127.0.0.1:0', KUBECONFIG: '/nonexistent' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const port = await new Promise<number>((resolvePort, reject) => {
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('exit', (code) => reject(new Error(`operator exited ${code}: ${stderr}`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      const entry = JSON.parse(line) as Record<string, unknown>;
      if (entry['msg'] === 'admin server listening') resolvePort(entry['port'] as number);
    });
  });
  return { child, port, exited };
}

async function metric(replica: Replica, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${replica.port}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith(name))
    .reduce((sum, l) => sum + Number(l.split(' ').pop()), 0);
}

describe('hookgate-operator replicas', () => {
  let kube: KubeClients;
  let adminConfig: KubeConfig;
  let identity: OperatorIdentity;
  let ns: string;
  const replicas: Replica[] = [];

  beforeAll(async () => {
    kube = kubeClients();
    adminConfig = kube.kubeConfig;
    identity = await createOperatorIdentity(adminConfig, join(inject('pkiDir'), 'ca.crt'));
    ns = await createTestNamespace(kube.core, 'op-leader');
  });
  afterAll(async () => {
    for (const r of replicas) r.child.kill('SIGKILL');
    await kube.core.deleteNamespace({ name: ns });
    await identity.remove();
  });

  it('reconcile with exactly one leader, hand over on a clean stop, and replace a killed leader', async () => {
    const lease = uniqueName('lease');
    replicas.push(await startReplica(identity, ns, lease), await startReplica(identity, ns, lease));
    const leaders = (): Promise<number[]> =>
      Promise.all(
        replicas.map((r) =>
          r.child.exitCode === null ? metric(r, 'hookgate_operator_leader') : Promise.resolve(-1),
        ),
      );
    await expect
      .poll(leaders, { timeout: 20_000 })
      .toSatisfy((l: number[]) => l.filter((v) => v === 1).length === 1);
    for (const r of replicas)
      expect((await fetch(`http://127.0.0.1:${r.port}/readyz`)).status).toBe(200);

    const endpointPath = hookgatePath(ns, 'webhookendpoints', 'orders');
    await apply(
      adminConfig,
      endpointManifest(ns, 'orders', { direction: 'Egress', url: 'https://a.example/' }),
    );
    await expect
      .poll(async () => condition(await read(adminConfig, endpointPath), 'Ready')?.status, {
        timeout: 20_000,
      })
      .toBe('True');
    // Still exactly one leader, and the other replica wrote nothing at all.
    const first = await leaders();
    expect(first.filter((v) => v === 1)).toHaveLength(1);
    const leader = replicas[first.indexOf(1)]!;
    const follower = replicas[first.indexOf(0)]!;
    expect(await metric(follower, 'hookgate_operator_api_writes_total')).toBe(0);
    expect(await metric(leader, 'hookgate_operator_api_writes_total{resource="configmaps"}')).toBe(
      1,
    );

    // A clean stop releases the Lease: the follower leads well before it would have expired.
    const stoppedAt = Date.now();
    leader.child.kill('SIGTERM');
    await leader.exited;
    await expect
      .poll(() => metric(follower, 'hookgate_operator_leader'), { timeout: 20_000, interval: 100 })
      .toBe(1);
    expect(Date.now() - stoppedAt).toBeLessThan(LEASE_SECONDS * 1000);
    await apply(
      adminConfig,
      endpointManifest(ns, 'orders', { direction: 'Egress', url: 'https://b.example/' }),
    );
    await expect
      .poll(
        async () =>
          ((await read(adminConfig, endpointPath))?.['status'] as { observedGeneration?: number })
            ?.observedGeneration,
        { timeout: 20_000 },
      )
      .toBe(2);

    // A killed leader cannot hand over: a new replica takes over once the Lease expires.
    const third = await startReplica(identity, ns, lease);
    replicas.push(third);
    await expect
      .poll(() => fetch(`http://127.0.0.1:${third.port}/readyz`).then((r) => r.status), {
        timeout: 20_000,
      })
      .toBe(200);
    expect(await metric(third, 'hookgate_operator_leader')).toBe(0);
    const killedAt = Date.now();
    follower.child.kill('SIGKILL');
    await follower.exited;
    await expect
      .poll(() => metric(third, 'hookgate_operator_leader'), { timeout: 30_000, interval: 200 })
      .toBe(1);
    expect(Date.now() - killedAt).toBeGreaterThanOrEqual((LEASE_SECONDS - 1) * 1000);
    await apply(
      adminConfig,
      endpointManifest(ns, 'orders', { direction: 'Egress', url: 'https://c.example/' }),
    );
    await expect
      .poll(
        async () =>
          ((await read(adminConfig, endpointPath))?.['status'] as { observedGeneration?: number })
            ?.observedGeneration,
        { timeout: 20_000 },
      )
      .toBe(3);

    const leaseObject = await read(
      adminConfig,
      `/apis/coordination.k8s.io/v1/namespaces/${identity.namespace}/leases/${lease}`,
    );
    expect(leaseObject?.['spec']).toMatchObject({
      leaseTransitions: 2,
      leaseDurationSeconds: LEASE_SECONDS,
    });
  }, 120_000);
});

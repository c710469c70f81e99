// Under a saturating load (1 KB and 64 KB bodies, sync and async mixed) the sidecar is not
// OOM-killed at the injector's default memory limit (256Mi): the kubelet's record of the container
// (restart count, last state) is the judge, and the cgroup's peak usage is printed.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { kubectl, pods, type ContainerStatus, type Pod } from './kube.ts';
import { deployOrders, prepareNamespace, removeNamespace } from './workloads.ts';

const unsupported = inject('nodeUnsupported');

/** The memory cgroup folder of a container (kubelet names it after the container ID). */
function findCgroup(root: string, id: string, depth = 0): string | undefined {
  if (depth > 8) return undefined;
  for (const entry of readdirSync(root)) {
    const path = join(root, entry);
    if (!statSync(path).isDirectory()) continue;
    if (entry === id) return path;
    const found = findCgroup(path, id, depth + 1);
    if (found !== undefined) return found;
  }
  return undefined;
}

describe.skipIf(unsupported !== '')(
  'the sidecar under a saturating load at its default memory limit',
  () => {
    let namespace = '';
    let app: Pod;

    beforeAll(async () => {
      ({ namespace } = await prepareNamespace('node-memory'));
      app = await deployOrders(namespace);
    });

    afterAll(() => removeNamespace(namespace));

    it(
      'is not OOM-killed by 64 KB and 1 KB bodies, sync and async mixed',
      { timeout: 400_000 },
      async () => {
        const limit = await kubectl([
          '-n',
          namespace,
          'get',
          'pod',
          app.metadata.name,
          '-o',
          'jsonpath={.spec.initContainers[?(@.name=="hookgate-proxy")].resources.limits.memory}',
        ]);
        expect(limit).toBe('256Mi');
        const appIp = app.status.podIP ?? '';
        const rounds = [
          { size: 65536, n: 1500, concurrency: 200 },
          { size: 1024, n: 4000, concurrency: 400 },
        ];
        for (const round of rounds) {
          const res = await fetch(
            `http://${appIp}:8080/load?endpoint=receiver&n=${round.n}&size=${round.size}&concurrency=${round.concurrency}`,
            { signal: AbortSignal.timeout(170_000) },
          );
          console.log(`load ${JSON.stringify(round)}: ${await res.text()}`);
        }
        const [pod] = (await pods(namespace, 'app=orders')) as [Pod];
        const sidecar = pod.status.initContainerStatuses?.find(
          (c) => c.name === 'hookgate-proxy',
        ) as (ContainerStatus & { containerID?: string }) | undefined;
        const id = sidecar?.containerID?.replace('containerd://', '') ?? '';
        const cgroup = findCgroup('/sys/fs/cgroup/memory', id);
        if (cgroup !== undefined) {
          const peak = Number(readFileSync(join(cgroup, 'memory.max_usage_in_bytes'), 'utf8'));
          console.log(`sidecar memory cgroup peak: ${(peak / 2 ** 20).toFixed(1)} MiB of 256 MiB`);
        }
        expect(sidecar?.lastState?.terminated?.reason).toBeUndefined();
        expect(sidecar?.restartCount).toBe(0);
      },
    );
  },
);

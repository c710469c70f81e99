// kubectl and helm against the node cluster, as real processes, and small waits built on them.
import { execFile } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { inject } from 'vitest';
import { stringify } from 'yaml';
import { kubectlPath } from '../cluster/controlplane.ts';

/** kubectl with the node cluster's admin kubeconfig; rejects with stderr on a non-zero exit. */
export function kubectl(args: readonly string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      kubectlPath(),
      [`--kubeconfig=${inject('nodeKubeconfig')}`, ...args],
      { maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        if (err !== null)
          reject(
            new Error(`kubectl ${args.join(' ')}: ${stderr.trim() || err.message}`, { cause: err }),
          );
        else resolve(stdout.trim());
      },
    );
    child.stdin?.end(input ?? '');
  });
}

/** `kubectl apply` of objects (as YAML documents). */
export async function apply(namespace: string, ...objects: object[]): Promise<void> {
  await kubectl(
    ['-n', namespace, 'apply', '-f', '-'],
    objects.map((o) => stringify(o)).join('---\n'),
  );
}

/** JSON of what `kubectl get -o json` prints (namespace '' for cluster-scoped objects). */
export async function getJson<T>(namespace: string, ...what: string[]): Promise<T> {
  const scope = namespace === '' ? [] : ['-n', namespace];
  return JSON.parse(await kubectl([...scope, 'get', ...what, '-o', 'json'])) as T;
}

/** Polls `check` every `intervalMs` until it returns a value; on timeout throws with the last state. */
export async function until<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs: number,
  intervalMs = 500,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
      last = 'not yet';
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}: ${String(last)}`);
    await sleep(intervalMs);
  }
}

/** A container's status as the kubelet reports it. */
export interface ContainerStatus {
  name: string;
  ready: boolean;
  restartCount: number;
  started?: boolean;
  state?: {
    running?: object;
    terminated?: { exitCode: number; reason?: string };
    waiting?: { reason?: string };
  };
  lastState?: { terminated?: { exitCode: number; reason?: string } };
}

/** The parts of a Pod the tests read. */
export interface Pod {
  metadata: { name: string; annotations?: Record<string, string>; labels?: Record<string, string> };
  spec: {
    initContainers?: { name: string; restartPolicy?: string; image: string }[];
    containers: { name: string }[];
  };
  status: {
    phase: string;
    podIP?: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: ContainerStatus[];
    initContainerStatuses?: ContainerStatus[];
  };
}

/** Pods matching a label selector. */
export async function pods(namespace: string, selector: string): Promise<Pod[]> {
  return (await getJson<{ items: Pod[] }>(namespace, 'pods', '-l', selector)).items;
}

/** Waits until `count` pods match and every one is Ready; returns them. */
export async function readyPods(
  namespace: string,
  selector: string,
  count: number,
  timeoutMs: number,
): Promise<Pod[]> {
  return until(
    `${count} Ready pod(s) ${selector} in ${namespace}`,
    async () => {
      const found = await pods(namespace, selector);
      const ready = found.filter((p) =>
        p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
      );
      return ready.length === count && found.length === count ? ready : undefined;
    },
    timeoutMs,
  );
}

// The load side of bench/inject/run.ts, on its own thread: creates pods as asked and reports each
// creation's latency in milliseconds.
import { parentPort, workerData } from 'node:worker_threads';
import { KubeClient } from '../../operator/kube/client.ts';
import { loadClusterAccess } from '../../operator/kube/config.ts';

const { kubeconfig } = workerData as { kubeconfig: string };
const client = new KubeClient(await loadClusterAccess(kubeconfig));
let seq = 0;

async function createPod(
  namespace: string,
): Promise<{ ms: number; injected: boolean } | undefined> {
  const started = performance.now();
  try {
    const pod = await client.request<{ spec: { initContainers?: unknown[] } }>(
      'POST',
      `/api/v1/namespaces/${namespace}/pods`,
      {
        body: {
          metadata: { name: `p-${seq++}`, annotations: { 'hookgate.io/inject': 'true' } },
          spec: { containers: [{ name: 'app', image: 'registry.example/app:1' }] },
        },
      },
    );
    return { ms: performance.now() - started, injected: pod.spec.initContainers !== undefined };
  } catch {
    return undefined;
  }
}

parentPort!.on(
  'message',
  (m: { id: number; namespace: string; count: number; parallel: number }) =>
    void (async () => {
      // `parallel` closed loops share `count` creations; parallel = count is one burst.
      const results: ({ ms: number; injected: boolean } | undefined)[] = [];
      let left = m.count;
      await Promise.all(
        Array.from({ length: m.parallel }, async () => {
          while (left > 0) {
            left--;
            results.push(await createPod(m.namespace));
          }
        }),
      );
      const ok = results.filter((r) => r !== undefined);
      parentPort!.postMessage({
        id: m.id,
        ms: ok.map((r) => r.ms),
        notInjected: ok.filter((r) => !r.injected).length,
      });
    })(),
);

// Global setup of the `node` project: one control plane with a real node (test/cluster/node.ts)
// and the Helm chart installed on it from the images built here, shared by every test/node file.
// Where the node cannot run (not root, not cgroup v1, nothing built) the tests report why and do
// not run — except in CI, where that is a failure.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { nodeUnsupported, startNodeCluster } from '../cluster/node.ts';
import { installChart } from './chart.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Why the node tests cannot run here; empty when they can. */
    nodeUnsupported: string;
    /** Admin kubeconfig of the node cluster. */
    nodeKubeconfig: string;
    /** Image names in the node's containerd, by key (`operator`, `sidecar`, `pause`, `coredns`). */
    nodeImages: Record<string, string>;
    /** The node's containerd socket (`ctr --address`). */
    nodeContainerd: string;
  }
}

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | void> {
  const unsupported = nodeUnsupported();
  if (unsupported !== undefined) {
    if (process.env['CI'] !== undefined)
      throw new Error(`the node tests cannot run in CI: ${unsupported}`);
    console.log(`node tests not run: ${unsupported}`);
    project.provide('nodeUnsupported', unsupported);
    project.provide('nodeKubeconfig', '');
    project.provide('nodeImages', {});
    project.provide('nodeContainerd', '');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'hookgate-node-'));
  const started = Date.now();
  const cluster = await startNodeCluster({ dir: join(dir, 'node') });
  const teardown = async (): Promise<void> => {
    const problems = await cluster.stop();
    if (problems.length > 0) console.log(`node cleanup repaired: ${problems.join('; ')}`);
    if (process.env['HOOKGATE_KEEP_TEST_DIR'] === undefined)
      rmSync(dir, { recursive: true, force: true });
    else console.log(`node test ground kept in ${dir}`);
  };
  try {
    const nodeReady = Date.now() - started;
    await installChart(cluster.controlPlane.kubeconfigPath);
    console.log(
      `node test ground: kubernetes ${cluster.controlPlane.versions.kubernetes}, node Ready in ${nodeReady} ms, ` +
        `chart installed in ${Date.now() - started - nodeReady} ms`,
    );
  } catch (err) {
    await teardown();
    throw err;
  }
  project.provide('nodeUnsupported', '');
  project.provide('nodeKubeconfig', cluster.controlPlane.kubeconfigPath);
  project.provide('nodeImages', { ...cluster.images });
  project.provide('nodeContainerd', cluster.containerdSocket);
  return teardown;
}

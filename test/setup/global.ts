// One control plane and one Redis for the whole integration run: starting kube-apiserver costs
// seconds, so tests share it and isolate themselves by namespace (and Redis key prefix).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { startControlPlane } from '../cluster/controlplane.ts';
import { installCrds } from '../cluster/crds.ts';
import { startRedis } from '../cluster/redis.ts';
import { recordNetnsMount } from './netns-mount.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Admin kubeconfig of the shared control plane. */
    kubeconfig: string;
    /** Folder with `ca.crt` and the loopback webhook serving pair `webhook.crt`/`webhook.key`. */
    pkiDir: string;
    /** `redis://127.0.0.1:<port>` of the shared Redis. */
    redisUrl: string;
    /** Versions the control plane was built at. */
    kubernetesVersion: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const restoreNetns = recordNetnsMount();
  const dir = mkdtempSync(join(tmpdir(), 'hookgate-test-'));
  const started = Date.now();
  const [controlPlaneStart, redisStart] = await Promise.allSettled([
    startControlPlane({ dir: join(dir, 'cluster') }),
    startRedis({ dir: join(dir, 'redis') }),
  ]);
  if (controlPlaneStart.status === 'rejected' || redisStart.status === 'rejected') {
    // Stop whichever did start, so a failed setup leaves no process behind; logs stay in `dir`.
    if (controlPlaneStart.status === 'fulfilled') await controlPlaneStart.value.stop();
    if (redisStart.status === 'fulfilled') await redisStart.value.stop();
    const failed = [controlPlaneStart, redisStart].find((r) => r.status === 'rejected');
    throw failed?.reason;
  }
  const controlPlane = controlPlaneStart.value;
  const redis = redisStart.value;
  try {
    await installCrds(controlPlane.kubeconfigPath);
  } catch (err) {
    await Promise.all([controlPlane.stop(), redis.stop()]);
    throw err;
  }
  console.log(
    `test ground: kubernetes ${controlPlane.versions.kubernetes} at ${controlPlane.server}, ` +
      `redis at ${redis.url} (${Date.now() - started} ms)`,
  );
  project.provide('kubeconfig', controlPlane.kubeconfigPath);
  project.provide('pkiDir', controlPlane.pkiDir);
  project.provide('redisUrl', redis.url);
  project.provide('kubernetesVersion', controlPlane.versions.kubernetes);
  return async () => {
    await Promise.all([controlPlane.stop(), redis.stop()]);
    await restoreNetns();
    if (process.env['HOOKGATE_KEEP_TEST_DIR'] === undefined)
      rmSync(dir, { recursive: true, force: true });
    else console.log(`test ground kept in ${dir}`);
  };
}

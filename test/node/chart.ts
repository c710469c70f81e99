// The Helm chart installed on the node cluster, from the images images/build.sh made (their names
// are the chart's defaults, so no image value is set: what a user's `helm install` gets).
import { join } from 'node:path';
import { chartDir, helm, run } from '../chart/helm.ts';

/** The namespace and release the node tests install the operator as. */
export const OPERATOR_NAMESPACE = 'hookgate-system';
export const RELEASE = 'hookgate';

/** `helm install --wait` of charts/hookgate; throws with helm's output when it fails. */
export async function installChart(kubeconfig: string): Promise<void> {
  await helmRelease(kubeconfig, 'install', ['--create-namespace']);
}

/**
 * `helm upgrade --reuse-values --wait` of the installed release with `--set` values, as a user
 * turns a feature on; throws with helm's output when it fails.
 */
export async function upgradeChart(kubeconfig: string, sets: readonly string[]): Promise<void> {
  await helmRelease(kubeconfig, 'upgrade', [
    '--reuse-values',
    ...sets.flatMap((s) => ['--set', s]),
  ]);
}

async function helmRelease(
  kubeconfig: string,
  verb: 'install' | 'upgrade',
  extra: readonly string[],
): Promise<void> {
  const result = await run(
    await helm(),
    [
      verb,
      RELEASE,
      chartDir,
      '--namespace',
      OPERATOR_NAMESPACE,
      ...extra,
      '--wait',
      '--timeout',
      '240s',
    ],
    {
      env: {
        KUBECONFIG: kubeconfig,
        HELM_CACHE_HOME: join(kubeconfig, '..', 'helm-cache'),
        HELM_CONFIG_HOME: join(kubeconfig, '..', 'helm-config'),
      },
    },
  );
  if (result.code !== 0)
    throw new Error(`helm ${verb} failed (${result.code}): ${result.stderr}${result.stdout}`);
}

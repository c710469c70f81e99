// Server-side dry-run of rendered manifests against the real test control plane: the API server
// validates every object (schemas, CRD schemas and CEL rules, strict field validation) and stores
// nothing.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { kubeRequest } from '../cluster/apply.ts';
import { kubectl, run, type CommandResult, type K8sObject } from './helm.ts';

/** Whether the API server serves `apiVersion` (a group/version some CRD may provide). */
export async function serves(kubeconfig: string, apiVersion: string): Promise<boolean> {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const path = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  const res = await kubeRequest(kc, 'GET', path);
  return res.status === 200;
}

/** Splits objects into those the API server serves and those whose API is absent. */
export async function partitionServed(
  kubeconfig: string,
  objects: readonly K8sObject[],
): Promise<{ served: K8sObject[]; absent: K8sObject[] }> {
  const known = new Map<string, boolean>();
  const served: K8sObject[] = [];
  const absent: K8sObject[] = [];
  for (const o of objects) {
    if (!known.has(o.apiVersion)) known.set(o.apiVersion, await serves(kubeconfig, o.apiVersion));
    (known.get(o.apiVersion) === true ? served : absent).push(o);
  }
  return { served, absent };
}

/** `kubectl apply --server-side --dry-run=server --validate=strict` of `objects`. */
export function dryRunApply(
  kubeconfig: string,
  objects: readonly K8sObject[],
): Promise<CommandResult> {
  return kubectlApply(kubeconfig, objects, true);
}

/** `kubectl apply --server-side --validate=strict` of `objects`, for real unless `dryRun`. */
export async function kubectlApply(
  kubeconfig: string,
  objects: readonly K8sObject[],
  dryRun = false,
): Promise<CommandResult> {
  const file = join(mkdtempSync(join(tmpdir(), 'hookgate-chart-')), 'manifests.yaml');
  writeFileSync(file, objects.map((o) => stringify(o)).join('---\n'));
  return run(kubectl(), [
    '--kubeconfig',
    kubeconfig,
    'apply',
    '--server-side',
    ...(dryRun ? ['--dry-run=server'] : []),
    '--validate=strict',
    '--force-conflicts',
    '--field-manager=hookgate-chart-test',
    '-f',
    file,
  ]);
}

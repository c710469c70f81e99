// Installs the generated CRDs from crds/ (the files the chart and GitOps users apply) into a
// control plane and waits until the API server serves them.
import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { kubeRequest, serverSideApply, type Manifest } from './apply.ts';
import { waitFor } from './process.ts';

const crdDir = resolve(import.meta.dirname, '../../crds');

/** Applies every CRD in crds/ and resolves once each reports Established. */
export async function installCrds(kubeconfigPath: string): Promise<string[]> {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(kubeconfigPath);
  const crds = readdirSync(crdDir)
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => parse(readFileSync(join(crdDir, f), 'utf8')) as Manifest);
  for (const crd of crds) {
    const res = await serverSideApply(kubeConfig, crd, { fieldManager: 'hookgate-test' });
    if (res.status >= 300) {
      throw new Error(`CRD ${crd.metadata.name} refused (${res.status}): ${res.body.message}`);
    }
  }
  for (const crd of crds) {
    await waitFor(
      `CRD ${crd.metadata.name} Established`,
      async () => {
        const res = await kubeRequest(
          kubeConfig,
          'GET',
          `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`,
        );
        const conditions = (
          res.body['status'] as { conditions?: { type: string; status: string }[] }
        )?.conditions;
        return conditions?.some((c) => c.type === 'Established' && c.status === 'True')
          ? true
          : undefined;
      },
      { timeoutMs: 30_000 },
    );
  }
  return crds.map((c) => c.metadata.name);
}

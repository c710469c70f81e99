// Clients for the shared test control plane, and a unique namespace per test so tests that share
// one API server cannot see each other's objects.
import { randomBytes } from 'node:crypto';
import {
  AdmissionregistrationV1Api,
  AppsV1Api,
  CoreV1Api,
  KubeConfig,
  type V1Namespace,
} from '@kubernetes/client-node';
import { inject } from 'vitest';

/** Typed API clients bound to the shared control plane's admin kubeconfig. */
export interface KubeClients {
  readonly kubeConfig: KubeConfig;
  readonly core: CoreV1Api;
  readonly apps: AppsV1Api;
  readonly admission: AdmissionregistrationV1Api;
}

/** Clients for the control plane started by the global setup. */
export function kubeClients(): KubeClients {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(inject('kubeconfig'));
  return {
    kubeConfig,
    core: kubeConfig.makeApiClient(CoreV1Api),
    apps: kubeConfig.makeApiClient(AppsV1Api),
    admission: kubeConfig.makeApiClient(AdmissionregistrationV1Api),
  };
}

/** A name no other test uses: `<prefix>-<8 hex>`. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/** Creates a fresh namespace (with `labels`) and returns its name. */
export async function createTestNamespace(
  core: CoreV1Api,
  prefix: string,
  labels: Record<string, string> = {},
): Promise<string> {
  const body: V1Namespace = { metadata: { name: uniqueName(prefix), labels } };
  const created = await core.createNamespace({ body });
  const name = created.metadata?.name;
  if (name === undefined) throw new Error('the API server returned a namespace without a name');
  return name;
}

// Server-side apply of arbitrary manifests over raw HTTPS: the tests need what typed clients hide
// (fieldValidation=Strict, dry runs, the API server's exact error message).
import { request } from 'node:https';
import type { RequestOptions } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

/** A Kubernetes object as written in a manifest. */
export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [key: string]: unknown };
  [key: string]: unknown;
}

/** The API server's answer: status code and parsed body (a `Status` object on errors). */
export interface ApiResponse {
  status: number;
  body: { message?: string; [key: string]: unknown };
}

/** Where each kind lives; enough for the kinds tests apply. */
const RESOURCES: Record<string, { plural: string; namespaced: boolean }> = {
  CustomResourceDefinition: { plural: 'customresourcedefinitions', namespaced: false },
  WebhookEndpoint: { plural: 'webhookendpoints', namespaced: true },
  WebhookPolicy: { plural: 'webhookpolicies', namespaced: true },
  Secret: { plural: 'secrets', namespaced: true },
  ConfigMap: { plural: 'configmaps', namespaced: true },
  Namespace: { plural: 'namespaces', namespaced: false },
};

/** The REST path of one object. */
export function objectPath(m: Manifest, namespace = m.metadata.namespace): string {
  const resource = RESOURCES[m.kind];
  if (resource === undefined) throw new Error(`apply.ts does not know kind ${m.kind}`);
  const prefix = m.apiVersion.includes('/') ? `/apis/${m.apiVersion}` : `/api/${m.apiVersion}`;
  if (!resource.namespaced) return `${prefix}/${resource.plural}/${m.metadata.name}`;
  if (namespace === undefined) throw new Error(`${m.kind}/${m.metadata.name} needs a namespace`);
  return `${prefix}/namespaces/${namespace}/${resource.plural}/${m.metadata.name}`;
}

/** One request to the API server with the kubeconfig's credentials. */
export async function kubeRequest(
  kubeConfig: KubeConfig,
  method: string,
  path: string,
  body?: string,
  contentType = 'application/json',
): Promise<ApiResponse> {
  const server = kubeConfig.getCurrentCluster()?.server;
  if (server === undefined) throw new Error('kubeconfig has no current cluster');
  const options: RequestOptions = {
    method,
    headers: { 'content-type': contentType, accept: 'application/json' },
  };
  await kubeConfig.applyToHTTPSOptions(options);
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, server), options, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => {
        let parsed: ApiResponse['body'];
        try {
          parsed = JSON.parse(text) as ApiResponse['body'];
        } catch {
          parsed = { message: text };
        }
        resolve({ status: res.statusCode ?? 0, body: parsed });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Options for {@link serverSideApply}. */
export interface ApplyOptions {
  fieldManager: string;
  namespace?: string;
  /** Validate and admit, store nothing. */
  dryRun?: boolean;
}

/**
 * Applies `manifest` with server-side apply and strict field validation (unknown or duplicate
 * fields are errors, as with `kubectl apply --server-side`). Resolves with the response, error or
 * not; the caller decides.
 */
export function serverSideApply(
  kubeConfig: KubeConfig,
  manifest: Manifest,
  options: ApplyOptions,
): Promise<ApiResponse> {
  const query = new URLSearchParams({
    fieldManager: options.fieldManager,
    fieldValidation: 'Strict',
    force: 'true',
  });
  if (options.dryRun === true) query.set('dryRun', 'All');
  return kubeRequest(
    kubeConfig,
    'PATCH',
    `${objectPath(manifest, options.namespace)}?${query.toString()}`,
    JSON.stringify(manifest),
    'application/apply-patch+yaml',
  );
}

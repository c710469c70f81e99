// Running the operator in tests as it runs in a cluster: under the ServiceAccount and RBAC of
// deploy/operator-rbac.yaml (a TokenRequest token, not the admin certificate), scoped to the
// test's own namespace so tests sharing one API server never reconcile each other's objects.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { parseAllDocuments, stringify } from 'yaml';
import { createLogger } from '../../common/log.ts';
import { Operator, type OperatorOptions } from '../../operator/controller.ts';
import { KubeClient } from '../../operator/kube/client.ts';
import { loadClusterAccess } from '../../operator/kube/config.ts';
import type { KubeObject } from '../../operator/kube/types.ts';
import {
  CONFIG_KEY,
  CONFIG_MAP_NAME,
  SECRET_MOUNT_PATH,
  SECRET_NAME,
} from '../../operator/names.ts';
import { parseConfig, type LoadedConfig } from '../../sidecar/config/load.ts';
import { kubeRequest, serverSideApply, type Manifest } from '../cluster/apply.ts';
import { uniqueName } from '../support/kube.ts';

const rbacFile = resolve(import.meta.dirname, '../../deploy/operator-rbac.yaml');
/** The chart rendered with its default values (`make manifests`). */
const chartFile = resolve(import.meta.dirname, '../../deploy/kustomize/hookgate.yaml');
const RBAC_KINDS = new Set([
  'ServiceAccount',
  'ClusterRole',
  'ClusterRoleBinding',
  'Role',
  'RoleBinding',
]);

/** Field manager the tests apply with (not the operator's). */
export const TEST_MANAGER = 'hookgate-test';

/** A request as the admin that must succeed; resolves with the body. */
export async function admin<T = Record<string, unknown>>(
  kubeConfig: KubeConfig,
  method: string,
  path: string,
  body?: unknown,
): Promise<T> {
  const res = await kubeRequest(
    kubeConfig,
    method,
    path,
    body === undefined ? undefined : JSON.stringify(body),
  );
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${res.body.message}`);
  return res.body as T;
}

/** Server-side applies `manifest` as the test user; throws on refusal. */
export async function apply(kubeConfig: KubeConfig, manifest: Manifest): Promise<void> {
  const res = await serverSideApply(kubeConfig, manifest, { fieldManager: TEST_MANAGER });
  if (res.status >= 300) {
    throw new Error(
      `${manifest.kind}/${manifest.metadata.name}: ${res.status} ${res.body.message}`,
    );
  }
}

/** The operator's identity for one test file: a ServiceAccount bound to the shipped RBAC. */
export interface OperatorIdentity {
  /** Namespace of the ServiceAccount (and of leader-election Leases). */
  readonly namespace: string;
  /** A kubeconfig file authenticating as the ServiceAccount. */
  readonly kubeconfigPath: string;
  readonly kubeConfig: KubeConfig;
  /** Deletes the namespace, the ClusterRoleBinding and the kubeconfig. */
  remove(): Promise<void>;
}

/**
 * The RBAC objects of `source` for an operator in `namespace`: the namespace replaced, and every
 * cluster-scoped name (and each reference to one, resourceNames included) suffixed with it, so
 * test files do not overwrite each other's roles or subjects.
 */
function rbacFor(source: 'deploy' | 'chart', namespace: string): Manifest[] {
  const file = source === 'deploy' ? rbacFile : chartFile;
  let docs = parseAllDocuments(readFileSync(file, 'utf8'))
    .map((d) => d.toJS() as Manifest | null)
    .filter((d): d is Manifest => d !== null && RBAC_KINDS.has(d.kind));
  const clusterNames = docs
    .filter((d) => d.kind === 'ClusterRole' || d.kind === 'ClusterRoleBinding')
    .map((d) => d.metadata.name);
  let text = JSON.stringify(docs).replaceAll('"hookgate-system"', `"${namespace}"`);
  if (source === 'chart') {
    // The chart's cluster-scoped names, wherever they are quoted (roleRefs, resourceNames).
    for (const name of new Set(clusterNames)) {
      text = text.replaceAll(`"${name}"`, `"${name}-${namespace}"`);
    }
    // …but the ServiceAccount and the namespaced Role keep the names the chart gives them.
    docs = JSON.parse(text) as Manifest[];
    for (const d of docs) {
      if (!d.kind.startsWith('Cluster')) {
        d.metadata.name = d.metadata.name.replace(`-${namespace}`, '');
      }
      const ref = (d as { roleRef?: { kind: string; name: string } }).roleRef;
      if (ref?.kind === 'Role') ref.name = ref.name.replace(`-${namespace}`, '');
      for (const s of (d as { subjects?: { name: string }[] }).subjects ?? []) {
        s.name = s.name.replace(`-${namespace}`, '');
      }
    }
    return docs;
  }
  docs = JSON.parse(text) as Manifest[];
  for (const d of docs) {
    if (d.kind === 'ClusterRoleBinding') d.metadata.name = `hookgate-operator-${namespace}`;
  }
  return docs;
}

/**
 * Applies deploy/operator-rbac.yaml (or, with `rbac: 'chart'`, the RBAC of the chart rendered
 * with its defaults) for a fresh namespace (see {@link rbacFor}), then builds a kubeconfig from a
 * TokenRequest token and the cluster CA.
 */
export async function createOperatorIdentity(
  adminConfig: KubeConfig,
  caFile: string,
  options: { rbac?: 'deploy' | 'chart' } = {},
): Promise<OperatorIdentity> {
  const namespace = uniqueName('hookgate-op');
  await admin(adminConfig, 'POST', '/api/v1/namespaces', { metadata: { name: namespace } });
  const docs = rbacFor(options.rbac ?? 'deploy', namespace);
  for (const m of docs) {
    const plural = `${m.kind.toLowerCase()}s`;
    const group = m.apiVersion === 'v1' ? '/api/v1' : `/apis/${m.apiVersion}`;
    const path =
      m.metadata.namespace === undefined
        ? `${group}/${plural}/${m.metadata.name}`
        : `${group}/namespaces/${m.metadata.namespace}/${plural}/${m.metadata.name}`;
    const res = await kubeRequest(
      adminConfig,
      'PATCH',
      `${path}?fieldManager=${TEST_MANAGER}&force=true`,
      JSON.stringify(m),
      'application/apply-patch+yaml',
    );
    if (res.status >= 300) throw new Error(`${m.kind}/${m.metadata.name}: ${res.body.message}`);
  }
  const token = await admin<{ status: { token: string } }>(
    adminConfig,
    'POST',
    `/api/v1/namespaces/${namespace}/serviceaccounts/hookgate-operator/token`,
    {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: { expirationSeconds: 3600 },
    },
  );
  const server = adminConfig.getCurrentCluster()?.server ?? '';
  const kubeconfigPath = join(mkdtempSync(join(tmpdir(), 'hookgate-op-')), 'kubeconfig');
  writeFileSync(
    kubeconfigPath,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'test', cluster: { server, 'certificate-authority': caFile } }],
      users: [{ name: 'operator', user: { token: token.status.token } }],
      contexts: [{ name: 'operator', context: { cluster: 'test', user: 'operator' } }],
      'current-context': 'operator',
    }),
    { mode: 0o600 },
  );
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(kubeconfigPath);
  const remove = async (): Promise<void> => {
    await admin(adminConfig, 'DELETE', `/api/v1/namespaces/${namespace}`);
    for (const m of docs) {
      if (!m.kind.startsWith('Cluster')) continue;
      await admin(
        adminConfig,
        'DELETE',
        `/apis/rbac.authorization.k8s.io/v1/${m.kind.toLowerCase()}s/${m.metadata.name}`,
      );
    }
    rmSync(dirname(kubeconfigPath), { recursive: true, force: true });
  };
  return { namespace, kubeconfigPath, kubeConfig, remove };
}

/** An operator running inside the test process. */
export interface RunningOperator {
  readonly operator: Operator;
  readonly registry: Registry;
  /** Every write the operator made: `METHOD path`. */
  readonly writes: string[];
  /** Log lines, parsed. */
  readonly logs: Record<string, unknown>[];
  stop(release?: boolean): Promise<void>;
}

/** Starts an operator scoped to `namespaces` under `identity`; resolves once its caches listed. */
export async function startOperator(
  identity: OperatorIdentity,
  namespaces: readonly string[],
  options: Partial<OperatorOptions> & { server?: string } = {},
): Promise<RunningOperator> {
  const access = await loadClusterAccess(identity.kubeconfigPath);
  const client = new KubeClient(
    options.server === undefined ? access : { ...access, server: options.server },
  );
  const writes: string[] = [];
  client.observe((method, path, status) => {
    if (method !== 'GET' && status < 300) writes.push(`${method} ${path}`);
  });
  const logs: Record<string, unknown>[] = [];
  const registry = new Registry();
  const operator = new Operator({
    client,
    registry,
    identity: uniqueName('test-operator'),
    namespaces,
    log: createLogger({}, 'debug', (line) =>
      logs.push(JSON.parse(line) as Record<string, unknown>),
    ),
    queueBackoff: { initialMs: 100, maxMs: 2_000 },
    ...options,
  });
  await operator.start();
  return {
    operator,
    registry,
    writes,
    logs,
    stop: async (release = true): Promise<void> => {
      await operator.stop(release);
      await client.close();
    },
  };
}

/** GETs an object as the admin; undefined when it does not exist. */
export async function read(kubeConfig: KubeConfig, path: string): Promise<KubeObject | undefined> {
  const res = await kubeRequest(kubeConfig, 'GET', path);
  if (res.status === 404) return undefined;
  if (res.status >= 300) throw new Error(`GET ${path}: ${res.status} ${res.body.message}`);
  return res.body as unknown as KubeObject;
}

/** Path of a hookgate.io object. */
export function hookgatePath(
  namespace: string,
  kind: 'webhookendpoints' | 'webhookpolicies',
  name: string,
): string {
  return `/apis/hookgate.io/v1alpha1/namespaces/${namespace}/${kind}/${name}`;
}

/** A condition of an object's status, or undefined. */
export function condition(
  object: KubeObject | undefined,
  type: string,
): { status: string; reason: string; message: string; lastTransitionTime: string } | undefined {
  const conditions = (object?.['status'] as { conditions?: { type: string }[] } | undefined)
    ?.conditions;
  return conditions?.find((c) => c.type === type) as ReturnType<typeof condition>;
}

/** The published config and Secret of a namespace. */
export interface PublishedConfig {
  /** As the sidecar loads it, with the published Secret as files where the pod mounts them. */
  readonly loaded: LoadedConfig;
  readonly configMap: KubeObject;
  readonly secret: KubeObject;
}

/**
 * Loads the namespace's published config the way a sidecar would: the Secret's keys written as
 * files, the config parsed and its secrets read by the sidecar's own loader.
 */
export async function loadPublished(
  kubeConfig: KubeConfig,
  namespace: string,
): Promise<PublishedConfig | undefined> {
  const configMap = await read(
    kubeConfig,
    `/api/v1/namespaces/${namespace}/configmaps/${CONFIG_MAP_NAME}`,
  );
  const secret = await read(kubeConfig, `/api/v1/namespaces/${namespace}/secrets/${SECRET_NAME}`);
  if (configMap === undefined || secret === undefined) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'hookgate-mount-'));
  for (const [key, value] of Object.entries((secret['data'] as Record<string, string>) ?? {})) {
    writeFileSync(join(dir, key), Buffer.from(value, 'base64'));
  }
  const text = (configMap['data'] as Record<string, string>)[CONFIG_KEY] ?? '';
  try {
    // The loader reads every secret file now; the folder is not needed afterwards.
    const loaded = await parseConfig(text.replaceAll(SECRET_MOUNT_PATH, dir), 'ConfigMap', dir);
    return { loaded, configMap, secret };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A Secret manifest with string values. */
export function secretManifest(
  namespace: string,
  name: string,
  data: Record<string, string>,
): Manifest {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace },
    stringData: data,
  };
}

/** A `whsec_` secret made of `byte` repeated. */
export function whsec(byte: number): string {
  return `whsec_${Buffer.alloc(32, byte).toString('base64')}`;
}

/** A WebhookEndpoint manifest. */
export function endpointManifest(
  namespace: string,
  name: string,
  spec: Record<string, unknown>,
  labels: Record<string, string> = {},
): Manifest {
  return {
    apiVersion: 'hookgate.io/v1alpha1',
    kind: 'WebhookEndpoint',
    metadata: { name, namespace, labels },
    spec,
  };
}

/** A WebhookPolicy manifest. */
export function policyManifest(
  namespace: string,
  name: string,
  spec: Record<string, unknown>,
): Manifest {
  return {
    apiVersion: 'hookgate.io/v1alpha1',
    kind: 'WebhookPolicy',
    metadata: { name, namespace },
    spec,
  };
}

/** Events (events.k8s.io/v1) about one object. */
export async function eventsFor(
  kubeConfig: KubeConfig,
  namespace: string,
  name: string,
): Promise<{ reason: string; type: string; note: string; reportingController: string }[]> {
  const list = await admin<{
    items: {
      regarding?: { name?: string };
      reason: string;
      type: string;
      note: string;
      reportingController: string;
    }[];
  }>(kubeConfig, 'GET', `/apis/events.k8s.io/v1/namespaces/${namespace}/events`);
  return list.items.filter((e) => e.regarding?.name === name);
}

// The injector in tests, as it runs in a cluster: under the operator's ServiceAccount with the
// RBAC of deploy/operator-rbac.yaml and deploy/webhook.yaml, managing its own CA and the
// caBundle of a MutatingWebhookConfiguration that the real API server calls. The configuration
// points at 127.0.0.1 by URL (no Service routing without kube-proxy) and selects only this test
// file's namespaces.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { parseAllDocuments } from 'yaml';
import { createLogger } from '../../common/log.ts';
import { VERSION } from '../../common/version.ts';
import type { CertPolicy } from '../../operator/certs/plan.ts';
import { systemClock } from '../../operator/clock.ts';
import { EventRecorder } from '../../operator/events.ts';
import type { SidecarDefaults } from '../../operator/inject/annotations.ts';
import { KubeClient } from '../../operator/kube/client.ts';
import { loadClusterAccess } from '../../operator/kube/config.ts';
import { CONFIG_MAP_NAME, GENERATION_ANNOTATION } from '../../operator/names.ts';
import { serviceHosts, startInjector, type Injector } from '../../operator/webhook/injector.ts';
import { kubeRequest, type Manifest } from '../cluster/apply.ts';
import { waitFor } from '../cluster/process.ts';
import { uniqueName } from '../support/kube.ts';
import {
  admin,
  TEST_MANAGER,
  type OperatorIdentity,
  type RunningOperator,
} from '../operator/support.ts';

const webhookFile = resolve(import.meta.dirname, '../../deploy/webhook.yaml');

/** The sidecar defaults the tests run with (the operator's flag defaults). */
export const TEST_DEFAULTS: SidecarDefaults = {
  image: `ghcr.io/hookgate/sidecar:${VERSION}`,
  cpuRequest: '50m',
  memoryRequest: '64Mi',
  cpuLimit: '1',
  memoryLimit: '256Mi',
  logLevel: 'info',
  drainTimeout: '10s',
};

/** Label that keeps a test file's webhook configuration to its own namespaces. */
export const TEST_LABEL = 'hookgate-inject-test';

/**
 * Applies the RBAC documents of deploy/webhook.yaml for `identity`, with the operator's namespace
 * and the configuration's name replaced (RBAC narrows by name).
 */
export async function applyWebhookRbac(
  adminConfig: KubeConfig,
  identity: OperatorIdentity,
  configName: string,
): Promise<() => Promise<void>> {
  const docs = parseAllDocuments(readFileSync(webhookFile, 'utf8'))
    .map((d) => d.toJS() as Manifest)
    .filter((m) => m.apiVersion.startsWith('rbac.authorization.k8s.io/'));
  const cleanup: string[] = [];
  for (const doc of docs) {
    const m = JSON.parse(
      JSON.stringify(doc)
        .replaceAll('"hookgate-system"', `"${identity.namespace}"`)
        .replaceAll('"hookgate-sidecar-injector"', `"${configName}"`),
    ) as Manifest;
    if (m.metadata.namespace === undefined) m.metadata.name = `${m.metadata.name}-${configName}`;
    if (m.kind === 'ClusterRoleBinding') {
      (m['roleRef'] as { name: string }).name = `hookgate-operator-webhook-${configName}`;
    }
    const plural = `${m.kind.toLowerCase()}s`;
    const path =
      m.metadata.namespace === undefined
        ? `/apis/${m.apiVersion}/${plural}/${m.metadata.name}`
        : `/apis/${m.apiVersion}/namespaces/${m.metadata.namespace}/${plural}/${m.metadata.name}`;
    const res = await kubeRequest(
      adminConfig,
      'PATCH',
      `${path}?fieldManager=${TEST_MANAGER}&force=true`,
      JSON.stringify(m),
      'application/apply-patch+yaml',
    );
    if (res.status >= 300) throw new Error(`${m.kind}/${m.metadata.name}: ${res.body.message}`);
    if (m.metadata.namespace === undefined) cleanup.push(path);
  }
  return async () => {
    for (const path of cleanup) await kubeRequest(adminConfig, 'DELETE', path);
  };
}

/**
 * Creates the webhook configuration of deploy/webhook.yaml under `name`, calling `url`, for
 * namespaces labelled `hookgate.io/injection: enabled` and {@link TEST_LABEL}: `name`. No
 * caBundle: the operator fills it in.
 */
export async function createWebhookConfiguration(
  adminConfig: KubeConfig,
  name: string,
  url: string,
  caBundle?: string,
): Promise<void> {
  const shipped = parseAllDocuments(readFileSync(webhookFile, 'utf8'))
    .map((d) => d.toJS() as Manifest)
    .find((m) => m.kind === 'MutatingWebhookConfiguration')!;
  const webhook = (shipped['webhooks'] as Record<string, unknown>[])[0]!;
  const selector = webhook['namespaceSelector'] as { matchLabels: Record<string, string> };
  await admin(
    adminConfig,
    'POST',
    '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations',
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name },
      webhooks: [
        {
          ...webhook,
          clientConfig: { url, ...(caBundle === undefined ? {} : { caBundle }) },
          namespaceSelector: {
            ...selector,
            matchLabels: { ...selector.matchLabels, [TEST_LABEL]: name },
          },
        },
      ],
    },
  );
}

/** Deletes a webhook configuration. */
export async function deleteWebhookConfiguration(
  adminConfig: KubeConfig,
  name: string,
): Promise<void> {
  await kubeRequest(
    adminConfig,
    'DELETE',
    `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${name}`,
  );
}

/** A running injector with what the tests read from it. */
export interface RunningInjector {
  readonly injector: Injector;
  readonly registry: Registry;
  readonly client: KubeClient;
  readonly logs: Record<string, unknown>[];
  stop(): Promise<void>;
}

/** Starts an injector as `identity`, on 127.0.0.1, managing `configName`'s caBundle. */
export async function startTestInjector(
  identity: OperatorIdentity,
  configName: string,
  options: {
    port?: number;
    operator?: RunningOperator;
    policy?: Partial<CertPolicy>;
    defaults?: Partial<SidecarDefaults>;
    mode?: 'self-managed' | 'external';
  } = {},
): Promise<RunningInjector> {
  const client = new KubeClient(await loadClusterAccess(identity.kubeconfigPath));
  const logs: Record<string, unknown>[] = [];
  const log = createLogger({}, 'debug', (line) =>
    logs.push(JSON.parse(line) as Record<string, unknown>),
  );
  const registry = new Registry();
  const caches = options.operator?.operator.caches;
  const injector = await startInjector({
    client,
    log,
    registry,
    host: '127.0.0.1',
    port: options.port ?? 0,
    injector: { defaults: { ...TEST_DEFAULTS, ...options.defaults }, version: VERSION },
    configGeneration: (namespace) => {
      const value = caches?.configMaps.get(namespace, CONFIG_MAP_NAME)?.metadata.annotations?.[
        GENERATION_ANNOTATION
      ];
      return value === undefined ? undefined : Number(value);
    },
    events: new EventRecorder(client, uniqueName('test-injector'), systemClock, log),
    certs: {
      mode: options.mode ?? 'self-managed',
      namespace: identity.namespace,
      secretName: 'hookgate-webhook-tls',
      webhookConfigName: configName,
      policy: {
        caValidityMs: 87600 * 3_600_000,
        certValidityMs: 2160 * 3_600_000,
        caPropagationMs: 2_000,
        hosts: [...serviceHosts('hookgate-operator-webhook', identity.namespace), '127.0.0.1'],
        ...options.policy,
      },
    },
  });
  return {
    injector,
    registry,
    client,
    logs,
    stop: async () => {
      await injector.close();
      await client.close();
    },
  };
}

/** The parts of an injected pod's spec the tests look at. */
export interface InjectedSpec {
  readonly initContainers?: { name: string; image: string }[];
}

/**
 * Creates an opted-in pod in `namespace` by dry run until the API server has the webhook inject it
 * (it calls the webhook once it trusts the CA in caBundle); resolves with the returned spec.
 */
export async function dryRunInjectedPod(
  kubeConfig: KubeConfig,
  namespace: string,
): Promise<InjectedSpec> {
  let n = 0;
  return waitFor(
    'an injected pod',
    async () => {
      const res = await kubeRequest(
        kubeConfig,
        'POST',
        `/api/v1/namespaces/${namespace}/pods?dryRun=All`,
        JSON.stringify({
          metadata: { name: `probe-${n++}`, annotations: { 'hookgate.io/inject': 'true' } },
          spec: { containers: [{ name: 'app', image: 'a' }] },
        }),
      );
      const spec = res.body['spec'] as InjectedSpec | undefined;
      return (spec?.initContainers?.length ?? 0) > 0 ? spec : undefined;
    },
    { timeoutMs: 30_000, intervalMs: 250 },
  );
}

// Sidecar injection end to end: the real API server calls the injector (TLS trusted through the
// caBundle the operator patched in), kube-controller-manager creates the pods of Deployments and
// Jobs, and the tests read the stored Pods.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { KubeObject } from '../../operator/kube/types.ts';
import { CONFIG_MAP_NAME, GENERATION_ANNOTATION } from '../../operator/names.ts';
import { kubeRequest } from '../cluster/apply.ts';
import { waitFor } from '../cluster/process.ts';
import { createTestNamespace, kubeClients, uniqueName, type KubeClients } from '../support/kube.ts';
import {
  admin,
  apply,
  createOperatorIdentity,
  endpointManifest,
  read,
  startOperator,
  type OperatorIdentity,
  type RunningOperator,
} from '../operator/support.ts';
import {
  TEST_DEFAULTS,
  TEST_LABEL,
  applyWebhookRbac,
  createWebhookConfiguration,
  deleteWebhookConfiguration,
  startTestInjector,
  type RunningInjector,
  dryRunInjectedPod,
} from './support.ts';

interface Pod extends KubeObject {
  spec: {
    initContainers?: Record<string, unknown>[];
    containers: { name: string; env?: { name: string; value?: string }[] }[];
    volumes?: Record<string, unknown>[];
    restartPolicy?: string;
  };
}

/** The init containers as the injector made them: without the token mount the API server adds. */
function injected(pod: Pod): Record<string, unknown>[] | undefined {
  return pod.spec.initContainers?.map((c) => ({
    ...c,
    volumeMounts: (c['volumeMounts'] as { name: string }[] | undefined)?.filter(
      (m) => !m.name.startsWith('kube-api-access-'),
    ),
  }));
}

const EGRESS_ENV = { name: 'HOOKGATE_EGRESS_URL', value: 'http://127.0.0.1:15001' };

/** The sidecar exactly as specified (ADR 0008), as the API server stores it. */
function expectedSidecar(overrides: {
  image?: string;
  cpu?: string;
  memory?: string;
  cpuLimit?: string;
  memoryLimit?: string;
  logLevel?: string;
  drain?: string;
  appPort?: string;
  /** The owning workload's queue (issue 15): `deployment.web`, `job.migrate`. */
  queue: string;
}): Record<string, unknown> {
  const probe = (path: string, periodSeconds: number, failureThreshold: number): unknown => ({
    httpGet: { path, port: 15020, scheme: 'HTTP' },
    periodSeconds,
    failureThreshold,
    timeoutSeconds: 1,
    successThreshold: 1,
  });
  return {
    name: 'hookgate-proxy',
    image: overrides.image ?? TEST_DEFAULTS.image,
    imagePullPolicy: 'IfNotPresent',
    restartPolicy: 'Always',
    env: [
      { name: 'HOOKGATE_CONFIG', value: '/etc/hookgate/config/sidecar.yaml' },
      { name: 'HOOKGATE_ADMIN_ADDR', value: '0.0.0.0:15020' },
      { name: 'HOOKGATE_LOG_LEVEL', value: overrides.logLevel ?? 'info' },
      { name: 'HOOKGATE_DRAIN_TIMEOUT', value: overrides.drain ?? '10s' },
      { name: 'HOOKGATE_APP_PORT', value: overrides.appPort ?? '8080' },
      { name: 'HOOKGATE_INTERCEPTION', value: 'explicit' },
      { name: 'HOOKGATE_QUEUE_NAME', value: overrides.queue },
      {
        name: 'POD_NAME',
        valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } },
      },
      {
        name: 'POD_NAMESPACE',
        valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } },
      },
      {
        name: 'HOOKGATE_MEMORY_LIMIT',
        valueFrom: {
          resourceFieldRef: {
            containerName: 'hookgate-proxy',
            resource: 'limits.memory',
            divisor: '1',
          },
        },
      },
    ],
    ports: [
      { name: 'hookgate-in', containerPort: 15006, protocol: 'TCP' },
      { name: 'hookgate-admin', containerPort: 15020, protocol: 'TCP' },
    ],
    resources: {
      requests: { cpu: overrides.cpu ?? '50m', memory: overrides.memory ?? '64Mi' },
      limits: { cpu: overrides.cpuLimit ?? '1', memory: overrides.memoryLimit ?? '256Mi' },
    },
    startupProbe: probe('/readyz', 1, 120),
    readinessProbe: probe('/readyz', 5, 3),
    livenessProbe: probe('/healthz', 10, 3),
    securityContext: {
      runAsNonRoot: true,
      runAsUser: 15000,
      runAsGroup: 15000,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      privileged: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    volumeMounts: [
      { name: 'hookgate-config', mountPath: '/etc/hookgate/config', readOnly: true },
      { name: 'hookgate-secrets', mountPath: '/etc/hookgate/secrets', readOnly: true },
      { name: 'hookgate-data', mountPath: '/var/lib/hookgate' },
    ],
    terminationMessagePolicy: 'FallbackToLogsOnError',
    terminationMessagePath: '/dev/termination-log',
  };
}

const EXPECTED_VOLUMES = [
  {
    name: 'hookgate-config',
    configMap: { name: 'hookgate-sidecar-config', optional: true, defaultMode: 0o644 },
  },
  {
    name: 'hookgate-secrets',
    secret: { secretName: 'hookgate-sidecar-secrets', optional: true, defaultMode: 0o644 },
  },
  { name: 'hookgate-data', emptyDir: { sizeLimit: '1Gi' } },
];

describe('sidecar injection through the real API server', () => {
  let kube: KubeClients;
  let adminConfig: KubeConfig;
  let identity: OperatorIdentity;
  let removeRbac: () => Promise<void>;
  let running: RunningInjector;
  let operator: RunningOperator;
  let configName: string;
  let ns: string;
  const namespaces: string[] = [];

  const labelled = async (prefix: string): Promise<string> => {
    const name = await createTestNamespace(kube.core, prefix, {
      'hookgate.io/injection': 'enabled',
      [TEST_LABEL]: configName,
    });
    namespaces.push(name);
    return name;
  };

  const pods = async (namespace: string, selector: string): Promise<Pod[]> =>
    (
      await admin<{ items: Pod[] }>(
        adminConfig,
        'GET',
        `/api/v1/namespaces/${namespace}/pods?labelSelector=${encodeURIComponent(selector)}`,
      )
    ).items;

  const deployment = (
    namespace: string,
    name: string,
    annotations: Record<string, string>,
    replicas = 2,
  ): Record<string, unknown> => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name }, annotations },
        spec: { containers: [{ name: 'app', image: 'registry.example/app:1' }] },
      },
    },
  });

  const events = async (
    namespace: string,
  ): Promise<
    { reason: string; note: string; type: string; regarding: { kind: string; name: string } }[]
  > =>
    (
      await admin<{
        items: {
          reason: string;
          note: string;
          type: string;
          regarding: { kind: string; name: string };
        }[];
      }>(adminConfig, 'GET', `/apis/events.k8s.io/v1/namespaces/${namespace}/events`)
    ).items;

  beforeAll(async () => {
    kube = kubeClients();
    adminConfig = kube.kubeConfig;
    configName = uniqueName('hookgate-injector');
    identity = await createOperatorIdentity(adminConfig, join(inject('pkiDir'), 'ca.crt'));
    removeRbac = await applyWebhookRbac(adminConfig, identity, configName);
    ns = await labelled('inject');
    operator = await startOperator(identity, [ns]);
    running = await startTestInjector(identity, configName, { operator });
    await createWebhookConfiguration(
      adminConfig,
      configName,
      `https://127.0.0.1:${running.injector.port}/inject`,
    );
    // A published config, so injected pods record its generation.
    await apply(
      adminConfig,
      endpointManifest(ns, 'orders', { direction: 'Egress', url: 'https://receiver.example/hook' }),
    );
    await waitFor(
      'the published ConfigMap',
      () => read(adminConfig, `/api/v1/namespaces/${ns}/configmaps/${CONFIG_MAP_NAME}`),
      { timeoutMs: 20_000 },
    );
    // The API server calls the webhook once it trusts the CA the operator put into caBundle.
    const probed = await dryRunInjectedPod(adminConfig, ns);
    expect(probed.initContainers).toHaveLength(1);
  });

  afterAll(async () => {
    await deleteWebhookConfiguration(adminConfig, configName);
    await running.stop();
    await operator.stop();
    for (const n of namespaces) await kube.core.deleteNamespace({ name: n });
    await removeRbac();
    await identity.remove();
  });

  it('patches the caBundle with the CA in its Secret', async () => {
    const secret = await read(
      adminConfig,
      `/api/v1/namespaces/${identity.namespace}/secrets/hookgate-webhook-tls`,
    );
    expect(secret?.['type']).toBe('kubernetes.io/tls');
    const data = secret?.['data'] as Record<string, string>;
    expect(Object.keys(data).sort()).toEqual(['ca.crt', 'ca.key', 'tls.crt', 'tls.key']);
    const config = await read(
      adminConfig,
      `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${configName}`,
    );
    const webhook = (config?.['webhooks'] as { clientConfig: { caBundle: string } }[])[0]!;
    expect(webhook.clientConfig.caBundle).toBe(data['ca.crt']);
  });

  it("gives a Deployment's pods the sidecar exactly as specified", async () => {
    const annotations = {
      'hookgate.io/inject': 'true',
      'hookgate.io/app-port': '3000',
      'hookgate.io/proxy-cpu': '100m',
      'hookgate.io/proxy-memory-limit': '512Mi',
      'hookgate.io/log-level': 'debug',
    };
    await admin(
      adminConfig,
      'POST',
      `/apis/apps/v1/namespaces/${ns}/deployments`,
      deployment(ns, 'web', annotations),
    );
    const stored = await waitFor(
      'two pods of the Deployment',
      async () => {
        const list = await pods(ns, 'app=web');
        return list.length === 2 ? list : undefined;
      },
      { timeoutMs: 30_000 },
    );
    const configMap = await read(
      adminConfig,
      `/api/v1/namespaces/${ns}/configmaps/${CONFIG_MAP_NAME}`,
    );
    const generation = Number(configMap?.metadata.annotations?.[GENERATION_ANNOTATION]);
    for (const pod of stored) {
      expect(injected(pod)).toEqual([
        expectedSidecar({
          cpu: '100m',
          memoryLimit: '512Mi',
          logLevel: 'debug',
          appPort: '3000',
          queue: 'deployment.web',
        }),
      ]);
      expect(pod.spec.containers[0]!.env).toEqual([EGRESS_ENV]);
      expect(pod.spec.volumes?.filter((v) => String(v['name']).startsWith('hookgate-'))).toEqual(
        EXPECTED_VOLUMES,
      );
      expect(JSON.parse(pod.metadata.annotations?.['hookgate.io/injected'] ?? '{}')).toEqual({
        version: '0.1.0',
        image: TEST_DEFAULTS.image,
        configGeneration: generation,
        interception: 'explicit',
      });
    }
    const reviews = await running.registry.getSingleMetricAsString(
      'hookgate_operator_webhook_reviews_total',
    );
    expect(reviews).toMatch(/outcome="injected",reason="Injected"} [1-9]/);
  });

  it("gives a Job's pod a native sidecar, so the Job can complete", async () => {
    await admin(adminConfig, 'POST', `/apis/batch/v1/namespaces/${ns}/jobs`, {
      metadata: { name: 'migrate' },
      spec: {
        backoffLimit: 0,
        template: {
          metadata: { annotations: { 'hookgate.io/inject': 'true' } },
          spec: {
            restartPolicy: 'Never',
            containers: [{ name: 'job', image: 'registry.example/job:1' }],
          },
        },
      },
    });
    const [pod] = await waitFor(
      "the Job's pod",
      async () => {
        const list = await pods(ns, 'job-name=migrate');
        return list.length > 0 ? list : undefined;
      },
      { timeoutMs: 30_000 },
    );
    expect(pod!.spec.restartPolicy).toBe('Never');
    expect(injected(pod!)).toEqual([expectedSidecar({ queue: 'job.migrate' })]);
    expect(pod!.spec.containers[0]!.env).toEqual([EGRESS_ENV]);
  });

  it('leaves namespaces that did not opt in alone', async () => {
    const plain = await createTestNamespace(kube.core, 'plain', { [TEST_LABEL]: configName });
    namespaces.push(plain);
    const pod = await admin<Pod>(adminConfig, 'POST', `/api/v1/namespaces/${plain}/pods`, {
      metadata: { name: 'p', annotations: { 'hookgate.io/inject': 'true' } },
      spec: { containers: [{ name: 'app', image: 'a' }] },
    });
    expect(pod.spec.initContainers).toBeUndefined();
    expect(pod.metadata.annotations?.['hookgate.io/injected']).toBeUndefined();
  });

  it('skips pods without the annotation and opted-out pods, saying why in an Event', async () => {
    const other = await labelled('skip');
    await admin(
      adminConfig,
      'POST',
      `/apis/apps/v1/namespaces/${other}/deployments`,
      deployment(other, 'plain', {}, 1),
    );
    await admin(
      adminConfig,
      'POST',
      `/apis/apps/v1/namespaces/${other}/deployments`,
      deployment(other, 'out', { 'hookgate.io/inject': 'false' }, 1),
    );
    const [plain, out] = await waitFor(
      'the two pods',
      async () => {
        const a = await pods(other, 'app=plain');
        const b = await pods(other, 'app=out');
        return a.length === 1 && b.length === 1 ? [a[0]!, b[0]!] : undefined;
      },
      { timeoutMs: 30_000 },
    );
    for (const pod of [plain, out]) {
      expect(pod.spec.initContainers).toBeUndefined();
      expect(pod.spec.containers[0]!.env).toBeUndefined();
    }
    const found = await waitFor(
      'the skip Events on the ReplicaSets',
      async () => {
        const list = await events(other);
        const notAnnotated = list.find((e) => e.reason === 'NotAnnotated');
        const optedOut = list.find((e) => e.reason === 'OptedOut');
        return notAnnotated !== undefined && optedOut !== undefined
          ? { notAnnotated, optedOut }
          : undefined;
      },
      { timeoutMs: 20_000 },
    );
    expect(found.notAnnotated.regarding.kind).toBe('ReplicaSet');
    expect(found.notAnnotated.regarding.name).toMatch(/^plain-/);
    expect(found.notAnnotated.note).toContain('add hookgate.io/inject: "true" to the pod template');
    expect(found.optedOut.regarding.name).toMatch(/^out-/);
    expect(found.optedOut.note).toContain('opts out with hookgate.io/inject: "false"');
  });

  it('does not inject a pod that already has the sidecar', async () => {
    const sidecar = { name: 'hookgate-proxy', image: 'custom/proxy:1', restartPolicy: 'Always' };
    const pod = await admin<Pod>(adminConfig, 'POST', `/api/v1/namespaces/${ns}/pods`, {
      metadata: { name: 'already', annotations: { 'hookgate.io/inject': 'true' } },
      spec: {
        initContainers: [sidecar],
        containers: [{ name: 'app', image: 'a', env: [EGRESS_ENV] }],
      },
    });
    expect(pod.spec.initContainers).toHaveLength(1);
    expect(pod.spec.initContainers![0]).toMatchObject(sidecar);
    expect(pod.spec.containers[0]!.env).toEqual([EGRESS_ENV]);
    expect(pod.metadata.annotations?.['hookgate.io/injected']).toBeUndefined();
  });

  it('refuses a pod with a bad annotation, naming it and the fix', async () => {
    const res = await kubeRequest(
      adminConfig,
      'POST',
      `/api/v1/namespaces/${ns}/pods`,
      JSON.stringify({
        metadata: {
          name: 'bad',
          annotations: { 'hookgate.io/inject': 'true', 'hookgate.io/proxy-memory': '1Gi' },
        },
        spec: { containers: [{ name: 'app', image: 'a' }] },
      }),
    );
    expect(res.status).toBe(400);
    expect(res.body.message).toContain(
      'admission webhook "sidecar-injector.hookgate.io" denied the request',
    );
    expect(res.body.message).toContain(
      'hookgate.io/proxy-memory: memory request "1Gi" is above the memory limit "256Mi"; set hookgate.io/proxy-memory-limit to at least "1Gi"',
    );
  });

  it("shows a Deployment's refused pods on its ReplicaSet", async () => {
    await admin(
      adminConfig,
      'POST',
      `/apis/apps/v1/namespaces/${ns}/deployments`,
      deployment(
        ns,
        'typo',
        { 'hookgate.io/inject': 'true', 'hookgate.io/log-level': 'verbose' },
        1,
      ),
    );
    const failed = await waitFor(
      'a FailedCreate event',
      async () => {
        const list = await admin<{
          items: { reason: string; message: string; involvedObject: { name: string } }[];
        }>(adminConfig, 'GET', `/api/v1/namespaces/${ns}/events`);
        return list.items.find(
          (e) => e.reason === 'FailedCreate' && e.involvedObject.name.startsWith('typo-'),
        );
      },
      { timeoutMs: 30_000 },
    );
    expect(failed.message).toContain(
      'hookgate.io/log-level: "verbose" is not one of debug, info, warn, error',
    );
    expect(await pods(ns, 'app=typo')).toEqual([]);
  });

  it('is reinvoked after another webhook adds a container, and gives it the env only', async () => {
    // Another mutating webhook, called after ours (configurations run in name order), that adds a
    // container to pods labelled reinvoke=yes.
    const pki = inject('pkiDir');
    const other = createServer(
      { cert: readFileSync(join(pki, 'webhook.crt')), key: readFileSync(join(pki, 'webhook.key')) },
      (req, res) => {
        let body = '';
        req.setEncoding('utf8');
        req.on('data', (chunk: string) => (body += chunk));
        req.on('end', () => {
          const { request } = JSON.parse(body) as { request: { uid: string } };
          const patch = [
            { op: 'add', path: '/spec/containers/-', value: { name: 'added', image: 'log:1' } },
          ];
          res.setHeader('content-type', 'application/json');
          res.end(
            JSON.stringify({
              apiVersion: 'admission.k8s.io/v1',
              kind: 'AdmissionReview',
              response: {
                uid: request.uid,
                allowed: true,
                patchType: 'JSONPatch',
                patch: Buffer.from(JSON.stringify(patch)).toString('base64'),
              },
            }),
          );
        });
      },
    );
    await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
    const otherName = `zz-${configName}`;
    await admin(
      adminConfig,
      'POST',
      '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations',
      {
        metadata: { name: otherName },
        webhooks: [
          {
            name: 'adder.hookgate.test',
            admissionReviewVersions: ['v1'],
            sideEffects: 'None',
            failurePolicy: 'Fail',
            reinvocationPolicy: 'Never',
            clientConfig: {
              url: `https://127.0.0.1:${(other.address() as AddressInfo).port}/add`,
              caBundle: readFileSync(join(pki, 'ca.crt')).toString('base64'),
            },
            rules: [
              { operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] },
            ],
            namespaceSelector: { matchLabels: { [TEST_LABEL]: configName } },
            objectSelector: { matchLabels: { reinvoke: 'yes' } },
          },
        ],
      },
    );
    try {
      let attempt = 0;
      const pod = await waitFor(
        'a pod mutated by both webhooks',
        async () => {
          const created = await admin<Pod>(adminConfig, 'POST', `/api/v1/namespaces/${ns}/pods`, {
            metadata: {
              name: `reinvoked-${attempt++}`,
              labels: { reinvoke: 'yes' },
              annotations: { 'hookgate.io/inject': 'true' },
            },
            spec: { containers: [{ name: 'app', image: 'a' }] },
          });
          return created.spec.containers.length === 2 ? created : undefined;
        },
        { timeoutMs: 20_000, intervalMs: 250 },
      );
      expect(pod.spec.initContainers?.map((c) => c['name'])).toEqual(['hookgate-proxy']);
      expect(pod.spec.containers.map((c) => [c.name, c.env])).toEqual([
        ['app', [EGRESS_ENV]],
        ['added', [EGRESS_ENV]],
      ]);
    } finally {
      await deleteWebhookConfiguration(adminConfig, otherName);
      await new Promise((resolve) => other.close(resolve));
    }
  });
});

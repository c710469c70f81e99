// The Helm chart: lint and template clean for the default values and every mode, the contract
// the operator's injector relies on, values checked with the field named, and every rendered
// object accepted by the real API server (server-side dry-run).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { createTestNamespace, kubeClients } from '../support/kube.ts';
import { dryRunApply, partitionServed } from './apply.ts';
import {
  chartDir,
  find,
  helm,
  lint,
  parseObjects,
  root,
  template,
  type K8sObject,
} from './helm.ts';

// Building helm on a fresh machine takes minutes; `make bootstrap` does it before the tests.
beforeAll(async () => void (await helm()), 600_000);

/** Each mode: the values that select it and the kinds it adds whose CRDs the test cluster lacks. */
const modes: { name: string; values: Record<string, string>; absentKinds: string[] }[] = [
  // The default install: everything must apply, nothing may be skipped.
  { name: 'default values', values: {}, absentKinds: [] },
  // cert-manager issues the serving certificate; its CRDs are not in the test cluster.
  {
    name: 'cert-manager',
    values: { 'webhook.certMode': 'cert-manager' },
    absentKinds: ['Certificate', 'Issuer'],
  },
  // A ClusterIssuer of the user's: no Issuer rendered.
  {
    name: 'cert-manager with an issuerRef',
    values: {
      'webhook.certMode': 'cert-manager',
      'webhook.certManager.issuerRef.name': 'corp-ca',
      'webhook.certManager.issuerRef.kind': 'ClusterIssuer',
    },
    absentKinds: ['Certificate'],
  },
  // prometheus-operator's ServiceMonitor; its CRD is not in the test cluster.
  {
    name: 'ServiceMonitor on',
    values: { 'metrics.serviceMonitor.enabled': 'true' },
    absentKinds: ['ServiceMonitor'],
  },
  // The config stream off: pods get the namespace mounts again (ADR 0020).
  { name: 'config stream off', values: { 'configStream.enabled': 'false' }, absentKinds: [] },
  // A default WebhookPolicy in application namespaces (the hookgate.io CRDs are installed).
  { name: 'default policy on', values: { 'defaultPolicy.enabled': 'true' }, absentKinds: [] },
  // Redis from a URL: a Secret and the operator's env from it.
  { name: 'Redis URL', values: { 'redis.url': 'redis://:pw@redis.data:6379/0' }, absentKinds: [] },
  // The Sentinel form with replica-wait passes the schema (ADR 0017).
  {
    name: 'Redis Sentinel URL',
    values: { 'redis.url': 'redis+sentinel://:pw@sentinel.data:26379/mymaster?wait-replicas=1' },
    absentKinds: [],
  },
];

describe('helm chart', () => {
  it('matches the programs: appVersion is package.json version', () => {
    const chart = parse(readFileSync(join(chartDir, 'Chart.yaml'), 'utf8')) as {
      appVersion: string;
    };
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
    expect(chart.appVersion).toBe(pkg.version);
  });

  describe.each(modes)('$name', ({ values, absentKinds }) => {
    it('lints clean and applies with a server-side dry run', async () => {
      const { core } = kubeClients();
      const namespace = await createTestNamespace(core, 'hookgate-chart');
      const appNamespace = await createTestNamespace(core, 'chart-app');
      const all = { ...values };
      if (values['defaultPolicy.enabled'] === 'true') {
        all['defaultPolicy.namespaces'] = `{${appNamespace}}`;
      }

      const linted = await lint(namespace, all);
      expect(linted.stderr + linted.stdout).toContain('0 chart(s) failed');
      expect(linted.code).toBe(0);

      const rendered = await template(namespace, all);
      expect(rendered.stderr).toBe('');
      expect(rendered.code).toBe(0);
      const objects = parseObjects(rendered.stdout);

      const { served, absent } = await partitionServed(inject('kubeconfig'), objects);
      // Only the kinds this mode adds on purpose may be skipped.
      expect(absent.map((o) => o.kind).sort()).toEqual([...absentKinds].sort());
      const applied = await dryRunApply(inject('kubeconfig'), served);
      expect(applied.stderr).toBe('');
      expect(applied.code).toBe(0);
      for (const o of served) {
        expect(applied.stdout).toContain(`${o.metadata.name} serverside-applied (server dry run)`);
      }
    });
  });
});

describe('what the operator and the injector rely on', () => {
  let objects: K8sObject[];
  beforeAll(async () => {
    objects = parseObjects((await template('hookgate-system')).stdout);
  });

  it('renders the injector webhook exactly as agreed', () => {
    const mwc = find(objects, 'MutatingWebhookConfiguration', 'hookgate-sidecar-injector');
    expect(mwc['webhooks']).toEqual([
      {
        name: 'sidecar-injector.hookgate.io',
        admissionReviewVersions: ['v1'],
        sideEffects: 'None',
        timeoutSeconds: 5,
        failurePolicy: 'Fail',
        reinvocationPolicy: 'IfNeeded',
        matchPolicy: 'Equivalent',
        clientConfig: {
          service: {
            name: 'hookgate-operator-webhook',
            namespace: 'hookgate-system',
            path: '/inject',
            port: 443,
          },
        },
        rules: [
          {
            operations: ['CREATE'],
            apiGroups: [''],
            apiVersions: ['v1'],
            resources: ['pods'],
            scope: 'Namespaced',
          },
        ],
        namespaceSelector: {
          matchLabels: { 'hookgate.io/injection': 'enabled' },
          matchExpressions: [
            {
              key: 'kubernetes.io/metadata.name',
              operator: 'NotIn',
              values: ['kube-system', 'hookgate-system'],
            },
          ],
        },
      },
    ]);
    // self-managed: no cert-manager annotation, no caBundle for an upgrade to blank.
    expect(mwc.metadata.annotations).toBeUndefined();
  });

  it('runs the operator as agreed: names, flags, downward API, probes, restricted pod', () => {
    const deployment = find(objects, 'Deployment', 'hookgate-operator') as K8sObject & {
      spec: {
        replicas: number;
        selector: { matchLabels: Record<string, string> };
        template: { spec: Record<string, unknown> & { containers: Record<string, unknown>[] } };
      };
    };
    expect(deployment.spec.replicas).toBe(2);
    expect(deployment.spec.selector.matchLabels).toEqual({
      'app.kubernetes.io/name': 'hookgate',
      'app.kubernetes.io/component': 'operator',
    });
    const pod = deployment.spec.template.spec;
    expect(pod['serviceAccountName']).toBe('hookgate-operator');
    const container = pod.containers[0] as {
      image: string;
      args: string[];
      env: { name: string; value?: string; valueFrom?: unknown }[];
      ports: { name: string; containerPort: number }[];
      livenessProbe: { httpGet: { path: string; port: string } };
      readinessProbe: { httpGet: { path: string; port: string } };
      securityContext: Record<string, unknown>;
    };
    expect(container.image).toBe('ghcr.io/hookgate/operator:0.1.0');
    expect(container.args).toEqual(
      expect.arrayContaining([
        '--leader-elect=true',
        '--webhook-addr=0.0.0.0:9443',
        '--webhook-cert-mode=self-managed',
        '--sidecar-image=ghcr.io/hookgate/sidecar:0.1.0',
        '--sidecar-cpu-request=50m',
        '--sidecar-memory-request=64Mi',
        '--sidecar-cpu-limit=1',
        '--sidecar-memory-limit=256Mi',
        '--sidecar-log-level=info',
        '--sidecar-drain-timeout=10s',
        '--config-addr=0.0.0.0:15012',
      ]),
    );
    const env = Object.fromEntries(container.env.map((e) => [e.name, e.value ?? e.valueFrom]));
    expect(env['POD_NAMESPACE']).toEqual({ fieldRef: { fieldPath: 'metadata.namespace' } });
    expect(env['HOOKGATE_ADMIN_ADDR']).toBe('0.0.0.0:8080');
    expect(env['NODE_OPTIONS']).toBe('--max-semi-space-size=2 --max-old-space-size=160');
    expect(env).not.toHaveProperty('HOOKGATE_REDIS_URL');
    expect(container.ports).toEqual([
      { name: 'webhook', containerPort: 9443, protocol: 'TCP' },
      { name: 'admin', containerPort: 8080, protocol: 'TCP' },
      { name: 'config', containerPort: 15012, protocol: 'TCP' },
    ]);
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'admin' });
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'admin' });
    expect(container.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    expect(pod['securityContext']).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    const service = find(objects, 'Service', 'hookgate-operator-webhook') as K8sObject & {
      spec: { ports: unknown[] };
    };
    expect(service.spec.ports).toEqual([
      { name: 'https-webhook', port: 443, targetPort: 'webhook', protocol: 'TCP' },
    ]);
    // What the injector tells sidecars to dial (operator/config-server/service.ts).
    const config = find(objects, 'Service', 'hookgate-operator-config') as K8sObject & {
      spec: { ports: unknown[]; selector: unknown };
    };
    expect(config.spec.ports).toEqual([
      { name: 'https-config', port: 15012, targetPort: 'config', protocol: 'TCP' },
    ]);
    expect(config.spec.selector).toEqual(deployment.spec.selector.matchLabels);
    expect(find(objects, 'PodDisruptionBudget', 'hookgate-operator')['spec']).toMatchObject({
      maxUnavailable: 1,
    });
  });

  it('lets the operator manage its TLS Secret, webhook configuration and Lease, nothing more', () => {
    const role = find(objects, 'Role', 'hookgate-operator') as K8sObject & {
      rules: { resources: string[]; resourceNames?: string[]; verbs: string[] }[];
    };
    expect(role.rules).toContainEqual({
      apiGroups: [''],
      resources: ['secrets'],
      resourceNames: ['hookgate-webhook-tls'],
      verbs: ['get', 'list', 'watch', 'update', 'patch'],
    });
    expect(role.rules).toContainEqual({
      apiGroups: ['coordination.k8s.io'],
      resources: ['leases'],
      verbs: ['get', 'create', 'update'],
    });
    const clusterRole = find(objects, 'ClusterRole', 'hookgate-operator') as K8sObject & {
      rules: { resources: string[]; resourceNames?: string[]; verbs: string[] }[];
    };
    expect(clusterRole.rules).toContainEqual({
      apiGroups: ['admissionregistration.k8s.io'],
      resources: ['mutatingwebhookconfigurations'],
      resourceNames: ['hookgate-sidecar-injector'],
      verbs: ['get', 'list', 'watch', 'patch', 'update'],
    });
    // The config stream's authentication: TokenReview and a pod GET, no list, watch or write.
    expect(clusterRole.rules).toContainEqual({
      apiGroups: ['authentication.k8s.io'],
      resources: ['tokenreviews'],
      verbs: ['create'],
    });
    expect(clusterRole.rules.filter((r) => r.resources.includes('pods'))).toEqual([
      { apiGroups: [''], resources: ['pods'], verbs: ['get'] },
    ]);
    // No unnamed write outside status, Events, reviews (stored nowhere) and RoleBinding creation
    // (which RBAC cannot name; `bind` on one ClusterRole narrows what such a binding may grant).
    for (const rule of clusterRole.rules) {
      const writes = rule.verbs.filter((v) => ['create', 'update', 'patch', 'delete'].includes(v));
      if (writes.length === 0 || rule.resources.includes('events')) continue;
      if (rule.resources.join() === 'tokenreviews' && writes.join() === 'create') continue;
      if (rule.resources.every((r) => r.endsWith('/status'))) continue;
      if (rule.resources.join() === 'rolebindings' && writes.join() === 'create') continue;
      expect(rule.resourceNames, `${rule.resources.join(',')} ${writes.join(',')}`).toBeDefined();
    }
  });

  it('by default no Secret access of its own: one ClusterRole it may bind per opted-in namespace (issue 15, item 5)', () => {
    type Rule = {
      apiGroups: string[];
      resources: string[];
      resourceNames?: string[];
      verbs: string[];
    };
    const rulesOf = (kind: string, name: string): Rule[] =>
      (find(objects, kind, name) as K8sObject & { rules: Rule[] }).rules;
    const operatorRules = [
      ...rulesOf('ClusterRole', 'hookgate-operator'),
      ...rulesOf('Role', 'hookgate-operator'),
    ];
    // Secrets: only its own TLS Secret (by name) and creating it in its own namespace.
    expect(
      rulesOf('ClusterRole', 'hookgate-operator').filter((r) => r.resources.includes('secrets')),
    ).toEqual([]);
    expect(rulesOf('ClusterRole', 'hookgate-operator-secrets')).toEqual([
      { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'watch'] },
      {
        apiGroups: [''],
        resources: ['secrets'],
        resourceNames: ['hookgate-sidecar-secrets'],
        verbs: ['create', 'patch'],
      },
      // CA bundles in ConfigMaps (spec.tls.caBundle.configMapKeyRef), read where Secrets are.
      { apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'watch'] },
    ]);
    // Its own ClusterRole reads no ConfigMap but the one it publishes, by name.
    expect(
      rulesOf('ClusterRole', 'hookgate-operator').filter((r) => r.resources.includes('configmaps')),
    ).toEqual([
      {
        apiGroups: [''],
        resources: ['configmaps'],
        resourceNames: ['hookgate-sidecar-config'],
        verbs: ['get', 'list', 'watch', 'create', 'patch'],
      },
    ]);
    // Nothing binds the Secret role in the chart; the operator may bind that role and no other.
    const bound = objects
      .filter((o) => o.kind === 'RoleBinding' || o.kind === 'ClusterRoleBinding')
      .map((o) => (o as K8sObject & { roleRef: { name: string } }).roleRef.name);
    expect(bound).not.toContain('hookgate-operator-secrets');
    expect(
      operatorRules.filter((r) => r.verbs.includes('bind') || r.verbs.includes('escalate')),
    ).toEqual([
      {
        apiGroups: ['rbac.authorization.k8s.io'],
        resources: ['clusterroles'],
        resourceNames: ['hookgate-operator-secrets'],
        verbs: ['bind'],
      },
    ]);
    expect(operatorRules).toContainEqual({
      apiGroups: ['rbac.authorization.k8s.io'],
      resources: ['rolebindings'],
      resourceNames: ['hookgate-operator-secrets'],
      verbs: ['get', 'list', 'watch', 'delete'],
    });
  });

  it('watchNamespaces: Secrets are read only in the namespaces listed, never cluster-wide (issue 15, item 5)', async () => {
    type Rule = { resources: string[]; resourceNames?: string[]; verbs: string[] };
    const listed = parseObjects(
      (await template('hookgate-system', { 'operator.watchNamespaces': '{shop,billing}' })).stdout,
    );
    const clusterRole = find(listed, 'ClusterRole', 'hookgate-operator') as K8sObject & {
      rules: Rule[];
    };
    const secretRules = clusterRole.rules.filter((r) => r.resources.includes('secrets'));
    expect(secretRules).toEqual([]);
    // Nor any way to grant itself more: no RoleBinding writes, no bind, no Secret ClusterRole.
    expect(
      clusterRole.rules.filter((r) =>
        r.resources.some((x) => x.startsWith('role') || x === 'clusterroles'),
      ),
    ).toEqual([]);
    expect(listed.filter((o) => o.kind === 'ClusterRole').map((o) => o.metadata.name)).toEqual([
      'hookgate-operator',
    ]);
    for (const namespace of ['shop', 'billing']) {
      const role = listed.find(
        (o) =>
          o.kind === 'Role' &&
          o.metadata.name === 'hookgate-operator-secrets' &&
          o.metadata.namespace === namespace,
      ) as (K8sObject & { rules: Rule[] }) | undefined;
      expect(role?.rules, namespace).toContainEqual({
        apiGroups: [''],
        resources: ['secrets'],
        verbs: ['get', 'list', 'watch'],
      });
      expect(role?.rules, namespace).toContainEqual({
        apiGroups: [''],
        resources: ['configmaps'],
        verbs: ['get', 'list', 'watch'],
      });
      const binding = listed.find(
        (o) =>
          o.kind === 'RoleBinding' &&
          o.metadata.name === 'hookgate-operator-secrets' &&
          o.metadata.namespace === namespace,
      ) as (K8sObject & { subjects: { name: string; namespace: string }[] }) | undefined;
      expect(binding?.subjects).toEqual([
        { kind: 'ServiceAccount', name: 'hookgate-operator', namespace: 'hookgate-system' },
      ]);
    }
    // No Secret access in any namespace not listed.
    const namespacesWithSecretRoles = listed
      .filter((o) => o.kind === 'Role' && o.metadata.name === 'hookgate-operator-secrets')
      .map((o) => o.metadata.namespace);
    expect(namespacesWithSecretRoles.sort()).toEqual(['billing', 'shop']);
  });

  it('cert-manager mode: a Certificate into hookgate-webhook-tls and the CA injector annotation', async () => {
    const certManager = parseObjects(
      (await template('hookgate-system', { 'webhook.certMode': 'cert-manager' })).stdout,
    );
    const certificate = find(certManager, 'Certificate', 'hookgate-webhook');
    expect(certificate['spec']).toMatchObject({
      secretName: 'hookgate-webhook-tls',
      // The config stream serves the same certificate.
      dnsNames: [
        'hookgate-operator-webhook.hookgate-system.svc',
        'hookgate-operator-webhook.hookgate-system.svc.cluster.local',
        'hookgate-operator-config.hookgate-system.svc',
        'hookgate-operator-config.hookgate-system.svc.cluster.local',
      ],
      issuerRef: { name: 'hookgate-selfsigned', kind: 'Issuer', group: 'cert-manager.io' },
    });
    expect(find(certManager, 'Issuer', 'hookgate-selfsigned')['spec']).toEqual({ selfSigned: {} });
    expect(
      find(certManager, 'MutatingWebhookConfiguration').metadata.annotations?.[
        'cert-manager.io/inject-ca-from'
      ],
    ).toBe('hookgate-system/hookgate-webhook');
    const args = JSON.stringify(find(certManager, 'Deployment'));
    expect(args).toContain('--webhook-cert-mode=external');
  });

  it('config stream off: no Service, no port, no token review, and the flag says off', async () => {
    const off = parseObjects(
      (await template('hookgate-system', { 'configStream.enabled': 'false' })).stdout,
    );
    expect(off.filter((o) => o.metadata.name === 'hookgate-operator-config')).toEqual([]);
    const deployment = JSON.stringify(find(off, 'Deployment'));
    expect(deployment).toContain('"--config-addr="');
    expect(deployment).not.toContain('15012');
    expect(JSON.stringify(find(off, 'ClusterRole', 'hookgate-operator'))).not.toContain(
      'tokenreviews',
    );
  });

  it('Redis: the URL lives in a Secret, the operator reads it from there', async () => {
    const withRedis = parseObjects(
      (await template('hookgate-system', { 'redis.url': 'redis://:pw@redis:6379' })).stdout,
    );
    expect(find(withRedis, 'Secret', 'hookgate-redis')['stringData']).toEqual({
      url: 'redis://:pw@redis:6379',
    });
    const deployment = JSON.stringify(find(withRedis, 'Deployment'));
    expect(deployment).not.toContain(':pw@');
    expect(deployment).toContain('"secretKeyRef":{"name":"hookgate-redis","key":"url"}');
  });
});

describe('bad values fail naming the field', () => {
  it.each([
    // A wrong type.
    [{ 'operator.replicas': 'two' }, /replicas/],
    // A typo in a key: additionalProperties false names it.
    [{ 'operator.replica': '3' }, /replica/],
    // An unknown mode.
    [{ 'webhook.certMode': 'vault' }, /certMode/],
    // A Redis URL that is not one.
    [{ 'redis.url': 'localhost:6379' }, /url/],
    // A sidecar quantity that is not one.
    [{ 'sidecar.resources.limits.memory': 'lots' }, /memory/],
    // Two reconcilers without a Lease would overwrite each other.
    [{ 'operator.leaderElection': 'false' }, /operator\.leaderElection/],
    // A default policy with nowhere to go.
    [{ 'defaultPolicy.enabled': 'true' }, /defaultPolicy\.namespaces/],
    // A ServiceMonitor without the Service it scrapes.
    [
      { 'metrics.serviceMonitor.enabled': 'true', 'metrics.service.enabled': 'false' },
      /metrics\.service\.enabled/,
    ],
  ])('%o', async (values, field) => {
    const rendered = await template('hookgate-system', values);
    expect(rendered.code).not.toBe(0);
    expect(rendered.stderr).toMatch(field);
  });
});

// The injector as shipped: hookgate-operator started as a process with the contract's flags
// (self-managed certificates), and the external mode where cert-manager owns the Secret and the
// caBundle and the operator only reloads.
import { spawn, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { connect } from 'node:tls';
import type { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createCertificate } from '../../operator/certs/x509.ts';
import { kubeRequest } from '../cluster/apply.ts';
import { freePort, waitFor } from '../cluster/process.ts';
import { createTestNamespace, kubeClients, uniqueName, type KubeClients } from '../support/kube.ts';
import { admin, createOperatorIdentity, type OperatorIdentity } from '../operator/support.ts';
import {
  TEST_LABEL,
  applyWebhookRbac,
  createWebhookConfiguration,
  deleteWebhookConfiguration,
  startTestInjector,
  dryRunInjectedPod,
  type InjectedSpec,
} from './support.ts';

const root = resolve(import.meta.dirname, '../..');

describe('the injector in hookgate-operator', () => {
  let kube: KubeClients;
  let adminConfig: KubeConfig;
  let identity: OperatorIdentity;
  let removeRbac: () => Promise<void>;
  let configName: string;
  let ns: string;

  beforeAll(async () => {
    kube = kubeClients();
    adminConfig = kube.kubeConfig;
    configName = uniqueName('hookgate-operator-injector');
    identity = await createOperatorIdentity(adminConfig, join(inject('pkiDir'), 'ca.crt'));
    removeRbac = await applyWebhookRbac(adminConfig, identity, configName);
    ns = await createTestNamespace(kube.core, 'opinject', {
      'hookgate.io/injection': 'enabled',
      [TEST_LABEL]: configName,
    });
  });

  afterAll(async () => {
    await kube.core.deleteNamespace({ name: ns });
    await removeRbac();
    await identity.remove();
  });

  const injectedPod = (): Promise<InjectedSpec> => dryRunInjectedPod(adminConfig, ns);

  it('serves injection from the operator process with the contract flags', async () => {
    const port = await freePort();
    const operator: ChildProcess = spawn(
      process.execPath,
      [
        join(root, 'operator', 'main.ts'),
        `--kubeconfig=${identity.kubeconfigPath}`,
        `--watch-namespace=${ns}`,
        '--leader-elect=false',
        `--webhook-addr=127.0.0.1:${port}`,
        `--webhook-config=${configName}`,
        '--webhook-extra-hosts=127.0.0.1',
        '--sidecar-image=registry.example/hookgate/sidecar:test',
        '--sidecar-memory-limit=300Mi',
        // The config stream on a port of its own: test files run side by side.
        '--config-addr=127.0.0.1:0',
      ],
      {
        env: {
          ...process.env,
          POD_NAMESPACE: identity.namespace,
          HOOKGATE_ADMIN_ADDR: '127.0.0.1:0',
          HOOKGATE_LOG_LEVEL: 'info',
        },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const logs: Record<string, unknown>[] = [];
    createInterface({ input: operator.stdout! }).on('line', (line) =>
      logs.push(JSON.parse(line) as Record<string, unknown>),
    );
    try {
      await createWebhookConfiguration(adminConfig, configName, `https://127.0.0.1:${port}/inject`);
      const spec = await injectedPod();
      expect(spec.initContainers?.[0]).toMatchObject({
        name: 'hookgate-proxy',
        image: 'registry.example/hookgate/sidecar:test',
        resources: { limits: { memory: '300Mi' } },
      });
      // The config stream is on: the pod is told where and which CA, and holds a token instead of
      // the namespace's Secret (ADR 0020).
      const full = spec as InjectedSpec & {
        initContainers: { env: { name: string; value?: string }[] }[];
        volumes: { name: string }[];
      };
      const env = Object.fromEntries(full.initContainers[0]!.env.map((e) => [e.name, e.value]));
      const tls = await kubeRequest(
        adminConfig,
        'GET',
        `/api/v1/namespaces/${identity.namespace}/secrets/hookgate-webhook-tls`,
      );
      const caPem = Buffer.from(
        (tls.body['data'] as Record<string, string>)['ca.crt']!,
        'base64',
      ).toString();
      expect(env).toMatchObject({
        HOOKGATE_CONFIG_SERVER: `https://hookgate-operator-config.${identity.namespace}.svc:15012`,
        HOOKGATE_CONFIG_SERVER_CA: caPem,
        HOOKGATE_TOKEN_FILE: '/var/run/secrets/hookgate.io/token',
      });
      // After the API server's own kube-api-access volume.
      expect(full.volumes.map((v) => v.name).slice(-3)).toEqual([
        'hookgate-config',
        'hookgate-token',
        'hookgate-data',
      ]);
      const adminPort = await waitFor(
        'the admin server',
        () =>
          Promise.resolve(
            logs.find((l) => l['msg'] === 'admin server listening')?.['port'] as number | undefined,
          ),
        { timeoutMs: 10_000 },
      );
      const ready = await waitFor(
        'readiness',
        async () => {
          const res = await fetch(`http://127.0.0.1:${adminPort}/readyz`);
          return res.status === 200 ? res.text() : undefined;
        },
        { timeoutMs: 10_000 },
      );
      expect(ready).toBeDefined();
      const exited = once(operator, 'exit');
      operator.kill('SIGTERM');
      const [code] = (await exited) as [number | null];
      expect(code).toBe(0);
    } finally {
      operator.kill('SIGKILL');
      await deleteWebhookConfiguration(adminConfig, configName);
    }
  });

  it('in external mode serves what cert-manager put in the Secret, and reloads it', async () => {
    const name = 'hookgate-webhook-tls';
    const now = Date.now();
    const ca = createCertificate({
      commonName: 'cert-manager-ca',
      isCA: true,
      notBefore: new Date(now - 60_000),
      notAfter: new Date(now + 86_400_000),
    });
    const issue = (): ReturnType<typeof createCertificate> =>
      createCertificate({
        commonName: 'hookgate-operator-webhook',
        isCA: false,
        hosts: ['127.0.0.1'],
        notBefore: new Date(now - 60_000),
        notAfter: new Date(now + 86_400_000),
        issuer: ca,
      });
    const b64 = (s: string): string => Buffer.from(s).toString('base64');
    const secretBody = (pair: ReturnType<typeof issue>): object => ({
      metadata: { name, namespace: identity.namespace },
      type: 'kubernetes.io/tls',
      data: {
        'tls.crt': b64(pair.certPem),
        'tls.key': b64(pair.keyPem),
        'ca.crt': b64(ca.certPem),
      },
    });
    // A self-managed run above may have left its Secret: cert-manager's replaces it.
    await kubeRequest(
      adminConfig,
      'DELETE',
      `/api/v1/namespaces/${identity.namespace}/secrets/${name}`,
    );
    const first = issue();
    await admin(
      adminConfig,
      'POST',
      `/api/v1/namespaces/${identity.namespace}/secrets`,
      secretBody(first),
    );
    const running = await startTestInjector(identity, configName, { mode: 'external' });
    try {
      await createWebhookConfiguration(
        adminConfig,
        configName,
        `https://127.0.0.1:${running.injector.port}/inject`,
        b64(ca.certPem),
      );
      await injectedPod();
      const served = async (): Promise<string> => {
        const socket = connect({ host: '127.0.0.1', port: running.injector.port, ca: ca.certPem });
        await once(socket, 'secureConnect');
        const fingerprint = socket.getPeerX509Certificate()!.fingerprint256;
        socket.destroy();
        return fingerprint;
      };
      expect(await served()).toBe(new X509Certificate(first.certPem).fingerprint256);
      // cert-manager renews: the operator serves the new certificate without a restart.
      const second = issue();
      await admin(
        adminConfig,
        'PUT',
        `/api/v1/namespaces/${identity.namespace}/secrets/${name}`,
        secretBody(second),
      );
      const want = new X509Certificate(second.certPem).fingerprint256;
      await waitFor(
        'the renewed certificate',
        async () => ((await served()) === want ? true : undefined),
        {
          timeoutMs: 10_000,
        },
      );
      // The operator wrote nothing: the Secret and the caBundle are cert-manager's.
      const config = await admin<{ webhooks: { clientConfig: { caBundle: string } }[] }>(
        adminConfig,
        'GET',
        `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${configName}`,
      );
      expect(config.webhooks[0]!.clientConfig.caBundle).toBe(b64(ca.certPem));
      expect(running.logs.filter((l) => l['msg'] === 'webhook certificates written')).toEqual([]);
    } finally {
      await deleteWebhookConfiguration(adminConfig, configName);
      await running.stop();
    }
  });
});

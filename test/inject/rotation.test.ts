// Certificate rotation under load: two injector replicas share one TLS Secret (the first writer
// wins, the other reads), behind a round-robin TCP proxy the API server calls. Lifetimes are cut
// to seconds so that, while pods are created without pause, the serving certificate is renewed
// several times and the CA rotates (new CA added to caBundle, serving certificates moved to it,
// old CA dropped) — and not one pod creation fails.
import { X509Certificate } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { kubeRequest } from '../cluster/apply.ts';
import { waitFor } from '../cluster/process.ts';
import { createTestNamespace, kubeClients, uniqueName, type KubeClients } from '../support/kube.ts';
import { createOperatorIdentity, read, type OperatorIdentity } from '../operator/support.ts';
import { parseBundle } from '../../operator/certs/x509.ts';
import {
  TEST_LABEL,
  applyWebhookRbac,
  createWebhookConfiguration,
  deleteWebhookConfiguration,
  startTestInjector,
  type RunningInjector,
} from './support.ts';

const SECOND = 1000;

/** A TCP proxy sending each new connection to the next backend in turn. */
async function roundRobin(
  ports: () => number[],
): Promise<{ port: number; server: Server; sockets: Set<Socket> }> {
  let next = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const targets = ports();
    const upstream = connect(targets[next++ % targets.length]!, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, server, sockets };
}

describe('webhook certificate rotation while pods are created', () => {
  let kube: KubeClients;
  let adminConfig: KubeConfig;
  let identity: OperatorIdentity;
  let removeRbac: () => Promise<void>;
  let replicas: RunningInjector[] = [];
  let proxy: Awaited<ReturnType<typeof roundRobin>>;
  let configName: string;
  let ns: string;

  beforeAll(async () => {
    kube = kubeClients();
    adminConfig = kube.kubeConfig;
    configName = uniqueName('hookgate-rotation');
    identity = await createOperatorIdentity(adminConfig, join(inject('pkiDir'), 'ca.crt'));
    removeRbac = await applyWebhookRbac(adminConfig, identity, configName);
    ns = await createTestNamespace(kube.core, 'rotate', {
      'hookgate.io/injection': 'enabled',
      [TEST_LABEL]: configName,
    });
    const policy = {
      caValidityMs: 24 * SECOND,
      certValidityMs: 9 * SECOND,
      caPropagationMs: 2 * SECOND,
    };
    // Two replicas starting at once: both find no Secret, one creation wins.
    replicas = await Promise.all([
      startTestInjector(identity, configName, { policy }),
      startTestInjector(identity, configName, { policy }),
    ]);
    proxy = await roundRobin(() => replicas.map((r) => r.injector.port));
    await createWebhookConfiguration(
      adminConfig,
      configName,
      `https://127.0.0.1:${proxy.port}/inject`,
    );
  });

  afterAll(async () => {
    await deleteWebhookConfiguration(adminConfig, configName);
    for (const s of proxy.sockets) s.destroy();
    await new Promise((resolve) => proxy.server.close(resolve));
    await Promise.all(replicas.map((r) => r.stop()));
    await kube.core.deleteNamespace({ name: ns });
    await removeRbac();
    await identity.remove();
  });

  const createPod = (name: string): ReturnType<typeof kubeRequest> =>
    kubeRequest(
      adminConfig,
      'POST',
      `/api/v1/namespaces/${ns}/pods`,
      JSON.stringify({
        metadata: { name, annotations: { 'hookgate.io/inject': 'true' } },
        spec: { containers: [{ name: 'app', image: 'a' }] },
      }),
    );

  it('creates and injects every pod through renewals and a CA rotation', async () => {
    // Start once the API server trusts the first CA (the caBundle patch has propagated).
    let probe = 0;
    await waitFor(
      'the first injected pod',
      async () => {
        const res = await createPod(`probe-${probe++}`);
        return res.status === 201 ? true : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 250 },
    );

    const tlsPath = `/api/v1/namespaces/${identity.namespace}/secrets/hookgate-webhook-tls`;
    const firstCa = new X509Certificate(
      Buffer.from(
        ((await read(adminConfig, tlsPath))!['data'] as Record<string, string>)['ca.crt']!,
        'base64',
      ),
    );
    const failures: string[] = [];
    let created = 0;
    let notInjected = 0;
    const deadline = Date.now() + 30 * SECOND;
    const worker = async (w: number): Promise<void> => {
      for (let i = 0; Date.now() < deadline; i++) {
        const res = await createPod(`pod-${w}-${i}`);
        if (res.status !== 201) failures.push(`${res.status} ${res.body.message ?? ''}`);
        else {
          created++;
          const spec = res.body['spec'] as { initContainers?: { name: string }[] };
          if (spec.initContainers?.[0]?.name !== 'hookgate-proxy') notInjected++;
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };
    await Promise.all([worker(0), worker(1), worker(2)]);

    expect(failures).toEqual([]);
    expect(notInjected).toBe(0);
    expect(created).toBeGreaterThan(100);

    // What happened on the way, from the replicas' logs.
    const reasons = replicas.flatMap((r) =>
      r.logs
        .filter((l) => l['msg'] === 'webhook certificates written')
        .map((l) => String(l['reasons'])),
    );
    expect(reasons.filter((r) => r.includes('no CA'))).toHaveLength(1);
    expect(reasons.some((r) => r.includes('serving certificate due for renewal'))).toBe(true);
    expect(reasons.some((r) => r.includes('CA due for rotation'))).toBe(true);
    // A serving certificate from the new CA replaced the first one (its reason may be either
    // the move or a renewal that fell due at the same time).

    // Both replicas end up serving what the Secret holds, and caBundle holds its CAs.
    const secret = await read(
      adminConfig,
      `/api/v1/namespaces/${identity.namespace}/secrets/hookgate-webhook-tls`,
    );
    const data = secret!['data'] as Record<string, string>;
    const serving = new X509Certificate(Buffer.from(data['tls.crt']!, 'base64'));
    await waitFor(
      'both replicas to serve the current certificate',
      () =>
        Promise.resolve(
          replicas.every((r) => {
            const loaded = r.logs
              .filter((l) => l['msg'] === 'webhook serving certificate loaded')
              .at(-1);
            return loaded?.['notAfter'] === serving.validTo;
          })
            ? true
            : undefined,
        ),
      { timeoutMs: 10_000 },
    );
    const config = await read(
      adminConfig,
      `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${configName}`,
    );
    const caBundle = (config!['webhooks'] as { clientConfig: { caBundle: string } }[])[0]!
      .clientConfig.caBundle;
    const cas = parseBundle(Buffer.from(caBundle, 'base64').toString('utf8'));
    expect(cas.some((ca) => serving.checkIssued(ca))).toBe(true);
    expect(serving.checkIssued(firstCa)).toBe(false);
    expect(cas.map((c) => c.fingerprint256)).not.toContain(firstCa.fingerprint256);
  });
});

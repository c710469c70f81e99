// A receiver's CA bundle from a ConfigMap (spec.tls.caBundle.configMapKeyRef), end to end: the
// operator runs under the shipped RBAC (deploy/operator-rbac.yaml) against the real API server,
// reads the ConfigMap, checks it (missing ConfigMap, missing key, not PEM: Ready=False naming the
// field, in ConfigMap words), publishes the bundle, and an egress sidecar loading what was
// published delivers to an HTTPS receiver of a private CA and refuses one of another CA. A CA
// rotated in the ConfigMap the way trust-manager rolls one (both CAs, then the new one only) is
// published and taken up under load with zero failed deliveries.
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { createLogger } from '../../common/log.ts';
import { createCertificate, type KeyPair } from '../../operator/certs/x509.ts';
import type { KubeObject } from '../../operator/kube/types.ts';
import type { LoadedConfig } from '../../sidecar/config/load.ts';
import { startEgressServer, type EgressServer } from '../../sidecar/egress/server.ts';
import type { Manifest } from '../cluster/apply.ts';
import { createTestNamespace, kubeClients, type KubeClients } from '../support/kube.ts';
import {
  apply,
  condition,
  createOperatorIdentity,
  endpointManifest,
  eventsFor,
  hookgatePath,
  loadPublished,
  policyManifest,
  read,
  startOperator,
  type OperatorIdentity,
  type RunningOperator,
} from '../operator/support.ts';
import { load } from './harness.ts';

/** Sends deliveries, `concurrency` at a time, until `stop` is called; resolves with the answers. */
function loadUntilStopped(
  send: () => Promise<Response>,
  concurrency: number,
): { stop: () => Promise<{ status: number; body: string }[]> } {
  const results: { status: number; body: string }[] = [];
  let stopped = false;
  const worker = async (): Promise<void> => {
    while (!stopped) {
      const res = await send();
      results.push({ status: res.status, body: await res.text() });
    }
  };
  const workers = Promise.all(Array.from({ length: concurrency }, worker));
  return {
    stop: async () => {
      stopped = true;
      await workers;
      return results;
    },
  };
}

const poll = { timeout: 20_000, interval: 100 };
const notBefore = new Date(Date.now() - 60_000);
const notAfter = new Date(Date.now() + 86_400_000);
const ca = (commonName: string): KeyPair =>
  createCertificate({ commonName, notBefore, notAfter, isCA: true });
const firstCa = ca('receiver-ca-first');
const nextCa = ca('receiver-ca-next');
const otherCa = ca('someone-else');
// The receiver's certificates name receiver.test only: the endpoint sets serverName.
const serving = (issuer: KeyPair): KeyPair =>
  createCertificate({
    commonName: 'receiver.test',
    notBefore,
    notAfter,
    isCA: false,
    hosts: ['receiver.test'],
    issuer,
  });

interface Receiver {
  readonly url: string;
  seen: number;
  /** New connections get a certificate of `issuer`; open ones are closed when `drop`. */
  serveFrom(issuer: KeyPair, drop?: boolean): Promise<void>;
  close(): Promise<void>;
}

async function startReceiver(issuer: KeyPair): Promise<Receiver> {
  const first = serving(issuer);
  const server: Server = createServer({ key: first.keyPem, cert: first.certPem }, (req, res) => {
    req.resume();
    req.on('end', () => {
      receiver.seen++;
      res.end('{"ok":true}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const receiver: Receiver = {
    url: `https://127.0.0.1:${port}`,
    seen: 0,
    serveFrom: async (next, drop = false) => {
      const pair = serving(next);
      server.setSecureContext({ key: pair.keyPem, cert: pair.certPem });
      if (!drop) return;
      server.closeAllConnections();
      // Let the client see the closes before it picks a pooled connection again.
      await new Promise((resolve) => setTimeout(resolve, 100));
    },
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
  return receiver;
}

/** An egress sidecar on the published config; `reload` loads what is published now. */
interface Sidecar {
  post(): Promise<Response>;
  reload(config: LoadedConfig): void;
  readonly logs: string[];
  close(): Promise<void>;
}

async function startSidecar(initial: LoadedConfig): Promise<Sidecar> {
  let loaded = initial;
  const logs: string[] = [];
  const server: EgressServer = await startEgressServer('127.0.0.1', 0, {
    config: () => loaded,
    registry: new Registry(),
    log: createLogger({ test: 'ca-configmap' }, 'debug', (line) => logs.push(line)),
  });
  return {
    logs,
    post: () =>
      fetch(`http://127.0.0.1:${server.port}/partner`, {
        method: 'POST',
        body: '{"type":"order.created"}',
        headers: { 'content-type': 'application/json' },
      }),
    reload: (next) => {
      loaded = next;
    },
    close: () => server.close(1000),
  };
}

/** A line from inside a certificate's PEM: what no status, Event or log may carry. */
const pemBody = (pair: KeyPair): string => pair.certPem.split('\n')[2]!;

const configMapManifest = (namespace: string, data: Record<string, string>): Manifest => ({
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'partner-ca', namespace },
  data,
});

describe('a CA bundle from a ConfigMap', () => {
  let kube: KubeClients;
  let adminConfig: KubeConfig;
  let identity: OperatorIdentity;
  let ns: string;
  let running: RunningOperator | undefined;
  let receiver: Receiver | undefined;
  let sidecar: Sidecar | undefined;

  beforeAll(async () => {
    kube = kubeClients();
    adminConfig = kube.kubeConfig;
    identity = await createOperatorIdentity(adminConfig, join(inject('pkiDir'), 'ca.crt'));
  });
  afterAll(async () => {
    await identity.remove();
  });
  beforeEach(async () => {
    ns = await createTestNamespace(kube.core, 'ca-cm');
    running = await startOperator(identity, [ns]);
  });
  afterEach(async () => {
    await sidecar?.close();
    await receiver?.close();
    await running?.stop();
    sidecar = undefined;
    receiver = undefined;
    running = undefined;
    await kube.core.deleteNamespace({ name: ns });
  });

  const partner = async (): Promise<KubeObject | undefined> =>
    read(adminConfig, hookgatePath(ns, 'webhookendpoints', 'partner'));
  const applyEndpoint = async (url: string): Promise<void> => {
    await apply(
      adminConfig,
      policyManifest(ns, 'loopback', {
        endpointSelector: { matchLabels: { app: 'partner' } },
        destinations: { allowedCIDRs: ['127.0.0.0/8'] },
        retry: { maxAttempts: 1 },
      }),
    );
    await apply(
      adminConfig,
      endpointManifest(
        ns,
        'partner',
        {
          direction: 'Egress',
          url: `${url}/hook`,
          tls: {
            caBundle: { configMapKeyRef: { name: 'partner-ca' } },
            serverName: 'receiver.test',
          },
        },
        { app: 'partner' },
      ),
    );
  };
  /** The CA PEM the published config trusts for partner, once it is Ready. */
  const publishedCa = async (): Promise<string | undefined> =>
    (await loadPublished(adminConfig, ns))?.loaded.egress.endpoints.get('partner')?.tls?.ca;
  const published = async (): Promise<LoadedConfig> =>
    (await loadPublished(adminConfig, ns))!.loaded;

  it('refuses a missing ConfigMap, a missing key and a value that is not PEM, naming the field', async () => {
    await applyEndpoint('https://hooks.partner.example');
    const ready = async (): Promise<{ status: string; reason: string; message: string }> =>
      condition(await partner(), 'Ready') ?? { status: '', reason: '', message: '' };
    const acceptedCondition = async (): Promise<{ reason: string; message: string }> =>
      condition(await partner(), 'Accepted') ?? { reason: '', message: '' };
    const accepted = async (): Promise<string> => (await acceptedCondition()).reason;

    await expect.poll(accepted, poll).toBe('ConfigMapNotFound');
    expect(await ready()).toMatchObject({ status: 'False' });
    expect((await acceptedCondition()).message).toBe(
      `ConfigMap "partner-ca" (spec.tls.caBundle.configMapKeyRef) does not exist in namespace "${ns}"`,
    );

    // A ConfigMap with other keys only: its big non-certificate value is no CA and no news.
    await apply(adminConfig, configMapManifest(ns, { 'settings.json': 'x'.repeat(200_000) }));
    await expect.poll(accepted, poll).toBe('ConfigMapKeyNotFound');
    expect((await acceptedCondition()).message).toBe(
      'ConfigMap "partner-ca" has no key "ca.crt" in its data (spec.tls.caBundle.configMapKeyRef)',
    );

    await apply(adminConfig, configMapManifest(ns, { 'ca.crt': 'not-a-pem-bundle-93be' }));
    await expect.poll(accepted, poll).toBe('ConfigMapValueInvalid');
    expect((await acceptedCondition()).message).toContain('spec.tls.caBundle.configMapKeyRef');
    expect((await acceptedCondition()).message).toContain('is not a PEM CA bundle');
    expect((await ready()).message).toContain('is not a PEM CA bundle');

    await apply(adminConfig, configMapManifest(ns, { 'ca.crt': firstCa.certPem }));
    await expect.poll(async () => (await ready()).status, poll).toBe('True');
    expect(await publishedCa()).toBe(firstCa.certPem.trim());

    const status = JSON.stringify((await partner())?.['status']);
    const notes = (await eventsFor(adminConfig, ns, 'partner')).map((e) => e.note).join('\n');
    expect(notes).toContain('ConfigMap "partner-ca"');
    for (const text of [status, notes]) {
      expect(text).not.toContain('not-a-pem-bundle-93be');
      expect(text).not.toContain(pemBody(firstCa));
      expect(text).not.toContain('Secret "partner-ca"');
    }
    // The operator's cache keeps the certificate key only, not the ConfigMap's other data.
    const cached = running!.operator.caches.caBundles.get(ns, 'partner-ca');
    expect(Object.keys((cached?.['data'] as object | undefined) ?? {})).toEqual(['ca.crt']);
  });

  it('delivers to a receiver of the private CA, refuses another CA, and rotates under load', async () => {
    receiver = await startReceiver(firstCa);
    await apply(adminConfig, configMapManifest(ns, { 'ca.crt': firstCa.certPem }));
    await applyEndpoint(receiver.url);
    await expect.poll(async () => condition(await partner(), 'Ready')?.status, poll).toBe('True');
    sidecar = await startSidecar(await published());
    expect((await sidecar.post()).status).toBe(200);

    // A receiver certificate of a CA the ConfigMap does not hold is refused before any request.
    await receiver.serveFrom(otherCa, true);
    const seen = receiver.seen;
    const refused = await sidecar.post();
    expect(refused.status).toBe(502);
    expect(((await refused.json()) as { type: string }).type).toBe(
      'https://hookgate.io/problems/receiver-unreachable',
    );
    expect(receiver.seen).toBe(seen);
    await receiver.serveFrom(firstCa, true);
    expect((await sidecar.post()).status).toBe(200);

    // Rotation as trust-manager rolls a CA: both in the bundle, the receiver moves, the old goes.
    const rotated = loadUntilStopped(() => sidecar!.post(), 8);
    const publish = async (pem: string): Promise<void> => {
      await apply(adminConfig, configMapManifest(ns, { 'ca.crt': pem }));
      await expect.poll(publishedCa, poll).toBe(pem.trim());
      sidecar!.reload(await published());
    };
    while (receiver.seen < seen + 50) await new Promise((r) => setTimeout(r, 5));
    await publish(`${firstCa.certPem.trim()}\n${nextCa.certPem}`);
    // Open connections finish on the old certificate; new ones get the next CA's.
    await receiver.serveFrom(nextCa);
    await publish(nextCa.certPem);
    const during = await rotated.stop();
    expect(during.length).toBeGreaterThan(100);
    const after = await load(() => sidecar!.post(), 50, 8);
    expect([...during, ...after].filter((r) => r.status !== 200)).toEqual([]);

    // Enforced: the first CA is no longer trusted on a new connection.
    await receiver.serveFrom(firstCa, true);
    expect((await sidecar.post()).status).toBe(502);
    expect(sidecar.logs.join('\n')).not.toContain(pemBody(nextCa));
  });
});

import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { connect as connectH2 } from 'node:http2';
import { connect as tlsConnect } from 'node:tls';
import { Registry } from 'prom-client';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../common/log.ts';
import type { KubeObject } from '../kube/types.ts';
import { createCertificate, type KeyPair } from '../certs/x509.ts';
import { createWebhookMetrics } from './metrics.ts';
import { Reviewer } from './review.ts';
import { startWebhookServer, type WebhookServer } from './server.ts';

const now = new Date();
const inAYear = new Date(now.getTime() + 365 * 86_400_000);
const ca = createCertificate({
  commonName: 'test-ca',
  isCA: true,
  notBefore: now,
  notAfter: inAYear,
});
const leaf = (): KeyPair =>
  createCertificate({
    commonName: 'webhook',
    isCA: false,
    hosts: ['127.0.0.1'],
    notBefore: now,
    notAfter: inAYear,
    issuer: ca,
  });

const defaults = {
  image: 'ghcr.io/hookgate/sidecar:0.1.0',
  cpuRequest: '50m',
  memoryRequest: '64Mi',
  cpuLimit: '1',
  memoryLimit: '256Mi',
  logLevel: 'info',
  drainTimeout: '10s',
};

function review(object: unknown, kind = 'Pod', operation = 'CREATE'): object {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: 'uid-1',
      kind: { group: '', version: 'v1', kind },
      operation,
      namespace: 'team',
      object,
    },
  };
}

describe('webhook server', () => {
  let server: WebhookServer;
  const first = leaf();
  const registry = new Registry();
  const events: { regarding: KubeObject; reason: string }[] = [];
  let clock = 0;

  beforeAll(async () => {
    server = await startWebhookServer({
      host: '127.0.0.1',
      port: 0,
      certificate: first,
      reviewer: new Reviewer({
        injector: { defaults, version: '0.1.0' },
        configGeneration: () => 3,
        log: createLogger({}, 'error'),
        events: (regarding, _type, reason) => events.push({ regarding, reason }),
        now: () => clock,
      }),
      metrics: createWebhookMetrics(registry),
      log: createLogger({}, 'error'),
    });
  });
  afterAll(() => server.close());

  const agent = new Agent({
    connect: { ca: ca.certPem, servername: '' },
    keepAliveTimeout: 60_000,
  });
  const post = async (
    body: unknown,
    path = '/inject',
    dispatcher = agent,
  ): Promise<{ status: number; json: Record<string, unknown> }> => {
    const res = await request(`https://127.0.0.1:${server.port}${path}`, {
      method: 'POST',
      body: typeof body === 'string' ? body : JSON.stringify(body),
      headers: { 'content-type': 'application/json' },
      dispatcher,
    });
    return { status: res.statusCode, json: (await res.body.json()) as Record<string, unknown> };
  };

  it('answers an AdmissionReview with a JSON patch', async () => {
    const { status, json } = await post(
      review({
        metadata: { generateName: 'web-', annotations: { 'hookgate.io/inject': 'true' } },
        spec: { containers: [{ name: 'app', image: 'a' }] },
      }),
    );
    expect(status).toBe(200);
    const response = json['response'] as { uid: string; allowed: boolean; patch: string };
    expect(response).toMatchObject({ uid: 'uid-1', allowed: true, patchType: 'JSONPatch' });
    const patch = JSON.parse(Buffer.from(response.patch, 'base64').toString()) as {
      path: string;
    }[];
    expect(patch.map((p) => p.path)).toContain('/spec/initContainers');
  });

  it('speaks HTTP/2, as the API server does, many reviews on one connection', async () => {
    const session = connectH2(`https://127.0.0.1:${server.port}`, { ca: ca.certPem });
    const one = (): Promise<Record<string, unknown>> =>
      new Promise((resolve, reject) => {
        const stream = session.request({ ':method': 'POST', ':path': '/inject' });
        let text = '';
        stream.setEncoding('utf8');
        stream.on('data', (chunk: string) => (text += chunk));
        stream.on('end', () => resolve(JSON.parse(text) as Record<string, unknown>));
        stream.on('error', reject);
        stream.end(JSON.stringify(review({ metadata: {} }, 'ConfigMap')));
      });
    const answers = await Promise.all(Array.from({ length: 50 }, one));
    expect(answers.every((a) => (a['response'] as { allowed: boolean }).allowed)).toBe(true);
    session.close();
  });

  it('survives a client that goes away mid-request', async () => {
    const socket = tlsConnect({
      host: '127.0.0.1',
      port: server.port,
      ca: ca.certPem,
      ALPNProtocols: ['http/1.1'],
    });
    await once(socket, 'secureConnect');
    socket.write('POST /inject HTTP/1.1\r\nhost: x\r\ncontent-length: 1000\r\n\r\n{"apiVersion":');
    await new Promise((resolve) => setTimeout(resolve, 50));
    socket.destroy();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect((await post(review({}, 'ConfigMap'))).status).toBe(200);
  });

  it('allows what is not a Pod CREATE without a patch', async () => {
    const { json } = await post(review({ metadata: {} }, 'Pod', 'UPDATE'));
    expect(json['response']).toEqual({ uid: 'uid-1', allowed: true });
  });

  it('never injects in kube-system, whatever its labels say', async () => {
    const body = review({
      metadata: { annotations: { 'hookgate.io/inject': 'true' } },
      spec: { containers: [{ name: 'app', image: 'a' }] },
    }) as { request: { namespace: string } };
    body.request.namespace = 'kube-system';
    const { json } = await post(body);
    expect(json['response']).toEqual({ uid: 'uid-1', allowed: true });
  });

  it('refuses a bad annotation with 400 and the message', async () => {
    const { json } = await post(
      review({
        metadata: { annotations: { 'hookgate.io/inject': 'true', 'hookgate.io/app-port': '0' } },
        spec: { containers: [{ name: 'app', image: 'a' }] },
      }),
    );
    expect(json['response']).toMatchObject({
      allowed: false,
      status: {
        code: 400,
        message: expect.stringContaining('hookgate.io/app-port: "0"') as string,
      },
    });
  });

  it('emits one Event per owner and reason in a window', async () => {
    const skipped = {
      metadata: {
        generateName: 'web-abc-',
        ownerReferences: [
          {
            apiVersion: 'apps/v1',
            kind: 'ReplicaSet',
            name: 'web-abc',
            uid: 'rs-1',
            controller: true,
          },
        ],
      },
      spec: { containers: [{ name: 'app', image: 'a' }] },
    };
    await post(review(skipped));
    await post(review(skipped));
    expect(events).toEqual([
      {
        regarding: {
          apiVersion: 'apps/v1',
          kind: 'ReplicaSet',
          metadata: { name: 'web-abc', namespace: 'team', uid: 'rs-1' },
        },
        reason: 'NotAnnotated',
      },
    ]);
    clock += 11 * 60_000;
    await post(review(skipped));
    expect(events).toHaveLength(2);
  });

  it.each([
    // Each row: a request the server refuses before reviewing, and its status.
    ['not JSON', 'nope', '/inject', 400],
    ['not an AdmissionReview', { kind: 'Other' }, '/inject', 400],
    ['another path', review({}), '/mutate', 404],
  ])('refuses %s', async (_what, body, path, status) => {
    expect((await post(body, path)).status).toBe(status);
  });

  it('swaps the certificate for new connections without dropping open ones', async () => {
    const handshakes: string[] = [];
    const kept = new Agent({
      connect: {
        ca: ca.certPem,
        checkServerIdentity: (_host, cert) => {
          handshakes.push(cert.fingerprint256);
          return undefined;
        },
      },
      keepAliveTimeout: 60_000,
      connections: 1,
    });
    const seen = new Set<string>();
    const peer = new Agent({
      connect: {
        ca: ca.certPem,
        checkServerIdentity: (_host, cert) => {
          seen.add(cert.fingerprint256);
          return undefined;
        },
      },
    });
    expect((await post(review({}, 'ConfigMap'), '/inject', kept)).status).toBe(200);
    const second = leaf();
    server.setCertificate(second);
    // The open connection still answers…
    expect((await post(review({}, 'ConfigMap'), '/inject', kept)).status).toBe(200);
    expect(handshakes).toEqual([new X509Certificate(first.certPem).fingerprint256]);
    // …and a new one is served the new certificate.
    expect((await post(review({}, 'ConfigMap'), '/inject', peer)).status).toBe(200);
    expect([...seen]).toEqual([new X509Certificate(second.certPem).fingerprint256]);
    await Promise.all([kept.close(), peer.close()]);
  });

  it('times every review in the histogram', async () => {
    const text = await registry.getSingleMetricAsString(
      'hookgate_operator_webhook_duration_seconds',
    );
    expect(text).toMatch(
      /hookgate_operator_webhook_duration_seconds_count\{outcome="injected"\} 1/,
    );
    expect(text).toMatch(/hookgate_operator_webhook_duration_seconds_count\{outcome="skipped"\} 3/);
  });
});

// Test workloads on the node without images of their own: small Node scripts from a ConfigMap,
// run by the sidecar image's Node. The receiver keeps what it was sent (GET /received), the app
// sends a webhook through its sidecar when asked (GET /send/<endpoint>); both are reached by pod IP
// from the host (the node routes its pod subnet to the host).
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { apply, kubectl } from './kube.ts';

/** The API server's `--service-cluster-ip-range` (test/cluster/controlplane.ts). */
export const SERVICE_CIDR = '10.0.0.0/24';

const receiverScript = `
import { createServer } from 'node:http';
const received = [];
createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/received') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(received));
    return;
  }
  const chunks = [];
  let size = 0;
  req.on('data', (c) => { size += c.length; if (size <= 1 << 20) chunks.push(c); });
  req.on('end', () => {
    if (received.length < 10000) {
      received.push({ path: req.url, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
    }
    res.writeHead(Number(process.env.ANSWER ?? 204)).end();
  });
}).listen(8080);
`;

const appScript = `
import { createServer } from 'node:http';
createServer(async (req, res) => {
  const match = /^\\/send\\/([a-z0-9-]+)(\\?async)?$/.exec(req.url ?? '');
  if (match === null) { res.writeHead(200).end('app'); return; }
  try {
    const headers = { 'content-type': 'application/json' };
    if (match[2] !== undefined) headers.prefer = 'respond-async';
    const body = JSON.stringify({ type: 'order.created', n: Number(req.headers['x-n'] ?? 0) });
    const answer = await fetch(process.env.HOOKGATE_EGRESS_URL + '/' + match[1], { method: 'POST', headers, body });
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({
      status: answer.status,
      deliveryId: answer.headers.get('hookgate-delivery-id'),
      body: await answer.text(),
    }));
  } catch (err) {
    res.writeHead(599).end(String(err));
  }
}).listen(8080);
`;

/** A `whsec_` Standard Webhooks secret. */
export function newSigningSecret(): string {
  return `whsec_${randomBytes(24).toString('base64')}`;
}

/** The ConfigMap with the two scripts; apply once per namespace. */
export async function applyScripts(namespace: string): Promise<void> {
  await apply(namespace, {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'scripts' },
    data: { 'receiver.mjs': receiverScript, 'app.mjs': appScript },
  });
}

/** A container running one of the scripts with the sidecar image's Node, as UID 1000. */
function scriptContainer(script: 'receiver' | 'app', env: Record<string, string> = {}): object {
  return {
    name: script,
    image: inject('nodeImages')['sidecar'],
    imagePullPolicy: 'IfNotPresent',
    command: ['node', `/scripts/${script}.mjs`],
    env: Object.entries(env).map(([name, value]) => ({ name, value })),
    ports: [{ containerPort: 8080, name: 'http' }],
    readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 },
    securityContext: { runAsUser: 1000, runAsGroup: 1000, allowPrivilegeEscalation: false },
    volumeMounts: [{ name: 'scripts', mountPath: '/scripts', readOnly: true }],
  };
}

const scriptsVolume = { name: 'scripts', configMap: { name: 'scripts' } };

/** The receiver Deployment and its Service `receiver` (port 8080). */
export async function applyReceiver(
  namespace: string,
  env: Record<string, string> = {},
): Promise<void> {
  await apply(
    namespace,
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'receiver' },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'receiver' } },
        template: {
          metadata: { labels: { app: 'receiver' } },
          spec: {
            terminationGracePeriodSeconds: 1,
            containers: [scriptContainer('receiver', env)],
            volumes: [scriptsVolume],
          },
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'receiver' },
      spec: { selector: { app: 'receiver' }, ports: [{ port: 8080, targetPort: 8080 }] },
    },
  );
}

/** The app's pod template (annotated for injection), for a Deployment or a Job. */
export function appPodTemplate(
  annotations: Record<string, string> = {},
  labels: Record<string, string> = {},
): object {
  return {
    metadata: {
      labels: { app: 'orders', ...labels },
      annotations: { 'hookgate.io/inject': 'true', ...annotations },
    },
    spec: {
      terminationGracePeriodSeconds: 5,
      containers: [scriptContainer('app')],
      volumes: [scriptsVolume],
    },
  };
}

/** An opted-in namespace with a signing Secret, a policy admitting cluster Services, and an Egress endpoint `receiver`. */
export async function applyEgressSetup(
  namespace: string,
  secret: string,
  policy: object = {},
): Promise<void> {
  await apply(
    namespace,
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'receiver-signing' },
      stringData: { secret },
    },
    {
      apiVersion: 'hookgate.io/v1alpha1',
      kind: 'WebhookPolicy',
      metadata: { name: 'in-cluster' },
      spec: {
        endpointSelector: { matchLabels: { to: 'receiver' } },
        // The receiver is a cluster Service: for a named endpoint the SSRF guard admits private
        // addresses by CIDR only (ADR 0006), here the API server's Service range.
        destinations: { allowedCIDRs: [SERVICE_CIDR] },
        ...policy,
      },
    },
    {
      apiVersion: 'hookgate.io/v1alpha1',
      kind: 'WebhookEndpoint',
      metadata: { name: 'receiver', labels: { to: 'receiver' } },
      spec: {
        direction: 'Egress',
        url: `http://receiver.${namespace}.svc.cluster.local:8080/hook`,
        signing: { secretRef: { name: 'receiver-signing' } },
      },
    },
  );
  await kubectl([
    '-n',
    namespace,
    'wait',
    '--for=condition=Ready',
    'whe/receiver',
    'whp/in-cluster',
    '--timeout=60s',
  ]);
}

/** An opted-in namespace for one test. */
export async function createNamespace(prefix: string): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  await kubectl(['create', 'namespace', name]);
  await kubectl(['label', 'namespace', name, 'hookgate.io/injection=enabled']);
  return name;
}

/** One received request, as the receiver recorded it. */
export interface Received {
  path: string;
  headers: Record<string, string>;
  body: string;
}

/** What the receiver pod has been sent so far. */
export async function received(receiverIp: string): Promise<Received[]> {
  const res = await fetch(`http://${receiverIp}:8080/received`);
  return (await res.json()) as Received[];
}

/** What the app got from its sidecar for one webhook. */
export interface SendResult {
  status: number;
  deliveryId: string | null;
  body: string;
}

/** Asks the app pod to send one webhook to `endpoint` through its sidecar. */
export async function send(
  appIp: string,
  endpoint: string,
  options: { async?: boolean; n?: number } = {},
): Promise<SendResult> {
  const res = await fetch(
    `http://${appIp}:8080/send/${endpoint}${options.async === true ? '?async' : ''}`,
    {
      headers: { 'x-n': String(options.n ?? 0) },
    },
  );
  if (res.status !== 200) throw new Error(`app answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as SendResult;
}

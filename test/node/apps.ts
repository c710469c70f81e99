// The test apps on the node, with no test-runner dependency (the node tests and `make demo` use
// them): small Node scripts from a ConfigMap, run by the sidecar image's Node. The receiver keeps
// what it was sent (GET /received) and answers what it is told (PUT /answer/<status>); the app
// sends webhooks through its sidecar when asked (GET /send/<endpoint>, GET /load). Both are reached
// by pod IP from the host (the node routes its pod subnet to the host).
import { randomBytes } from 'node:crypto';
import { sign as githubSign } from '@octokit/webhooks-methods';

/** The API server's `--service-cluster-ip-range` (test/cluster/controlplane.ts). */
export const SERVICE_CIDR = '10.0.0.0/24';

const receiverScript = `
import { createServer } from 'node:http';
const received = [];
let answer = 204;
createServer((req, res) => {
  if (req.method === 'GET' && req.url === '/received') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(received));
    return;
  }
  const setAnswer = /^\\/answer\\/([0-9]{3})$/.exec(req.url ?? '');
  if (req.method === 'PUT' && setAnswer !== null) {
    answer = Number(setAnswer[1]);
    res.writeHead(204).end();
    return;
  }
  const chunks = [];
  let size = 0;
  req.on('data', (c) => { size += c.length; if (size <= 1 << 20) chunks.push(c); });
  req.on('end', () => {
    if (received.length < 10000) {
      // Large bodies (load tests) are counted, not kept.
      const body = size <= 8192 ? Buffer.concat(chunks).toString('utf8') : '';
      received.push({ path: req.url, headers: req.headers, body, size, answer });
    }
    res.writeHead(answer).end();
  });
}).listen(8080);
`;

// The app: GET /send/<endpoint>[?async] sends one webhook through the sidecar and reports the
// answer; webhooks its sidecar's ingress forwards (POST /hooks/...) are kept for GET /inbox; with ONESHOT=<endpoint> it sends one at start and exits 0 on a 2xx (a Job's work).
const appScript = `
import { createServer } from 'node:http';
async function sendOne(endpoint, isAsync, n) {
  const headers = { 'content-type': 'application/json' };
  if (isAsync) headers.prefer = 'respond-async';
  const body = JSON.stringify({ type: 'order.created', n });
  const answer = await fetch(process.env.HOOKGATE_EGRESS_URL + '/' + endpoint, { method: 'POST', headers, body });
  return { status: answer.status, deliveryId: answer.headers.get('hookgate-delivery-id'), body: await answer.text() };
}
if (process.env.ONESHOT) {
  const result = await sendOne(process.env.ONESHOT, false, 0);
  console.log(JSON.stringify(result));
  process.exit(result.status < 300 ? 0 : 1);
}
// GET /load?endpoint=&n=&size=&concurrency= sends n webhooks of size bytes, every other one with
// Prefer: respond-async, from that many concurrent loops, and answers the count of each status.
async function load(q) {
  const total = Math.min(Number(q.get('n')), 100000);
  const size = Math.min(Number(q.get('size')), 1 << 20);
  const body = JSON.stringify({ type: 'load', pad: 'x'.repeat(size) });
  const counts = {};
  let next = 0;
  async function loop() {
    while (next < total) {
      const i = next++;
      const headers = { 'content-type': 'application/json' };
      if (i % 2 === 1) headers.prefer = 'respond-async';
      try {
        const r = await fetch(process.env.HOOKGATE_EGRESS_URL + '/' + q.get('endpoint'), { method: 'POST', headers, body });
        await r.arrayBuffer();
        counts[r.status] = (counts[r.status] ?? 0) + 1;
      } catch {
        counts.error = (counts.error ?? 0) + 1;
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(Number(q.get('concurrency')), 1000) }, loop));
  return counts;
}
// Webhooks the sidecar's ingress forwarded to the app (POST /hooks/...), kept for GET /inbox.
const inbox = [];
const handler = async (req, res) => {
  const url = new URL(req.url ?? '/', 'http://app');
  if (req.method === 'POST' && url.pathname.startsWith('/hooks/')) {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    if (inbox.length < 1000) inbox.push({ path: url.pathname, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
    res.writeHead(204).end();
    return;
  }
  if (url.pathname === '/inbox') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(inbox));
    return;
  }
  if (url.pathname === '/load') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(await load(url.searchParams)));
    return;
  }
  if (url.pathname === '/plain') {
    // An unmodified app: a plain POST to the receiver's own URL (transparent mode captures it).
    try {
      const answer = await fetch(url.searchParams.get('url'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"type":"order.created","n":0}' });
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: answer.status, deliveryId: answer.headers.get('hookgate-delivery-id'), body: await answer.text() }));
    } catch (err) {
      res.writeHead(599).end(String(err));
    }
    return;
  }
  const match = /^\\/send\\/([a-z0-9-]+)(\\?async)?$/.exec(req.url ?? '');
  if (match === null) { res.writeHead(200).end('app'); return; }
  try {
    const result = await sendOne(match[1], match[2] !== undefined, Number(req.headers['x-n'] ?? 0));
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(result));
  } catch (err) {
    res.writeHead(599).end(String(err));
  }
};
createServer(handler).listen(8080);
// The same on 9000, a port transparent mode does not capture (8080 is the app port it redirects).
createServer(handler).listen(9000);
`;

/** A `whsec_` Standard Webhooks secret. */
export function newSigningSecret(): string {
  return `whsec_${randomBytes(24).toString('base64')}`;
}

/** The ConfigMap with the two scripts (one per namespace). */
export function scriptsConfigMap(): object {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'scripts' },
    data: { 'receiver.mjs': receiverScript, 'app.mjs': appScript },
  };
}

/** A container running one of the scripts with the sidecar image's Node, as UID 1000. */
function scriptContainer(
  image: string,
  script: 'receiver' | 'app',
  env: Record<string, string> = {},
): object {
  const oneShot = env['ONESHOT'] !== undefined;
  return {
    name: script,
    image,
    imagePullPolicy: 'IfNotPresent',
    command: ['node', `/scripts/${script}.mjs`],
    env: Object.entries(env).map(([name, value]) => ({ name, value })),
    ports: [{ containerPort: 8080, name: 'http' }],
    ...(oneShot ? {} : { readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 } }),
    securityContext: { runAsUser: 1000, runAsGroup: 1000, allowPrivilegeEscalation: false },
    volumeMounts: [{ name: 'scripts', mountPath: '/scripts', readOnly: true }],
  };
}

const scriptsVolume = { name: 'scripts', configMap: { name: 'scripts' } };

/** A receiver Deployment and its Service (`servicePort` to the pod's 8080), both called `name`. */
export function receiverObjects(image: string, name = 'receiver', servicePort = 8080): object[] {
  return [
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name } },
          spec: {
            terminationGracePeriodSeconds: 1,
            containers: [scriptContainer(image, 'receiver')],
            volumes: [scriptsVolume],
          },
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name },
      spec: { selector: { app: name }, ports: [{ port: servicePort, targetPort: 8080 }] },
    },
  ];
}

/** Options of the app's pod template. */
export interface AppOptions {
  annotations?: Record<string, string>;
  env?: Record<string, string>;
  restartPolicy?: string;
}

/** The app's pod template (annotated for injection), for a Deployment or a Job. */
export function appPodTemplate(image: string, options: AppOptions = {}): object {
  return {
    metadata: {
      labels: { app: 'orders' },
      annotations: { 'hookgate.io/inject': 'true', ...options.annotations },
    },
    spec: {
      terminationGracePeriodSeconds: 5,
      ...(options.restartPolicy === undefined ? {} : { restartPolicy: options.restartPolicy }),
      containers: [scriptContainer(image, 'app', options.env)],
      volumes: [scriptsVolume],
    },
  };
}

/** The annotated Deployment `orders` (one replica) running the app. */
export function ordersDeployment(image: string, options: AppOptions = {}): object {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'orders' },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: 'orders' } },
      template: appPodTemplate(image, options),
    },
  };
}

/** A signing Secret, a policy admitting cluster Services (plus `policy`), and an Egress endpoint `receiver`. */
export function egressObjects(namespace: string, secret: string, policy: object = {}): object[] {
  return [
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
  ];
}

/** One received request, as the receiver recorded it, with the status it answered. */
export interface Received {
  path: string;
  headers: Record<string, string>;
  body: string;
  size: number;
  answer: number;
}

/** Makes the receiver answer `status` to every webhook from now on. */
export async function setReceiverAnswer(receiverIp: string, status: number): Promise<void> {
  const res = await fetch(`http://${receiverIp}:8080/answer/${status}`, { method: 'PUT' });
  if (res.status !== 204) throw new Error(`receiver refused the answer change: ${res.status}`);
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

/** The GitHub webhook secret's Secret and an Ingress endpoint `github`: /github, verified, to the app's /hooks/github. */
export function githubIngressObjects(secret: string): object[] {
  return [
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'github-webhook' },
      stringData: { secret },
    },
    {
      apiVersion: 'hookgate.io/v1alpha1',
      kind: 'WebhookEndpoint',
      metadata: { name: 'github' },
      spec: {
        direction: 'Ingress',
        path: '/github',
        verify: { scheme: 'github', secretRef: { name: 'github-webhook' } },
        forward: { port: 8080, path: '/hooks/github' },
      },
    },
  ];
}

/**
 * POSTs a GitHub `push` webhook to `url`, signed with `secret` by Octokit's own signer (the judge
 * of what GitHub sends); `forged` signs it with another secret.
 */
export async function sendGithubWebhook(
  url: string,
  secret: string,
  options: { forged?: boolean; deliveryId?: string } = {},
): Promise<{ status: number; body: string; payload: string }> {
  const payload = JSON.stringify({
    ref: 'refs/heads/main',
    after: randomBytes(20).toString('hex'),
  });
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-github-event': 'push',
      'x-github-delivery': options.deliveryId ?? randomBytes(16).toString('hex'),
      'x-hub-signature-256': await githubSign(
        options.forged === true ? `not-${secret}` : secret,
        payload,
      ),
    },
    body: payload,
  });
  return { status: res.status, body: await res.text(), payload };
}

/** One webhook the app received from its sidecar's ingress. */
export interface InboxEntry {
  path: string;
  headers: Record<string, string>;
  body: string;
}

/** What the app pod's ingress handler has been forwarded so far (asked on 9000, never captured). */
export async function inbox(appIp: string): Promise<InboxEntry[]> {
  const res = await fetch(`http://${appIp}:9000/inbox`);
  return (await res.json()) as InboxEntry[];
}

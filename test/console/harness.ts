// The console's test ground on the shared control plane: two namespaces, each with a
// WebhookEndpoint `orders`, a real sidecar process (disk queue, async) whose receiver answers 503
// until healed, and a Pod object standing for that sidecar (the API server holds it; its podIP
// and admin port lead the console to the real process). Users are real ServiceAccount tokens
// with RoleBindings, so TokenReview and SubjectAccessReview answer as they would in a cluster.
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { inject } from 'vitest';
import { parse } from 'yaml';
import { createLogger } from '../../common/log.ts';
import { adminTokens, type AdminTokens } from '../../operator/console/admin-token.ts';
import { startConsoleFor } from '../../operator/console/index.ts';
import type { ConsoleServer } from '../../operator/console/server.ts';
import { KubeClient } from '../../operator/kube/client.ts';
import { fromKubeconfig } from '../../operator/kube/config.ts';
import { LOOPBACK_ALLOWED } from '../egress/harness.ts';
import { startSidecarProcess, writeAsyncConfig, type SidecarProcess } from '../queue/process.ts';
import { createTestNamespace, kubeClients, uniqueName } from '../support/kube.ts';

/** The admin token the sidecars and the console share. */
export const ADMIN_TOKEN = 'console-test-admin-token-7f3a';
/** A credential the app puts on its webhook: must never reach a page. */
export const APP_SECRET = 'app-credential-d41d8cd98f00';
/** The signing secret of the sidecars (test/queue/process.ts). */
export const SIGNING_SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

/** A receiver that answers 503 with a JSON reason until made healthy, recording what arrived. */
export interface Receiver {
  readonly url: string;
  /** webhook-id of every request, in order. */
  readonly arrivals: string[];
  /** Every webhook-signature header received: none may appear on a page. */
  readonly signatures: string[];
  /** true: answer 200 from now on; false: 503 again. */
  setHealthy(healthy: boolean): void;
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  let healed = false;
  const arrivals: string[] = [];
  const signatures: string[] = [];
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      arrivals.push(String(req.headers['webhook-id']));
      signatures.push(String(req.headers['webhook-signature']));
      if (healed) {
        res.end('{"ok":true}');
        return;
      }
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end('{"error":"receiver overloaded"}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    arrivals,
    signatures,
    setHealthy: (healthy) => {
      healed = healthy;
    },
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** One namespace of the ground. */
export interface Tenant {
  readonly namespace: string;
  readonly sidecar: SidecarProcess;
  readonly receiver: Receiver;
  /** Delivery ids the app sent, in order. */
  readonly sent: string[];
}

/** The whole ground. */
export interface ConsoleGround {
  readonly console: ConsoleServer;
  readonly url: string;
  readonly admin: KubeClient;
  /** `visible` sees everything; the others are users with their own RBAC. */
  readonly tenants: { readonly visible: Tenant; readonly hidden: Tenant };
  /** A synchronous sidecar in `visible`, its receiver always failing. */
  readonly syncPod: SyncPod;
  /** Token of a user who may get and update endpoints in `visible` only. */
  readonly operatorToken: string;
  /** Token of a user who may only get endpoints in `visible`. */
  readonly viewerToken: string;
  /** A kubeconfig file for a token (the plugin's tests). */
  readonly kubeconfigFor: (token: string) => string;
  stop(): Promise<void>;
}

const ENDPOINT = (namespace: string): object => ({
  apiVersion: 'hookgate.io/v1alpha1',
  kind: 'WebhookEndpoint',
  metadata: { name: 'orders', namespace },
  spec: { direction: 'Egress', url: 'https://orders.example.com/hooks' },
});

/** How the ground's sidecars are reached. */
export interface GroundOptions {
  /** Each namespace's sidecar gets its own token derived from this key (admin-token.ts). */
  readonly adminKey?: string;
  /** The Pods' IP: a non-loopback one makes the sidecars' admin guard demand the token. */
  readonly podIp?: string;
}

function tokensOf(options: GroundOptions): string | AdminTokens {
  return options.adminKey === undefined ? ADMIN_TOKEN : adminTokens(options.adminKey);
}

async function startTenant(
  admin: KubeClient,
  namespace: string,
  options: GroundOptions,
): Promise<Tenant> {
  const receiver = await startReceiver();
  // Five attempts close together: a delivery is a dead letter within about two seconds.
  const config = writeAsyncConfig(receiver.url, 'delivery: { mode: async }');
  const tokens = tokensOf(options);
  const sidecar = await startSidecarProcess(
    config,
    {
      HOOKGATE_ADMIN_TOKEN: typeof tokens === 'string' ? tokens : tokens(namespace),
      POD_NAME: 'orders-0',
      POD_NAMESPACE: namespace,
    },
    options.podIp === undefined ? {} : { adminHost: '0.0.0.0' },
  );
  await admin.request(
    'POST',
    `/apis/hookgate.io/v1alpha1/namespaces/${namespace}/webhookendpoints`,
    {
      body: ENDPOINT(namespace),
    },
  );
  await registerPod(admin, namespace, 'orders-0', sidecar, options);
  return { namespace, sidecar, receiver, sent: [] };
}

/** A Pod object standing for `sidecar`: Running at the ground's pod IP with its admin port. */
async function registerPod(
  admin: KubeClient,
  namespace: string,
  name: string,
  sidecar: SidecarProcess,
  options: GroundOptions,
): Promise<void> {
  const adminPort = Number(new URL(sidecar.admin).port);
  const ip = options.podIp ?? '127.0.0.1';
  await admin.request('POST', `/api/v1/namespaces/${namespace}/pods`, {
    body: {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace },
      spec: {
        initContainers: [
          {
            name: 'hookgate-proxy',
            image: 'hookgate/sidecar:test',
            restartPolicy: 'Always',
            ports: [{ name: 'hookgate-admin', containerPort: adminPort }],
          },
        ],
        containers: [{ name: 'app', image: 'app:test' }],
      },
    },
  });
  await admin.request('PATCH', `/api/v1/namespaces/${namespace}/pods/${name}/status`, {
    contentType: 'application/merge-patch+json',
    body: { status: { phase: 'Running', podIP: ip, podIPs: [{ ip }] } },
  });
}

/** A second pod of `orders` whose sidecar delivers synchronously, to a receiver that answers 500. */
export interface SyncPod {
  readonly sidecar: SidecarProcess;
  readonly receiver: { readonly url: string; close(): Promise<void> };
  /** Sends one sync webhook; resolves with its delivery id once the app has the final answer. */
  send(body: object): Promise<string>;
}

async function startSyncPod(
  admin: KubeClient,
  namespace: string,
  options: GroundOptions,
): Promise<SyncPod> {
  const server: Server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end('{"error":"database locked"}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const receiverUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const dir = mkdtempSync(join(tmpdir(), 'hookgate-console-sync-'));
  const config = join(dir, 'sidecar.yaml');
  writeFileSync(
    config,
    [
      'listen: { egress: "127.0.0.1:0", ingress: "127.0.0.1:0" }',
      'endpoints:',
      '  - name: orders',
      `    url: ${receiverUrl}/hooks`,
      '    signing: { secrets: [{ source: { env: CRASH_TEST_WHSEC } }] }',
      `    policy: { ${LOOPBACK_ALLOWED}, retry: { maxAttempts: 3, backoff: { initial: 1ms, max: 5ms } } }`,
      `queue: { directory: ${join(dir, 'queue')} }`,
      '',
    ].join('\n'),
  );
  const tokens = tokensOf(options);
  const sidecar = await startSidecarProcess(
    config,
    {
      HOOKGATE_ADMIN_TOKEN: typeof tokens === 'string' ? tokens : tokens(namespace),
      POD_NAME: 'orders-sync-0',
      POD_NAMESPACE: namespace,
    },
    options.podIp === undefined ? {} : { adminHost: '0.0.0.0' },
  );
  await registerPod(admin, namespace, 'orders-sync-0', sidecar, options);
  return {
    sidecar,
    receiver: {
      url: receiverUrl,
      close: () => new Promise<void>((r) => server.close(() => r())),
    },
    send: async (body) => {
      const res = await fetch(`${sidecar.egress}/orders`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${APP_SECRET}` },
        body: JSON.stringify(body),
      });
      await res.arrayBuffer();
      if (res.status !== 500)
        throw new Error(`sidecar answered ${res.status}, not the receiver's 500`);
      return res.headers.get('hookgate-delivery-id')!;
    },
  };
}

/** Sends one async webhook through the tenant's sidecar; returns its delivery id. */
export async function sendWebhook(tenant: Tenant, body: object): Promise<string> {
  const res = await fetch(`${tenant.sidecar.egress}/orders`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      authorization: `Bearer ${APP_SECRET}`,
      'hookgate-event-type': 'order.created',
    },
    body: JSON.stringify(body),
  });
  if (res.status !== 202) throw new Error(`sidecar answered ${res.status}: ${await res.text()}`);
  const id = res.headers.get('hookgate-delivery-id');
  if (id === null) throw new Error('no Hookgate-Delivery-Id');
  tenant.sent.push(id);
  return id;
}

/** Waits until the tenant's queue holds `id` as a dead letter. */
export async function waitDead(tenant: Tenant, id: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const res = await fetch(`${tenant.sidecar.admin}/queue/deliveries/${id}`);
    if (res.ok && ((await res.json()) as { state: string }).state === 'dead') return;
    if (Date.now() > deadline) throw new Error(`${id} did not become a dead letter`);
    await sleep(100);
  }
}

/** A Role with `rules` in `namespace`, bound to `subjects` (both named `name`). */
export async function grantRole(
  admin: KubeClient,
  namespace: string,
  name: string,
  rules: readonly object[],
  subjects: readonly object[],
): Promise<void> {
  const rbac = `/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}`;
  await admin.request('POST', `${rbac}/roles`, {
    body: { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name }, rules },
  });
  await admin.request('POST', `${rbac}/rolebindings`, {
    body: {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name },
      subjects,
    },
  });
}

/** Two dead letters in the visible namespace and one in the hidden, every attempt made. */
export async function seedDeadLetters(
  ground: ConsoleGround,
): Promise<{ deadIds: string[]; hiddenId: string }> {
  const { visible, hidden } = ground.tenants;
  const deadIds = [
    await sendWebhook(visible, { order: 1, customer: 'acme' }),
    await sendWebhook(visible, { order: 2, customer: 'globex' }),
  ];
  const hiddenId = await sendWebhook(hidden, { order: 3, customer: 'initech' });
  await Promise.all([...deadIds.map((id) => waitDead(visible, id)), waitDead(hidden, hiddenId)]);
  return { deadIds, hiddenId };
}

/** A ServiceAccount in `namespace` that may `verbs` WebhookEndpoints there, and its token. */
export async function userToken(
  admin: KubeClient,
  namespace: string,
  name: string,
  verbs: string[],
): Promise<string> {
  await admin.request('POST', `/api/v1/namespaces/${namespace}/serviceaccounts`, {
    body: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name } },
  });
  await grantRole(
    admin,
    namespace,
    name,
    [{ apiGroups: ['hookgate.io'], resources: ['webhookendpoints'], verbs }],
    [{ kind: 'ServiceAccount', name, namespace }],
  );
  const review = await admin.request<{ status: { token: string } }>(
    'POST',
    `/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`,
    {
      body: {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: { expirationSeconds: 3600 },
      },
    },
  );
  return review.status.token;
}

/** Starts the ground; `stop()` ends every process it started. */
export async function startConsoleGround(options: GroundOptions = {}): Promise<ConsoleGround> {
  const { core } = kubeClients();
  const admin = new KubeClient(await fromKubeconfig(inject('kubeconfig')));
  const [visibleNs, hiddenNs] = await Promise.all([
    createTestNamespace(core, 'console-seen'),
    createTestNamespace(core, 'console-hidden'),
  ]);
  const [visible, hidden] = await Promise.all([
    startTenant(admin, visibleNs, options),
    startTenant(admin, hiddenNs, options),
  ]);
  const syncPod = await startSyncPod(admin, visibleNs, options);
  const operatorToken = await userToken(admin, visibleNs, uniqueName('oncall'), [
    'get',
    'list',
    'update',
  ]);
  const viewerToken = await userToken(admin, visibleNs, uniqueName('viewer'), ['get', 'list']);
  const console = await startConsoleFor({
    client: admin,
    log: createLogger({ program: 'console-test' }, 'warn'),
    host: '127.0.0.1',
    port: 0,
    adminToken: tokensOf(options),
  });
  const server = admin.server;
  const ca = readCa(inject('kubeconfig'));
  return {
    console,
    url: `http://127.0.0.1:${console.port}`,
    admin,
    tenants: { visible, hidden },
    syncPod,
    operatorToken,
    viewerToken,
    kubeconfigFor: (token) =>
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'test', cluster: { server, 'certificate-authority-data': ca } }],
        users: [{ name: 'user', user: { token } }],
        contexts: [
          { name: 'test', context: { cluster: 'test', user: 'user', namespace: visibleNs } },
        ],
        'current-context': 'test',
      }),
    stop: async () => {
      await console.close();
      for (const t of [visible, hidden, syncPod]) {
        await t.sidecar.kill();
        await t.receiver.close();
      }
      await admin.close();
    },
  };
}

function readCa(kubeconfigPath: string): string {
  const doc = parse(readFileSync(kubeconfigPath, 'utf8')) as {
    clusters: {
      cluster: { 'certificate-authority-data'?: string; 'certificate-authority'?: string };
    }[];
  };
  const cluster = doc.clusters[0]!.cluster;
  return (
    cluster['certificate-authority-data'] ??
    readFileSync(cluster['certificate-authority']!).toString('base64')
  );
}

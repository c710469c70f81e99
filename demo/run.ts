// `make demo`: the whole Hookgate story on this machine, told on the terminal. A real control
// plane and Redis start; the operator reconciles resources applied with server-side apply; a
// sidecar runs from the ConfigMap and Secret the operator published (there is no kubelet here, so
// the demo plays its part and lays the two volumes out in a folder); an app sends webhooks to a
// receiver that fails at first; a provider sends webhooks to the app, one of them forged.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { parse as parseYaml } from 'yaml';
import { sign as signGitHub } from '@octokit/webhooks-methods';
import { Webhook } from 'standardwebhooks';
import { CONFIG_KEY, CONFIG_MAP_NAME, SECRET_MOUNT_PATH, SECRET_NAME } from '../operator/names.ts';
import { kubeRequest, serverSideApply, type Manifest } from '../test/cluster/apply.ts';
import { binDir, startControlPlane } from '../test/cluster/controlplane.ts';
import { installCrds } from '../test/cluster/crds.ts';
import { freePort } from '../test/cluster/process.ts';
import { startRedis } from '../test/cluster/redis.ts';

const root = resolve(import.meta.dirname, '..');
const tty = process.stdout.isTTY;
const paint = (code: number) => (s: string) => (tty ? `\u001b[${code}m${s}\u001b[0m` : s);
const bold = paint(1);
const dim = paint(2);
const green = paint(32);
const red = paint(31);
const cyan = paint(36);
const yellow = paint(33);
const step = (text: string): void => console.log(`\n${bold(cyan('▶'))} ${bold(text)}`);
const say = (text: string): void => console.log(`  ${text}`);

const NAMESPACE = 'shop';
/** The story must end by itself: past this the demo stops, cleans up and exits 1. */
const DEMO_BUDGET_MS = 115_000;
const SIGNING_KEY = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const GITHUB_SECRET = 'demo-github-secret';
const children: ChildProcess[] = [];
const servers: Server[] = [];
const dir = mkdtempSync(join(tmpdir(), 'hookgate-demo-'));
const cleanups: (() => Promise<void>)[] = [];

/** A loopback HTTP server answering with `handler`; resolves with its port. */
async function serve(
  handler: (body: Buffer, req: IncomingMessage, res: ServerResponse) => void,
): Promise<number> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handler(Buffer.concat(chunks), req, res));
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as AddressInfo).port;
}

/** Starts a Hookgate program as a child and resolves once its admin server says /readyz 200. */
async function program(
  file: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ child: ChildProcess; adminPort: number }> {
  const adminPort = await freePort();
  const child = spawn(process.execPath, [join(root, file), ...args], {
    env: {
      ...process.env,
      HOOKGATE_LOG_LEVEL: 'warn',
      ...env,
      HOOKGATE_ADMIN_ADDR: `127.0.0.1:${adminPort}`,
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  children.push(child);
  let exited: number | null | undefined;
  child.once('exit', (code) => (exited = code));
  await waitFor(`${file} ready`, async () => {
    if (exited !== undefined) throw new Error(`${file} exited with ${exited}`);
    return (await fetch(`http://127.0.0.1:${adminPort}/readyz`)).status === 200 ? true : undefined;
  });
  return { child, adminPort };
}

async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch((err: Error) => {
      // A program that exited will not become ready: say so now, not after the timeout.
      if (err.message.includes('exited with')) throw err;
      return undefined;
    });
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

/** Runs the control plane's kubectl and prints its output, indented. */
async function kubectl(kubeconfig: string, args: string[]): Promise<void> {
  say(dim(`$ kubectl ${args.join(' ')}`));
  const { stdout } = await promisify(execFile)(join(binDir(), 'kubectl'), [
    '--kubeconfig',
    kubeconfig,
    ...args,
  ]);
  for (const line of stdout.trimEnd().split('\n')) say(line);
}

/** Verifies a delivery with the standardwebhooks library; the reason when it does not verify. */
function verifyStandardWebhook(body: Buffer, req: IncomingMessage): string | undefined {
  try {
    new Webhook(SIGNING_KEY).verify(body, req.headers as Record<string, string>);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

async function main(): Promise<void> {
  console.log(
    bold('Hookgate demo') +
      dim(' — every part real: kube-apiserver, controller-manager, etcd, Redis, HTTP'),
  );

  step('Start a local control plane and Redis');
  const started = Date.now();
  const controlPlane = await startControlPlane({
    dir: join(dir, 'cluster'),
    log: (l) => say(dim(l)),
  });
  cleanups.push(() => controlPlane.stop());
  const redis = await startRedis({ dir: join(dir, 'redis') });
  cleanups.push(() => redis.stop());
  say(`redis-server at ${redis.url}`);
  say(
    `CRDs: ${(await installCrds(controlPlane.kubeconfigPath)).join(', ')} ${dim(`(${((Date.now() - started) / 1000).toFixed(1)}s)`)}`,
  );
  const kc = new KubeConfig();
  kc.loadFromFile(controlPlane.kubeconfigPath);
  const apply = async (m: Manifest, what: string): Promise<void> => {
    const res = await serverSideApply(kc, m, {
      fieldManager: 'demo',
      ...(m.kind === 'Namespace' ? {} : { namespace: NAMESPACE }),
    });
    if (res.status >= 300) throw new Error(`${m.kind}/${m.metadata.name}: ${res.body.message}`);
    say(`${green('applied')} ${m.kind}/${m.metadata.name} ${dim(what)}`);
  };

  step('Start hookgate-operator');
  await program(
    'operator/main.ts',
    // No kubelet and no Service here: the admission webhook (sidecar injection) stays off.
    ['--kubeconfig', controlPlane.kubeconfigPath, '--leader-elect', 'false', '--webhook-addr='],
    {},
  );
  say('reconciling WebhookEndpoints and WebhookPolicies in every namespace');

  step('A receiver that fails the first two attempts, and checks every signature');
  let attempts = 0;
  const receiverPort = await serve((body, req, res) => {
    attempts++;
    if (attempts <= 2) {
      say(`${yellow('receiver')} attempt ${attempts}: ${red('503')} ${dim('(flaky on purpose)')}`);
      res.writeHead(503).end('busy');
      return;
    }
    const refused = verifyStandardWebhook(body, req);
    if (refused === undefined) {
      say(
        `${yellow('receiver')} attempt ${attempts}: signature ${green('verified by the standardwebhooks library ✓')} webhook-id ${String(req.headers['webhook-id'])}`,
      );
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"received":true}');
    } else {
      say(`${yellow('receiver')} attempt ${attempts}: ${red(`signature refused: ${refused}`)}`);
      res.writeHead(401).end();
    }
  });
  say(`listening on http://127.0.0.1:${receiverPort}/hooks`);
  // A healthy receiver behind a tight rate limit, and one that is down for good.
  let steadyVerified = 0;
  const steadyPort = await serve((body, req, res) => {
    if (verifyStandardWebhook(body, req) === undefined) steadyVerified++;
    res.writeHead(204).end();
  });
  let downAttempts = 0;
  const downPort = await serve((_body, _req, res) => {
    downAttempts++;
    res.writeHead(500).end('down');
  });

  step('kubectl apply: a namespace, a secret, a policy and an endpoint');
  await apply(
    {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name: NAMESPACE, labels: { 'hookgate.io/injection': 'enabled' } },
    },
    'labelled hookgate.io/injection=enabled',
  );
  await apply(
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'orders-signing' },
      stringData: { secret: SIGNING_KEY },
    },
    'the Standard Webhooks signing key',
  );
  await apply(
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'github-webhook' },
      stringData: { secret: GITHUB_SECRET },
    },
    'the GitHub webhook secret',
  );
  await apply(
    {
      apiVersion: 'hookgate.io/v1alpha1',
      kind: 'WebhookPolicy',
      metadata: { name: 'patient' },
      spec: {
        endpointSelector: { matchLabels: { customer: 'acme' } },
        retry: { maxAttempts: 5, backoff: { initial: '100ms', max: '1s' }, syncDeadline: '10s' },
        circuitBreaker: { consecutiveFailures: 10 },
        // The receiver runs on this machine; the SSRF guard refuses loopback unless a policy allows it.
        destinations: { allowedCIDRs: ['127.0.0.0/8'] },
      },
    },
    '5 attempts, 100ms..1s backoff, loopback allowed',
  );
  await apply(
    {
      apiVersion: 'hookgate.io/v1alpha1',
      kind: 'WebhookEndpoint',
      metadata: { name: 'acme-orders', labels: { customer: 'acme' } },
      spec: {
        direction: 'Egress',
        url: `http://127.0.0.1:${receiverPort}/hooks`,
        signing: { secretRef: { name: 'orders-signing' } },
      },
    },
    'Egress to the flaky receiver, Standard Webhooks',
  );
  const appPort = await freePort();
  await apply(
    {
      apiVersion: 'hookgate.io/v1alpha1',
      kind: 'WebhookEndpoint',
      metadata: { name: 'github' },
      spec: {
        direction: 'Ingress',
        path: '/github',
        verify: { scheme: 'github', secretRef: { name: 'github-webhook' } },
        forward: { port: appPort, path: '/webhooks/github' },
      },
    },
    'Ingress: GitHub-signed webhooks for the app',
  );
  await apply(
    {
      apiVersion: 'hookgate.io/v1alpha1',
      kind: 'WebhookPolicy',
      metadata: { name: 'throttled' },
      spec: {
        endpointSelector: { matchLabels: { customer: 'globex' } },
        rateLimit: { rate: 1, per: 'minute', burst: 2 },
        retry: { syncDeadline: '2s' },
        destinations: { allowedCIDRs: ['127.0.0.0/8'] },
      },
    },
    '2 at once, then 1 a minute',
  );
  await apply(
    {
      apiVersion: 'hookgate.io/v1alpha1',
      kind: 'WebhookEndpoint',
      metadata: { name: 'globex-orders', labels: { customer: 'globex' } },
      spec: {
        direction: 'Egress',
        url: `http://127.0.0.1:${steadyPort}/hooks`,
        signing: { secretRef: { name: 'orders-signing' } },
      },
    },
    'Egress to a healthy receiver, rate-limited',
  );
  await apply(
    {
      apiVersion: 'hookgate.io/v1alpha1',
      kind: 'WebhookPolicy',
      metadata: { name: 'fragile' },
      spec: {
        endpointSelector: { matchLabels: { customer: 'initech' } },
        retry: { maxAttempts: 2, backoff: { initial: '50ms', max: '100ms' } },
        circuitBreaker: { consecutiveFailures: 4, openDuration: '1m' },
        destinations: { allowedCIDRs: ['127.0.0.0/8'] },
      },
    },
    '2 attempts, the circuit opens after 4 failures in a row',
  );
  await apply(
    {
      apiVersion: 'hookgate.io/v1alpha1',
      kind: 'WebhookEndpoint',
      metadata: { name: 'initech-orders', labels: { customer: 'initech' } },
      spec: {
        direction: 'Egress',
        url: `http://127.0.0.1:${downPort}/hooks`,
        signing: { secretRef: { name: 'orders-signing' } },
      },
    },
    'Egress to a receiver that is down',
  );

  step('The operator reports status');
  for (const [plural, name] of [
    ['webhookendpoints', 'acme-orders'],
    ['webhookendpoints', 'github'],
    ['webhookendpoints', 'globex-orders'],
    ['webhookendpoints', 'initech-orders'],
    ['webhookpolicies', 'patient'],
    ['webhookpolicies', 'throttled'],
    ['webhookpolicies', 'fragile'],
  ] as const) {
    const status = await waitFor(`${name} Ready`, async () => {
      const res = await kubeRequest(
        kc,
        'GET',
        `/apis/hookgate.io/v1alpha1/namespaces/${NAMESPACE}/${plural}/${name}`,
      );
      const s = res.body['status'] as
        | {
            conditions?: { type: string; status: string }[];
            configGeneration?: number;
            policy?: string;
            selectedEndpoints?: number;
          }
        | undefined;
      return s?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? s : undefined;
    });
    const extra =
      status.policy !== undefined
        ? `policy ${status.policy}`
        : status.selectedEndpoints !== undefined
          ? `selects ${status.selectedEndpoints} endpoint(s)`
          : '';
    say(
      `${plural === 'webhookpolicies' ? 'WebhookPolicy' : 'WebhookEndpoint'}/${name}: ${green('Ready=True')} in config generation ${status.configGeneration ?? '?'} ${dim(extra)}`,
    );
  }

  step(
    `Start the sidecar from the published ConfigMap ${CONFIG_MAP_NAME} and Secret ${SECRET_NAME}`,
  );
  const configMap = await kubeRequest(
    kc,
    'GET',
    `/api/v1/namespaces/${NAMESPACE}/configmaps/${CONFIG_MAP_NAME}`,
  );
  const secret = await kubeRequest(
    kc,
    'GET',
    `/api/v1/namespaces/${NAMESPACE}/secrets/${SECRET_NAME}`,
  );
  const secretsDir = join(dir, 'volumes', 'secrets');
  mkdirSync(secretsDir, { recursive: true });
  for (const [key, value] of Object.entries(
    (secret.body['data'] ?? {}) as Record<string, string>,
  )) {
    writeFileSync(join(secretsDir, key), Buffer.from(value, 'base64'));
  }
  const [egressPort, ingressPort] = [await freePort(), await freePort()];
  // The published file is JSON (a subset of YAML); point it at the demo's folders and free ports.
  const published = parseYaml(
    ((configMap.body['data'] as Record<string, string>)[CONFIG_KEY] ?? '{}').replaceAll(
      `${SECRET_MOUNT_PATH}/`,
      `${secretsDir}/`,
    ),
  ) as Record<string, unknown>;
  const configText = JSON.stringify({
    ...published,
    listen: { egress: `127.0.0.1:${egressPort}`, ingress: `127.0.0.1:${ingressPort}` },
  });
  const configPath = join(dir, 'volumes', 'sidecar.yaml');
  writeFileSync(configPath, configText);
  say(
    dim(
      `(no kubelet here: the demo lays the two volumes out in ${join(dir, 'volumes')}, as the injector mounts them at /etc/hookgate)`,
    ),
  );
  const { adminPort } = await program('sidecar/main.ts', ['--config', configPath], {
    HOOKGATE_REDIS_URL: redis.url,
    // The story tells what the sidecar does; its own warnings (the breaker opening) would repeat it.
    HOOKGATE_LOG_LEVEL: 'error',
  });
  say(
    `egress http://127.0.0.1:${egressPort}  ingress http://127.0.0.1:${ingressPort}  admin http://127.0.0.1:${adminPort}`,
  );

  step('The app sends a webhook: POST $HOOKGATE_EGRESS_URL/acme-orders');
  const sent = await fetch(`http://127.0.0.1:${egressPort}/acme-orders`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ type: 'order.created', orderId: 1001 }),
  });
  say(
    `${cyan('app')} got ${sent.status === 200 ? green(String(sent.status)) : red(String(sent.status))} ${await sent.text()} after ${sent.headers.get('hookgate-attempts')} attempts, delivery ${sent.headers.get('hookgate-delivery-id')}`,
  );

  /** The app POSTs one webhook to a named endpoint through the sidecar. */
  const send = async (endpoint: string, orderId: number): Promise<Response> =>
    fetch(`http://127.0.0.1:${egressPort}/${endpoint}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ type: 'order.created', orderId }),
    });
  const problemTitle = async (res: Response): Promise<string> =>
    res.headers.get('content-type') === 'application/problem+json'
      ? ((await res.json()) as { title: string }).title
      : await res.text();

  step(
    'A rate limit kicks in: four webhooks at once to globex-orders (2 at once, then 1 a minute)',
  );
  for (let i = 1; i <= 4; i++) {
    const res = await send('globex-orders', 2000 + i);
    const retryAfter = res.headers.get('retry-after');
    say(
      `${cyan('app')} webhook ${i} → ${res.status === 429 ? red('429') : green(String(res.status))} ${
        res.status === 429
          ? `${await problemTitle(res)} ${dim(`(problem+json, Retry-After: ${retryAfter}s)`)}`
          : dim('delivered')
      }`,
    );
  }
  say(
    `${yellow('receiver')} verified ${steadyVerified} signature(s) and saw nothing over the limit`,
  );

  step('A circuit opens: initech-orders keeps answering 500');
  for (let i = 1; i <= 3; i++) {
    const before = downAttempts;
    const res = await send('initech-orders', 3000 + i);
    const status = res.status;
    const title = await problemTitle(res);
    const reached = downAttempts - before;
    say(
      `${cyan('app')} webhook ${i} → ${red(String(status))} ${
        status === 503
          ? `${title} ${dim(reached === 0 ? '— answered by the sidecar, the receiver was not called' : `after ${reached} attempts`)}`
          : dim(`after ${reached} attempts`)
      }`,
    );
  }
  say(
    `${yellow('receiver')} was called ${downAttempts} times in all; the breaker spares it for 1m`,
  );

  step('What kubectl shows');
  await kubectl(controlPlane.kubeconfigPath, [
    'get',
    'namespace',
    NAMESPACE,
    '-L',
    'hookgate.io/injection',
  ]);
  await kubectl(controlPlane.kubeconfigPath, ['get', 'whe,whp', '-n', NAMESPACE]);

  step("A provider sends webhooks to the app through the sidecar's ingress");
  const appGot: string[] = [];
  const appServerPort = await new Promise<number>((resolvePort) => {
    const s = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        appGot.push(Buffer.concat(chunks).toString());
        say(
          `${cyan('app')} received ${req.url} ${dim(`verified: ${String(req.headers['hookgate-verified'])}`)}`,
        );
        res.end('thanks');
      });
    });
    servers.push(s);
    s.listen(appPort, '127.0.0.1', () => resolvePort(appPort));
  });
  void appServerPort;
  const push = JSON.stringify({ ref: 'refs/heads/main', commits: 3 });
  const genuine = await fetch(`http://127.0.0.1:${ingressPort}/github`, {
    method: 'POST',
    body: push,
    headers: {
      'x-github-event': 'push',
      'x-github-delivery': 'demo-1',
      'x-hub-signature-256': await signGitHub(GITHUB_SECRET, push),
    },
  });
  say(`${yellow('GitHub')} signed push → ${green(String(genuine.status))}`);
  const forged = await fetch(`http://127.0.0.1:${ingressPort}/github`, {
    method: 'POST',
    body: push.replace('3', '300'),
    headers: {
      'x-github-event': 'push',
      'x-github-delivery': 'demo-2',
      'x-hub-signature-256': await signGitHub('not-the-secret', push),
    },
  });
  say(
    `${red('forger')} tampered push → ${red(String(forged.status))} ${dim(((await forged.json()) as { title: string }).title)}; the app received ${appGot.length} webhook(s)`,
  );

  step('What the sidecar counted (/metrics)');
  const metrics = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  for (const line of metrics.split('\n')) {
    if (
      /^hookgate_(egress_deliveries_total|egress_attempts_total|egress_rate_limited_total|egress_circuit_state|ingress_requests_total)\{/.test(
        line,
      )
    )
      say(dim(line));
  }
  console.log(
    `\n${green(bold('Done.'))} Run ${bold('make test')} to see every part proven, or ${bold('make cluster-up')} to explore with kubectl.`,
  );
}

// Ctrl-C (or a CI timeout) still stops the control plane and Redis.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.exitCode = 130;
    for (const c of children) c.kill('SIGTERM');
    void Promise.all(cleanups.map((c) => c().catch(() => undefined))).then(() => process.exit());
  });
}

// However it goes, the demo ends by itself: a hung step fails it instead of waiting forever.
const budget = setTimeout(() => {
  console.error(red(`demo failed: did not finish within ${DEMO_BUDGET_MS / 1000}s`));
  process.kill(process.pid, 'SIGTERM');
}, DEMO_BUDGET_MS);
budget.unref();

try {
  await main();
} catch (err) {
  console.error(red(`demo failed: ${(err as Error).message}`));
  process.exitCode = 1;
} finally {
  for (const c of children) c.kill('SIGTERM');
  for (const s of servers) s.close();
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  rmSync(dir, { recursive: true, force: true });
  clearTimeout(budget);
}

// `make demo` on a real node: the chart installs the operator from the images built here, real pods
// carry the sidecar (2/2), and the story is told from them — a signed webhook verified by the
// receiver, a rate limit, a circuit opening, a GitHub webhook verified on ingress and a forged one
// refused, the sidecar's metrics. Where the node cannot run (no
// root, no cgroup v1, nothing built) it says why in one line and tells the host-process story
// (demo/run.ts) instead.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Webhook } from 'standardwebhooks';
import { stringify } from 'yaml';
import { kubectlPath } from '../test/cluster/controlplane.ts';
import { nodeUnsupported, startNodeCluster, type NodeCluster } from '../test/cluster/node.ts';
import { installChart } from '../test/node/chart.ts';
import {
  egressObjects,
  githubIngressObjects,
  inbox,
  ordersDeployment,
  newSigningSecret,
  receiverObjects,
  received,
  scriptsConfigMap,
  send,
  sendGithubWebhook,
  setReceiverAnswer,
  SERVICE_CIDR,
} from '../test/node/apps.ts';

const tty = process.stdout.isTTY;
const paint = (code: number) => (s: string) => (tty ? `\u001b[${code}m${s}\u001b[0m` : s);
const bold = paint(1);
const green = paint(32);
const red = paint(31);
const cyan = paint(36);
const step = (text: string): void => console.log(`\n${bold(cyan('▶'))} ${bold(text)}`);
const say = (text: string): void => console.log(`  ${text}`);
const NAMESPACE = 'shop';
/** The story ends by itself: past this the demo stops, cleans up and exits 1. */
const DEMO_BUDGET_MS = 300_000;

const why = nodeUnsupported();
if (why !== undefined) {
  console.log(`no node on this machine (${why}): the host-process demo instead`);
  await import('./run.ts');
} else {
  await nodeDemo();
}

async function nodeDemo(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'hookgate-demo-node-'));
  let cluster: NodeCluster | undefined;
  const budget = setTimeout(() => {
    console.error(red(`the demo ran past ${DEMO_BUDGET_MS} ms: stopping`));
    process.exitCode = 1;
    void cleanup().then(() => process.exit(1));
  }, DEMO_BUDGET_MS);
  const cleanup = async (): Promise<void> => {
    const problems = (await cluster?.stop()) ?? [];
    for (const p of problems) say(`cleanup: ${p}`);
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
  try {
    step('A control plane and a real node (kubelet, containerd, kube-proxy, CoreDNS)');
    cluster = await startNodeCluster({ dir, log: say });
    const kubeconfig = cluster.controlPlane.kubeconfigPath;
    const kubectl = (args: string[], input?: string): Promise<string> =>
      new Promise((resolve, reject) => {
        const child = execFile(
          kubectlPath(),
          [`--kubeconfig=${kubeconfig}`, ...args],
          (err, out, errOut) =>
            err === null
              ? resolve(out.trim())
              : reject(new Error(errOut || err.message, { cause: err })),
        );
        child.stdin?.end(input ?? '');
      });
    const apply = (objects: object[]): Promise<string> =>
      kubectl(
        ['-n', NAMESPACE, 'apply', '-f', '-'],
        objects.map((o) => stringify(o)).join('---\n'),
      );
    const image = cluster.images['sidecar'] ?? '';

    step(
      'helm install hookgate charts/hookgate (the images are already on the node: nothing is pulled)',
    );
    await installChart(kubeconfig);
    say(await kubectl(['-n', 'hookgate-system', 'get', 'pods']));

    step('kubectl apply: an opted-in namespace, receivers, policies, endpoints, an annotated app');
    await kubectl(['create', 'namespace', NAMESPACE]);
    await kubectl(['label', 'namespace', NAMESPACE, 'hookgate.io/injection=enabled']);
    const secret = newSigningSecret();
    const githubSecret = newSigningSecret();
    await apply([
      scriptsConfigMap(),
      ...receiverObjects(image),
      ...receiverObjects(image, 'broken'),
    ]);
    await apply([
      ...egressObjects(NAMESPACE, secret, {
        retry: { maxAttempts: 3, backoff: { initial: '100ms', max: '400ms' } },
      }),
      policy('throttled', 'limited', {
        rateLimit: { rate: 1, per: 'minute', burst: 2 },
        retry: { maxAttempts: 1 },
      }),
      endpoint('limited', 'receiver'),
      policy('fragile', 'broken', {
        retry: { maxAttempts: 1 },
        circuitBreaker: { consecutiveFailures: 3, openDuration: '1m' },
      }),
      endpoint('broken', 'broken'),
      ...githubIngressObjects(githubSecret),
    ]);
    await kubectl([
      '-n',
      NAMESPACE,
      'wait',
      '--for=condition=Ready',
      'whe',
      '--all',
      '--timeout=60s',
    ]);
    say(await kubectl(['-n', NAMESPACE, 'get', 'whe,whp']));
    await apply([ordersDeployment(image)]);
    await kubectl([
      '-n',
      NAMESPACE,
      'rollout',
      'status',
      'deployment/orders',
      'deployment/receiver',
      'deployment/broken',
      '--timeout=120s',
    ]);
    say(await kubectl(['-n', NAMESPACE, 'get', 'pods', '-o', 'wide']));
    const ip = async (app: string): Promise<string> =>
      kubectl([
        '-n',
        NAMESPACE,
        'get',
        'pods',
        '-l',
        `app=${app}`,
        '-o',
        'jsonpath={.items[0].status.podIP}',
      ]);
    const [appIp, receiverIp, brokenIp] = [
      await ip('orders'),
      await ip('receiver'),
      await ip('broken'),
    ];
    say(`orders runs ${green('2/2')}: hookgate-proxy is its native sidecar`);

    step(
      'The app sends a webhook to http://127.0.0.1:15001/receiver; the receiver checks the signature',
    );
    const first = await send(appIp, 'receiver');
    say(`app got ${first.status}, Hookgate-Delivery-Id ${first.deliveryId ?? '?'}`);
    const [got] = await received(receiverIp);
    if (got !== undefined) {
      new Webhook(secret).verify(got.body, got.headers);
      say(
        `receiver.${NAMESPACE}.svc.cluster.local got it: ${green('signature verified with standardwebhooks')}`,
      );
    }

    step('Four webhooks to an endpoint limited to 2 at once, then 1 a minute');
    for (let n = 1; n <= 4; n++) {
      const r = await send(appIp, 'limited', { n });
      say(
        `#${n}: ${r.status === 429 ? red(`${r.status} ${title(r.body)}`) : green(String(r.status))}`,
      );
    }

    step('A receiver that answers 500: the breaker opens after 3 failures');
    await setReceiverAnswer(brokenIp, 500);
    for (let n = 1; n <= 5; n++) {
      const r = await send(appIp, 'broken', { n });
      say(`#${n}: ${r.status === 503 ? red(`${r.status} ${title(r.body)}`) : String(r.status)}`);
    }
    say(
      `the broken receiver saw ${(await received(brokenIp)).length} of 5: the rest never left the pod`,
    );

    step(
      "GitHub's webhooks to the sidecar's ingress (:15006/github), forwarded to the app once verified",
    );
    const ingressUrl = `http://${appIp}:15006/github`;
    const forged = await sendGithubWebhook(ingressUrl, githubSecret, { forged: true });
    say(`a forged signature: ${red(`${forged.status} ${title(forged.body)}`)}`);
    const genuine = await sendGithubWebhook(ingressUrl, githubSecret);
    say(`signed with the webhook secret (Octokit's signer): ${green(String(genuine.status))}`);
    const forwarded = await inbox(appIp);
    say(
      `the app got ${forwarded.length} webhook${forwarded.length === 1 ? '' : 's'}, at ${forwarded.map((w) => w.path).join(', ')}: the forged one never reached it`,
    );

    step("The sidecar's metrics (GET :15020/metrics on the pod)");
    const metrics = await (await fetch(`http://${appIp}:15020/metrics`)).text();
    for (const line of metrics
      .split('\n')
      .filter((l) =>
        /^hookgate_(egress_(deliveries|attempts|rate_limited|circuit_state)|ingress_(requests|verifications))/.test(
          l,
        ),
      )
      .slice(0, 16))
      say(line);
    step('Done: stopping the node and the control plane');
  } finally {
    clearTimeout(budget);
    await cleanup();
  }
  await sleep(0);
}

/** The title of a problem body (RFC 9457), or nothing. */
function title(body: string): string {
  try {
    return (JSON.parse(body) as { title?: string }).title ?? '';
  } catch {
    return '';
  }
}

function policy(name: string, to: string, spec: object): object {
  return {
    apiVersion: 'hookgate.io/v1alpha1',
    kind: 'WebhookPolicy',
    metadata: { name },
    spec: {
      endpointSelector: { matchLabels: { to } },
      destinations: { allowedCIDRs: [SERVICE_CIDR] },
      ...spec,
    },
  };
}

function endpoint(name: string, service: string): object {
  return {
    apiVersion: 'hookgate.io/v1alpha1',
    kind: 'WebhookEndpoint',
    metadata: { name, labels: { to: name } },
    spec: {
      direction: 'Egress',
      url: `http://${service}.${NAMESPACE}.svc.cluster.local:8080/hook`,
      signing: { secretRef: { name: 'receiver-signing' } },
    },
  };
}

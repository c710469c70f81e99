// Operator at scale: endpoints and policies spread over namespaces, applied at once against a
// fresh control plane of its own; how long until every endpoint is Ready, and the operator's
// peak RSS. Two baselines from the same run: the time the API server alone takes to store the
// objects (so "Ready" is read as the operator's extra time on top), and the operator's RSS with an
// empty cluster (so memory is read as growth per object).
//
//   node bench/operator/run.ts [--namespaces 10] [--endpoints 1000] [--policies 100] [--scale 10000]
//                              [--workers 4] [--cpu-prof DIR]
//
// The namespaces are opted in (hookgate.io/injection=enabled): the operator reads Secrets only
// there, and an endpoint in a namespace that is not never becomes Ready. --cpu-prof writes the
// operator's V8 CPU profile to DIR when it stops (open it in Chrome DevTools or speedscope).
// Phase 1 applies --endpoints endpoints and --policies policies (one Secret per 10 endpoints);
// phase 2 adds endpoints up to --scale (0 skips it). Targets from issue 7: phase 1 all Ready
// within 20 s, under 250 MB RSS at 10,000 endpoints.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { KubeClient } from '../../operator/kube/client.ts';
import { loadClusterAccess } from '../../operator/kube/config.ts';
import type { KubeList } from '../../operator/kube/types.ts';
import { OPT_IN_SELECTOR } from '../../operator/names.ts';
import { startControlPlane } from '../../test/cluster/controlplane.ts';
import { installCrds } from '../../test/cluster/crds.ts';

const { values } = parseArgs({
  options: {
    namespaces: { type: 'string', default: '10' },
    endpoints: { type: 'string', default: '1000' },
    policies: { type: 'string', default: '100' },
    scale: { type: 'string', default: '10000' },
    workers: { type: 'string', default: '4' },
    'cpu-prof': { type: 'string' },
  },
});
const NAMESPACES = Number(values.namespaces);
const ENDPOINTS = Number(values.endpoints);
const POLICIES = Number(values.policies);
const SCALE = Number(values.scale);
const IN_FLIGHT = 24;
const root = resolve(import.meta.dirname, '../..');
const whsec = `whsec_${Buffer.alloc(32, 0x5a).toString('base64')}`;

const ns = (i: number): string => `bench-${i}`;
const [OPT_IN_LABEL, OPT_IN_VALUE] = OPT_IN_SELECTOR.split('=') as [string, string];

/** Runs `tasks` with at most `limit` in flight. */
async function pool(tasks: (() => Promise<unknown>)[], limit: number): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < tasks.length) await tasks[next++]!();
    }),
  );
}

function rssOf(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

/** Endpoint `index` of namespace `n`: labelled so every tenth policy selects a slice. */
function endpoint(n: number, index: number): object {
  return {
    apiVersion: 'hookgate.io/v1alpha1',
    kind: 'WebhookEndpoint',
    metadata: { name: `ep-${index}`, namespace: ns(n), labels: { slice: String(index % 10) } },
    spec: {
      direction: 'Egress',
      url: `https://receiver-${index}.example.com/hooks`,
      signing: { secretRef: { name: `key-${index % 10}` } },
    },
  };
}

async function countReady(client: KubeClient): Promise<number> {
  let ready = 0;
  let next: string | undefined;
  do {
    const page = await client.request<KubeList>(
      'GET',
      '/apis/hookgate.io/v1alpha1/webhookendpoints',
      {
        query: { limit: '2000', continue: next },
      },
    );
    for (const item of page.items) {
      const status = item['status'] as
        | { observedGeneration?: number; conditions?: { type: string; status: string }[] }
        | undefined;
      if (
        status?.observedGeneration === item.metadata.generation &&
        status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')
      ) {
        ready++;
      }
    }
    next = page.metadata.continue || undefined;
  } while (next !== undefined);
  return ready;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'hookgate-bench-operator-'));
  process.stdout.write(`control plane in ${dir}…\n`);
  const controlPlane = await startControlPlane({ dir });
  // Interrupted or not, leave no control plane behind.
  const abort = (): void => {
    void controlPlane.stop().finally(() => process.exit(130));
  };
  process.once('SIGINT', abort).once('SIGTERM', abort);
  try {
    await installCrds(controlPlane.kubeconfigPath);
    const client = new KubeClient(await loadClusterAccess(controlPlane.kubeconfigPath));
    const create = (path: string, body: object) => (): Promise<unknown> =>
      client.request('POST', path, { body });

    for (let n = 0; n < NAMESPACES; n++) {
      await client.request('POST', '/api/v1/namespaces', {
        body: { metadata: { name: ns(n), labels: { [OPT_IN_LABEL]: OPT_IN_VALUE } } },
      });
    }

    const operator = spawn(
      process.execPath,
      [
        ...(values['cpu-prof'] === undefined
          ? []
          : ['--cpu-prof', `--cpu-prof-dir=${resolve(values['cpu-prof'])}`]),
        join(root, 'operator', 'main.ts'),
        `--kubeconfig=${controlPlane.kubeconfigPath}`,
        '--leader-elect=false',
        `--workers=${values.workers}`,
        '--webhook-addr=',
      ],
      {
        env: { ...process.env, HOOKGATE_ADMIN_ADDR: '127.0.0.1:0', HOOKGATE_LOG_LEVEL: 'info' },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    const pid = operator.pid!;
    let port = 0;
    createInterface({ input: operator.stdout }).on('line', (line) => {
      const entry = JSON.parse(line) as Record<string, unknown>;
      if (entry['msg'] === 'admin server listening') port = entry['port'] as number;
    });
    while (port === 0) await new Promise((r) => setTimeout(r, 100));
    const idleRss = rssOf(pid, 'VmRSS');
    let peak = 0;
    const sampler = setInterval(() => (peak = Math.max(peak, rssOf(pid, 'VmRSS'))), 200);

    const phase = async (
      label: string,
      tasks: (() => Promise<unknown>)[],
      expected: number,
    ): Promise<void> => {
      const start = performance.now();
      await pool(tasks, IN_FLIGHT);
      const applied = performance.now() - start;
      // How far behind the operator is when the API server has accepted everything.
      const readyWhenApplied = await countReady(client);
      let ready: number;
      while ((ready = await countReady(client)) < expected) {
        if (performance.now() - start > 600_000)
          throw new Error(`${label}: only ${ready}/${expected} Ready after 10 min`);
        await new Promise((r) => setTimeout(r, 250));
      }
      const allReady = performance.now() - start;
      process.stdout.write(
        `${label}: ${tasks.length} objects applied in ${(applied / 1000).toFixed(1)} s (API server baseline), ` +
          `${readyWhenApplied} endpoints Ready by then; ` +
          `all ${expected} endpoints Ready after ${(allReady / 1000).toFixed(1)} s ` +
          `(${(allReady / applied).toFixed(2)}× the baseline); operator RSS ${rssOf(pid, 'VmRSS').toFixed(0)} MB now, ` +
          `${peak.toFixed(0)} MB peak (${(peak / idleRss).toFixed(2)}× idle ${idleRss.toFixed(0)} MB)\n`,
      );
    };

    // Phase 1: secrets, policies and endpoints together, as a GitOps sync would apply them.
    const perNamespace = Math.ceil(ENDPOINTS / NAMESPACES);
    const tasks: (() => Promise<unknown>)[] = [];
    for (let n = 0; n < NAMESPACES; n++) {
      for (let k = 0; k < 10; k++) {
        tasks.push(
          create(`/api/v1/namespaces/${ns(n)}/secrets`, {
            metadata: { name: `key-${k}` },
            stringData: { secret: whsec },
          }),
        );
      }
      for (let p = 0; p < Math.ceil(POLICIES / NAMESPACES); p++) {
        tasks.push(
          create(`/apis/hookgate.io/v1alpha1/namespaces/${ns(n)}/webhookpolicies`, {
            apiVersion: 'hookgate.io/v1alpha1',
            kind: 'WebhookPolicy',
            metadata: { name: `policy-${p}` },
            spec: {
              endpointSelector: { matchLabels: { slice: String(p % 10) } },
              retry: { maxAttempts: 2 + (p % 5) },
            },
          }),
        );
      }
      for (let i = 0; i < perNamespace; i++) {
        tasks.push(
          create(`/apis/hookgate.io/v1alpha1/namespaces/${ns(n)}/webhookendpoints`, endpoint(n, i)),
        );
      }
    }
    await phase(`phase 1 (${NAMESPACES} namespaces)`, tasks, perNamespace * NAMESPACES);

    if (SCALE > perNamespace * NAMESPACES) {
      const more: (() => Promise<unknown>)[] = [];
      const target = Math.ceil(SCALE / NAMESPACES);
      for (let n = 0; n < NAMESPACES; n++) {
        for (let i = perNamespace; i < target; i++) {
          more.push(
            create(
              `/apis/hookgate.io/v1alpha1/namespaces/${ns(n)}/webhookendpoints`,
              endpoint(n, i),
            ),
          );
        }
      }
      await phase(`phase 2 (to ${target * NAMESPACES} endpoints)`, more, target * NAMESPACES);
    }
    clearInterval(sampler);
    // Settled: what the operator holds once the burst is over.
    await new Promise((r) => setTimeout(r, 10_000));
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const pick = (re: RegExp): string =>
      metrics
        .split('\n')
        .filter((l) => re.test(l))
        .join('\n  ');
    process.stdout.write(
      `operator peak RSS (VmHWM) ${rssOf(pid, 'VmHWM').toFixed(0)} MB\n  ${pick(/^(hookgate_operator_(reconciles_total|api_writes_total|reconcile_duration_seconds_(sum|count))|nodejs_heap_size_(used|total)_bytes|process_resident_memory_bytes)/)}\n`,
    );
    const exited = new Promise((r) => operator.once('exit', r));
    operator.kill('SIGTERM');
    // The CPU profile is written on a clean exit.
    await exited;
    await client.close();
  } finally {
    await controlPlane.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();

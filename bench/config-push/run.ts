// Config push at scale: one operator replica (reconciler + config server, in a process of its own:
// bench/config-push/server.ts) against a fresh control plane, serving --subscribers simulated
// sidecars and --sidecars real sidecar processes, all in one namespace. Each change patches the
// WebhookPolicy every endpoint uses; the bench times how long until every subscriber holds the new
// generation, against a baseline measured in the same run: the same ConfigMap change seen by a
// plain watch on the API server (what any sidecar could at best learn from the API server).
//
//   node bench/config-push/run.ts [--subscribers 1000] [--sidecars 1] [--changes 5]
//                                 [--endpoints 50] [--scopes 10]
//
// What is simulated: a subscriber is a TLS stream client in this process that authenticates as a
// sidecar does — a TokenRequest token (audience hookgate.io/sidecar) bound to a real Pod object
// (Pending: the control plane has no node), checked by the operator with TokenReview and a pod read —
// and parses the stream's NDJSON, but compiles nothing. Real sidecars run sidecar/main.ts with
// HOOKGATE_CONFIG_SERVER and are timed by polling their /config; each binds the streamed config's
// listen addresses (127.0.0.1:15001, 0.0.0.0:15006: the published config sets none), so one host
// runs one unless those ports are free per process — hence one by default. Pods carry one of --scopes label
// sets; every tenth endpoint has a workloadSelector, so views differ per scope.
// Target (issue 20): p99 <= 1 s.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request, Agent } from 'node:https';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { SIDECAR_AUDIENCE, STREAM_PATH } from '../../common/config-stream.ts';
import { KubeClient } from '../../operator/kube/client.ts';
import { loadClusterAccess } from '../../operator/kube/config.ts';
import type { KubeObject } from '../../operator/kube/types.ts';
import { CONFIG_MAP_NAME, GENERATION_ANNOTATION, OPT_IN_SELECTOR } from '../../operator/names.ts';
import { startControlPlane } from '../../test/cluster/controlplane.ts';
import { installCrds } from '../../test/cluster/crds.ts';
import { freePort } from '../../test/cluster/process.ts';

const { values } = parseArgs({
  options: {
    subscribers: { type: 'string', default: '1000' },
    sidecars: { type: 'string', default: '1' },
    changes: { type: 'string', default: '5' },
    endpoints: { type: 'string', default: '50' },
    scopes: { type: 'string', default: '10' },
  },
});
const SUBSCRIBERS = Number(values.subscribers);
const SIDECARS = Number(values.sidecars);
const CHANGES = Number(values.changes);
const ENDPOINTS = Number(values.endpoints);
const SCOPES = Number(values.scopes);
const IN_FLIGHT = 24;
const NS = 'push';
const root = resolve(import.meta.dirname, '../..');
const [OPT_IN_LABEL, OPT_IN_VALUE] = OPT_IN_SELECTOR.split('=') as [string, string];
const whsec = `whsec_${Buffer.alloc(32, 0x5a).toString('base64')}`;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Runs `tasks` with at most `limit` in flight. */
async function pool<T>(tasks: (() => Promise<T>)[], limit: number): Promise<T[]> {
  const out: T[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < tasks.length) {
        const i = next++;
        out[i] = await tasks[i]!();
      }
    }),
  );
  return out;
}

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN) / 1024;
}

/** User + system CPU of `pid` in milliseconds (clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? NaN;
}

/** One simulated sidecar: a stream client that records when each generation arrives. */
class Subscriber {
  generation = 0;
  #waiters: { generation: number; resolve: (at: number) => void }[] = [];

  readonly #token: string;
  readonly #agent: Agent;
  readonly #port: number;
  readonly #ca: string;

  constructor(token: string, agent: Agent, port: number, ca: string) {
    this.#token = token;
    this.#agent = agent;
    this.#port = port;
    this.#ca = ca;
  }

  /** Connects; resolves on the first CONFIG. */
  connect(): Promise<void> {
    const first = this.until(1);
    const req = request({
      host: '127.0.0.1',
      port: this.#port,
      path: STREAM_PATH,
      method: 'GET',
      ca: this.#ca,
      agent: this.#agent,
      headers: { authorization: `Bearer ${this.#token}` },
    });
    req.on('response', (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        throw new Error(`stream refused: ${res.statusCode}`);
      }
      let pending = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        pending += chunk;
        let newline: number;
        while ((newline = pending.indexOf('\n')) >= 0) {
          const line = pending.slice(0, newline);
          pending = pending.slice(newline + 1);
          // A lightweight client: the head of the line says what it is; the body is not parsed.
          const head = /^\{"type":"(\w+)","generation":(\d+)/.exec(line);
          if (head === null) throw new Error(`not a stream event: ${line.slice(0, 80)}`);
          if (head[1] === 'CONFIG') this.#received(Number(head[2]));
        }
      });
    });
    req.end();
    return first.then(() => undefined);
  }

  #received(generation: number): void {
    if (generation <= this.generation) return;
    this.generation = generation;
    const at = performance.now();
    this.#waiters = this.#waiters.filter((w) => {
      if (w.generation > generation) return true;
      w.resolve(at);
      return false;
    });
  }

  /** Resolves with the time the subscriber first held `generation` or later. */
  until(generation: number): Promise<number> {
    if (this.generation >= generation) return Promise.resolve(performance.now());
    return new Promise((resolve) => this.#waiters.push({ generation, resolve }));
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'hookgate-bench-config-push-'));
  process.stdout.write(`control plane in ${dir}…\n`);
  const controlPlane = await startControlPlane({ dir });
  const children: ChildProcess[] = [];
  const abort = (): void => {
    for (const c of children) c.kill('SIGKILL');
    void controlPlane.stop().finally(() => process.exit(130));
  };
  process.once('SIGINT', abort).once('SIGTERM', abort);
  try {
    await installCrds(controlPlane.kubeconfigPath);
    const client = new KubeClient(await loadClusterAccess(controlPlane.kubeconfigPath));
    await client.request('POST', '/api/v1/namespaces', {
      body: { metadata: { name: NS, labels: { [OPT_IN_LABEL]: OPT_IN_VALUE } } },
    });
    const base = `/apis/hookgate.io/v1alpha1/namespaces/${NS}`;
    await client.request('POST', `/api/v1/namespaces/${NS}/secrets`, {
      body: { metadata: { name: 'key' }, stringData: { secret: whsec } },
    });
    await client.request('POST', `${base}/webhookpolicies`, {
      body: {
        apiVersion: 'hookgate.io/v1alpha1',
        kind: 'WebhookPolicy',
        metadata: { name: 'default' },
        spec: { endpointSelector: {}, retry: { maxAttempts: 2 } },
      },
    });
    await pool(
      Array.from(
        { length: ENDPOINTS },
        (_, i) => () =>
          client.request('POST', `${base}/webhookendpoints`, {
            body: {
              apiVersion: 'hookgate.io/v1alpha1',
              kind: 'WebhookEndpoint',
              metadata: { name: `ep-${i}` },
              spec: {
                direction: 'Egress',
                url: `https://receiver-${i}.example.com/hooks`,
                signing: { secretRef: { name: 'key' } },
                // Every tenth endpoint belongs to one scope only: views differ per label set.
                ...(i % 10 === 0
                  ? { workloadSelector: { matchLabels: { app: `a${(i / 10) % SCOPES}` } } }
                  : {}),
              },
            },
          }),
      ),
      IN_FLIGHT,
    );

    // Real Pod objects (Pending: no node) and a bound token for each, as the kubelet would mint.
    while (true) {
      try {
        await client.request('GET', `/api/v1/namespaces/${NS}/serviceaccounts/default`);
        break;
      } catch {
        await sleep(200);
      }
    }
    const total = SUBSCRIBERS + SIDECARS;
    const t0 = performance.now();
    const tokens = await pool(
      Array.from({ length: total }, (_, i) => async () => {
        const pod = await client.request<KubeObject>('POST', `/api/v1/namespaces/${NS}/pods`, {
          body: {
            metadata: { name: `pod-${i}`, labels: { app: `a${i % SCOPES}` } },
            spec: { containers: [{ name: 'app', image: 'registry.invalid/app:1' }] },
          },
        });
        const review = await client.request<{ status: { token: string } }>(
          'POST',
          `/api/v1/namespaces/${NS}/serviceaccounts/default/token`,
          {
            body: {
              apiVersion: 'authentication.k8s.io/v1',
              kind: 'TokenRequest',
              spec: {
                audiences: [SIDECAR_AUDIENCE],
                expirationSeconds: 3600,
                boundObjectRef: {
                  apiVersion: 'v1',
                  kind: 'Pod',
                  name: `pod-${i}`,
                  uid: pod.metadata.uid,
                },
              },
            },
          },
        );
        return review.status.token;
      }),
      IN_FLIGHT,
    );
    process.stdout.write(
      `${total} pods and TokenRequest tokens in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`,
    );

    // The operator, and the published generation before any subscriber connects.
    const caFile = join(dir, 'config-server-ca.pem');
    const server = spawn(
      process.execPath,
      [join(import.meta.dirname, 'server.ts'), controlPlane.kubeconfigPath, NS, caFile],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    children.push(server);
    const port = await new Promise<number>((resolvePort, reject) => {
      server.once('exit', (code) => reject(new Error(`config server exited (${code})`)));
      createInterface({ input: server.stdout }).once('line', (line) =>
        resolvePort((JSON.parse(line) as { port: number }).port),
      );
    });
    const pid = server.pid!;
    const ca = readFileSync(caFile, 'utf8');
    const configMapPath = `/api/v1/namespaces/${NS}/configmaps/${CONFIG_MAP_NAME}`;
    const published = async (): Promise<number> => {
      try {
        const cm = await client.request<KubeObject>('GET', configMapPath);
        return Number(cm.metadata.annotations?.[GENERATION_ANNOTATION] ?? 0);
      } catch {
        return 0;
      }
    };
    while ((await published()) === 0) await sleep(100);
    await sleep(2_000);
    const rssBefore = rssMb(pid);

    // Connect: every stream is one TokenReview and one pod read on the operator's side.
    const agent = new Agent({ keepAlive: true, maxSockets: Infinity });
    const subscribers = tokens
      .slice(0, SUBSCRIBERS)
      .map((token) => new Subscriber(token, agent, port, ca));
    const t1 = performance.now();
    await pool(
      subscribers.map((s) => () => s.connect()),
      50,
    );
    process.stdout.write(
      `${SUBSCRIBERS} subscribers connected and holding generation ${await published()} in ${((performance.now() - t1) / 1000).toFixed(1)} s\n`,
    );

    // Real sidecars: a snapshot of generation 0 fixes their listen ports (one host, many pods).
    const sidecars: { admin: number }[] = [];
    for (let i = 0; i < SIDECARS; i++) {
      const home = join(dir, `sidecar-${i}`);
      const tokenFile = `${home}.token`;
      writeFileSync(tokenFile, tokens[SUBSCRIBERS + i]!);
      const [egress, ingress, admin] = [await freePort(), await freePort(), await freePort()];
      const fallback = `${home}.yaml`;
      const listen = `listen: { egress: "127.0.0.1:${egress}", ingress: "127.0.0.1:${ingress}" }\nqueue: { directory: ${home}-queue }\n`;
      writeFileSync(fallback, listen);
      const snapshot = `${home}.snapshot.json`;
      writeFileSync(
        snapshot,
        JSON.stringify({ type: 'CONFIG', generation: 0, digest: '', config: listen, secrets: {} }),
      );
      const child = spawn(
        process.execPath,
        [join(root, 'sidecar', 'main.ts'), '--config', fallback],
        {
          stdio: ['ignore', 'ignore', 'inherit'],
          env: {
            ...process.env,
            HOOKGATE_CONFIG_SERVER: `https://127.0.0.1:${port}`,
            HOOKGATE_CONFIG_SERVER_CA: ca,
            HOOKGATE_TOKEN_FILE: tokenFile,
            HOOKGATE_CONFIG_SNAPSHOT: snapshot,
            HOOKGATE_ADMIN_ADDR: `127.0.0.1:${admin}`,
            HOOKGATE_LOG_LEVEL: 'warn',
          },
        },
      );
      children.push(child);
      sidecars.push({ admin });
    }
    const sidecarGeneration = async (admin: number): Promise<number> => {
      try {
        const res = await fetch(`http://127.0.0.1:${admin}/config`);
        return ((await res.json()) as { generation?: number }).generation ?? 0;
      } catch {
        return 0;
      }
    };
    const sidecarUntil = async (admin: number, generation: number): Promise<number> => {
      while ((await sidecarGeneration(admin)) < generation) await sleep(10);
      return performance.now();
    };
    const current = await published();
    await Promise.all(sidecars.map((s) => sidecarUntil(s.admin, current)));
    await sleep(2_000);
    const rssAfter = rssMb(pid);
    process.stdout.write(`${SIDECARS} real sidecars streaming generation ${current}\n`);

    // The baseline: a watch on the ConfigMap, as close to the API server as a client gets.
    const watchAbort = new AbortController();
    let watchedGeneration = current;
    const watchWaiters: { generation: number; resolve: (at: number) => void }[] = [];
    const cm = await client.request<KubeObject>('GET', configMapPath);
    void client
      .watch(
        `/api/v1/namespaces/${NS}/configmaps`,
        {
          fieldSelector: `metadata.name=${CONFIG_MAP_NAME}`,
          resourceVersion: cm.metadata.resourceVersion,
        },
        (event) => {
          const g = Number(event.object.metadata.annotations?.[GENERATION_ANNOTATION] ?? 0);
          if (g <= watchedGeneration) return;
          watchedGeneration = g;
          const at = performance.now();
          for (const w of watchWaiters.splice(0)) if (g >= w.generation) w.resolve(at);
        },
        watchAbort.signal,
      )
      .catch(() => undefined);
    const watchUntil = (generation: number): Promise<number> =>
      watchedGeneration >= generation
        ? Promise.resolve(performance.now())
        : new Promise((r) => watchWaiters.push({ generation, resolve: r }));

    const latencies: number[] = [];
    const sidecarLatencies: number[] = [];
    const baselines: number[] = [];
    const cpu: number[] = [];
    for (let c = 0; c < CHANGES; c++) {
      const target = (await published()) + 1;
      await sleep(500);
      const cpuBefore = cpuMs(pid);
      const start = performance.now();
      const arrivals = subscribers.map((s) => s.until(target));
      const sidecarArrivals = sidecars.map((s) => sidecarUntil(s.admin, target));
      const watched = watchUntil(target);
      await client.request('PATCH', `${base}/webhookpolicies/default`, {
        body: { spec: { retry: { maxAttempts: 3 + c } } },
        contentType: 'application/merge-patch+json',
      });
      const deadline = setTimeout(() => {
        void (async (): Promise<void> => {
          const behind = subscribers.filter((s) => s.generation < target).length;
          const held = await Promise.all(sidecars.map((s) => sidecarGeneration(s.admin)));
          process.stderr.write(
            `change ${c + 1}: after 30 s, ${behind} subscribers below generation ${target}; sidecars at ${held.join(', ')}; watch at ${watchedGeneration}; published ${await published()}\n`,
          );
          process.exitCode = 1;
        })();
      }, 30_000);
      const times = await Promise.all(arrivals);
      const sidecarTimes = await Promise.all(sidecarArrivals);
      const baseline = (await watched) - start;
      clearTimeout(deadline);
      cpu.push(cpuMs(pid) - cpuBefore);
      baselines.push(baseline);
      for (const t of times) latencies.push(t - start);
      for (const t of sidecarTimes) sidecarLatencies.push(t - start);
      const max = Math.max(...times, ...sidecarTimes) - start;
      process.stdout.write(
        `change ${c + 1}: generation ${target} at every subscriber after ${max.toFixed(0)} ms (watch baseline ${baseline.toFixed(0)} ms), operator CPU ${cpu.at(-1)} ms\n`,
      );
    }
    watchAbort.abort();

    const sorted = [...latencies].sort((a, b) => a - b);
    const all = [...latencies, ...sidecarLatencies].sort((a, b) => a - b);
    const baseP50 = quantile(
      [...baselines].sort((a, b) => a - b),
      0.5,
    );
    const fmt = (ms: number): string => `${ms.toFixed(0)} ms`;
    process.stdout.write(
      [
        `${CHANGES} WebhookPolicy changes, ${SUBSCRIBERS} simulated subscribers + ${SIDECARS} real sidecars in ${SCOPES} scopes, ${ENDPOINTS} endpoints:`,
        `  change -> subscriber: p50 ${fmt(quantile(sorted, 0.5))}, p99 ${fmt(quantile(sorted, 0.99))}, max ${fmt(sorted.at(-1) ?? NaN)} (target p99 <= 1000 ms)`,
        `  real sidecars (polled every 10 ms): p50 ${fmt(
          quantile(
            [...sidecarLatencies].sort((a, b) => a - b),
            0.5,
          ),
        )}, max ${fmt(Math.max(...sidecarLatencies))}`,
        `  baseline, the ConfigMap change seen by a watch: p50 ${fmt(baseP50)}; subscriber p99 is ${(quantile(all, 0.99) / baseP50).toFixed(2)}x it`,
        `  operator RSS ${rssBefore.toFixed(0)} MB before connecting, ${rssAfter.toFixed(0)} MB after: ${(((rssAfter - rssBefore) * 1024) / total).toFixed(1)} KiB per connection`,
        `  operator CPU per change: ${cpu.map((ms) => `${ms} ms`).join(', ')} (reconcile, publish and fan-out)`,
        '',
      ].join('\n'),
    );
    agent.destroy();
    for (const child of children) child.kill('SIGTERM');
    await client.close();
  } finally {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    await controlPlane.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();

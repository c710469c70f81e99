// The config stream's test ground on the shared control plane: real operator processes
// (operator/main.ts, so the wiring in main.ts is what runs) behind a round-robin TCP proxy that
// stands for their Service, real sidecar processes holding TokenRequest tokens bound to real Pod
// objects, and tokens the API server must refuse (forged, expired, another audience).
import { spawn, type ChildProcess } from 'node:child_process';
import { createPrivateKey, createSign, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import type { KubeConfig } from '@kubernetes/client-node';
import { request as httpsRequest } from 'node:https';
import { SIDECAR_AUDIENCE, STREAM_PATH, type ConfigEvent } from '../../common/config-stream.ts';
import { admin, type OperatorIdentity } from '../operator/support.ts';
import { setTimeout as sleep } from 'node:timers/promises';

const root = resolve(import.meta.dirname, '../..');

/** What a replica is started with. */
export interface ReplicaOptions {
  readonly identity: OperatorIdentity;
  readonly namespace: string;
  readonly lease: string;
  readonly webhookConfig: string;
}

/** One operator process. */
export interface Replica {
  readonly child: ChildProcess;
  /** Its config server's port. */
  readonly configPort: number;
  readonly logs: Record<string, unknown>[];
  /** SIGKILL, and wait until it is gone. */
  kill(): Promise<void>;
}

/** Starts `node operator/main.ts` and resolves once its config server listens. */
export async function startReplica(options: ReplicaOptions): Promise<Replica> {
  const { identity } = options;
  const child = spawn(
    process.execPath,
    [
      join(root, 'operator', 'main.ts'),
      `--kubeconfig=${identity.kubeconfigPath}`,
      `--watch-namespace=${options.namespace}`,
      `--lease-namespace=${identity.namespace}`,
      `--lease-name=${options.lease}`,
      '--lease-duration=6s',
      '--renew-deadline=4s',
      '--retry-period=500ms',
      '--webhook-addr=127.0.0.1:0',
      `--webhook-config=${options.webhookConfig}`,
      '--webhook-extra-hosts=127.0.0.1',
      '--config-addr=127.0.0.1:0',
    ],
    {
      env: {
        ...process.env,
        HOOKGATE_ADMIN_ADDR: '127.0.0.1:0',
        POD_NAMESPACE: identity.namespace,
        KUBECONFIG: '/nonexistent',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const logs: Record<string, unknown>[] = [];
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const configPort = await new Promise<number>((resolvePort, reject) => {
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => reject(new Error('operator did not serve within 30 s')), 30_000);
    child.once('exit', (code) => reject(new Error(`operator exited ${code}: ${stderr}`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      logs.push(entry);
      if (entry['msg'] === 'config server listening') {
        clearTimeout(timer);
        resolvePort(entry['port'] as number);
      }
    });
  });
  return {
    child,
    configPort,
    logs,
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/**
 * A round-robin TCP proxy standing for the operator's Service (kube-proxy): each new connection
 * goes to the next live backend; with none it is closed at once.
 */
export interface ServiceProxy {
  readonly port: number;
  backends: number[];
  /** Cuts every open connection (a replica's pod gone from the endpoints). */
  cut(): void;
  close(): Promise<void>;
}

/** Starts a {@link ServiceProxy} on a free loopback port. */
export async function startServiceProxy(): Promise<ServiceProxy> {
  const open = new Set<Socket>();
  let next = 0;
  const proxy: ServiceProxy = {
    port: 0,
    backends: [],
    cut: () => {
      for (const s of open) s.destroy();
    },
    close: () => {
      proxy.cut();
      return new Promise((r) => server.close(() => r()));
    },
  };
  const server: Server = createServer((client) => {
    const port = proxy.backends[next++ % Math.max(1, proxy.backends.length)];
    if (port === undefined) return void client.destroy();
    const upstream = connect(port, '127.0.0.1');
    for (const s of [client, upstream]) {
      open.add(s);
      s.on('close', () => open.delete(s));
      s.on('error', () => undefined);
    }
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  (proxy as { port: number }).port = (server.address() as { port: number }).port;
  return proxy;
}

/** A Pod object (no kubelet runs it) and its ServiceAccount, as a workload's replica. */
export async function createWorkloadPod(
  kubeConfig: KubeConfig,
  namespace: string,
  name: string,
  labels: Record<string, string>,
  serviceAccount: string,
): Promise<{ uid: string }> {
  await admin(kubeConfig, 'POST', `/api/v1/namespaces/${namespace}/serviceaccounts`, {
    metadata: { name: serviceAccount },
  }).catch((err: Error) => {
    if (!err.message.includes('409')) throw err;
  });
  const pod = await admin<{ metadata: { uid: string } }>(
    kubeConfig,
    'POST',
    `/api/v1/namespaces/${namespace}/pods`,
    {
      metadata: { name, labels },
      spec: { serviceAccountName: serviceAccount, containers: [{ name: 'app', image: 'app:1' }] },
    },
  );
  return { uid: pod.metadata.uid };
}

/** A TokenRequest token of `serviceAccount` bound to the pod, for `audience`. */
export async function podToken(
  kubeConfig: KubeConfig,
  namespace: string,
  serviceAccount: string,
  pod: { name: string; uid: string },
  audience: string = SIDECAR_AUDIENCE,
): Promise<string> {
  const res = await admin<{ status: { token: string } }>(
    kubeConfig,
    'POST',
    `/api/v1/namespaces/${namespace}/serviceaccounts/${serviceAccount}/token`,
    {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: {
        audiences: [audience],
        expirationSeconds: 600,
        boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.name, uid: pod.uid },
      },
    },
  );
  return res.status.token;
}

const b64url = (data: string | Buffer): string => Buffer.from(data).toString('base64url');

/** `token` with its claims changed by `edit`, signed again with `key` (same header). */
export function resign(
  token: string,
  key: KeyObject,
  edit: (claims: Record<string, unknown>) => void,
): string {
  const [header, payload] = token.split('.') as [string, string];
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<
    string,
    unknown
  >;
  edit(claims);
  const input = `${header}.${b64url(JSON.stringify(claims))}`;
  const alg = (JSON.parse(Buffer.from(header, 'base64url').toString('utf8')) as { alg: string })
    .alg;
  const signer = createSign('SHA256').update(input);
  const signature = alg.startsWith('ES')
    ? signer.sign({ key, dsaEncoding: 'ieee-p1363' })
    : signer.sign(key);
  return `${input}.${b64url(signature)}`;
}

/** The control plane's ServiceAccount signing key (the test ground's own PKI). */
export function serviceAccountKey(pkiDir: string): KeyObject {
  return createPrivateKey(readFileSync(join(pkiDir, 'sa.key')));
}

/** A key of the same type the API server has never seen (a forger's). */
export function forgerKey(like: KeyObject): KeyObject {
  return like.asymmetricKeyType === 'ec'
    ? generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey
    : generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
}

/** A sidecar process, with everything it printed. */
export interface SidecarProcess {
  readonly egress: string;
  readonly admin: string;
  readonly logs: Record<string, unknown>[];
  /** SIGKILL, and wait until it is gone. */
  kill(): Promise<void>;
}

/** A streamed sidecar: its process, token file and snapshot file (the pod's emptyDir). */
export interface StreamedSidecar {
  readonly process: SidecarProcess;
  readonly dir: string;
  readonly snapshotFile: string;
}

/**
 * Starts `node sidecar/main.ts` as the injector configures it: the stream URL, CA and token file,
 * a snapshot file, and a mounted fallback file that never changes (the ConfigMap the kubelet has
 * not refreshed: anything newer can only have come through the stream). A pod has ports and an
 * emptyDir of its own; a process on a shared test machine gets them by environment (listen on
 * port 0, queue in its folder). Resolves once /readyz answers 200; a sidecar that exits first
 * fails with what it printed.
 */
export async function startStreamedSidecar(options: {
  readonly url: string;
  readonly caPem: string;
  readonly token: string;
  /** Reuse a pod's folder (a container restart keeps its emptyDir). */
  readonly dir?: string;
  readonly namespace: string;
  readonly podName: string;
}): Promise<StreamedSidecar> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'hookgate-streamed-'));
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, options.token, { mode: 0o600 });
  const fallback = join(dir, 'sidecar.yaml');
  writeFileSync(
    fallback,
    'listen: { egress: "127.0.0.1:0", ingress: "127.0.0.1:0" }\nendpoints: []\n',
  );
  const snapshotFile = join(dir, 'config-snapshot.json');
  const child = spawn(process.execPath, [join(root, 'sidecar/main.ts'), '--config', fallback], {
    env: {
      ...process.env,
      HOOKGATE_ADMIN_ADDR: '127.0.0.1:0',
      HOOKGATE_EGRESS_LISTEN: '127.0.0.1:0',
      HOOKGATE_INGRESS_LISTEN: '127.0.0.1:0',
      HOOKGATE_QUEUE_DIR: join(dir, 'queue'),
      HOOKGATE_CONFIG_SERVER: options.url,
      HOOKGATE_CONFIG_SERVER_CA: options.caPem,
      HOOKGATE_TOKEN_FILE: tokenFile,
      HOOKGATE_CONFIG_SNAPSHOT: snapshotFile,
      POD_NAME: options.podName,
      POD_NAMESPACE: options.namespace,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  const printed: string[] = [];
  const ports: Record<string, number> = {};
  const read = (line: string): void => {
    printed.push(line);
    try {
      const entry = JSON.parse(line) as Record<string, unknown>;
      logs.push(entry);
      const which = /^(egress|admin server) listening$/.exec(String(entry['msg']))?.[1];
      if (which !== undefined) ports[which] = entry['port'] as number;
    } catch {
      // not a log line (a stack trace on stderr)
    }
  };
  createInterface({ input: child.stdout }).on('line', read);
  createInterface({ input: child.stderr }).on('line', read);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(
        `sidecar ${child.exitCode === null ? 'not ready within 60 s' : `exited with ${child.exitCode}`}:\n${printed.slice(-30).join('\n')}`,
      );
    }
    const admin = ports['admin server'];
    const status =
      admin === undefined
        ? undefined
        : (await fetch(`http://127.0.0.1:${admin}/readyz`).catch(() => undefined))?.status;
    if (status === 200 && ports['egress'] !== undefined) break;
    await sleep(100);
  }
  return {
    process: {
      egress: `http://127.0.0.1:${ports['egress']}`,
      admin: `http://127.0.0.1:${ports['admin server']}`,
      logs,
      kill: async () => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        await exited;
      },
    },
    dir,
    snapshotFile,
  };
}

/** What `/config` says: the generation in force and where it came from. */
export async function sidecarConfig(sidecar: StreamedSidecar): Promise<{
  generation: number;
  source: string;
  endpoints: { name: string; policy: string | null }[];
}> {
  const res = await fetch(`${sidecar.process.admin}/config`);
  return (await res.json()) as Awaited<ReturnType<typeof sidecarConfig>>;
}

/** One metric's value on the sidecar's /metrics. */
export async function sidecarMetric(sidecar: StreamedSidecar, name: string): Promise<number> {
  const text = await (await fetch(`${sidecar.process.admin}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return Number(line?.split(' ')[1] ?? NaN);
}

/** One stream request with `token`: the status and, for 200, the first event; else the body. */
export async function firstEvent(
  port: number,
  caPem: string,
  token: string,
): Promise<{ status: number; body: string; event?: ConfigEvent }> {
  return new Promise((resolvePromise, reject) => {
    const req = httpsRequest(
      {
        host: '127.0.0.1',
        port,
        path: STREAM_PATH,
        ca: caPem,
        headers: { authorization: `Bearer ${token}` },
        agent: false,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
          const newline = text.indexOf('\n');
          if (res.statusCode === 200 && newline >= 0) {
            resolvePromise({
              status: 200,
              body: '',
              event: JSON.parse(text.slice(0, newline)) as ConfigEvent,
            });
            res.destroy();
          }
        });
        res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

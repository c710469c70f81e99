// A real Kubernetes control plane on loopback for tests and `make cluster-up`: etcd,
// kube-apiserver (TLS, client-certificate auth, RBAC) and kube-controller-manager, built from
// their Go modules by build.sh. Each start gets fresh certificates, data and free ports.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import { freePort, startProcess, waitFor, type ManagedProcess } from './process.ts';

const execFileAsync = promisify(execFile);

/** The folder build.sh writes the binaries to (`$HOOKGATE_CACHE_DIR`, default `<repo>/.cache`). */
export function cacheDir(): string {
  return process.env['HOOKGATE_CACHE_DIR'] ?? resolve(import.meta.dirname, '../../.cache');
}

/** Where the binaries of the current build are linked. */
export function binDir(): string {
  return join(cacheDir(), 'controlplane', 'current');
}

/** Client TLS material for talking to the API server as the admin. */
export interface AdminCredentials {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

/** A running control plane. */
export interface ControlPlane {
  /** `https://127.0.0.1:<port>` */
  readonly server: string;
  /** Self-contained admin kubeconfig (certificates inline). */
  readonly kubeconfigPath: string;
  /** Folder of the PEM files: `ca.crt`, `webhook.crt`/`webhook.key` for admission webhooks on loopback. */
  readonly pkiDir: string;
  readonly dir: string;
  readonly versions: { kubernetes: string; etcd: string };
  readonly processes: readonly ManagedProcess[];
  readonly admin: AdminCredentials;
  stop(): Promise<void>;
}

/** Options for {@link startControlPlane}. */
export interface ControlPlaneOptions {
  /** Folder for data, certificates, kubeconfig and logs (created; must be empty or missing). */
  dir: string;
  /** Keep the processes running after this Node process exits. */
  detached?: boolean;
  /** Progress lines ("etcd ready", …). */
  log?: (line: string) => void;
  /** Budget for the whole start; the first start on a slow machine takes ~30 s. */
  timeoutMs?: number;
  /**
   * For a run with a node (node.ts): the host's address on the node's link. The API server then
   * listens on every address, advertises this one (the `kubernetes` Service's endpoint, reached by
   * pods through kube-proxy), calls kubelets by InternalIP with the admin certificate, and calls
   * webhook Services at their endpoints (no kube-proxy on the host).
   */
  nodeAddress?: string;
}

function binary(name: string): string {
  const path = join(binDir(), name);
  if (!existsSync(path)) {
    throw new Error(
      `${path} is missing: build the test control plane first with 'make controlplane'`,
    );
  }
  return path;
}

/** One HTTPS GET against the API server as the admin; resolves with status and body. */
export function adminGet(
  server: string,
  path: string,
  admin: AdminCredentials,
): Promise<{ status: number; body: string }> {
  return new Promise((resolveGet, reject) => {
    const req = request(
      new URL(path, server),
      { method: 'GET', ca: admin.ca, cert: admin.cert, key: admin.key, timeout: 5000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolveGet({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/**
 * Writes a kubeconfig with the certificates inline, so it works from any folder. `tlsServerName`
 * is the name to check in the server's certificate when `server` is an address it does not list.
 */
export function writeKubeconfig(
  path: string,
  server: string,
  admin: AdminCredentials,
  tlsServerName?: string,
): void {
  const b64 = (pem: string): string => Buffer.from(pem).toString('base64');
  const cluster = {
    server,
    'certificate-authority-data': b64(admin.ca),
    ...(tlsServerName === undefined ? {} : { 'tls-server-name': tlsServerName }),
  };
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'hookgate-test', cluster }],
    users: [
      {
        name: 'hookgate-test-admin',
        user: {
          'client-certificate-data': b64(admin.cert),
          'client-key-data': b64(admin.key),
        },
      },
    ],
    contexts: [
      { name: 'hookgate-test', context: { cluster: 'hookgate-test', user: 'hookgate-test-admin' } },
    ],
    'current-context': 'hookgate-test',
  };
  writeFileSync(path, stringify(config), { mode: 0o600 });
}

/** Where the API server listens and what it advertises, with or without a node. */
function apiserverAddressFlags(nodeAddress: string | undefined, pkiDir: string): string[] {
  if (nodeAddress === undefined) {
    // The default reconciler refuses a loopback advertise address; nothing here needs the
    // `kubernetes` Service's endpoints.
    return [
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      '--endpoint-reconciler-type=none',
    ];
  }
  return [
    '--bind-address=0.0.0.0',
    `--advertise-address=${nodeAddress}`,
    '--kubelet-preferred-address-types=InternalIP',
    `--kubelet-client-certificate=${join(pkiDir, 'admin.crt')}`,
    `--kubelet-client-key=${join(pkiDir, 'admin.key')}`,
    '--enable-aggregator-routing=true',
  ];
}

/** Starts etcd, kube-apiserver and kube-controller-manager and waits until all three work. */
export async function startControlPlane(options: ControlPlaneOptions): Promise<ControlPlane> {
  const log = options.log ?? ((): void => undefined);
  const timeoutMs = options.timeoutMs ?? 120_000;
  const dir = resolve(options.dir);
  const pkiDir = join(dir, 'pki');
  const logs = join(dir, 'logs');
  mkdirSync(logs, { recursive: true });
  const versions = JSON.parse(readFileSync(join(binDir(), 'versions.json'), 'utf8')) as {
    kubernetes: string;
    etcd: string;
  };

  await execFileAsync(binary('pki'), ['-dir', pkiDir]);
  const pem = (name: string): string => readFileSync(join(pkiDir, name), 'utf8');
  const admin: AdminCredentials = {
    ca: pem('ca.crt'),
    cert: pem('admin.crt'),
    key: pem('admin.key'),
  };
  const spawnOptions = { detached: options.detached ?? false };
  const processes: ManagedProcess[] = [];
  const stop = async (): Promise<void> => {
    // Reverse order: the controller-manager and API server leave before their storage does.
    for (const p of [...processes].reverse()) await p.stop();
  };

  try {
    const [etcdClient, etcdPeer, apiPort] = [await freePort(), await freePort(), await freePort()];
    const etcdUrl = `http://127.0.0.1:${etcdClient}`;
    const etcd = startProcess(
      'etcd',
      binary('etcd'),
      [
        `--data-dir=${join(dir, 'etcd')}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-cluster=default=http://127.0.0.1:${etcdPeer}`,
        // A throw-away store: durability costs fsyncs the tests do not need.
        '--unsafe-no-fsync',
        '--log-level=warn',
      ],
      join(logs, 'etcd.log'),
      spawnOptions,
    );
    processes.push(etcd);
    await waitFor(
      'etcd /health',
      async () => {
        const res = await fetch(`${etcdUrl}/health`);
        const body = (await res.json()) as { health?: string };
        return body.health === 'true' ? true : undefined;
      },
      { timeoutMs, process: etcd },
    );
    log(`etcd ${versions.etcd} ready at ${etcdUrl}`);

    const server = `https://127.0.0.1:${apiPort}`;
    const apiserver = startProcess(
      'kube-apiserver',
      binary('kube-apiserver'),
      [
        `--etcd-servers=${etcdUrl}`,
        ...apiserverAddressFlags(options.nodeAddress, pkiDir),
        `--secure-port=${apiPort}`,
        `--cert-dir=${join(dir, 'apiserver-certs')}`,
        `--tls-cert-file=${join(pkiDir, 'apiserver.crt')}`,
        `--tls-private-key-file=${join(pkiDir, 'apiserver.key')}`,
        `--client-ca-file=${join(pkiDir, 'ca.crt')}`,
        `--service-account-issuer=https://kubernetes.default.svc.cluster.local`,
        `--service-account-key-file=${join(pkiDir, 'sa.pub')}`,
        `--service-account-signing-key-file=${join(pkiDir, 'sa.key')}`,
        '--service-cluster-ip-range=10.0.0.0/24',
        '--authorization-mode=RBAC',
        // Transparent interception (later) needs NET_ADMIN init containers.
        '--allow-privileged=true',
        '--profiling=false',
      ],
      join(logs, 'kube-apiserver.log'),
      spawnOptions,
    );
    processes.push(apiserver);
    await waitFor(
      'kube-apiserver /readyz',
      async () => ((await adminGet(server, '/readyz', admin)).status === 200 ? true : undefined),
      { timeoutMs, process: apiserver },
    );
    log(`kube-apiserver ${versions.kubernetes} ready at ${server}`);

    const kubeconfigPath = join(dir, 'kubeconfig');
    writeKubeconfig(kubeconfigPath, server, admin);
    const kcmKubeconfig = join(dir, 'controller-manager.kubeconfig');
    writeKubeconfig(kcmKubeconfig, server, {
      ca: admin.ca,
      cert: pem('controller-manager.crt'),
      key: pem('controller-manager.key'),
    });
    const controllerManager = startProcess(
      'kube-controller-manager',
      binary('kube-controller-manager'),
      [
        `--kubeconfig=${kcmKubeconfig}`,
        '--leader-elect=false',
        // No serving port: nothing scrapes it here, and it would need a port of its own.
        '--secure-port=0',
        `--service-account-private-key-file=${join(pkiDir, 'sa.key')}`,
        `--root-ca-file=${join(pkiDir, 'ca.crt')}`,
        '--use-service-account-credentials=true',
        '--controllers=*',
        '--profiling=false',
      ],
      join(logs, 'kube-controller-manager.log'),
      spawnOptions,
    );
    processes.push(controllerManager);
    // The service-account controller creating `default` in `default` proves the controllers run.
    await waitFor(
      'kube-controller-manager to create the default ServiceAccount',
      async () =>
        (await adminGet(server, '/api/v1/namespaces/default/serviceaccounts/default', admin))
          .status === 200
          ? true
          : undefined,
      { timeoutMs, process: controllerManager },
    );
    log('kube-controller-manager running');

    return { server, kubeconfigPath, pkiDir, dir, versions, processes, admin, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** The kubectl built with the control plane (same Kubernetes version). */
export function kubectlPath(): string {
  return binary('kubectl');
}

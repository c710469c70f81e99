// A real node for the control plane: containerd + runc + CNI (Debian's packages), kubelet,
// kube-proxy and kube-scheduler (built by build-node.sh), the images from images/build.sh imported
// into containerd, and CoreDNS as a pod. The node runs in its own namespaces (node-host.ts); the
// control plane stays on the host, started with `nodeAddress` so pods can reach it.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { stringify } from 'yaml';
import {
  cacheDir,
  kubectlPath,
  startControlPlane,
  writeKubeconfig,
  type ControlPlane,
} from './controlplane.ts';
import { startSandbox, type NodeSandbox } from './node-host.ts';
import { startProcess, waitFor, type ManagedProcess } from './process.ts';

const execFileAsync = promisify(execFile);

/** The node's name (one node per control plane, so it need not be unique across runs). */
export const NODE_NAME = 'hookgate-node';
/** The cluster DNS Service's address (in the API server's 10.0.0.0/24 Service range). */
export const CLUSTER_DNS_IP = '10.0.0.10';

/** Debian's packages the node runs (containerd, runc, CNI plugins): `make node-runtime`. */
export const runtime = {
  containerd: '/usr/bin/containerd',
  ctr: '/usr/bin/ctr',
  runc: '/usr/sbin/runc',
  cniBin: '/usr/lib/cni',
};

/** Where build-node.sh links the node binaries. */
export function nodeBinDir(): string {
  return join(cacheDir(), 'node', 'current');
}

function nodeBinary(name: string): string {
  const path = join(nodeBinDir(), name);
  if (!existsSync(path))
    throw new Error(`${path} is missing: build the node first with 'make node-build'`);
  return path;
}

/** One image images/build.sh made: its name and its OCI archive. */
export interface ImageArchive {
  readonly name: string;
  readonly path: string;
}

/** The images images/build.sh listed (`key name archive` lines), by key (`operator`, `pause`, …). */
export function imageArchives(): Record<string, ImageArchive> {
  const list = join(cacheDir(), 'images', 'current.txt');
  if (!existsSync(list)) {
    throw new Error(`${list} is missing: build the images first with 'make images'`);
  }
  const archives: Record<string, ImageArchive> = {};
  for (const line of readFileSync(list, 'utf8').trim().split('\n')) {
    const [key = '', name = '', path = ''] = line.split(' ');
    archives[key] = { name, path };
  }
  for (const key of ['pause', 'coredns', 'operator', 'sidecar']) {
    if (archives[key] === undefined)
      throw new Error(`${list} lists no ${key} image: run 'make images'`);
  }
  return archives;
}

/**
 * Why this machine cannot run the node, in one line, or undefined when it can: root, cgroup v1,
 * Debian's containerd/runc/CNI plugins, and the binaries and images `make node-build images` build.
 */
export function nodeUnsupported(): string | undefined {
  if (process.getuid?.() !== 0) return 'the node needs root (namespaces, cgroups, a bridge)';
  if (!existsSync('/sys/fs/cgroup/memory/memory.limit_in_bytes')) {
    return 'the node supports cgroup v1 hosts only (no /sys/fs/cgroup/memory)';
  }
  for (const path of [
    runtime.containerd,
    runtime.ctr,
    runtime.runc,
    join(runtime.cniBin, 'bridge'),
  ]) {
    if (!existsSync(path)) return `${path} is missing: run 'make node-runtime'`;
  }
  for (const name of ['kubelet', 'kube-proxy', 'kube-scheduler', 'pause']) {
    if (!existsSync(join(nodeBinDir(), name))) return `${name} is not built: run 'make node-build'`;
  }
  try {
    imageArchives();
  } catch (err) {
    return (err as Error).message;
  }
  return undefined;
}

/** A control plane with a Ready node. */
export interface NodeCluster {
  readonly controlPlane: ControlPlane;
  readonly sandbox: NodeSandbox;
  readonly processes: readonly ManagedProcess[];
  /** Image names as imported (`operator`, `sidecar`, `pause`, `coredns`). */
  readonly images: Readonly<Record<string, string>>;
  /** containerd's socket (for `ctr --address`; it works from the host). */
  readonly containerdSocket: string;
  /** Stops everything; resolves with anything that had to be repaired on the host. */
  stop(): Promise<string[]>;
}

/** Options for {@link startNodeCluster}. */
export interface NodeClusterOptions {
  dir: string;
  detached?: boolean;
  log?: (line: string) => void;
  timeoutMs?: number;
}

/** One client certificate signed by the run's CA (openssl; the control plane's pki writes the rest). */
async function clientCert(
  pkiDir: string,
  name: string,
  subject: string,
): Promise<{ cert: string; key: string }> {
  const key = join(pkiDir, `${name}.key`);
  const csr = join(pkiDir, `${name}.csr`);
  const cert = join(pkiDir, `${name}.crt`);
  await execFileAsync('openssl', [
    'req',
    '-new',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    key,
    '-out',
    csr,
    '-subj',
    subject,
  ]);
  const ext = join(pkiDir, `${name}.ext`);
  writeFileSync(ext, 'extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature\n');
  await execFileAsync('openssl', [
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    join(pkiDir, 'ca.crt'),
    '-CAkey',
    join(pkiDir, 'ca.key'),
    '-CAcreateserial',
    '-days',
    '7',
    '-out',
    cert,
    '-extfile',
    ext,
  ]);
  return { cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8') };
}

function containerdConfig(dir: string, pauseImage: string): string {
  // restrict_oom_score_adj: this VM's root lacks CAP_SYS_RESOURCE, so runc must never lower
  // oom_score_adj (else every sandbox fails with "can't get final child's PID from pipe").
  return `version = 2
root = "${dir}/root"
state = "${dir}/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "${dir}/containerd.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "${dir}/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${pauseImage}"
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = "${runtime.runc}"
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${runtime.cniBin}"
    conf_dir = "${dir}/net.d"
`;
}

function cniConfig(podCidr: string, dataDir: string): string {
  const gateway = podCidr.replace(/0\/24$/, '1');
  return JSON.stringify({
    cniVersion: '1.0.0',
    name: 'hookgate',
    plugins: [
      {
        type: 'bridge',
        bridge: 'hookgate0',
        isGateway: true,
        isDefaultGateway: true,
        ipMasq: false,
        // A pod reaching itself through its Service comes back over the same bridge port.
        hairpinMode: true,
        ipam: { type: 'host-local', ranges: [[{ subnet: podCidr, gateway }]], dataDir },
      },
      { type: 'portmap', capabilities: { portMappings: true } },
    ],
  });
}

/** Starts a control plane whose API server pods can reach, and a node that joins it as Ready. */
export async function startNodeCluster(options: NodeClusterOptions): Promise<NodeCluster> {
  const log = options.log ?? ((): void => undefined);
  const timeoutMs = options.timeoutMs ?? 180_000;
  const dir = resolve(options.dir);
  const logs = join(dir, 'logs');
  mkdirSync(logs, { recursive: true });
  const archives = imageArchives();
  const detached = options.detached ?? false;
  const sandbox = await startSandbox({ dir, init: nodeBinary('pause'), detached, timeoutMs });
  const { network } = sandbox;
  log(
    `node sandbox: link ${network.hostIp} <-> ${network.nodeIp}, pods ${network.podCidr}, cgroups under ${sandbox.cgroupRoot}`,
  );
  const processes: ManagedProcess[] = [];
  let controlPlane: ControlPlane | undefined;
  const stop = async (): Promise<string[]> => {
    // kubelet first (it stops pods gracefully if it can), then the sandbox takes the rest with it.
    for (const p of [...processes].reverse()) await p.stop(5_000);
    const problems = await sandbox.release();
    await controlPlane?.stop();
    return problems;
  };
  const start = (name: string, command: string, args: string[], inside = true): ManagedProcess => {
    const [cmd, argv] = inside ? sandbox.nsenter(command, args) : [command, args];
    const p = startProcess(name, cmd, argv, join(logs, `${name}.log`), { detached });
    processes.push(p);
    return p;
  };

  try {
    controlPlane = await startControlPlane({
      dir: join(dir, 'cluster'),
      detached,
      log,
      timeoutMs,
      nodeAddress: network.hostIp,
    });
    const { pkiDir, admin } = controlPlane;
    // Inside the node the API server is at the host's link address; its certificate names
    // `kubernetes`, so the node's kubeconfigs say which name to check.
    const server = controlPlane.server.replace('127.0.0.1', network.hostIp);
    const kubeconfigFor = async (name: string, subject: string): Promise<string> => {
      const pair = await clientCert(pkiDir, name, subject);
      const path = join(dir, `${name}.kubeconfig`);
      writeKubeconfig(path, server, { ca: admin.ca, ...pair }, 'kubernetes');
      return path;
    };

    const containerdDir = join(dir, 'containerd');
    mkdirSync(join(containerdDir, 'net.d'), { recursive: true });
    writeFileSync(
      join(containerdDir, 'net.d', '10-hookgate.conflist'),
      cniConfig(network.podCidr, join(containerdDir, 'ipam')),
    );
    writeFileSync(
      join(containerdDir, 'config.toml'),
      containerdConfig(containerdDir, archives['pause']?.name ?? ''),
    );
    const socket = join(containerdDir, 'containerd.sock');
    const containerd = start('containerd', runtime.containerd, [
      '--config',
      join(containerdDir, 'config.toml'),
    ]);
    await waitFor(
      'containerd',
      async () =>
        (await execFileAsync(runtime.ctr, ['--address', socket, 'version'])).stdout.includes(
          'Server',
        )
          ? true
          : undefined,
      { timeoutMs, process: containerd },
    );
    await importImages(socket, archives);
    const images = Object.fromEntries(Object.entries(archives).map(([key, a]) => [key, a.name]));
    log(`containerd ready; imported ${Object.values(images).join(', ')}`);

    await kubectl(controlPlane.kubeconfigPath, [
      'create',
      'clusterrolebinding',
      'hookgate-node',
      '--clusterrole=system:node',
      `--user=system:node:${NODE_NAME}`,
    ]);
    const kubeletDir = join(dir, 'kubelet');
    mkdirSync(kubeletDir, { recursive: true });
    writeFileSync(join(dir, 'resolv.conf'), 'nameserver 127.0.0.1\n');
    writeFileSync(
      join(dir, 'kubelet.yaml'),
      stringify(
        kubeletConfig({
          nodeIp: network.nodeIp,
          podCidr: network.podCidr,
          cgroupRoot: sandbox.cgroupRoot,
          socket,
          dir,
          caFile: join(pkiDir, 'ca.crt'),
        }),
      ),
    );
    const kubelet = start('kubelet', nodeBinary('kubelet'), [
      `--config=${join(dir, 'kubelet.yaml')}`,
      `--kubeconfig=${await kubeconfigFor('kubelet', `/O=system:nodes/CN=system:node:${NODE_NAME}`)}`,
      `--root-dir=${kubeletDir}`,
      `--hostname-override=${NODE_NAME}`,
      `--node-ip=${network.nodeIp}`,
      '--v=1',
    ]);
    writeFileSync(
      join(dir, 'kube-proxy.yaml'),
      stringify({
        apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
        kind: 'KubeProxyConfiguration',
        clientConnection: {
          kubeconfig: await kubeconfigFor('kube-proxy', '/CN=system:kube-proxy'),
        },
        hostnameOverride: NODE_NAME,
        mode: 'iptables',
        clusterCIDR: network.podCidr,
        // Every Service connection is SNATed to the node: replies from a pod on the same bridge
        // then come back through the node's NAT instead of straight to the client.
        iptables: { masqueradeAll: true },
        // 0 leaves the host-wide conntrack settings alone.
        conntrack: {
          maxPerCore: 0,
          min: 0,
          tcpEstablishedTimeout: '0s',
          tcpCloseWaitTimeout: '0s',
        },
        metricsBindAddress: '127.0.0.1:10249',
        healthzBindAddress: '127.0.0.1:10256',
      }),
    );
    start('kube-proxy', nodeBinary('kube-proxy'), [`--config=${join(dir, 'kube-proxy.yaml')}`]);
    const schedulerKubeconfig = join(dir, 'scheduler.kubeconfig');
    const schedulerPair = await clientCert(pkiDir, 'scheduler', '/CN=system:kube-scheduler');
    writeKubeconfig(schedulerKubeconfig, controlPlane.server, { ca: admin.ca, ...schedulerPair });
    start(
      'kube-scheduler',
      nodeBinary('kube-scheduler'),
      [`--kubeconfig=${schedulerKubeconfig}`, '--leader-elect=false', '--secure-port=0'],
      false,
    );

    await waitFor(
      `node ${NODE_NAME} Ready`,
      async () => {
        const out = await kubectl(controlPlane!.kubeconfigPath, [
          'get',
          'node',
          NODE_NAME,
          '-o',
          'jsonpath={.status.conditions[?(@.type=="Ready")].status}',
        ]);
        return out === 'True' ? true : undefined;
      },
      { timeoutMs, process: kubelet },
    );
    log(`node ${NODE_NAME} Ready`);
    await startCoreDns(controlPlane.kubeconfigPath, images['coredns'] ?? '', timeoutMs);
    log('CoreDNS ready');
    return { controlPlane, sandbox, processes, images, containerdSocket: socket, stop };
  } catch (err) {
    const problems = await stop();
    if (problems.length > 0) log(`cleanup: ${problems.join('; ')}`);
    throw err;
  }
}

/** Imports each archive into containerd's `k8s.io` namespace (the CRI's) and checks its name. */
async function importImages(socket: string, archives: Record<string, ImageArchive>): Promise<void> {
  const ctr = (...args: string[]): Promise<{ stdout: string }> =>
    execFileAsync(runtime.ctr, ['--address', socket, '-n', 'k8s.io', ...args], {
      maxBuffer: 1 << 20,
    });
  for (const { path } of Object.values(archives)) await ctr('images', 'import', path);
  const present = (await ctr('images', 'ls', '-q')).stdout.split('\n');
  for (const { name, path } of Object.values(archives)) {
    if (!present.includes(name)) {
      throw new Error(
        `image ${name} is not in containerd after importing ${path} (has: ${present.join(' ')})`,
      );
    }
  }
}

function kubeletConfig(o: {
  nodeIp: string;
  podCidr: string;
  cgroupRoot: string;
  socket: string;
  dir: string;
  caFile: string;
}): object {
  return {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    address: o.nodeIp,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    authentication: {
      anonymous: { enabled: false },
      webhook: { enabled: true },
      x509: { clientCAFile: o.caFile },
    },
    authorization: { mode: 'Webhook' },
    containerRuntimeEndpoint: `unix://${o.socket}`,
    // This machine is cgroup v1 (deprecated upstream, still supported when asked for).
    failCgroupV1: false,
    cgroupDriver: 'cgroupfs',
    cgroupRoot: o.cgroupRoot,
    cgroupsPerQOS: true,
    failSwapOn: false,
    podCIDR: o.podCidr,
    clusterDNS: [CLUSTER_DNS_IP],
    clusterDomain: 'cluster.local',
    resolvConf: join(o.dir, 'resolv.conf'),
    podLogsDir: join(o.dir, 'pod-logs'),
    // The images exist only here (no registry): never collect them, never evict for a shared disk.
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    evictionHard: {
      'memory.available': '50Mi',
      'nodefs.available': '1%',
      'imagefs.available': '1%',
      'nodefs.inodesFree': '1%',
    },
    serializeImagePulls: false,
    // Leave the host's rlimits and OOM scores alone (this root lacks CAP_SYS_RESOURCE anyway).
    oomScoreAdj: 0,
  };
}

async function kubectl(kubeconfig: string, args: string[], input?: string): Promise<string> {
  const child = execFileAsync(kubectlPath(), [`--kubeconfig=${kubeconfig}`, ...args], {
    maxBuffer: 8 << 20,
  });
  if (input !== undefined) {
    child.child.stdin?.end(input);
  }
  return (await child).stdout.trim();
}

/** CoreDNS as kubeadm and kind run it: a Deployment in kube-system behind the `kube-dns` Service. */
async function startCoreDns(kubeconfig: string, image: string, timeoutMs: number): Promise<void> {
  const manifests = readFileSync(resolve(import.meta.dirname, 'coredns.yaml'), 'utf8')
    .replaceAll('$IMAGE', image)
    .replaceAll('$CLUSTER_DNS_IP', CLUSTER_DNS_IP);
  await kubectl(kubeconfig, ['apply', '-f', '-'], manifests);
  await kubectl(kubeconfig, [
    '-n',
    'kube-system',
    'rollout',
    'status',
    'deployment/coredns',
    `--timeout=${Math.round(timeoutMs / 1000)}s`,
  ]);
}

// The host side of a test node: the namespaces it runs in, its link to the host, its cgroup root,
// and the host settings it could touch. Everything the node changes is undone by `release()`.
//
// The node (containerd, kubelet, kube-proxy, their pods) runs inside one "sandbox" process made by
// `unshare`: its own PID namespace (killing the sandbox kills every process of the node, shims and
// containers included), network namespace (bridge, routes, kube-proxy's iptables and per-network
// sysctls never touch the host's, and two runs side by side cannot collide) and mount namespace
// (kubelet's and containerd's mounts vanish with it; /run and /var/lib are private tmpfs, so
// nothing lands in the host's /run/containerd, /run/netns or /var/lib/cni). The three global
// sysctls kubelet rewrites are shadowed by files inside that mount namespace, so the host's values
// are never changed; they are still read before and checked after the run.
import { execFile } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmdirSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { signalGroup, startProcess, waitFor, type ManagedProcess } from './process.ts';

const execFileAsync = promisify(execFile);

/** Global sysctls kubelet sets at start (kubelet/cm/container_manager_linux.go setupKernelTunables). */
export const KUBELET_SYSCTLS = ['vm/overcommit_memory', 'kernel/panic', 'kernel/panic_on_oops'];

/** Addresses of one node: a /24 for its link and a /24 for its pods, chosen per run. */
export interface NodeNetwork {
  /** Index of the run's subnets (10.252.<slot>.0/24 link, 10.253.<slot>.0/24 pods). */
  readonly slot: number;
  /** The host's end of the link (the API server advertises it). */
  readonly hostIp: string;
  /** The node's InternalIP (kubelet listens here). */
  readonly nodeIp: string;
  readonly podCidr: string;
  /** The host's name of its veth end. */
  readonly hostLink: string;
}

/** The sandbox process and what was set up around it. */
export interface NodeSandbox {
  readonly network: NodeNetwork;
  /** Host PID of the sandbox's PID 1 (what `nsenter --target` joins). */
  readonly initPid: number;
  readonly process: ManagedProcess;
  /** The cgroup path kubelet's `cgroupRoot` names (exists in every v1 hierarchy). */
  readonly cgroupRoot: string;
  /** Runs `command` inside the node's namespaces (argv prefix for spawn). */
  nsenter(command: string, args: readonly string[]): [string, string[]];
  /** What {@link releaseSandbox} needs to undo it, also from another process (`make cluster-down`). */
  readonly record: SandboxRecord;
  /** Kills every process of the node, removes its link and cgroups, checks the host's sysctls. */
  release(): Promise<string[]>;
}

/** Everything a sandbox changed on the host, as JSON. */
export interface SandboxRecord {
  /** Process group of the `unshare` process (its child is the sandbox's PID 1). */
  readonly pid: number;
  readonly hostLink: string | undefined;
  /** The topmost cgroup folder the node created in each hierarchy (removed with what is below). */
  readonly cgroupDirs: readonly string[];
  readonly sysctls: Readonly<Record<string, string>>;
}

/** One mounted v1 hierarchy and the run's own cgroup in it. */
interface Hierarchy {
  mountPoint: string;
  own: string;
  v1: boolean;
}

/** The cgroup v1 hierarchies and this process's place in each (from mountinfo and /proc/self/cgroup). */
function hierarchies(): Hierarchy[] {
  const own = new Map<string, string>();
  for (const line of readFileSync('/proc/self/cgroup', 'utf8').trim().split('\n')) {
    const [, controllers = '', path = '/'] = line.split(':');
    // `0::<path>` is the cgroup2 hierarchy of a hybrid host (runc makes the pods' cgroups there too).
    for (const c of controllers === '' ? ['cgroup2'] : controllers.split(',')) own.set(c, path);
  }
  const found: Hierarchy[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').trim().split('\n')) {
    const [mountPart = '', fsPart = ''] = line.split(' - ');
    const [fsType = '', , superOptions = ''] = fsPart.split(' ');
    const mountPoint = mountPart.split(' ')[4] ?? '';
    if (fsType === 'cgroup2' && own.has('cgroup2')) {
      found.push({ mountPoint, own: own.get('cgroup2') ?? '/', v1: false });
    }
    if (fsType !== 'cgroup') continue;
    const controller = superOptions.split(',').find((o) => own.has(o));
    if (controller !== undefined)
      found.push({ mountPoint, own: own.get(controller) ?? '/', v1: true });
  }
  if (!found.some((h) => h.v1)) {
    throw new Error(
      'no cgroup v1 hierarchy is mounted: the test node supports cgroup v1 hosts (this machine kind)',
    );
  }
  return found;
}

/** The deepest of the run's own cgroups: kubelet's root goes under it in every hierarchy. */
function cgroupParent(found: readonly Hierarchy[]): string {
  const deepest = found.map((h) => h.own).sort((a, b) => b.length - a.length)[0] ?? '/';
  for (const h of found) {
    const prefix = h.own.endsWith('/') ? h.own : `${h.own}/`;
    if (h.own !== deepest && !deepest.startsWith(prefix)) {
      throw new Error(
        `this process sits in unrelated cgroups (${h.mountPoint}: ${h.own}, elsewhere ${deepest}): ` +
          'kubelet needs one cgroupRoot path inside all of them',
      );
    }
  }
  return deepest;
}

/** Creates `path` in every hierarchy; returns the topmost folder it created in each (to remove). */
function makeCgroupRoot(found: readonly Hierarchy[], path: string): string[] {
  const created: string[] = [];
  for (const h of found) {
    const dir = join(h.mountPoint, path);
    const first = mkdirSync(dir, { recursive: true });
    if (first !== undefined) created.push(first);
    // A new cpuset cgroup starts with no CPUs: copy the parent's so tasks may run in it.
    for (const file of ['cpuset.cpus', 'cpuset.mems']) {
      const parentFile = join(dir, '..', file);
      if (existsSync(parentFile)) writeFileSync(join(dir, file), readFileSync(parentFile));
    }
  }
  return created;
}

/** Removes a cgroup tree bottom-up; a cgroup whose tasks are still exiting is retried briefly. */
async function removeCgroupTree(dir: string): Promise<void> {
  if (!existsSync(dir)) return;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) await removeCgroupTree(join(dir, entry.name));
  }
  for (let attempt = 0; ; attempt++) {
    try {
      rmdirSync(dir);
      return;
    } catch (err) {
      if (attempt >= 50) throw new Error(`could not remove cgroup ${dir}`, { cause: err });
      await sleep(100);
    }
  }
}

function readSysctl(name: string): string {
  return readFileSync(join('/proc/sys', name), 'utf8').trim();
}

async function ip(...args: string[]): Promise<void> {
  await execFileAsync('ip', args);
}

/** Takes the first free slot: creating the veth pair is the lock (its name holds the slot). */
async function claimLink(initPid: number): Promise<NodeNetwork> {
  const first = (process.pid % 200) + 1;
  for (let i = 0; i < 200; i++) {
    const slot = ((first + i) % 200) + 1;
    const hostLink = `hgnode${slot}`;
    try {
      await ip(
        'link',
        'add',
        hostLink,
        'type',
        'veth',
        'peer',
        'name',
        'eth0',
        'netns',
        String(initPid),
      );
    } catch {
      continue;
    }
    return {
      slot,
      hostIp: `10.252.${slot}.1`,
      nodeIp: `10.252.${slot}.2`,
      podCidr: `10.253.${slot}.0/24`,
      hostLink,
    };
  }
  throw new Error(
    'no free node slot (hgnode1..200 all exist): remove stale links with `ip link del`',
  );
}

// Inside the sandbox before PID 1 takes over: private /run and /var/lib, and kubelet's global
// sysctls shadowed by plain files (kubelet reads and writes them; the host's stay as they are).
const sandboxScript = `set -eu
mount -t tmpfs -o mode=0755,size=64m hookgate-run /run
mount -t tmpfs -o mode=0755,size=64m hookgate-var-lib /var/lib
mkdir -p /run/hookgate-sysctl
for s in ${KUBELET_SYSCTLS.join(' ')}; do
  f=/run/hookgate-sysctl/$(echo "$s" | tr / _)
  cat "/proc/sys/$s" > "$f"
  mount --bind "$f" "/proc/sys/$s"
done
exec "$0"`;

/**
 * Undoes a sandbox: its processes (SIGKILL to the group; the sandbox's PID 1 dying takes the whole
 * PID namespace), its link, its cgroups; puts back any global sysctl that changed. Returns what it
 * had to repair or could not remove.
 */
export async function releaseSandbox(
  record: SandboxRecord,
  options: { alreadyStopped?: boolean } = {},
): Promise<string[]> {
  const problems: string[] = [];
  if (options.alreadyStopped !== true) signalGroup(record.pid, 'SIGKILL');
  // The veth pair dies with the network namespace; delete it anyway if it is still here.
  if (record.hostLink !== undefined)
    await ip('link', 'del', record.hostLink).catch(() => undefined);
  for (const dir of record.cgroupDirs) {
    try {
      await removeCgroupTree(dir);
    } catch (err) {
      problems.push(String(err));
    }
  }
  for (const [name, value] of Object.entries(record.sysctls)) {
    const now = readSysctl(name);
    if (now !== value) {
      writeFileSync(join('/proc/sys', name), value);
      problems.push(`${name} was ${now}, restored to ${value}`);
    }
  }
  return problems;
}

/**
 * Starts the sandbox and its link: `init` is the sandbox's PID 1 (a static program that reaps
 * children and exits on SIGTERM: images/pause.c).
 */
export async function startSandbox(options: {
  dir: string;
  init: string;
  detached: boolean;
  timeoutMs: number;
}): Promise<NodeSandbox> {
  const found = hierarchies();
  const before = new Map(KUBELET_SYSCTLS.map((s) => [s, readSysctl(s)]));
  const sandbox = startProcess(
    'node-sandbox',
    'unshare',
    [
      '--pid',
      '--fork',
      '--mount-proc',
      '--net',
      '--mount',
      '--propagation',
      'slave',
      '--',
      'sh',
      '-c',
      sandboxScript,
      options.init,
    ],
    join(options.dir, 'logs', 'node-sandbox.log'),
    { detached: options.detached },
  );
  const initPid = await waitFor(
    'the node sandbox to start',
    async () => {
      const children = readFileSync(
        `/proc/${sandbox.pid}/task/${sandbox.pid}/children`,
        'utf8',
      ).trim();
      if (children === '') return undefined;
      const pid = Number(children.split(' ')[0]);
      // Its PID 1 has exec'd the init once /proc/<pid>/exe is that program.
      return (await execFileAsync('readlink', [`/proc/${pid}/exe`])).stdout.trim().endsWith('pause')
        ? pid
        : undefined;
    },
    { timeoutMs: options.timeoutMs, process: sandbox, intervalMs: 50 },
  );
  const cgroupRoot = join(cgroupParent(found), `hookgate-node-${process.pid}`);
  let network: NodeNetwork | undefined;
  let cgroupDirs: string[] = [];

  const record = (): SandboxRecord => ({
    pid: sandbox.pid,
    hostLink: network?.hostLink,
    cgroupDirs,
    sysctls: Object.fromEntries(before),
  });
  const release = async (): Promise<string[]> => {
    await sandbox.stop(5_000);
    return releaseSandbox(record(), { alreadyStopped: true });
  };

  try {
    network = await claimLink(initPid);
    await ip('addr', 'add', `${network.hostIp}/24`, 'dev', network.hostLink);
    await ip('link', 'set', network.hostLink, 'up');
    // The host reaches pods (the API server calls webhooks at pod IPs) through the node.
    await ip('route', 'add', network.podCidr, 'via', network.nodeIp);
    const inside = (args: string[]): Promise<unknown> =>
      execFileAsync('nsenter', ['--target', String(initPid), '--net', '--mount', '--', ...args]);
    await inside(['ip', 'addr', 'add', `${network.nodeIp}/24`, 'dev', 'eth0']);
    await inside(['ip', 'link', 'set', 'eth0', 'up']);
    await inside(['ip', 'link', 'set', 'lo', 'up']);
    await inside(['ip', 'route', 'add', 'default', 'via', network.hostIp]);
    // Pods' traffic crosses the node's namespace: forwarding on there (per network namespace).
    await inside(['sh', '-c', 'echo 1 > /proc/sys/net/ipv4/ip_forward']);
    cgroupDirs = makeCgroupRoot(found, cgroupRoot);
  } catch (err) {
    await release();
    throw err;
  }
  const net = network;
  return {
    network: net,
    initPid,
    process: sandbox,
    cgroupRoot,
    record: record(),
    nsenter: (command, args) => [
      'nsenter',
      ['--target', String(initPid), '--pid', '--net', '--mount', '--', command, ...args],
    ],
    release,
  };
}

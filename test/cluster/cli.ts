// `make cluster-up` / `make cluster-down`: a control plane, a node (where this machine can run one)
// and Redis that outlive the command, for poking at by hand with kubectl. State (pids, kubeconfig,
// what the node changed on the host) lives in $HOOKGATE_CACHE_DIR/cluster.
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { cacheDir, kubectlPath, startControlPlane } from './controlplane.ts';
import { installCrds } from './crds.ts';
import { nodeUnsupported, startNodeCluster } from './node.ts';
import { releaseSandbox, type SandboxRecord } from './node-host.ts';
import { signalGroup, type ManagedProcess } from './process.ts';
import { startRedis } from './redis.ts';

interface State {
  kubeconfig: string;
  server: string;
  redisUrl: string;
  pids: { name: string; pid: number }[];
  /** The node's sandbox, undone by `down` after the processes stop. */
  node?: SandboxRecord;
}

const dir = join(cacheDir(), 'cluster');
const statePath = join(dir, 'state.json');

function readState(): State | undefined {
  return existsSync(statePath) ? (JSON.parse(readFileSync(statePath, 'utf8')) as State) : undefined;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function up(): Promise<void> {
  const running = readState();
  if (running !== undefined && running.pids.every((p) => alive(p.pid))) {
    print(running, 'already running');
    return;
  }
  if (running !== undefined) await down();
  rmSync(dir, { recursive: true, force: true });
  const log = (line: string): void => console.log(`  ${line}`);
  const unsupported = nodeUnsupported();
  let processes: ManagedProcess[];
  let node: SandboxRecord | undefined;
  let controlPlane;
  if (unsupported === undefined) {
    const cluster = await startNodeCluster({ dir, detached: true, log });
    controlPlane = cluster.controlPlane;
    processes = [...controlPlane.processes, ...cluster.processes];
    node = cluster.sandbox.record;
  } else {
    log(`no node (${unsupported}): control plane only`);
    controlPlane = await startControlPlane({ dir, detached: true, log });
    processes = [...controlPlane.processes];
  }
  log(`installed ${(await installCrds(controlPlane.kubeconfigPath)).join(', ')}`);
  const redis = await startRedis({ dir: join(dir, 'redis'), detached: true });
  log(`redis-server ready at ${redis.url}`);
  const state: State = {
    kubeconfig: controlPlane.kubeconfigPath,
    server: controlPlane.server,
    redisUrl: redis.url,
    pids: [...processes, redis.process].map((p) => ({ name: p.name, pid: p.pid })),
    ...(node === undefined ? {} : { node }),
  };
  writeFileSync(statePath, JSON.stringify(state, null, 2));
  print(state, 'started');
}

function print(state: State, what: string): void {
  console.log(`control plane ${what}: ${state.server}, logs in ${join(dir, 'logs')}`);
  console.log(`  export KUBECONFIG=${state.kubeconfig}`);
  console.log(`  export HOOKGATE_REDIS_URL=${state.redisUrl}`);
  console.log(`  alias kubectl=${kubectlPath()}   # built with the control plane, same version`);
}

async function down(): Promise<void> {
  const state = readState();
  if (state === undefined) {
    console.log('no control plane is running');
    return;
  }
  // Reverse start order; each is its own process group.
  for (const { name, pid } of [...state.pids].reverse()) {
    if (!signalGroup(pid, 'SIGTERM')) continue;
    for (let i = 0; i < 100 && alive(pid); i++) await sleep(100);
    if (alive(pid)) signalGroup(pid, 'SIGKILL');
    console.log(`  stopped ${name} (pid ${pid})`);
  }
  if (state.node !== undefined) {
    for (const problem of await releaseSandbox(state.node))
      console.log(`  node cleanup: ${problem}`);
    console.log('  node sandbox removed');
  }
  rmSync(dir, { recursive: true, force: true });
  console.log('control plane stopped');
}

const command = process.argv[2];
if (command === 'up') await up();
else if (command === 'down') await down();
else {
  console.error('usage: node test/cluster/cli.ts up|down');
  process.exitCode = 2;
}

// The plugin's test ground: the console's (test/console/harness.ts: two namespaces, real sidecars,
// real ServiceAccount users), plus the console placed behind a Service the way the chart places it,
// so that `kubectl hookgate` reaches it through the API server's service proxy. The API server
// proxies only to an EndpointSlice address that is a Pod's IP and not loopback, so the console
// listens on this machine's own address and a Pod object carries that address.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createLogger } from '../../common/log.ts';
import { adminTokens } from '../../operator/console/admin-token.ts';
import { startConsoleFor } from '../../operator/console/index.ts';
import type { ConsoleServer } from '../../operator/console/server.ts';
import { grantRole, startConsoleGround, type ConsoleGround } from '../console/harness.ts';
import { createTestNamespace, kubeClients } from '../support/kube.ts';

/** The key the ground's sidecar admin tokens derive from. */
export const PLUGIN_ADMIN_KEY = 'plugin-test-admin-key-5b1e';

const MAIN = resolve(import.meta.dirname, '../../operator/kubectl/main.ts');

/** What one plugin run printed and how it exited. */
export interface PluginRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The ground with the console behind `hookgate-console` in its own namespace. */
export interface PluginGround extends ConsoleGround {
  /** Where "Hookgate runs": the Service, its EndpointSlice and the Pod. */
  readonly hookgateNamespace: string;
  /** The address the sidecars' Pods (and the console) have. */
  readonly podIp: string;
  /** A kubeconfig file for `token` (context namespace: the visible tenant's). */
  kubeconfigFile(token: string): string;
}

/** This machine's first non-loopback IPv4 address. */
function hostAddress(): string {
  for (const list of Object.values(networkInterfaces()))
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  throw new Error('no non-loopback IPv4 address: the API server cannot proxy to this machine');
}

/** Starts the console ground and puts a console (polling fast, for -w) behind a Service. */
export async function startPluginGround(): Promise<PluginGround> {
  const ip = hostAddress();
  // Sidecars at a non-loopback Pod IP, each with its namespace's own token: the console must
  // present the right one, as in a cluster.
  const ground = await startConsoleGround({ adminKey: PLUGIN_ADMIN_KEY, podIp: ip });
  let console: ConsoleServer | undefined;
  try {
    console = await startConsoleFor({
      client: ground.admin,
      log: createLogger({ program: 'plugin-test' }, 'warn'),
      host: ip,
      port: 0,
      adminToken: adminTokens(PLUGIN_ADMIN_KEY),
      pollMs: 200,
    });
    const ns = await createTestNamespace(kubeClients().core, 'hookgate');
    const admin = ground.admin;
    await admin.request('POST', `/api/v1/namespaces/${ns}/pods`, {
      body: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'hookgate-operator-0', labels: { app: 'hookgate-operator' } },
        spec: { containers: [{ name: 'operator', image: 'hookgate/operator:test' }] },
      },
    });
    await admin.request('PATCH', `/api/v1/namespaces/${ns}/pods/hookgate-operator-0/status`, {
      contentType: 'application/merge-patch+json',
      body: { status: { phase: 'Running', podIP: ip, podIPs: [{ ip }] } },
    });
    await admin.request('POST', `/api/v1/namespaces/${ns}/services`, {
      body: {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'hookgate-console' },
        spec: { ports: [{ name: 'console', port: 9090, targetPort: console.port }] },
      },
    });
    await admin.request('POST', `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`, {
      body: {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: {
          name: 'hookgate-console-1',
          labels: {
            'kubernetes.io/service-name': 'hookgate-console',
            'endpointslice.kubernetes.io/managed-by': 'hookgate-test',
          },
        },
        addressType: 'IPv4',
        endpoints: [
          {
            addresses: [ip],
            conditions: { ready: true },
            targetRef: { kind: 'Pod', namespace: ns, name: 'hookgate-operator-0' },
          },
        ],
        ports: [{ name: 'console', port: console.port, protocol: 'TCP' }],
      },
    });
    // What the chart grants (templates/console-rbac.yaml): every authenticated user may reach the
    // console's Service through the proxy; the console's own RBAC checks decide the rest.
    await grantRole(
      admin,
      ns,
      'hookgate-console-proxy',
      [
        {
          apiGroups: [''],
          resources: ['services/proxy'],
          resourceNames: ['hookgate-console', 'http:hookgate-console:console'],
          verbs: ['get', 'create'],
        },
      ],
      [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'system:authenticated' }],
    );
    const dir = mkdtempSync(join(tmpdir(), 'hookgate-plugin-'));
    let files = 0;
    const fast = console;
    return {
      ...ground,
      hookgateNamespace: ns,
      podIp: ip,
      kubeconfigFile: (token) => {
        const path = join(dir, `kubeconfig-${files++}`);
        writeFileSync(path, ground.kubeconfigFor(token), { mode: 0o600 });
        return path;
      },
      stop: async () => {
        await fast.close();
        await ground.stop();
      },
    };
  } catch (err) {
    await console?.close();
    await ground.stop();
    throw err;
  }
}

/** Runs `kubectl-hookgate args` as its own process (KUBECONFIG: `kubeconfig`) to its end. */
export function runPlugin(kubeconfig: string, args: readonly string[]): Promise<PluginRun> {
  return startPlugin(kubeconfig, args).closed;
}

/** Starts a plugin run; `stop()` sends Ctrl-C (ending a watch) and resolves with the run. */
export function startPlugin(
  kubeconfig: string,
  args: readonly string[],
): { output: () => string; closed: Promise<PluginRun>; stop: () => Promise<PluginRun> } {
  const child = spawn(process.execPath, [MAIN, ...args], {
    env: { ...process.env, KUBECONFIG: kubeconfig },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  // A run that hangs is a failure, not a stuck test file.
  const timer = setTimeout(() => child.kill('SIGKILL'), 50_000);
  const closed = new Promise<PluginRun>((done) =>
    child.on('close', (code) => {
      clearTimeout(timer);
      done({ code, stdout, stderr });
    }),
  );
  return {
    output: () => stdout + stderr,
    closed,
    stop: async () => {
      child.kill('SIGINT');
      return closed;
    },
  };
}

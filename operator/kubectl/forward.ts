// `kubectl hookgate console`: `kubectl port-forward svc/hookgate-console` for a browser. Checks
// first, with the user's kubeconfig, that the console's Service exists and a ready pod serves it
// (so a console that is off says so at once), then listens locally and opens one port-forward
// stream (@kubernetes/client-node, WebSocket through the API server and the kubelet) per browser
// connection, until Ctrl-C. The browser signs in on the console's own login page: the plugin never
// prints a token.
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { KubeApiError } from '../errors.ts';
import { KubeClient } from '../kube/client.ts';
import { fromKubeconfig } from '../kube/config.ts';
import { CONSOLE_SERVICE, type Invocation } from './args.ts';
import { PluginError, kubeconfigPath } from './connect.ts';
import type { PluginIo } from './run.ts';

/** The console's port in the operator's pod (DESIGN.md, operator ports). */
const CONSOLE_POD_PORT = 9090;

interface ServiceJson {
  spec?: {
    selector?: Record<string, string>;
    ports?: { name?: string; port: number; targetPort?: number | string }[];
  };
}
interface PodList {
  items: {
    metadata: { name: string };
    status?: { conditions?: { type: string; status: string }[] };
  }[];
}

/** Finds the pod port the console listens on, and that some pod behind the Service is ready. */
async function target(kube: KubeClient, namespace: string): Promise<number> {
  const where = `${namespace}/service/${CONSOLE_SERVICE}`;
  let service: ServiceJson;
  try {
    service = await kube.request<ServiceJson>(
      'GET',
      `/api/v1/namespaces/${encodeURIComponent(namespace)}/services/${CONSOLE_SERVICE}`,
    );
  } catch (err) {
    if (err instanceof KubeApiError && err.statusCode === 404)
      throw new PluginError(
        `no ${where}: the console is off (the chart's console.enabled), or Hookgate runs in another namespace (--hookgate-namespace)`,
      );
    throw err;
  }
  const selector = Object.entries(service.spec?.selector ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  const pods = await kube.request<PodList>(
    'GET',
    `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`,
    { query: { labelSelector: selector } },
  );
  const ready = pods.items.some((p) =>
    p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
  );
  if (selector === '' || !ready) throw new PluginError(`no ready pod serves ${where}`);
  const port = service.spec?.ports?.find((p) => p.name === 'console')?.targetPort;
  return typeof port === 'number' ? port : CONSOLE_POD_PORT;
}

/** Port-forwards to the console until `io.signal` aborts; the exit status. */
export async function forwardConsole(inv: Invocation, io: PluginIo): Promise<number> {
  if (inv.command.kind !== 'console') throw new PluginError('not the console command');
  const { port, address } = inv.command;
  const path = kubeconfigPath(inv.global, io);
  const namespace = inv.global.hookgateNamespace;
  let access;
  try {
    access = await fromKubeconfig(path, inv.global.context);
  } catch (err) {
    throw new PluginError((err as Error).message, { cause: err });
  }
  const kube = new KubeClient(access);
  try {
    const podPort = await target(kube, namespace);
    // client-node only here: its WebSocket port-forward, and ~85 MB the other commands never load.
    const { KubeConfig, PortForward } = await import('@kubernetes/client-node');
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(path);
    if (inv.global.context !== undefined) kubeConfig.setCurrentContext(inv.global.context);
    const forward = new PortForward(kubeConfig);
    const sockets = new Set<Socket>();
    const server = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      forward
        .portForwardService(namespace, CONSOLE_SERVICE, [podPort], socket, null, socket)
        .catch((err: unknown) => {
          io.stderr.write(`error: port-forward: ${(err as Error).message}\n`);
          socket.destroy();
        });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, address, () => resolve());
    });
    const local = (server.address() as AddressInfo).port;
    const host = address.includes(':') ? `[${address}]` : address;
    io.stdout.write(
      `Forwarding from ${host}:${local} -> ${namespace}/service/${CONSOLE_SERVICE}:${podPort}\n` +
        `Console: http://${host}:${local}/\n` +
        'Sign in with a bearer token of yours (kubectl create token <service-account> -n <namespace>). Ctrl-C stops.\n',
    );
    await new Promise<void>((resolve) => {
      if (io.signal.aborted) resolve();
      io.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    return 0;
  } finally {
    await kube.close();
  }
}

// `kubectl hookgate console`: `kubectl port-forward svc/hookgate-console` for a browser. Checks
// first, with the user's kubeconfig, that the console's Service exists and a ready pod serves it
// (so a console that is off says so at once), then listens locally and opens one port-forward
// stream (@kubernetes/client-node, WebSocket through the API server and the kubelet) per browser
// connection, until Ctrl-C. Each connection goes to a pod that is ready and not being deleted,
// chosen when it opens: during a rollout the old pods (which may not serve the console at all) are
// still listed, and a forward to a port nobody listens on answers only on its error stream — so
// that stream is read, printed and ends the connection instead of leaving the browser waiting.
// The browser signs in on the console's own login page: the plugin never prints a token.
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { Writable } from 'node:stream';
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
    metadata: { name: string; deletionTimestamp?: string };
    status?: { conditions?: { type: string; status: string }[] };
  }[];
}

/** A pod selected by `selector` that is ready and not being deleted, or undefined. */
async function servingPod(
  kube: KubeClient,
  namespace: string,
  selector: string,
): Promise<string | undefined> {
  const pods = await kube.request<PodList>(
    'GET',
    `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`,
    { query: { labelSelector: selector } },
  );
  return pods.items.find(
    (p) =>
      p.metadata.deletionTimestamp === undefined &&
      p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
  )?.metadata.name;
}

/**
 * The console's Service: the pod port it listens on and its pods' selector, once some pod behind
 * it is ready.
 */
async function target(
  kube: KubeClient,
  namespace: string,
): Promise<{ podPort: number; selector: string }> {
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
  if (selector === '' || (await servingPod(kube, namespace, selector)) === undefined)
    throw new PluginError(`no ready pod serves ${where}`);
  const port = service.spec?.ports?.find((p) => p.name === 'console')?.targetPort;
  return { podPort: typeof port === 'number' ? port : CONSOLE_POD_PORT, selector };
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
    const { podPort, selector } = await target(kube, namespace);
    // client-node only here: its WebSocket port-forward, and ~85 MB the other commands never load.
    const { KubeConfig, PortForward } = await import('@kubernetes/client-node');
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromFile(path);
    if (inv.global.context !== undefined) kubeConfig.setCurrentContext(inv.global.context);
    const forward = new PortForward(kubeConfig);
    const sockets = new Set<Socket>();
    const connect = async (socket: Socket): Promise<void> => {
      const pod = await servingPod(kube, namespace, selector);
      if (pod === undefined) {
        io.stderr.write(`error: no ready pod serves ${namespace}/service/${CONSOLE_SERVICE}\n`);
        socket.destroy();
        return;
      }
      // Anything written on the error stream means this connection is lost (e.g. nothing
      // listens on the port in that pod): say so once and close it.
      let told = false;
      const errors = new Writable({
        write(chunk: Buffer, _encoding, done): void {
          // The stream opens with its port number (client-node strips it): an empty chunk.
          if (chunk.length === 0) return done();
          if (!told)
            io.stderr.write(`error: port-forward to pod ${pod}: ${chunk.toString().trim()}\n`);
          told = true;
          socket.destroy();
          done();
        },
      });
      const ws: unknown = await forward.portForward(
        namespace,
        pod,
        [podPort],
        socket,
        errors,
        socket,
      );
      // The pod's side closed (the console ended the connection): so does the browser's.
      if (typeof ws === 'object' && ws !== null && 'on' in ws)
        (ws as { on(event: 'close', listener: () => void): void }).on('close', () => socket.end());
    };
    const server = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      connect(socket).catch((err: unknown) => {
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

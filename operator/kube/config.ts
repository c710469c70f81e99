// Where the API server is and how to prove who we are. The common cases — in-cluster
// ServiceAccount, a kubeconfig with client certificates or a bearer token — are read here
// directly: importing @kubernetes/client-node costs the process ~85 MB of resident memory (its
// generated API models load with it), a third of the operator's budget. Kubeconfigs whose user
// runs an exec plugin or an auth provider (cloud CLIs, OIDC) are handed to client-node, loaded
// only then.
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parse } from 'yaml';
import { ENV_KUBECONFIG } from '../../common/env.ts';
import { OperatorError } from '../errors.ts';

/** TLS settings for connections to the API server. */
export interface TlsSettings {
  readonly ca?: string | undefined;
  readonly cert?: string | undefined;
  readonly key?: string | undefined;
  readonly rejectUnauthorized?: boolean | undefined;
  readonly servername?: string | undefined;
}

/** How to reach and authenticate to one API server. */
export interface ClusterAccess {
  /** `https://host:port`, no trailing slash. */
  readonly server: string;
  readonly tls: TlsSettings;
  /** Headers proving identity; asked per request, since tokens rotate. */
  headers(): Promise<Record<string, string>>;
  /** The kubeconfig context's namespace, when it names one (kubectl's default for -n). */
  readonly namespace?: string | undefined;
}

/** Where things are; injected by tests. */
export interface ConfigEnvironment {
  readonly env: NodeJS.ProcessEnv;
  readonly home: string;
  /** Folder of the in-cluster ServiceAccount files. */
  readonly serviceAccountDir: string;
}

const defaultEnvironment: ConfigEnvironment = {
  env: process.env,
  home: homedir(),
  serviceAccountDir: '/var/run/secrets/kubernetes.io/serviceaccount',
};

/** How long a token file is trusted before it is read again (the kubelet rotates it). */
const TOKEN_FILE_TTL_MS = 60_000;

function tokenFileHeaders(path: string): () => Promise<Record<string, string>> {
  let cached: { token: string; at: number } | undefined;
  return async () => {
    if (cached === undefined || Date.now() - cached.at > TOKEN_FILE_TTL_MS) {
      cached = { token: (await readFile(path, 'utf8')).trim(), at: Date.now() };
    }
    return { authorization: `Bearer ${cached.token}` };
  };
}

interface KubeconfigFile {
  'current-context'?: string;
  contexts?: { name: string; context?: { cluster?: string; user?: string; namespace?: string } }[];
  clusters?: {
    name: string;
    cluster?: {
      server?: string;
      'certificate-authority'?: string;
      'certificate-authority-data'?: string;
      'insecure-skip-tls-verify'?: boolean;
      'tls-server-name'?: string;
    };
  }[];
  users?: {
    name: string;
    user?: {
      'client-certificate'?: string;
      'client-certificate-data'?: string;
      'client-key'?: string;
      'client-key-data'?: string;
      token?: string;
      tokenFile?: string;
      username?: string;
      password?: string;
      exec?: unknown;
      'auth-provider'?: unknown;
    };
  }[];
}

function problem(message: string): OperatorError {
  return new OperatorError('ERR_USAGE', 400, message);
}

/** Reads inline base64 data or a file (relative to the kubeconfig's folder). */
function material(
  base: string,
  data: string | undefined,
  file: string | undefined,
): string | undefined {
  if (data !== undefined) return Buffer.from(data, 'base64').toString('utf8');
  if (file === undefined) return undefined;
  return readFileSync(isAbsolute(file) ? file : resolve(base, file), 'utf8');
}

/** Hands a kubeconfig to @kubernetes/client-node, for users it alone can authenticate. */
async function viaClientNode(
  path: string,
  contextName: string,
  server: string,
  tls: TlsSettings,
  namespace: string | undefined,
): Promise<ClusterAccess> {
  const { KubeConfig } = await import('@kubernetes/client-node');
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(path);
  kubeConfig.setCurrentContext(contextName);
  return {
    server,
    tls,
    namespace,
    headers: async () => {
      const options: { headers?: Record<string, unknown> } = {};
      await kubeConfig.applyToHTTPSOptions(options);
      return Object.fromEntries(
        Object.entries(options.headers ?? {})
          .filter((e): e is [string, string] => typeof e[1] === 'string')
          .map(([k, v]) => [k.toLowerCase(), v]),
      );
    },
  };
}

/** Reads one kubeconfig file's current context (or the one named `contextName`, like --context). */
export async function fromKubeconfig(path: string, contextName?: string): Promise<ClusterAccess> {
  let doc: KubeconfigFile;
  try {
    doc = (parse(readFileSync(path, 'utf8')) ?? {}) as KubeconfigFile;
  } catch (err) {
    throw problem(`cannot read kubeconfig ${path}: ${(err as Error).message}`);
  }
  const base = dirname(resolve(path));
  const name = contextName ?? doc['current-context'];
  const context = doc.contexts?.find((c) => c.name === name)?.context;
  if (context === undefined)
    throw problem(
      contextName === undefined
        ? `kubeconfig ${path}: no current context`
        : `kubeconfig ${path}: no context "${contextName}"`,
    );
  const cluster = doc.clusters?.find((c) => c.name === context.cluster)?.cluster;
  if (cluster?.server === undefined) {
    throw problem(`kubeconfig ${path}: context "${name}" names no cluster with a server`);
  }
  const user = doc.users?.find((u) => u.name === context.user)?.user ?? {};
  const server = cluster.server.replace(/\/$/, '');
  const tls: TlsSettings = {
    ca: material(base, cluster['certificate-authority-data'], cluster['certificate-authority']),
    cert: material(base, user['client-certificate-data'], user['client-certificate']),
    key: material(base, user['client-key-data'], user['client-key']),
    ...(cluster['insecure-skip-tls-verify'] === true ? { rejectUnauthorized: false } : {}),
    ...(cluster['tls-server-name'] === undefined ? {} : { servername: cluster['tls-server-name'] }),
  };
  if (user.exec !== undefined || user['auth-provider'] !== undefined) {
    return viaClientNode(path, name!, server, tls, context.namespace);
  }
  let headers: () => Promise<Record<string, string>> = () => Promise.resolve({});
  if (user.token !== undefined) {
    const value = { authorization: `Bearer ${user.token}` };
    headers = () => Promise.resolve(value);
  } else if (user.tokenFile !== undefined) {
    headers = tokenFileHeaders(
      isAbsolute(user.tokenFile) ? user.tokenFile : resolve(base, user.tokenFile),
    );
  } else if (user.username !== undefined && user.password !== undefined) {
    const value = {
      authorization: `Basic ${Buffer.from(`${user.username}:${user.password}`).toString('base64')}`,
    };
    headers = () => Promise.resolve(value);
  }
  return { server, tls, headers, namespace: context.namespace };
}

/** The in-cluster ServiceAccount, when running in a pod. */
export function inCluster(
  environment: ConfigEnvironment = defaultEnvironment,
): ClusterAccess | undefined {
  const host = environment.env['KUBERNETES_SERVICE_HOST'];
  const port = environment.env['KUBERNETES_SERVICE_PORT'] ?? '443';
  if (host === undefined || host === '') return undefined;
  const dir = environment.serviceAccountDir;
  return {
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    tls: { ca: readFileSync(join(dir, 'ca.crt'), 'utf8') },
    headers: tokenFileHeaders(join(dir, 'token')),
  };
}

/**
 * Finds the API server the way kubectl and client-go do: `--kubeconfig`, else `$KUBECONFIG`
 * (its first file), else the in-cluster ServiceAccount, else `~/.kube/config`.
 */
export async function loadClusterAccess(
  kubeconfig: string | undefined,
  environment: ConfigEnvironment = defaultEnvironment,
): Promise<ClusterAccess> {
  if (kubeconfig !== undefined) return fromKubeconfig(kubeconfig);
  const fromEnv = environment.env[ENV_KUBECONFIG]?.split(':').find((p) => p !== '');
  if (fromEnv !== undefined) return fromKubeconfig(fromEnv);
  const pod = inCluster(environment);
  if (pod !== undefined) return pod;
  return fromKubeconfig(join(environment.home, '.kube', 'config'));
}

// From the user's kubeconfig to the console: which API server, which credentials, which namespace
// by default, and the bearer token the console itself will review. A kubeconfig user that proves
// who it is with a client certificate (or a password) has no token to hand on, and the console
// takes no one's word for an identity: the plugin says so and how to get a token (ADR 0023).
import { join } from 'node:path';
import { ENV_KUBECONFIG } from '../../common/env.ts';
import { KubeClient } from '../kube/client.ts';
import { fromKubeconfig } from '../kube/config.ts';
import type { GlobalFlags } from './args.ts';
import { CONSOLE_SERVICE } from './args.ts';
import { ConsoleApi } from './console-api.ts';

/** An error the plugin reports and exits 1 on; the message never carries a credential. */
export class PluginError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PluginError';
  }
}

/** Where the plugin runs. */
export interface PluginEnvironment {
  readonly env: NodeJS.ProcessEnv;
  readonly home: string;
}

/** A connection to the console. */
export interface Connection {
  readonly api: ConsoleApi;
  readonly kube: KubeClient;
  /** The kubeconfig file in use. */
  readonly kubeconfig: string;
  /** -n, else the context's namespace, else `default` (kubectl's rule). */
  readonly namespace: string;
  close(): Promise<void>;
}

/** The kubeconfig kubectl would read: --kubeconfig, else $KUBECONFIG's first file, else ~/.kube/config. */
export function kubeconfigPath(flags: GlobalFlags, where: PluginEnvironment): string {
  return (
    flags.kubeconfig ??
    where.env[ENV_KUBECONFIG]?.split(':').find((p) => p !== '') ??
    join(where.home, '.kube', 'config')
  );
}

/** Reads the kubeconfig and prepares the console's API; nothing is sent yet. */
export async function connect(flags: GlobalFlags, where: PluginEnvironment): Promise<Connection> {
  const path = kubeconfigPath(flags, where);
  let access;
  try {
    access = await fromKubeconfig(path, flags.context);
  } catch (err) {
    throw new PluginError((err as Error).message, { cause: err });
  }
  const authorization = (await access.headers())['authorization'];
  const token =
    flags.token ??
    (authorization?.startsWith('Bearer ') === true ? authorization.slice(7).trim() : undefined);
  if (token === undefined || token === '')
    throw new PluginError(
      `the kubeconfig's user (${path}${flags.context === undefined ? '' : `, context ${flags.context}`}) ` +
        'has no bearer token: it signs in with a client certificate or a password, which the console ' +
        'cannot check (it knows users by TokenReview). Pass --token with a token of yours, for example ' +
        '--token "$(kubectl create token <service-account> -n <namespace>)", or use a kubeconfig user ' +
        'with a token or an exec plugin (OIDC, cloud CLIs).',
    );
  const kube = new KubeClient(access);
  return {
    api: new ConsoleApi(kube, token, {
      namespace: flags.hookgateNamespace,
      service: CONSOLE_SERVICE,
      port: 'console',
    }),
    kube,
    kubeconfig: path,
    namespace: flags.namespace ?? access.namespace ?? 'default',
    close: () => kube.close(),
  };
}

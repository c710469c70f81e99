// The sidecars' admin token (HOOKGATE_ADMIN_TOKEN), one per namespace. The console reaches every
// sidecar's admin API with it, so the same value in every namespace would let anyone who may read
// one namespace's Secrets read every namespace's queue. Each namespace's token is instead an HMAC
// of its name under one key the operator keeps in its own namespace (the Secret
// hookgate-console-admin, created by whichever replica starts first): the operator publishes a
// namespace's token in that namespace's sidecar Secret, the injector points the sidecar's env at
// it, and the console derives the same value when it calls a pod there (ADR 0023).
import { createHmac, randomBytes } from 'node:crypto';
import { KubeApiError } from '../errors.ts';
import type { KubeClient } from '../kube/client.ts';
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE } from '../names.ts';

export { ADMIN_TOKEN_KEY } from '../names.ts';

/** The Secret in the operator's namespace holding the key tokens are derived from. */
export const ADMIN_KEY_SECRET = 'hookgate-console-admin';
/** Its key. */
const ADMIN_KEY = 'key';

/** A namespace's admin token under `key`: what its sidecars accept and the console sends. */
export function adminTokenFor(key: string, namespace: string): string {
  return createHmac('sha256', key)
    .update(`hookgate.io/admin-token/${namespace}`)
    .digest('base64url');
}

/** The derivation bound to one key. */
export type AdminTokens = (namespace: string) => string;

/** Tokens derived from `key`. */
export function adminTokens(key: string): AdminTokens {
  return (namespace) => adminTokenFor(key, namespace);
}

/**
 * The key, read from the Secret in `namespace`, created (32 random bytes) when absent. Replicas
 * starting together race on the create; the loser reads the winner's.
 */
export async function ensureAdminKey(client: KubeClient, namespace: string): Promise<string> {
  const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets`;
  const read = async (): Promise<string | undefined> => {
    try {
      const secret = await client.request<{ data?: Record<string, string> }>(
        'GET',
        `${path}/${ADMIN_KEY_SECRET}`,
      );
      const value = secret.data?.[ADMIN_KEY];
      return value === undefined ? undefined : Buffer.from(value, 'base64').toString('utf8');
    } catch (err) {
      if (err instanceof KubeApiError && err.statusCode === 404) return undefined;
      throw err;
    }
  };
  const existing = await read();
  if (existing !== undefined && existing !== '') return existing;
  try {
    await client.request('POST', path, {
      body: {
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: ADMIN_KEY_SECRET, labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE } },
        type: 'Opaque',
        data: {
          [ADMIN_KEY]: Buffer.from(randomBytes(32).toString('base64url')).toString('base64'),
        },
      },
    });
  } catch (err) {
    if (!(err instanceof KubeApiError && err.statusCode === 409)) throw err;
  }
  const created = await read();
  if (created === undefined || created === '')
    throw new Error(`secret ${namespace}/${ADMIN_KEY_SECRET} has no "${ADMIN_KEY}"`);
  return created;
}

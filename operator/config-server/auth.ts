// Who is calling: a sidecar presents its projected ServiceAccount token (audience
// `hookgate.io/sidecar`, bound to its pod); the API server judges it (TokenReview, audience
// checked), the token's pod claims name the pod, and the pod itself (read from the API server)
// must carry the same uid and service account. A token the API server accepts for another
// audience, or one bound to no pod, is refused like a forged one.
import { createHash } from 'node:crypto';
import { SIDECAR_AUDIENCE } from '../../common/config-stream.ts';
import type { Clock } from '../clock.ts';
import { isStatus, OperatorError } from '../errors.ts';
import type { KubeClient } from '../kube/client.ts';

/** The pod behind an authenticated sidecar. */
export interface PodIdentity {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly serviceAccount: string;
  readonly labels: Readonly<Record<string, string>>;
}

interface TokenReviewStatus {
  authenticated?: boolean;
  audiences?: string[];
  error?: string;
  user?: { username?: string; extra?: Record<string, string[]> };
}

const POD_NAME_CLAIM = 'authentication.kubernetes.io/pod-name';
const POD_UID_CLAIM = 'authentication.kubernetes.io/pod-uid';
const SA_PREFIX = 'system:serviceaccount:';

/** A refused token: the message says why, never the token. */
function refused(message: string): OperatorError {
  return new OperatorError('ERR_SIDECAR_UNAUTHENTICATED', 401, message);
}

/** Options for {@link SidecarAuthenticator}. */
export interface AuthenticatorOptions {
  readonly client: KubeClient;
  readonly clock: Clock;
  /**
   * How long an accepted token's identity is reused without asking again (a report every few
   * seconds per pod must not cost a TokenReview and a pod read each). The API server's own webhook
   * token authenticator caches for 2 minutes; a stream re-authenticates on every reconnect.
   */
  readonly cacheMs?: number;
  /** At most this many identities are kept. */
  readonly maxEntries?: number;
}

/** Checks sidecar tokens. */
export class SidecarAuthenticator {
  #options: AuthenticatorOptions;
  #cache = new Map<string, { identity: PodIdentity; until: number }>();

  constructor(options: AuthenticatorOptions) {
    this.#options = options;
  }

  /** The pod behind `token`; throws ERR_SIDECAR_UNAUTHENTICATED (401) when it is refused. */
  async authenticate(token: string): Promise<PodIdentity> {
    if (token === '') throw refused('no bearer token');
    const key = createHash('sha256').update(token).digest('hex');
    const now = this.#options.clock.now().getTime();
    const cached = this.#cache.get(key);
    if (cached !== undefined && cached.until > now) return cached.identity;
    this.#cache.delete(key);
    const identity = await this.#review(token);
    const max = this.#options.maxEntries ?? 20_000;
    if (this.#cache.size >= max) {
      // Oldest first (Map keeps insertion order).
      const first = this.#cache.keys().next().value;
      if (first !== undefined) this.#cache.delete(first);
    }
    this.#cache.set(key, { identity, until: now + (this.#options.cacheMs ?? 30_000) });
    return identity;
  }

  async #review(token: string): Promise<PodIdentity> {
    const { client } = this.#options;
    const review = await client.request<{ status?: TokenReviewStatus }>(
      'POST',
      '/apis/authentication.k8s.io/v1/tokenreviews',
      {
        body: {
          apiVersion: 'authentication.k8s.io/v1',
          kind: 'TokenReview',
          spec: { token, audiences: [SIDECAR_AUDIENCE] },
        },
      },
    );
    const status = review.status ?? {};
    // The API server says why (expired, bad signature, wrong audience) without the token.
    if (status.authenticated !== true) throw refused('token not authenticated');
    if (!(status.audiences ?? []).includes(SIDECAR_AUDIENCE)) {
      throw refused(`token not meant for audience ${SIDECAR_AUDIENCE}`);
    }
    const username = status.user?.username ?? '';
    if (!username.startsWith(SA_PREFIX)) throw refused('not a ServiceAccount token');
    const [namespace, serviceAccount, ...rest] = username.slice(SA_PREFIX.length).split(':');
    if (namespace === undefined || serviceAccount === undefined || rest.length > 0) {
      throw refused('not a ServiceAccount token');
    }
    const podName = status.user?.extra?.[POD_NAME_CLAIM]?.[0];
    const podUid = status.user?.extra?.[POD_UID_CLAIM]?.[0];
    if (podName === undefined || podUid === undefined) {
      throw refused('token is not bound to a pod (mint it with a projected volume)');
    }
    let pod: {
      metadata?: { uid?: string; labels?: Record<string, string>; deletionTimestamp?: string };
      spec?: { serviceAccountName?: string };
    };
    try {
      pod = await client.request('GET', `/api/v1/namespaces/${namespace}/pods/${podName}`);
    } catch (err) {
      if (isStatus(err, 404)) throw refused(`pod ${namespace}/${podName} not found`);
      throw err;
    }
    if (pod.metadata?.uid !== podUid) {
      throw refused(`pod ${namespace}/${podName} is not the pod the token is bound to`);
    }
    if ((pod.spec?.serviceAccountName ?? 'default') !== serviceAccount) {
      throw refused(`pod ${namespace}/${podName} does not run as ${serviceAccount}`);
    }
    return {
      namespace,
      name: podName,
      uid: podUid,
      serviceAccount,
      labels: { ...(pod.metadata.labels ?? {}) },
    };
  }
}

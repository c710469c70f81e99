// Who is asking and what may they see: Kubernetes is the only user database (ADR 0023). A caller
// presents a bearer token (their kubeconfig's, or a ServiceAccount's); the API server says who it
// is (TokenReview) and what it may do per namespace (SubjectAccessReview). Both answers are
// cached briefly by a hash of the token, so a page of ten panels costs one review, and a revoked
// RoleBinding stops working within DECISION_TTL_MS.
import { createHash } from 'node:crypto';
import type { KubeClient } from '../kube/client.ts';

/** How long a TokenReview or SubjectAccessReview answer is reused. */
export const DECISION_TTL_MS = 10_000;
/** Entries kept per cache before the oldest are dropped. */
const MAX_ENTRIES = 5_000;

/** A user the API server vouched for. */
export interface ConsoleUser {
  readonly username: string;
  readonly uid: string;
  readonly groups: readonly string[];
  readonly extra: Readonly<Record<string, readonly string[]>>;
}

/** What the console checks: see deliveries (`get`) or replay them (`update`). */
export type ConsoleVerb = 'get' | 'update';

interface TokenReviewStatus {
  readonly status?: {
    readonly authenticated?: boolean;
    readonly user?: {
      username?: string;
      uid?: string;
      groups?: string[];
      extra?: Record<string, string[]>;
    };
  };
}

interface AccessReviewStatus {
  readonly status?: { readonly allowed?: boolean };
}

/** A small time-bounded map. */
class TtlCache<V> {
  readonly #entries = new Map<string, { value: V; until: number }>();
  readonly #now: () => number;

  constructor(now: () => number) {
    this.#now = now;
  }

  get(key: string): V | undefined {
    const hit = this.#entries.get(key);
    if (hit === undefined) return undefined;
    if (hit.until <= this.#now()) {
      this.#entries.delete(key);
      return undefined;
    }
    return hit.value;
  }

  set(key: string, value: V): void {
    if (this.#entries.size >= MAX_ENTRIES) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
    this.#entries.set(key, { value, until: this.#now() + DECISION_TTL_MS });
  }
}

/** A token's cache key: never the token itself, so a heap dump does not hand it out twice. */
function tokenKey(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** TokenReview + SubjectAccessReview, cached. */
export class Access {
  readonly #client: KubeClient;
  readonly #users: TtlCache<ConsoleUser | null>;
  readonly #decisions: TtlCache<boolean>;

  constructor(client: KubeClient, now: () => number = Date.now) {
    this.#client = client;
    this.#users = new TtlCache(now);
    this.#decisions = new TtlCache(now);
  }

  /** The user behind `token`, or undefined when the API server does not accept it. */
  async authenticate(token: string): Promise<ConsoleUser | undefined> {
    const key = tokenKey(token);
    const cached = this.#users.get(key);
    if (cached !== undefined) return cached ?? undefined;
    const review = await this.#client.request<TokenReviewStatus>(
      'POST',
      '/apis/authentication.k8s.io/v1/tokenreviews',
      { body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } } },
    );
    const u = review.status?.user;
    const user: ConsoleUser | null =
      review.status?.authenticated === true && u?.username !== undefined
        ? { username: u.username, uid: u.uid ?? '', groups: u.groups ?? [], extra: u.extra ?? {} }
        : null;
    this.#users.set(key, user);
    return user ?? undefined;
  }

  /** May `user` `verb` WebhookEndpoints in `namespace` (the one named `name`, when given)? */
  async allowed(
    user: ConsoleUser,
    verb: ConsoleVerb,
    namespace: string,
    name?: string,
  ): Promise<boolean> {
    const key = JSON.stringify([user.uid, user.username, verb, namespace, name ?? '']);
    const cached = this.#decisions.get(key);
    if (cached !== undefined) return cached;
    const review = await this.#client.request<AccessReviewStatus>(
      'POST',
      '/apis/authorization.k8s.io/v1/subjectaccessreviews',
      {
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SubjectAccessReview',
          spec: {
            user: user.username,
            uid: user.uid,
            groups: user.groups,
            extra: user.extra,
            resourceAttributes: {
              group: 'hookgate.io',
              resource: 'webhookendpoints',
              verb,
              namespace,
              ...(name === undefined ? {} : { name }),
            },
          },
        },
      },
    );
    const allowed = review.status?.allowed === true;
    this.#decisions.set(key, allowed);
    return allowed;
  }

  /** The subset of `namespaces` where `user` may `verb` WebhookEndpoints. */
  async visible(
    user: ConsoleUser,
    namespaces: readonly string[],
    verb: ConsoleVerb = 'get',
  ): Promise<string[]> {
    const answers = await Promise.all(namespaces.map((ns) => this.allowed(user, verb, ns)));
    return namespaces.filter((_, i) => answers[i] === true);
  }
}

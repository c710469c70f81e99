// What the pages and the JSON API show, gathered per request from the API server (endpoints and
// their status) and the sidecars (deliveries, health), and cut down to the namespaces the caller
// may see before anything is read from a pod or from Redis. Deliveries come from the history in
// Redis when the namespace's sidecars keep it there (read directly: history.ts), else from each
// pod's admin API. Filtering happens in Redis or in the sidecars (server-side); here lists are
// merged newest first, de-duplicated (pods sharing a Redis queue all list its dead letters) and
// paged with a cursor.
import type { DeliveryRecord, Outcome } from '../../common/history.ts';
import type { KubeClient } from '../kube/client.ts';
import type { ConsoleUser, Access } from './auth.ts';
import type { RedisHistory } from './history.ts';
import type { DeliveryQuery, ListedDelivery, PodHealth, QueueDepth, Sidecars } from './sidecars.ts';

/** How long the cluster-wide endpoint list is reused between requests. */
const ENDPOINT_LIST_TTL_MS = 2_000;

/** A WebhookEndpoint as the console reads it. */
export interface EndpointJson {
  readonly metadata: { readonly name: string; readonly namespace: string };
  readonly spec?: { readonly direction?: string; readonly url?: string; readonly paused?: boolean };
  readonly status?: {
    readonly conditions?: readonly {
      type: string;
      status: string;
      reason?: string;
      message?: string;
    }[];
    readonly deliveries?: Readonly<Record<string, unknown>>;
  };
}

/** One endpoint's health as the endpoints page shows it. */
export interface EndpointHealth {
  readonly namespace: string;
  readonly name: string;
  readonly direction: string;
  /** Origin of the egress URL (no path, no query: paths may carry tokens). */
  readonly destination?: string;
  readonly ready?: string;
  /** The `Healthy` condition when the operator reports it. */
  readonly healthy?: { status: string; reason?: string; message?: string };
  /** `status.deliveries` when the operator reports it. */
  readonly summary?: Readonly<Record<string, unknown>>;
  readonly delivered: number;
  readonly total: number;
  /** delivered / total, undefined before the first delivery. */
  readonly successRatio?: number;
  readonly circuit: string;
  readonly queue: QueueDepth;
  readonly lastFailure?: { at: string; reason: string; deliveryId: string };
  readonly pods: number;
  readonly unreachablePods: readonly string[];
}

/** A filtered, paged delivery list. */
export interface DeliveryPage {
  readonly items: readonly ListedDelivery[];
  readonly nextCursor?: string;
  /** Pods that did not answer: the page says the list may be incomplete. */
  readonly unreachable: readonly string[];
}

/** A page's filters as the user gave them. */
export interface DeliveryFilter {
  readonly namespace?: string | undefined;
  readonly endpoint?: string | undefined;
  readonly eventType?: string | undefined;
  readonly outcome?: Outcome | undefined;
  readonly from?: number | undefined;
  readonly to?: number | undefined;
  readonly cursor?: string | undefined;
  readonly limit: number;
}

/** One namespace's endpoints and their summed queue depth (the API's status, `kubectl hookgate status`). */
export interface NamespaceStatus {
  readonly namespace: string;
  readonly endpoints: readonly EndpointHealth[];
  readonly queue: QueueDepth;
  /** Sidecar pods that did not answer: the figures may be incomplete. */
  readonly unreachablePods: readonly string[];
}

/** The outcomes a filter may name. */
export const OUTCOMES: readonly Outcome[] = ['delivered', 'failed', 'retrying', 'dead', 'refused'];

const ZERO_DEPTH: QueueDepth = { pending: 0, retrying: 0, dead: 0 };

/** Newest accepted first, then by id, so a cursor names one position. */
function newestFirst(a: ListedDelivery, b: ListedDelivery): number {
  const t = Date.parse(b.firstAttemptAt) - Date.parse(a.firstAttemptAt);
  return t !== 0 ? t : a.deliveryId < b.deliveryId ? -1 : a.deliveryId > b.deliveryId ? 1 : 0;
}

function encodeCursor(d: ListedDelivery): string {
  return Buffer.from(JSON.stringify([Date.parse(d.firstAttemptAt), d.deliveryId])).toString(
    'base64url',
  );
}

function decodeCursor(cursor: string | undefined): [number, string] | undefined {
  if (cursor === undefined || cursor === '') return undefined;
  try {
    const [ms, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown[];
    return typeof ms === 'number' && typeof id === 'string' ? [ms, id] : undefined;
  } catch {
    return undefined;
  }
}

/** The console's reads and writes, each checked against the caller's RBAC. */
export class ConsoleData {
  readonly #client: KubeClient;
  readonly #access: Access;
  readonly #sidecars: Sidecars;
  readonly #history: RedisHistory | undefined;
  #endpoints: { at: number; items: readonly EndpointJson[] } | undefined;

  /** `history`: the sidecars' Redis, when the operator gives them one. */
  constructor(client: KubeClient, access: Access, sidecars: Sidecars, history?: RedisHistory) {
    this.#client = client;
    this.#access = access;
    this.#sidecars = sidecars;
    this.#history = history;
  }

  /**
   * One namespace's deliveries matching `query`: from Redis when its history is there, else from
   * every pod (each pod that does not answer is added to `unreachable`). Call only for namespaces
   * the caller may see.
   */
  async #namespaceDeliveries(
    namespace: string,
    query: DeliveryQuery,
    unreachable: string[],
  ): Promise<ListedDelivery[]> {
    const fromRedis = await this.#history?.deliveries(namespace, query).catch(() => undefined);
    if (fromRedis !== undefined) return fromRedis;
    const pods = await this.#sidecars.pods(namespace);
    const perPod = await Promise.all(
      pods.map((p) =>
        this.#sidecars.deliveries(p, query).catch(() => {
          unreachable.push(`${namespace}/${p.name}`);
          return [];
        }),
      ),
    );
    return perPod.flat();
  }

  async #allEndpoints(): Promise<readonly EndpointJson[]> {
    if (this.#endpoints !== undefined && Date.now() - this.#endpoints.at < ENDPOINT_LIST_TTL_MS)
      return this.#endpoints.items;
    const list = await this.#client.request<{ items: EndpointJson[] }>(
      'GET',
      '/apis/hookgate.io/v1alpha1/webhookendpoints',
    );
    this.#endpoints = { at: Date.now(), items: list.items };
    return list.items;
  }

  /** Namespaces with WebhookEndpoints that `user` may see, sorted. */
  async namespaces(user: ConsoleUser): Promise<string[]> {
    const all = [...new Set((await this.#allEndpoints()).map((e) => e.metadata.namespace))].sort();
    return this.#access.visible(user, all);
  }

  /** The namespaces a request covers: the one asked for when visible, else all visible. */
  async #scope(user: ConsoleUser, namespace: string | undefined): Promise<string[]> {
    const visible = await this.namespaces(user);
    if (namespace === undefined || namespace === '') return visible;
    // A namespace the user may not see reads as empty, not as forbidden: its existence is not
    // confirmed either.
    return visible.includes(namespace) ? [namespace] : [];
  }

  /** Endpoints with their health, in the namespaces `user` may see. */
  async endpoints(user: ConsoleUser, namespace?: string): Promise<EndpointHealth[]> {
    const scope = await this.#scope(user, namespace);
    const all = await this.#allEndpoints();
    const out: EndpointHealth[] = [];
    await Promise.all(
      scope.map(async (ns) => {
        const pods = await this.#sidecars.pods(ns);
        const health = await Promise.all(pods.map((p) => this.#sidecars.health(p)));
        const failures = await this.#recentFailures(ns);
        for (const e of all.filter((x) => x.metadata.namespace === ns))
          out.push(endpointHealth(e, health, failures.get(e.metadata.name)));
      }),
    );
    return out.sort((a, b) =>
      a.namespace === b.namespace
        ? a.name.localeCompare(b.name)
        : a.namespace.localeCompare(b.namespace),
    );
  }

  /** {@link endpoints} grouped per namespace, with each namespace's queue depth summed. */
  async status(user: ConsoleUser, namespace?: string): Promise<NamespaceStatus[]> {
    const byNamespace = new Map<string, EndpointHealth[]>();
    for (const e of await this.endpoints(user, namespace)) {
      const list = byNamespace.get(e.namespace) ?? [];
      list.push(e);
      byNamespace.set(e.namespace, list);
    }
    return [...byNamespace].map(([ns, endpoints]) => {
      const queue = { ...ZERO_DEPTH };
      for (const e of endpoints)
        for (const k of ['pending', 'retrying', 'dead'] as const) queue[k] += e.queue[k];
      return {
        namespace: ns,
        endpoints,
        queue,
        unreachablePods: [...new Set(endpoints.flatMap((e) => e.unreachablePods))],
      };
    });
  }

  /** The newest failed or dead delivery per endpoint among the pods' recent deliveries. */
  async #recentFailures(namespace: string): Promise<Map<string, ListedDelivery>> {
    const recent = await this.#namespaceDeliveries(namespace, { limit: 200 }, []);
    const failures = new Map<string, ListedDelivery>();
    for (const d of recent.sort(newestFirst)) {
      if (d.namespace !== namespace || failures.has(d.endpoint)) continue;
      if (d.outcome !== 'delivered' && (d.attempts > 0 || d.problem !== undefined))
        failures.set(d.endpoint, d);
    }
    return failures;
  }

  /** Deliveries matching `filter`, newest first, one page. */
  async deliveries(user: ConsoleUser, filter: DeliveryFilter): Promise<DeliveryPage> {
    const scope = await this.#scope(user, filter.namespace);
    const cursor = decodeCursor(filter.cursor);
    // One more than a page, to know whether there is a next one; after a cursor, the sources
    // answer again the deliveries of the cursor's own millisecond that were shown already (at
    // most a page of them, unless a millisecond holds more), which are skipped below.
    const query: DeliveryQuery = {
      endpoint: filter.endpoint,
      eventType: filter.eventType,
      outcome: filter.outcome,
      from: filter.from,
      to: cursor === undefined ? filter.to : Math.min(filter.to ?? Infinity, cursor[0] + 1),
      limit: filter.limit + 1 + (cursor === undefined ? 0 : filter.limit),
    };
    const unreachable: string[] = [];
    const lists = await Promise.all(
      scope.map((ns) => this.#namespaceDeliveries(ns, query, unreachable)),
    );
    const seen = new Set<string>();
    const merged: ListedDelivery[] = [];
    for (const d of lists.flat().sort(newestFirst)) {
      const key = `${d.namespace}/${d.deliveryId}`;
      if (seen.has(key)) continue;
      seen.add(key);
      if (cursor !== undefined) {
        const ms = Date.parse(d.firstAttemptAt);
        if (ms > cursor[0] || (ms === cursor[0] && d.deliveryId <= cursor[1])) continue;
      }
      merged.push(d);
    }
    const items = merged.slice(0, filter.limit);
    const last = items.at(-1);
    return {
      items,
      ...(merged.length > filter.limit && last !== undefined
        ? { nextCursor: encodeCursor(last) }
        : {}),
      unreachable,
    };
  }

  /** One delivery in full, searched in the namespaces `user` may see. */
  async delivery(
    user: ConsoleUser,
    deliveryId: string,
    namespace?: string,
  ): Promise<DeliveryRecord | undefined> {
    for (const ns of await this.#scope(user, namespace)) {
      const fromRedis = await this.#history?.delivery(ns, deliveryId).catch(() => undefined);
      if (fromRedis !== undefined) return fromRedis;
      for (const pod of await this.#sidecars.pods(ns)) {
        const record = await this.#sidecars.delivery(pod, deliveryId).catch(() => undefined);
        if (record !== undefined) return record;
      }
    }
    return undefined;
  }

  /**
   * Replays dead letters by id; each needs `update` on its endpoint. Answers per id: `replayed`,
   * `forbidden` or `not-found` (unknown, not visible, or not a dead letter).
   */
  async replay(
    user: ConsoleUser,
    namespace: string,
    deliveryIds: readonly string[],
  ): Promise<Record<string, 'replayed' | 'forbidden' | 'not-found'>> {
    const result: Record<string, 'replayed' | 'forbidden' | 'not-found'> = {};
    const scope = await this.#scope(user, namespace);
    const pods = scope.length === 0 ? [] : await this.#sidecars.pods(namespace);
    for (const id of deliveryIds) {
      const record = await this.delivery(user, id, namespace);
      if (record === undefined) {
        result[id] = 'not-found';
        continue;
      }
      if (!(await this.#access.allowed(user, 'update', namespace, record.endpoint))) {
        result[id] = 'forbidden';
        continue;
      }
      let replayed = false;
      for (const pod of pods) {
        if (await this.#sidecars.replay(pod, id).catch(() => false)) {
          replayed = true;
          break;
        }
      }
      result[id] = replayed ? 'replayed' : 'not-found';
    }
    return result;
  }

  /** Replays `endpoint`'s dead letters accepted in [from, to); undefined when forbidden. */
  async replayRange(
    user: ConsoleUser,
    namespace: string,
    endpoint: string,
    from?: number,
    to?: number,
  ): Promise<number | undefined> {
    if (!(await this.#access.allowed(user, 'update', namespace, endpoint))) return undefined;
    let total = 0;
    for (const pod of await this.#sidecars.pods(namespace))
      total += await this.#sidecars.replayRange(pod, endpoint, from, to);
    return total;
  }
}

function endpointHealth(
  e: EndpointJson,
  health: readonly PodHealth[],
  failure: ListedDelivery | undefined,
): EndpointHealth {
  const name = e.metadata.name;
  let delivered = 0;
  let total = 0;
  let circuit = 'closed';
  const queue = { ...ZERO_DEPTH };
  for (const h of health) {
    for (const [outcome, n] of Object.entries(h.outcomes[name] ?? {})) {
      total += n;
      if (outcome === 'delivered') delivered += n;
    }
    const c = h.circuits[name];
    // The worst pod's breaker is the endpoint's.
    if (c === 'open' || (c === 'half-open' && circuit === 'closed')) circuit = c;
    const depth = h.queue[name];
    if (depth !== undefined)
      for (const k of ['pending', 'retrying', 'dead'] as const)
        queue[k] = Math.max(queue[k], depth[k]); // a shared Redis queue: every pod sees it all
  }
  const conditions = e.status?.conditions ?? [];
  const healthy = conditions.find((c) => c.type === 'Healthy');
  const url = e.spec?.url === undefined ? undefined : URL.parse(e.spec.url);
  return {
    namespace: e.metadata.namespace,
    name,
    direction: e.spec?.direction ?? 'Egress',
    ...(url === null || url === undefined ? {} : { destination: url.origin }),
    ...(() => {
      const ready = conditions.find((c) => c.type === 'Ready')?.status;
      return ready === undefined ? {} : { ready };
    })(),
    ...(healthy === undefined
      ? {}
      : {
          healthy: {
            status: healthy.status,
            ...(healthy.reason === undefined ? {} : { reason: healthy.reason }),
            ...(healthy.message === undefined ? {} : { message: healthy.message }),
          },
        }),
    ...(e.status?.deliveries === undefined ? {} : { summary: e.status.deliveries }),
    delivered,
    total,
    ...(total === 0 ? {} : { successRatio: delivered / total }),
    circuit,
    queue,
    ...(failure === undefined
      ? {}
      : {
          lastFailure: {
            at: failure.lastAttemptAt,
            reason:
              failure.problem ??
              (failure.lastStatus === undefined ? failure.outcome : `http-${failure.lastStatus}`),
            deliveryId: failure.deliveryId,
          },
        }),
    pods: health.length,
    unreachablePods: health.filter((h) => !h.reachable).map((h) => h.pod),
  };
}

// The console's view of the data plane: every sidecar pod's admin API (port 15020). The API
// server's pod proxy cannot carry the admin guard's bearer token (its authentication filter
// deletes the Authorization header before proxying), so the operator dials the pod IP itself,
// with `Authorization: Bearer $HOOKGATE_ADMIN_TOKEN` (that namespace's own token, admin-token.ts;
// ADR 0023). Two sources, one shape: the delivery history (`/history/...`, common/history.ts)
// when the sidecar serves it, else the durable queue's admin API (`/queue/...`), mapped to the
// same DeliverySummary/DeliveryRecord.
import { Agent, request } from 'undici';
import type {
  AttemptRecord,
  DeliveryRecord,
  DeliverySummary,
  Outcome,
} from '../../common/history.ts';
import type { KubeClient } from '../kube/client.ts';
import { PORT_NAME, SIDECAR_CONTAINER } from '../inject/sidecar.ts';
import { SIDECAR_PORTS } from '../inject/annotations.ts';
import type { AdminTokens } from './admin-token.ts';
import { redactRecord } from './redact.ts';

/** How long one admin call may take before the pod is reported unreachable. */
const ADMIN_TIMEOUT_MS = 5_000;
/** The request body shown on a page: enough to recognise a payload, bounded. */
const MAX_BODY_CHARS = 16_384;

/** One sidecar pod, reachable at `base`. */
export interface SidecarPod {
  readonly namespace: string;
  readonly name: string;
  readonly base: string; // http://<podIP>:<admin port>
}

/** What the queue admin API answers for one delivery (sidecar/queue/admin.ts). */
interface QueueSummary {
  deliveryId: string;
  endpoint: string;
  url: string;
  state: 'pending' | 'retrying' | 'dead';
  acceptedAt: string;
  attempts: number | QueueAttempt[];
  lastAttempt: QueueAttempt | null;
  replays: number;
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  bodyBase64?: string;
}

interface QueueAttempt {
  at: string;
  status?: number;
  error?: string;
  durationMs: number;
}

/** A delivery as the console lists it: the history's summary plus where it came from. */
export interface ListedDelivery extends DeliverySummary {
  /** `queue`: still in the durable queue (replayable when dead); `history`: the record. */
  readonly source: 'queue' | 'history';
}

/** Queue depth of one endpoint on one pod. */
export type QueueDepth = Readonly<Record<'pending' | 'retrying' | 'dead', number>>;

/** What one pod's /metrics and /queue/stats say about its endpoints. */
export interface PodHealth {
  readonly pod: string;
  readonly reachable: boolean;
  readonly error?: string;
  /** endpoint → outcome → count (hookgate_egress_deliveries_total). */
  readonly outcomes: Readonly<Record<string, Readonly<Record<string, number>>>>;
  /** endpoint → closed | half-open | open (hookgate_egress_circuit_state). */
  readonly circuits: Readonly<Record<string, string>>;
  readonly queue: Readonly<Record<string, QueueDepth>>;
}

/** Filters the sidecars apply server-side. */
export interface DeliveryQuery {
  readonly endpoint?: string | undefined;
  readonly eventType?: string | undefined;
  readonly outcome?: Outcome | undefined;
  readonly from?: number | undefined; // epoch ms, inclusive
  readonly to?: number | undefined; // epoch ms, exclusive
  readonly limit: number;
}

const CIRCUIT_BY_VALUE = ['closed', 'half-open', 'open'];

/** An admin answer other than 2xx. */
export class AdminCallError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = 'AdminCallError';
    this.status = status;
  }
}

interface PodJson {
  metadata: { name: string; namespace: string };
  spec?: {
    containers?: ContainerJson[];
    initContainers?: ContainerJson[];
  };
  status?: { phase?: string; podIP?: string };
}
interface ContainerJson {
  name: string;
  ports?: { name?: string; containerPort: number }[];
}

/** Reads sidecars through their admin API. */
export class Sidecars {
  readonly #client: KubeClient;
  readonly #token: (namespace: string) => string | undefined;
  readonly #agent = new Agent({ keepAliveTimeout: 10_000, connections: 16 });

  /** `adminToken`: one token for every sidecar, or each namespace's own (admin-token.ts). */
  constructor(client: KubeClient, adminToken: string | AdminTokens | undefined) {
    this.#client = client;
    this.#token =
      typeof adminToken === 'function'
        ? adminToken
        : () => (adminToken === '' ? undefined : adminToken);
  }

  /** Running pods of `namespace` with a hookgate-proxy container and an IP. */
  async pods(namespace: string): Promise<SidecarPod[]> {
    const list = await this.#client.request<{ items: PodJson[] }>(
      'GET',
      `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`,
    );
    const pods: SidecarPod[] = [];
    for (const pod of list.items) {
      const proxy = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].find(
        (c) => c.name === SIDECAR_CONTAINER,
      );
      const ip = pod.status?.podIP;
      if (proxy === undefined || ip === undefined || pod.status?.phase !== 'Running') continue;
      const port =
        proxy.ports?.find((p) => p.name === PORT_NAME.admin)?.containerPort ?? SIDECAR_PORTS.admin;
      const host = ip.includes(':') ? `[${ip}]` : ip;
      pods.push({ namespace, name: pod.metadata.name, base: `http://${host}:${port}` });
    }
    return pods;
  }

  async #call<T>(pod: SidecarPod, method: 'GET' | 'POST', path: string): Promise<T> {
    const token = this.#token(pod.namespace);
    const response = await request(`${pod.base}${path}`, {
      method,
      headers: {
        accept: 'application/json',
        ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
        ...(method === 'POST' ? { 'hookgate-admin': 'true' } : {}),
      },
      dispatcher: this.#agent,
      signal: AbortSignal.timeout(ADMIN_TIMEOUT_MS),
    });
    const text = await response.body.text();
    if (response.statusCode >= 300) {
      let detail = text.slice(0, 200);
      try {
        detail = (JSON.parse(text) as { detail?: string }).detail ?? detail;
      } catch {
        // not a problem document
      }
      throw new AdminCallError(response.statusCode, `${pod.name}: ${detail}`);
    }
    return (path.startsWith('/metrics') ? text : JSON.parse(text)) as T;
  }

  /** Deliveries of one pod matching `q`, newest first: the history when served, else the queue. */
  async deliveries(pod: SidecarPod, q: DeliveryQuery): Promise<ListedDelivery[]> {
    const history = await this.#history(pod, q);
    if (history !== undefined) return history;
    const params = new URLSearchParams({ limit: String(Math.min(q.limit, 1000)) });
    if (q.endpoint !== undefined) params.set('endpoint', q.endpoint);
    if (q.outcome === 'dead') params.set('state', 'dead');
    if (q.from !== undefined) params.set('from', String(q.from));
    if (q.to !== undefined) params.set('to', String(q.to));
    const answer = await this.#call<{ deliveries: QueueSummary[] }>(
      pod,
      'GET',
      `/queue/deliveries?${params.toString()}`,
    );
    return answer.deliveries
      .map((d) => fromQueue(pod, d))
      .filter((d) => q.outcome === undefined || d.outcome === q.outcome)
      .filter((d) => q.eventType === undefined || d.eventType === q.eventType)
      .reverse();
  }

  async #history(pod: SidecarPod, q: DeliveryQuery): Promise<ListedDelivery[] | undefined> {
    const params = new URLSearchParams({ limit: String(q.limit) });
    if (q.endpoint !== undefined) params.set('endpoint', q.endpoint);
    if (q.eventType !== undefined) params.set('eventType', q.eventType);
    if (q.outcome !== undefined) params.set('outcome', q.outcome);
    if (q.from !== undefined) params.set('from', new Date(q.from).toISOString());
    if (q.to !== undefined) params.set('to', new Date(q.to).toISOString());
    try {
      const answer = await this.#call<{ items: DeliverySummary[] }>(
        pod,
        'GET',
        `/history/deliveries?${params.toString()}`,
      );
      return answer.items.map((d) => ({ ...d, source: 'history' as const }));
    } catch (err) {
      // A sidecar without the history answers 404 for the whole route.
      if (err instanceof AdminCallError && err.status === 404) return undefined;
      throw err;
    }
  }

  /** One delivery in full from `pod`, or undefined when the pod does not know it. */
  async delivery(pod: SidecarPod, deliveryId: string): Promise<DeliveryRecord | undefined> {
    const id = encodeURIComponent(deliveryId);
    for (const [path, map] of [
      [`/history/deliveries/${id}`, (r: unknown) => r as DeliveryRecord],
      [`/queue/deliveries/${id}`, (r: unknown) => recordFromQueue(pod, r as QueueSummary)],
    ] as const) {
      try {
        return redactRecord(map(await this.#call<unknown>(pod, 'GET', path)));
      } catch (err) {
        if (!(err instanceof AdminCallError && err.status === 404)) throw err;
      }
    }
    return undefined;
  }

  /** Replays one dead letter; false when this pod's queue does not hold it. */
  async replay(pod: SidecarPod, deliveryId: string): Promise<boolean> {
    try {
      await this.#call(pod, 'POST', `/queue/deliveries/${encodeURIComponent(deliveryId)}/replay`);
      return true;
    } catch (err) {
      if (err instanceof AdminCallError && err.status === 404) return false;
      throw err;
    }
  }

  /** Replays an endpoint's dead letters accepted in [from, to); the number replayed. */
  async replayRange(
    pod: SidecarPod,
    endpoint: string,
    from?: number,
    to?: number,
  ): Promise<number> {
    const params = new URLSearchParams({ endpoint });
    if (from !== undefined) params.set('from', String(from));
    if (to !== undefined) params.set('to', String(to));
    const answer = await this.#call<{ replayed: number }>(
      pod,
      'POST',
      `/queue/replay?${params.toString()}`,
    );
    return answer.replayed;
  }

  /** The pod's per-endpoint outcomes, circuit states and queue depth. */
  async health(pod: SidecarPod): Promise<PodHealth> {
    try {
      const [metrics, stats] = await Promise.all([
        this.#call<string>(pod, 'GET', '/metrics'),
        this.#call<{ byEndpoint: Record<string, QueueDepth> }>(pod, 'GET', '/queue/stats').catch(
          () => ({ byEndpoint: {} }),
        ),
      ]);
      return { pod: pod.name, reachable: true, ...parseMetrics(metrics), queue: stats.byEndpoint };
    } catch (err) {
      return {
        pod: pod.name,
        reachable: false,
        error: (err as Error).message,
        outcomes: {},
        circuits: {},
        queue: {},
      };
    }
  }

  /** Closes the connection pool. */
  async close(): Promise<void> {
    await this.#agent.close();
  }
}

const SAMPLE =
  /^(hookgate_egress_deliveries_total|hookgate_egress_circuit_state)\{([^}]*)\}\s+(\S+)/;

/** The two families the health page reads, from Prometheus text. */
export function parseMetrics(text: string): Pick<PodHealth, 'outcomes' | 'circuits'> {
  const outcomes: Record<string, Record<string, number>> = {};
  const circuits: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = SAMPLE.exec(line);
    if (m === null) continue;
    const labels = Object.fromEntries(
      [...m[2]!.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1]!, l[2]!]),
    );
    const endpoint = labels['endpoint'];
    if (endpoint === undefined) continue;
    const value = Number(m[3]);
    if (m[1] === 'hookgate_egress_circuit_state') {
      circuits[endpoint] = CIRCUIT_BY_VALUE[value] ?? 'unknown';
    } else {
      const byOutcome = (outcomes[endpoint] ??= {});
      byOutcome[labels['outcome'] ?? 'unknown'] = value;
    }
  }
  return { outcomes, circuits };
}

const OUTCOME_OF_STATE: Readonly<Record<QueueSummary['state'], Outcome>> = {
  pending: 'retrying',
  retrying: 'retrying',
  dead: 'dead',
};

function fromQueue(pod: SidecarPod, d: QueueSummary): ListedDelivery {
  const last = d.lastAttempt;
  const eventType = d.headers?.['hookgate-event-type'];
  return {
    deliveryId: d.deliveryId,
    namespace: pod.namespace,
    endpoint: d.endpoint,
    direction: 'egress',
    ...(eventType === undefined ? {} : { eventType }),
    mode: 'async',
    outcome: OUTCOME_OF_STATE[d.state],
    ...(last?.error === undefined ? {} : { problem: last.error }),
    attempts: Array.isArray(d.attempts) ? d.attempts.length : d.attempts,
    firstAttemptAt: d.acceptedAt,
    lastAttemptAt: last?.at ?? d.acceptedAt,
    ...(last?.status === undefined ? {} : { lastStatus: last.status }),
    pod: pod.name,
    source: 'queue',
  };
}

function recordFromQueue(pod: SidecarPod, d: QueueSummary): DeliveryRecord {
  const attempts = Array.isArray(d.attempts) ? d.attempts : [];
  const url = new URL(d.url);
  const attemptLog: AttemptRecord[] = attempts.map((a, i) => ({
    attempt: i + 1,
    at: a.at,
    latencyMs: a.durationMs,
    ...(a.status === undefined ? {} : { status: a.status }),
    ...(a.error !== undefined
      ? { error: a.error }
      : a.status !== undefined && a.status >= 300
        ? { error: `http-${a.status}` }
        : {}),
  }));
  const body = d.body ?? d.bodyBase64;
  const listed = fromQueue(pod, { ...d, lastAttempt: attempts.at(-1) ?? null });
  // The record has no `source`: that belongs to lists.
  const summary = Object.fromEntries(
    Object.entries(listed).filter(([k]) => k !== 'source'),
  ) as unknown as DeliverySummary;
  return {
    ...summary,
    url: `${url.origin}${url.pathname}`,
    method: d.method ?? 'POST',
    requestHeaders: d.headers ?? {},
    ...(body === undefined
      ? {}
      : {
          requestBody: body.slice(0, MAX_BODY_CHARS),
          requestBodyEncoding: d.body === undefined ? ('base64' as const) : ('utf8' as const),
          requestBodyTruncated: body.length > MAX_BODY_CHARS,
        }),
    attemptLog,
  };
}

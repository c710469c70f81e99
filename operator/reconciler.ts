// Reconcile one namespace: read the cache → compute with pure functions → write only what
// changed. The published Secret and ConfigMap come first (a status must not claim a generation
// that is not stored), then each status that differs, then an Event per transition.
import type { Logger } from '../common/log.ts';
import type { Caches } from './cache.ts';
import type { Clock } from './clock.ts';
import { compileNamespace } from './compile/compile.ts';
import type { ConfigMapView, SecretView } from './compile/secrets.ts';
import { isStatus } from './errors.ts';
import type { EventRecorder, EventType } from './events.ts';
import type { KubeClient } from './kube/client.ts';
import type { KubeObject } from './kube/types.ts';
import {
  ADMIN_TOKEN_KEY,
  API_VERSION,
  CONDITION,
  CONFIG_KEY,
  CONFIG_MAP_NAME,
  FIELD_MANAGER,
  GROUP,
  REASON,
  REDIS_URL_KEY,
  SECRET_NAME,
  VERSION,
} from './names.ts';
import {
  CONFIG_MAP_MAX_BYTES,
  NEAR_LIMIT_RATIO,
  entryKey,
  ownerOf,
  planPublish,
  publishedEntries,
  type ApplyManifest,
  type OwnerReference,
  type PublishSize,
} from './publish.ts';
import {
  SIZE_REASON,
  endpointStatus,
  notEnabledStatus,
  sizeNotice,
  policyStatus,
  statusDiffers,
  transitions,
  type EndpointStatus,
  type PolicyStatus,
  type PreviousStatus,
  type SizeNotice,
  type Transition,
} from './status.ts';

const KIND = {
  webhookendpoints: 'WebhookEndpoint',
  webhookpolicies: 'WebhookPolicy',
} as const;

/** What one reconcile did. */
export type ReconcileResult = 'changed' | 'unchanged';

/** What the reconciler needs; all injected so tests can drive it. */
export interface ReconcilerDeps {
  readonly caches: Caches;
  readonly client: KubeClient;
  readonly events: EventRecorder;
  readonly clock: Clock;
  readonly log: Logger;
  /** Status writes in flight at once per namespace. */
  readonly statusConcurrency?: number;
  /** Redis URL for the sidecars, published in every namespace's Secret under REDIS_URL_KEY. */
  readonly sidecarRedisUrl?: string | undefined;
  /** Each namespace's sidecar admin token, published under ADMIN_TOKEN_KEY (console/admin-token.ts). */
  readonly sidecarAdminTokens?: ((namespace: string) => string) | undefined;
}

/** Whether an object is on its way out: it no longer takes part. */
function live(object: KubeObject): boolean {
  return object.metadata.deletionTimestamp === undefined;
}

function secretView(object: KubeObject): SecretView {
  return {
    name: object.metadata.name,
    resourceVersion: object.metadata.resourceVersion ?? '',
    data: (object['data'] as Record<string, string> | undefined) ?? {},
  };
}

function configMapView(object: KubeObject): ConfigMapView {
  return {
    name: object.metadata.name,
    resourceVersion: object.metadata.resourceVersion ?? '',
    data: (object['data'] as Record<string, string> | undefined) ?? {},
    otherKeys: (object['otherKeys'] as string[] | undefined) ?? [],
  };
}

function statusOf(object: KubeObject): PreviousStatus | undefined {
  return object['status'] as PreviousStatus | undefined;
}

const SIZE_REASONS: readonly string[] = Object.values(SIZE_REASON);

/** Status writes in flight at once per namespace: enough to keep up with a bulk apply. */
const STATUS_CONCURRENCY = 32;
/** First-publish Events one reconcile records one by one; past it, one summary Event. */
const MAX_EVENTS_PER_RECONCILE = 10;

/** A resource published and Ready for the first time: routine, summarized when many. */
interface FirstPublished {
  readonly regarding: KubeObject;
  readonly reason: string;
  readonly note: string;
}

function firstReady(t: Transition): boolean {
  return t.initial && t.type === CONDITION.ready && t.status === 'True';
}

/** Initial conditions worth an Event; the rest would be noise on every new object. */
function notable(t: Transition): boolean {
  // A namespace nearing the size limit is one Event about the namespace, not one per object.
  if (!t.statusChanged && SIZE_REASONS.includes(t.reason)) return false;
  if (!t.initial) return true;
  return (
    (t.type === CONDITION.ready && t.status === 'True') ||
    (t.type === CONDITION.accepted && t.status === 'False') ||
    (t.type === CONDITION.ready && t.reason === SIZE_REASON.over) ||
    (t.type === CONDITION.conflicted && t.status === 'True')
  );
}

function eventType(t: Transition): EventType {
  const bad =
    (t.type === CONDITION.conflicted && t.status === 'True') ||
    (t.type !== CONDITION.conflicted && t.status !== 'True');
  return bad ? 'Warning' : 'Normal';
}

/** Runs `tasks` with at most `limit` at once. */
async function pool(tasks: (() => Promise<void>)[], limit: number): Promise<void> {
  let next = 0;
  const errors: unknown[] = [];
  const worker = async (): Promise<void> => {
    while (next < tasks.length) {
      const task = tasks[next++]!;
      try {
        await task();
      } catch (err) {
        errors.push(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  if (errors.length > 0) throw errors[0];
}

/** Compiles and publishes namespaces. */
export class Reconciler {
  #deps: ReconcilerDeps;
  // Parsing the published YAML is the one costly read; it changes only with the ConfigMap.
  #entries = new Map<string, { resourceVersion: string; entries: ReadonlyMap<string, string> }>();
  #sizeStates = new Map<string, PublishSize['state']>();

  constructor(deps: ReconcilerDeps) {
    this.#deps = deps;
  }

  /** Reconciles `namespace`; throws on a failed write (the queue retries with backoff). */
  async reconcile(namespace: string): Promise<ReconcileResult> {
    const { caches, clock, log } = this.#deps;
    const endpoints = caches.endpoints.list(namespace).filter(live);
    const policies = caches.policies.list(namespace).filter(live);
    if (endpoints.length === 0 && policies.length === 0) {
      // Nothing to publish; the published objects go with their last owner (garbage collection).
      this.#entries.delete(namespace);
      this.#sizeStates.delete(namespace);
      return 'unchanged';
    }

    const compiled = compileNamespace({
      namespace,
      endpoints,
      policies,
      secrets: new Map(caches.secrets.list(namespace).map((s) => [s.metadata.name, secretView(s)])),
      configMaps: new Map(
        caches.caBundles.list(namespace).map((c) => [c.metadata.name, configMapView(c)]),
      ),
    });
    const configMap = caches.configMaps.get(namespace, CONFIG_MAP_NAME);
    const previousEntries = this.#publishedEntries(namespace, configMap);
    const owners: OwnerReference[] = [
      ...endpoints.map((e) => ownerOf('WebhookEndpoint', e.metadata.name, e.metadata.uid ?? '')),
      ...policies.map((p) => ownerOf('WebhookPolicy', p.metadata.name, p.metadata.uid ?? '')),
    ].sort((a, b) => (a.uid < b.uid ? -1 : 1));
    const redisUrl = this.#deps.sidecarRedisUrl;
    const adminToken = this.#deps.sidecarAdminTokens?.(namespace);
    const published = {
      ...compiled,
      secretData: {
        ...compiled.secretData,
        ...(redisUrl === undefined || redisUrl === ''
          ? {}
          : { [REDIS_URL_KEY]: Buffer.from(redisUrl).toString('base64') }),
        ...(adminToken === undefined
          ? {}
          : { [ADMIN_TOKEN_KEY]: Buffer.from(adminToken).toString('base64') }),
      },
    };
    const plan = planPublish(
      namespace,
      published,
      {
        configMap,
        secret: caches.secrets.get(namespace, SECRET_NAME),
        highestStatusGeneration: Math.max(
          0,
          ...[...endpoints, ...policies].map((o) => statusOf(o)?.configGeneration ?? 0),
        ),
      },
      owners,
    );

    const size = sizeNotice(
      namespace,
      plan.size.state,
      { nearBytes: CONFIG_MAP_MAX_BYTES * NEAR_LIMIT_RATIO, maxBytes: CONFIG_MAP_MAX_BYTES },
      plan.generation,
    );

    let writes = 0;
    const apply = async (manifest: ApplyManifest, path: string): Promise<KubeObject> => {
      const stored = await this.#deps.client.apply<KubeObject>(path, manifest, FIELD_MANAGER);
      writes++;
      (manifest.kind === 'Secret' ? caches.secrets : caches.configMaps).upsert(stored);
      return stored;
    };
    const configMapPath = `/api/v1/namespaces/${namespace}/configmaps/${CONFIG_MAP_NAME}`;
    const secretPath = `/api/v1/namespaces/${namespace}/secrets/${SECRET_NAME}`;
    let configMapUid = configMap?.metadata.uid;
    if (configMapUid !== undefined && plan.secret !== undefined) {
      // Keys first: a config naming a file not yet mounted would be refused by the sidecar.
      await apply(plan.secret(configMapUid), secretPath);
    }
    if (plan.configMap !== undefined) {
      configMapUid = (await apply(plan.configMap, configMapPath)).metadata.uid;
    }
    if (configMap === undefined && plan.secret !== undefined && configMapUid !== undefined) {
      // A new Secret needs the new ConfigMap's uid as its owner.
      await apply(plan.secret(configMapUid), secretPath);
    }
    if (writes > 0) {
      log.info('published', {
        namespace,
        generation: plan.generation,
        endpoints: compiled.config.endpoints?.length ?? 0,
        ingress: compiled.config.ingress?.length ?? 0,
        dynamic: compiled.config.dynamic?.length ?? 0,
        refused: compiled.endpoints.filter((e) => !e.accepted.ok).length,
      });
    }

    // After the writes: the Event is about the ConfigMap, which a first publish just created.
    this.#sizeTransition(
      namespace,
      plan.size,
      size,
      caches.configMaps.get(namespace, CONFIG_MAP_NAME),
    );

    const now = clock.now();
    const tasks: (() => Promise<void>)[] = [];
    const firstPublished: FirstPublished[] = [];
    const byName = (objects: KubeObject[]): Map<string, KubeObject> =>
      new Map(objects.map((o) => [o.metadata.name, o]));
    const endpointObjects = byName(endpoints);
    for (const result of compiled.endpoints) {
      const object = endpointObjects.get(result.name)!;
      const direction =
        (object['spec'] as { direction?: string } | undefined)?.direction === 'Ingress'
          ? 'Ingress'
          : 'Egress';
      const previous = statusOf(object);
      const next = endpointStatus(
        result,
        previous,
        previousEntries.get(entryKey(direction, result.name)) === result.entry,
        {
          generation: object.metadata.generation ?? 0,
          configGeneration: plan.generation,
          now,
          size,
        },
      );
      if (statusDiffers(previous, next))
        tasks.push(() => this.#writeStatus(object, next, 'webhookendpoints', firstPublished));
    }
    const policyObjects = byName(policies);
    for (const result of compiled.policies) {
      const object = policyObjects.get(result.name)!;
      const previous = statusOf(object);
      const next = policyStatus(result, previous, {
        generation: object.metadata.generation ?? 0,
        configGeneration: plan.generation,
        now,
        size,
      });
      if (statusDiffers(previous, next))
        tasks.push(() => this.#writeStatus(object, next, 'webhookpolicies', firstPublished));
    }
    try {
      await pool(tasks, this.#deps.statusConcurrency ?? STATUS_CONCURRENCY);
    } finally {
      this.#firstPublishedEvents(namespace, plan.generation, firstPublished);
    }
    writes += tasks.length;
    return writes > 0 ? 'changed' : 'unchanged';
  }

  /**
   * A namespace that has not opted in while Secrets are read only where namespaces did: nothing
   * is compiled or published; each endpoint and policy says why and how to opt in.
   */
  async notEnabled(namespace: string): Promise<ReconcileResult> {
    const { caches, clock } = this.#deps;
    const now = clock.now();
    const tasks: (() => Promise<void>)[] = [];
    for (const [resource, cache] of [
      ['webhookendpoints', caches.endpoints],
      ['webhookpolicies', caches.policies],
    ] as const) {
      for (const object of cache.list(namespace).filter(live)) {
        const previous = statusOf(object);
        const status = notEnabledStatus(namespace, previous, {
          generation: object.metadata.generation ?? 0,
          now,
        });
        const next = resource === 'webhookpolicies' ? { ...status, selectedEndpoints: 0 } : status;
        if (statusDiffers(previous, next))
          tasks.push(() => this.#writeStatus(object, next, resource));
      }
    }
    await pool(tasks, this.#deps.statusConcurrency ?? STATUS_CONCURRENCY);
    return tasks.length > 0 ? 'changed' : 'unchanged';
  }

  /**
   * Logs and records one Event when the namespace's size state changes (fits → near → over and
   * back), regarding the published ConfigMap — the object that is full. Remembered per replica:
   * a restarted leader says it once more.
   */
  #sizeTransition(
    namespace: string,
    size: PublishSize,
    notice: SizeNotice | undefined,
    configMap: KubeObject | undefined,
  ): void {
    const before = this.#sizeStates.get(namespace) ?? 'fits';
    if (before === size.state) return;
    this.#sizeStates.set(namespace, size.state);
    const fields = {
      namespace,
      state: size.state,
      dataBytes: size.dataBytes,
      objectBytes: size.objectBytes,
    };
    if (size.state === 'fits') this.#deps.log.info('published config fits again', fields);
    else this.#deps.log.warn('published config near or over the ConfigMap limit', fields);
    if (configMap === undefined) return;
    const regarding = { ...configMap, apiVersion: 'v1', kind: 'ConfigMap' };
    const measured = `${Math.ceil(size.dataBytes / 1024)} KiB of data, ${Math.ceil(size.objectBytes / 1024)} KiB as an object`;
    if (notice === undefined) {
      this.#deps.events.emit(
        regarding,
        'Normal',
        REASON.published,
        `the sidecar config fits again (${measured}); changes are published`,
        'Publish',
      );
    } else {
      this.#deps.events.emit(
        regarding,
        'Warning',
        SIZE_REASON[notice.state],
        `${notice.message} (${measured})`,
        'Publish',
      );
    }
  }

  #publishedEntries(
    namespace: string,
    configMap: KubeObject | undefined,
  ): ReadonlyMap<string, string> {
    const resourceVersion = configMap?.metadata.resourceVersion ?? '';
    const memo = this.#entries.get(namespace);
    if (memo?.resourceVersion === resourceVersion) return memo.entries;
    const text = (configMap?.['data'] as Record<string, string> | undefined)?.[CONFIG_KEY];
    const entries = publishedEntries(text);
    this.#entries.set(namespace, { resourceVersion, entries });
    return entries;
  }

  /**
   * The Events of resources published for the first time: one each when few (a `kubectl apply`),
   * one about the namespace's ConfigMap naming them when many (a GitOps sync of hundreds, where
   * one Event per object would double the API server's work and say nothing more).
   */
  #firstPublishedEvents(namespace: string, generation: number, first: FirstPublished[]): void {
    const configMap = this.#deps.caches.configMaps.get(namespace, CONFIG_MAP_NAME);
    if (first.length <= MAX_EVENTS_PER_RECONCILE || configMap === undefined) {
      for (const f of first)
        this.#deps.events.emit(f.regarding, 'Normal', f.reason, f.note, 'Reconcile');
      return;
    }
    const names = first.map((f) => `${f.regarding.kind}/${f.regarding.metadata.name}`).sort();
    const listed = names.slice(0, MAX_EVENTS_PER_RECONCILE).join(', ');
    const more =
      names.length > MAX_EVENTS_PER_RECONCILE
        ? ` and ${names.length - MAX_EVENTS_PER_RECONCILE} more`
        : '';
    this.#deps.events.emit(
      { ...configMap, apiVersion: 'v1', kind: 'ConfigMap' },
      'Normal',
      REASON.published,
      `${first.length} resources published for the first time in config generation ${generation} and Ready: ${listed}${more}`,
      'Reconcile',
    );
  }

  async #writeStatus(
    object: KubeObject,
    status: EndpointStatus | PolicyStatus,
    resource: 'webhookendpoints' | 'webhookpolicies',
    firstPublished?: FirstPublished[],
  ): Promise<void> {
    const { name, namespace, uid } = object.metadata;
    const path = `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${resource}/${name}/status`;
    let stored: KubeObject;
    try {
      stored = await this.#deps.client.apply<KubeObject>(
        path,
        // The uid makes the write fail rather than land on a new object of the same name.
        {
          apiVersion: API_VERSION,
          kind: KIND[resource],
          metadata: { name, namespace, uid },
          status,
        },
        FIELD_MANAGER,
      );
    } catch (err) {
      // Deleted or replaced meanwhile: its own events will bring it back if it matters.
      if (isStatus(err, 404) || isStatus(err, 409)) return;
      throw err;
    }
    (resource === 'webhookendpoints'
      ? this.#deps.caches.endpoints
      : this.#deps.caches.policies
    ).upsert(stored);
    const previous = statusOf(object);
    const regarding = { ...stored, apiVersion: API_VERSION, kind: KIND[resource] };
    // Queued, not awaited: an Event is best effort and must not hold the next status write.
    for (const t of transitions(previous, status).filter(notable)) {
      const note = `${t.type}=${t.status}: ${t.message}`;
      if (firstPublished !== undefined && firstReady(t)) {
        firstPublished.push({ regarding, reason: t.reason, note });
        continue;
      }
      this.#deps.events.emit(regarding, eventType(t), t.reason, note, 'Reconcile');
    }
  }
}

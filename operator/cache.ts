// The operator's view of the cluster: one informer set per resource, cluster-wide or one informer
// per watched namespace, behind the same read interface. Objects are slimmed on the way in
// (managedFields, last-applied annotations, Secret fields the operator never reads), which is most
// of an object's bytes at 10,000 endpoints.
import type { Logger } from '../common/log.ts';
import { CONFIG_MAP_NAME, GROUP, VERSION } from './names.ts';
import type { KubeClient } from './kube/client.ts';
import {
  Informer,
  apiListerWatcher,
  type CacheChange,
  type RestartReason,
} from './kube/informer.ts';
import type { KubeObject } from './kube/types.ts';

/**
 * The caches the operator keeps. `configmaps` is its own published ConfigMap only; `cabundles`
 * are users' ConfigMaps, read where Secrets are read, slimmed to their CA certificates.
 */
export type Resource =
  'webhookendpoints' | 'webhookpolicies' | 'secrets' | 'configmaps' | 'cabundles';

/** Every watched resource, in start order. */
export const RESOURCES: readonly Resource[] = [
  'webhookendpoints',
  'webhookpolicies',
  'secrets',
  'configmaps',
  'cabundles',
];

/** What marks a ConfigMap value as a CA bundle worth keeping. */
export const PEM_CERTIFICATE_MARK = '-----BEGIN CERTIFICATE-----';

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/** Drops what the operator never reads from an object's metadata. */
function slimMetadata(object: KubeObject): KubeObject {
  const metadata = { ...object.metadata };
  delete metadata.managedFields;
  if (metadata.annotations?.[LAST_APPLIED] !== undefined) {
    metadata.annotations = { ...metadata.annotations };
    delete metadata.annotations[LAST_APPLIED];
  }
  return { ...object, metadata };
}

/** Secrets: identity, version, owners and data only. */
function slimSecret(object: KubeObject): KubeObject {
  const { name, namespace, uid, resourceVersion, labels, ownerReferences } = object.metadata;
  return {
    metadata: {
      name,
      namespace,
      uid,
      resourceVersion,
      labels,
      ownerReferences,
    } as KubeObject['metadata'],
    type: object['type'],
    data: object['data'],
  };
}

/**
 * CA ConfigMaps: identity, version, the data keys whose value holds a PEM certificate, and the
 * names of the other keys (binaryData's too). A namespace full of large application ConfigMaps
 * then costs a few names each; a CA bundle is kept whole, as the sidecar needs it.
 */
export function slimCaConfigMap(object: KubeObject): KubeObject {
  const { name, namespace, uid, resourceVersion } = object.metadata;
  const data: Record<string, string> = {};
  const otherKeys: string[] = [];
  for (const [key, value] of Object.entries((object['data'] as Record<string, unknown>) ?? {})) {
    if (typeof value === 'string' && value.includes(PEM_CERTIFICATE_MARK)) data[key] = value;
    else otherKeys.push(key);
  }
  otherKeys.push(...Object.keys((object['binaryData'] as Record<string, unknown>) ?? {}));
  return {
    metadata: { name, namespace, uid, resourceVersion } as KubeObject['metadata'],
    data,
    otherKeys,
  };
}

const TRANSFORM: Record<Resource, (object: KubeObject) => KubeObject> = {
  webhookendpoints: slimMetadata,
  webhookpolicies: slimMetadata,
  secrets: slimSecret,
  configmaps: slimMetadata,
  cabundles: slimCaConfigMap,
};

function collectionPath(resource: Resource, namespace: string | undefined): string {
  const core = resource === 'secrets' || resource === 'configmaps' || resource === 'cabundles';
  const prefix = core ? '/api/v1' : `/apis/${GROUP}/${VERSION}`;
  const plural = resource === 'cabundles' ? 'configmaps' : resource;
  return namespace === undefined
    ? `${prefix}/${plural}`
    : `${prefix}/namespaces/${namespace}/${plural}`;
}

/** Options for {@link ResourceCache}. */
export interface ResourceCacheOptions {
  readonly client: KubeClient;
  readonly log: Logger;
  /** Watch only these namespaces; undefined: all. */
  readonly namespaces: readonly string[] | undefined;
  readonly watchTimeoutSeconds: number;
  /** Added to the watch timeout: silence past the sum means the watch is stalled. */
  readonly watchdogGraceMs: number;
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number };
  readonly onRestart?: (resource: Resource, reason: RestartReason) => void;
}

/** The cached objects of one resource. */
export class ResourceCache {
  readonly resource: Resource;
  #options: ResourceCacheOptions;
  #informers: Informer[];
  #byNamespace: Map<string, Informer> | undefined;
  #handlers: ((change: CacheChange) => void)[] = [];
  #ownWriteHandlers: ((change: CacheChange) => void)[] = [];
  #started = false;

  constructor(resource: Resource, options: ResourceCacheOptions) {
    this.resource = resource;
    this.#options = options;
    const scopes = options.namespaces ?? [undefined];
    this.#informers = scopes.map((namespace) => this.#informer(namespace));
    this.#byNamespace =
      options.namespaces === undefined
        ? undefined
        : new Map(options.namespaces.map((ns, i) => [ns, this.#informers[i]!]));
  }

  #informer(namespace: string | undefined): Informer {
    const options = this.#options;
    const resource = this.resource;
    return new Informer({
      resource,
      log: options.log,
      source: apiListerWatcher(options.client, collectionPath(resource, namespace), {
        timeoutSeconds: options.watchTimeoutSeconds,
        // Only the operator's own ConfigMap: RBAC then needs no read access to any other.
        ...(resource === 'configmaps' ? { fieldSelector: `metadata.name=${CONFIG_MAP_NAME}` } : {}),
      }),
      transform: TRANSFORM[resource],
      watchdogMs: options.watchTimeoutSeconds * 1000 + options.watchdogGraceMs,
      ...(options.backoff === undefined ? {} : { backoff: options.backoff }),
      onRestart: (reason) => options.onRestart?.(resource, reason),
    });
  }

  /**
   * Starts caching one more namespace (a per-namespace cache only). Resolves once it has listed;
   * undefined when the namespace was already cached.
   */
  addNamespace(namespace: string): Promise<void> | undefined {
    if (this.#byNamespace === undefined) throw new Error(`${this.resource}: cache is cluster-wide`);
    if (this.#byNamespace.has(namespace)) return undefined;
    const informer = this.#informer(namespace);
    for (const handler of this.#handlers) informer.onChange(handler);
    for (const handler of this.#ownWriteHandlers) informer.onOwnWrite(handler);
    this.#informers.push(informer);
    this.#byNamespace.set(namespace, informer);
    if (this.#started) informer.start();
    return informer.whenSynced();
  }

  /** Stops caching `namespace` and forgets its objects; false when it was not cached. */
  async removeNamespace(namespace: string): Promise<boolean> {
    const informer = this.#byNamespace?.get(namespace);
    if (informer === undefined) return false;
    this.#byNamespace!.delete(namespace);
    this.#informers = this.#informers.filter((i) => i !== informer);
    await informer.stop();
    return true;
  }

  /** True when `namespace` is cached and has been listed. */
  synced(namespace: string): boolean {
    return this.#for(namespace)?.synced ?? false;
  }

  /** The namespaces cached one by one, or undefined for a cluster-wide cache. */
  get scopes(): string[] | undefined {
    return this.#byNamespace === undefined ? undefined : [...this.#byNamespace.keys()];
  }

  #for(namespace: string): Informer | undefined {
    return this.#byNamespace === undefined ? this.#informers[0] : this.#byNamespace.get(namespace);
  }

  /** Registers a change handler on every informer. */
  onChange(handler: (change: CacheChange) => void): void {
    this.#handlers.push(handler);
    for (const informer of this.#informers) informer.onChange(handler);
  }

  /** Registers a handler for own writes on every informer (see {@link Informer.onOwnWrite}). */
  onOwnWrite(handler: (change: CacheChange) => void): void {
    this.#ownWriteHandlers.push(handler);
    for (const informer of this.#informers) informer.onOwnWrite(handler);
  }

  /** Starts every informer. */
  start(): void {
    this.#started = true;
    for (const informer of this.#informers) informer.start();
  }

  /** Stops every informer. */
  async stop(): Promise<void> {
    this.#started = false;
    await Promise.all(this.#informers.map((i) => i.stop()));
  }

  /** Resolves once every informer has listed. */
  async whenSynced(): Promise<void> {
    await Promise.all(this.#informers.map((i) => i.whenSynced()));
  }

  /** The first reason the cache is not current, or undefined. */
  unhealthy(maxDownMs: number): string | undefined {
    for (const informer of this.#informers) {
      const reason = informer.unhealthy(maxDownMs);
      if (reason !== undefined) return reason;
    }
    return undefined;
  }

  /** The cached object, or undefined. */
  get(namespace: string, name: string): KubeObject | undefined {
    return this.#for(namespace)?.get(namespace, name);
  }

  /** Cached objects of one namespace. */
  list(namespace: string): KubeObject[] {
    return this.#for(namespace)?.list(namespace) ?? [];
  }

  /** Namespaces holding at least one object. */
  namespaces(): string[] {
    return this.#informers.flatMap((i) => i.namespaces());
  }

  /** Stores the answer to an own write (see {@link Informer.upsert}). */
  upsert(object: KubeObject): void {
    this.#for(object.metadata.namespace ?? '')?.upsert(object);
  }

  /** Number of cached objects. */
  get size(): number {
    return this.#informers.reduce((n, i) => n + i.size, 0);
  }
}

/** The caches the reconciler reads. */
export interface Caches {
  readonly endpoints: ResourceCache;
  readonly policies: ResourceCache;
  readonly secrets: ResourceCache;
  /** The operator's own published ConfigMap per namespace. */
  readonly configMaps: ResourceCache;
  /** Users' ConfigMaps, slimmed to CA certificates; scoped like {@link Caches.secrets}. */
  readonly caBundles: ResourceCache;
}

/**
 * Creates the caches (not started). `secretNamespaces` overrides the scope of Secrets and CA
 * ConfigMaps (read where Secrets are read): `[]` starts with none, for namespaces added as they
 * opt in.
 */
export function createCaches(
  options: ResourceCacheOptions,
  secretNamespaces: readonly string[] | undefined = options.namespaces,
): Caches {
  return {
    endpoints: new ResourceCache('webhookendpoints', options),
    policies: new ResourceCache('webhookpolicies', options),
    secrets: new ResourceCache('secrets', { ...options, namespaces: secretNamespaces }),
    configMaps: new ResourceCache('configmaps', options),
    caBundles: new ResourceCache('cabundles', { ...options, namespaces: secretNamespaces }),
  };
}

/** The caches as a list. */
export function allCaches(caches: Caches): ResourceCache[] {
  return [caches.endpoints, caches.policies, caches.secrets, caches.configMaps, caches.caBundles];
}

// A list+watch cache of one resource that survives what the API server does to watches: a watch
// the server ends is resumed from the last resourceVersion; 410 Gone (the version was compacted)
// lists again; errors and resets back off and retry; and a watchdog aborts a watch that has been
// silent for longer than the server would have kept it open, then lists again.
import { OperatorError, isStatus } from '../errors.ts';
import type { Logger } from '../../common/log.ts';
import type { KubeClient } from './client.ts';
import type { KubeList, KubeObject, WatchEvent } from './types.ts';

/** Where an informer's objects come from. */
export interface ListerWatcher {
  /** One page of the list; `signal` abandons it. */
  list(options: {
    limit: number;
    continue?: string | undefined;
    signal?: AbortSignal | undefined;
  }): Promise<KubeList>;
  /**
   * Streams events from `resourceVersion` until the server ends the watch (resolves) or it fails
   * (rejects). `onOpen` is called once the server accepted it.
   */
  watch(
    resourceVersion: string,
    onOpen: () => void,
    onEvent: (event: WatchEvent) => void,
    signal: AbortSignal,
  ): Promise<void>;
}

/** Options for {@link apiListerWatcher}. */
export interface ApiListerWatcherOptions {
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  /** How long the server keeps one watch open before ending it cleanly. */
  readonly timeoutSeconds: number;
}

/** A ListerWatcher for the collection at `path` (cluster-wide or one namespace's). */
export function apiListerWatcher(
  client: KubeClient,
  path: string,
  options: ApiListerWatcherOptions,
): ListerWatcher {
  const selectors = {
    labelSelector: options.labelSelector,
    fieldSelector: options.fieldSelector,
  };
  return {
    list: ({ limit, continue: next, signal }) =>
      client.request<KubeList>('GET', path, {
        query: { ...selectors, limit: String(limit), continue: next },
        ...(signal === undefined ? {} : { signal }),
      }),
    watch: async (resourceVersion, onOpen, onEvent, signal) => {
      await client.watch(
        path,
        {
          ...selectors,
          resourceVersion,
          allowWatchBookmarks: 'true',
          timeoutSeconds: String(options.timeoutSeconds),
        },
        onEvent,
        signal,
        onOpen,
      );
    },
  };
}

/** Why a watch was restarted abnormally. */
export type RestartReason = 'expired' | 'stalled' | 'error';

/** A change in the cache. `old` is the replaced object for updates. */
export type CacheChange = {
  readonly type: 'add' | 'update' | 'delete';
  readonly object: KubeObject;
  readonly old?: KubeObject | undefined;
};

/** Options for {@link Informer}. */
export interface InformerOptions {
  /** Resource name for logs and metrics, e.g. `webhookendpoints`. */
  readonly resource: string;
  readonly source: ListerWatcher;
  readonly log: Logger;
  /** Applied to every object before it is stored: drop what the operator never reads. */
  readonly transform?: (object: KubeObject) => KubeObject;
  /** Silence after which a watch is declared stalled: longer than the server-side timeout. */
  readonly watchdogMs: number;
  readonly pageSize?: number;
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number };
  readonly onRestart?: (reason: RestartReason) => void;
  /** Milliseconds now; injected so liveness can be tested. */
  readonly now?: () => number;
}

/** The cache key of an object. */
function keyOf(object: KubeObject): [string, string] {
  return [object.metadata.namespace ?? '', object.metadata.name];
}

/**
 * True when `candidate` is at least as new as `current`. resourceVersions are opaque, but every
 * API server backed by etcd hands out increasing integers; anything else is taken as newer.
 */
function notOlder(candidate: KubeObject, current: KubeObject): boolean {
  const a = candidate.metadata.resourceVersion ?? '';
  const b = current.metadata.resourceVersion ?? '';
  if (!/^\d+$/.test(a) || !/^\d+$/.test(b)) return a !== b;
  return BigInt(a) >= BigInt(b);
}

/** A watched cache of one resource. */
export class Informer {
  readonly resource: string;
  #options: InformerOptions;
  #now: () => number;
  #store = new Map<string, Map<string, KubeObject>>();
  #handlers: ((change: CacheChange) => void)[] = [];
  #ownWriteHandlers: ((change: CacheChange) => void)[] = [];
  #resourceVersion = '';
  #synced = false;
  #syncedWaiters: (() => void)[] = [];
  #downSince: number | undefined;
  #stopped = false;
  #stopping = new AbortController();
  #watch: AbortController | undefined;
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;
  #size = 0;

  constructor(options: InformerOptions) {
    this.resource = options.resource;
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** Registers a change handler; handlers must be quick (enqueue, not work). */
  onChange(handler: (change: CacheChange) => void): void {
    this.#handlers.push(handler);
  }

  /**
   * Registers a handler for the operator's own writes stored by {@link upsert}: they raise no
   * change event (the watch event that follows carries the same version and is dropped), yet a
   * reader serving what the operator publishes (the config stream) must hear of them.
   */
  onOwnWrite(handler: (change: CacheChange) => void): void {
    this.#ownWriteHandlers.push(handler);
  }

  /** Starts listing and watching in the background. */
  start(): void {
    this.#loop ??= this.#run();
  }

  /** Stops watching; the cache keeps its content. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#stopping.abort();
    this.#watch?.abort(new OperatorError('ERR_KUBE_UNREACHABLE', 503, 'informer stopped'));
    this.#wake?.();
    await this.#loop;
  }

  /** True once the first list has completed. */
  get synced(): boolean {
    return this.#synced;
  }

  /** Resolves once the first list has completed. */
  whenSynced(): Promise<void> {
    if (this.#synced) return Promise.resolve();
    return new Promise((resolve) => this.#syncedWaiters.push(resolve));
  }

  /**
   * Why the cache cannot be trusted to be current, or undefined: not listed yet, or no watch
   * has been open for `maxDownMs`.
   */
  unhealthy(maxDownMs: number): string | undefined {
    if (!this.#synced) return `${this.resource}: not listed yet`;
    if (this.#downSince !== undefined && this.#now() - this.#downSince > maxDownMs) {
      return `${this.resource}: no watch for ${Math.round((this.#now() - this.#downSince) / 1000)}s`;
    }
    return undefined;
  }

  /** The cached object, or undefined. */
  get(namespace: string, name: string): KubeObject | undefined {
    return this.#store.get(namespace)?.get(name);
  }

  /** Cached objects of one namespace, or of all. */
  list(namespace?: string): KubeObject[] {
    if (namespace !== undefined) return [...(this.#store.get(namespace)?.values() ?? [])];
    return [...this.#store.values()].flatMap((m) => [...m.values()]);
  }

  /** Namespaces that hold at least one cached object. */
  namespaces(): string[] {
    return [...this.#store.keys()];
  }

  /** Number of cached objects. */
  get size(): number {
    return this.#size;
  }

  /**
   * Stores the answer to the operator's own write, unless the cache already holds something as
   * new: the next reconcile must not act on the version it has just replaced. No change event —
   * the operator knows what it wrote — but {@link onOwnWrite} handlers hear of it.
   */
  upsert(object: KubeObject): void {
    const stored = this.#transform(object);
    const [namespace, name] = keyOf(stored);
    const current = this.get(namespace, name);
    if (current !== undefined && !notOlder(stored, current)) return;
    this.#set(namespace, name, stored);
    if (current?.metadata.resourceVersion === stored.metadata.resourceVersion) return;
    const change: CacheChange = { type: current === undefined ? 'add' : 'update', object: stored };
    for (const handler of this.#ownWriteHandlers) {
      handler(current === undefined ? change : { ...change, old: current });
    }
  }

  #transform(object: KubeObject): KubeObject {
    return this.#options.transform?.(object) ?? object;
  }

  #set(namespace: string, name: string, object: KubeObject): void {
    let objects = this.#store.get(namespace);
    if (objects === undefined) {
      objects = new Map();
      this.#store.set(namespace, objects);
    }
    if (!objects.has(name)) this.#size++;
    objects.set(name, object);
  }

  #delete(namespace: string, name: string): KubeObject | undefined {
    const objects = this.#store.get(namespace);
    const old = objects?.get(name);
    if (objects === undefined || old === undefined) return undefined;
    objects.delete(name);
    this.#size--;
    if (objects.size === 0) this.#store.delete(namespace);
    return old;
  }

  #emit(change: CacheChange): void {
    for (const handler of this.#handlers) handler(change);
  }

  async #run(): Promise<void> {
    const { initialMs, maxMs } = this.#options.backoff ?? { initialMs: 500, maxMs: 30_000 };
    let delay = initialMs;
    while (!this.#stopped) {
      try {
        if (this.#resourceVersion === '') await this.#relist();
        await this.#watchOnce();
        // The server ended the watch (its timeout): resume from where it stopped.
        delay = initialMs;
      } catch (err) {
        if (this.#stopped) break;
        this.#downSince ??= this.#now();
        const code = err instanceof OperatorError ? err.code : undefined;
        if (isStatus(err, 410) || code === 'ERR_WATCH_EXPIRED') {
          // The version is compacted away: only a fresh list is consistent again.
          this.#resourceVersion = '';
          this.#restart('expired', err);
          continue;
        }
        if (code === 'ERR_WATCH_STALLED') {
          this.#resourceVersion = '';
          this.#restart('stalled', err);
          continue;
        }
        this.#restart('error', err);
        await this.#sleep(delay);
        delay = Math.min(delay * 2, maxMs);
      }
    }
  }

  #restart(reason: RestartReason, err: unknown): void {
    this.#options.onRestart?.(reason);
    this.#options.log.warn('watch restarted', {
      resource: this.resource,
      reason,
      error: (err as Error).message,
    });
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#wake = (): void => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  async #relist(): Promise<void> {
    const fresh = new Map<string, KubeObject>();
    let next: string | undefined;
    let resourceVersion: string | undefined;
    do {
      const page = await this.#options.source.list({
        limit: this.#options.pageSize ?? 500,
        continue: next,
        signal: this.#stopping.signal,
      });
      for (const item of page.items) {
        const object = this.#transform(item);
        fresh.set(keyOf(object).join('/'), object);
      }
      next = page.metadata.continue === '' ? undefined : page.metadata.continue;
      resourceVersion = page.metadata.resourceVersion ?? '';
    } while (next !== undefined && !this.#stopped);

    // Replace the cache, telling handlers what changed while nobody was watching.
    const changes: CacheChange[] = [];
    for (const old of this.list()) {
      if (!fresh.has(keyOf(old).join('/'))) {
        this.#delete(...keyOf(old));
        changes.push({ type: 'delete', object: old });
      }
    }
    for (const object of fresh.values()) {
      const [namespace, name] = keyOf(object);
      const old = this.get(namespace, name);
      if (old?.metadata.resourceVersion === object.metadata.resourceVersion && old !== undefined)
        continue;
      this.#set(namespace, name, object);
      changes.push({ type: old === undefined ? 'add' : 'update', object, old });
    }
    this.#resourceVersion = resourceVersion ?? '';
    if (!this.#synced) {
      this.#synced = true;
      for (const resolve of this.#syncedWaiters.splice(0)) resolve();
    }
    for (const change of changes) this.#emit(change);
    this.#options.log.debug('listed', { resource: this.resource, objects: this.#size });
  }

  async #watchOnce(): Promise<void> {
    const controller = new AbortController();
    this.#watch = controller;
    let watchdog: NodeJS.Timeout | undefined;
    const feed = (): void => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => {
        controller.abort(
          new OperatorError(
            'ERR_WATCH_STALLED',
            504,
            `${this.resource}: watch silent for ${this.#options.watchdogMs} ms`,
          ),
        );
      }, this.#options.watchdogMs);
    };
    feed();
    try {
      await this.#options.source.watch(
        this.#resourceVersion,
        () => {
          this.#downSince = undefined;
          feed();
        },
        (event) => {
          feed();
          this.#apply(event);
        },
        controller.signal,
      );
    } catch (err) {
      // An abort surfaces as the library's own error; the reason is what matters.
      if (controller.signal.aborted) throw controller.signal.reason as Error;
      throw err;
    } finally {
      clearTimeout(watchdog);
      this.#watch = undefined;
    }
  }

  #apply(event: WatchEvent): void {
    const object = event.object;
    if (object.metadata.resourceVersion !== undefined) {
      this.#resourceVersion = object.metadata.resourceVersion;
    }
    if (event.type === 'BOOKMARK') return;
    const stored = this.#transform(object);
    const [namespace, name] = keyOf(stored);
    if (event.type === 'DELETED') {
      const old = this.#delete(namespace, name);
      if (old !== undefined) this.#emit({ type: 'delete', object: old });
      return;
    }
    const old = this.get(namespace, name);
    // Equal or older than what an own write already stored: nothing new.
    if (old !== undefined && !notOlder(stored, old)) return;
    if (old !== undefined && old.metadata.resourceVersion === stored.metadata.resourceVersion)
      return;
    this.#set(namespace, name, stored);
    this.#emit({ type: old === undefined ? 'add' : 'update', object: stored, old });
  }
}

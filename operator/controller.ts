// The operator composed in one place: informers fill the caches and queue the namespaces their
// changes touch; while this replica leads, workers take namespaces off the queue and reconcile
// them; metrics and readiness read it all.
import type { Registry } from 'prom-client';
import type { Logger } from '../common/log.ts';
import { allCaches, createCaches, type Caches } from './cache.ts';
import { systemClock, type Clock } from './clock.ts';
import { configMapRefNames, secretRefNames } from './compile/secrets.ts';
import { EventRecorder } from './events.ts';
import type { KubeClient } from './kube/client.ts';
import type { CacheChange } from './kube/informer.ts';
import { disabledChanged, onlyHealthChanged } from './health/index.ts';
import { LeaderElector, type LeaderElectionOptions } from './leader.ts';
import { createOperatorMetrics, writtenResource, type OperatorMetrics } from './metrics.ts';
import { CONFIG_MAP_NAME, OPT_IN_SELECTOR, SECRET_NAME } from './names.ts';
import { WorkQueue } from './queue.ts';
import { Reconciler } from './reconciler.ts';
import { SecretAccess } from './secret-access.ts';

/** Options for {@link Operator}. */
export interface OperatorOptions {
  readonly client: KubeClient;
  readonly log: Logger;
  readonly registry: Registry;
  /** Identifies this replica in the Lease and in Events. */
  readonly identity: string;
  readonly clock?: Clock;
  /** Watch and reconcile only these namespaces; undefined: all. */
  readonly namespaces?: readonly string[] | undefined;
  /** Namespaces reconciled at once. */
  readonly workers?: number;
  /** How long the server keeps a watch open; silence past it plus the grace trips the watchdog. */
  readonly watchTimeoutSeconds?: number;
  readonly watchdogGraceMs?: number;
  /** Every namespace is reconciled again this often, as a safety net. 0: never. */
  readonly resyncMs?: number;
  /** A watch down this long makes the replica not ready. */
  readonly maxWatchDownMs?: number;
  /** Leader election; undefined: this replica always reconciles (a single replica). */
  readonly leaderElection?: LeaderElectionOptions | undefined;
  /**
   * With every namespace reconciled: read Secrets only in opted-in namespaces, binding this
   * ClusterRole there for `serviceAccount`. Undefined: Secrets are read cluster-wide.
   */
  readonly secretAccess?:
    | {
        readonly role: string;
        readonly serviceAccount: { readonly namespace: string; readonly name: string };
        /** Label selector of opted-in namespaces (default: hookgate.io/injection=enabled). */
        readonly selector?: string;
        readonly retryMs?: number;
      }
    | undefined;
  /** Redis URL handed to the sidecars through each namespace's published Secret. */
  readonly sidecarRedisUrl?: string | undefined;
  /** Each namespace's sidecar admin token, published in its Secret (the console is on). */
  readonly sidecarAdminTokens?: ((namespace: string) => string) | undefined;
  readonly queueBackoff?: { readonly initialMs: number; readonly maxMs: number };
  /** Delays between attempts to list or watch again after an error. */
  readonly watchBackoff?: { readonly initialMs: number; readonly maxMs: number };
}

/** The running operator. */
export class Operator {
  readonly caches: Caches;
  readonly metrics: OperatorMetrics;
  #options: OperatorOptions;
  #log: Logger;
  #reconciler: Reconciler;
  #elector: LeaderElector | undefined;
  #queue: WorkQueue | undefined;
  #workers: Promise<void>[] = [];
  #resync: NodeJS.Timeout | undefined;
  #term = 0;
  #access: SecretAccess | undefined;
  #events: EventRecorder;

  constructor(options: OperatorOptions) {
    this.#options = options;
    this.#log = options.log;
    const clock = options.clock ?? systemClock;
    const watchTimeoutSeconds = options.watchTimeoutSeconds ?? 300;
    const watchdogGraceMs = options.watchdogGraceMs ?? 30_000;
    const optIn = options.namespaces === undefined ? options.secretAccess : undefined;
    const caches = createCaches(
      {
        client: options.client,
        log: options.log,
        namespaces: options.namespaces,
        watchTimeoutSeconds,
        watchdogGraceMs,
        ...(options.watchBackoff === undefined ? {} : { backoff: options.watchBackoff }),
        onRestart: (resource, reason) => this.metrics.watchRestarts.inc({ resource, reason }),
      },
      optIn === undefined ? options.namespaces : [],
    );
    this.caches = caches;
    if (optIn !== undefined) {
      this.#access = new SecretAccess({
        client: options.client,
        log: options.log,
        secrets: caches.secrets,
        caBundles: caches.caBundles,
        selector: optIn.selector ?? OPT_IN_SELECTOR,
        role: optIn.role,
        serviceAccount: optIn.serviceAccount,
        watchTimeoutSeconds,
        watchdogGraceMs,
        ...(options.watchBackoff === undefined ? {} : { backoff: options.watchBackoff }),
        ...(optIn.retryMs === undefined ? {} : { retryMs: optIn.retryMs }),
        onChange: (namespace) => this.#enqueue(namespace),
      });
    }
    this.metrics = createOperatorMetrics(options.registry, () =>
      Object.fromEntries(allCaches(caches).map((c) => [c.resource, c.size])),
    );
    options.client.observe((method, path, status) => {
      if (method !== 'GET' && status < 300)
        this.metrics.apiWrites.inc({ resource: writtenResource(path) });
    });
    this.#events = new EventRecorder(options.client, options.identity, clock, options.log);
    this.#reconciler = new Reconciler({
      caches,
      client: options.client,
      sidecarRedisUrl: options.sidecarRedisUrl,
      sidecarAdminTokens: options.sidecarAdminTokens,
      clock,
      log: options.log,
      events: this.#events,
    });
    // A health write (ADR 0024) leaves nothing to compile.
    caches.endpoints.onChange(
      (c) => onlyHealthChanged(c) || this.#enqueue(c.object.metadata.namespace),
    );
    // The health writer's own write of a Disabled mark (no change event: it stored the answer
    // itself) is the one health write the compile publishes.
    caches.endpoints.onOwnWrite(
      (c) => disabledChanged(c) && this.#enqueue(c.object.metadata.namespace),
    );
    caches.policies.onChange((c) => this.#enqueue(c.object.metadata.namespace));
    caches.configMaps.onChange((c) => this.#enqueue(c.object.metadata.namespace));
    caches.secrets.onChange((c) => this.#onSecret(c));
    caches.caBundles.onChange((c) => this.#onCaBundle(c));
    if (options.leaderElection !== undefined) {
      this.#elector = new LeaderElector(
        options.client,
        options.leaderElection,
        clock,
        options.log,
        {
          onStartedLeading: () => this.#startLeading(),
          onStoppedLeading: () => this.#stopLeading(),
        },
      );
    }
  }

  /** Starts the informers, then reconciling once this replica leads. */
  async start(): Promise<void> {
    for (const cache of allCaches(this.caches)) cache.start();
    await Promise.all([
      ...allCaches(this.caches).map((c) => c.whenSynced()),
      this.#access?.start(),
    ]);
    this.#log.info('caches synced', {
      endpoints: this.caches.endpoints.size,
      policies: this.caches.policies.size,
      secrets: this.caches.secrets.size,
      configMaps: this.caches.configMaps.size,
      caBundles: this.caches.caBundles.size,
    });
    // Only after every cache is listed: an empty Secret cache would refuse every endpoint.
    if (this.#elector === undefined) this.#startLeading();
    else this.#elector.start();
  }

  /** Stops reconciling and watching; `release` hands the lease over at once. */
  async stop(release = true): Promise<void> {
    if (this.#elector !== undefined) await this.#elector.stop(release);
    else this.#stopLeading();
    await Promise.all(this.#workers);
    await this.#events.drain();
    await this.#access?.stop();
    await Promise.all(allCaches(this.caches).map((c) => c.stop()));
  }

  /** True while this replica reconciles. */
  get isLeader(): boolean {
    return this.#queue !== undefined;
  }

  /** Why this replica is not ready, or undefined: every cache listed and watched. */
  readiness(): string | undefined {
    const maxDownMs = this.#options.maxWatchDownMs ?? 60_000;
    for (const cache of allCaches(this.caches)) {
      // Opt-in Secret informers are per namespace: one still refused (its binding not yet
      // effective) holds back that namespace's reconcile, not the replica's readiness.
      const perNamespace = cache === this.caches.secrets || cache === this.caches.caBundles;
      if (this.#access !== undefined && perNamespace) continue;
      const reason = cache.unhealthy(maxDownMs);
      if (reason !== undefined) return reason;
    }
    return this.#access?.unhealthy(maxDownMs);
  }

  /** True when this replica leads and has nothing queued or in progress, Events included. */
  get idle(): boolean {
    return (this.#queue?.idle ?? false) && this.#events.pending === 0;
  }

  #enqueue(namespace: string | undefined): void {
    if (namespace !== undefined) this.#queue?.add(namespace);
  }

  #onSecret(change: CacheChange): void {
    const { name, namespace } = change.object.metadata;
    if (namespace === undefined || this.#queue === undefined) return;
    // Only Secrets that matter: the published one (drift) and those a resource references.
    const referenced =
      name === SECRET_NAME ||
      [...this.caches.endpoints.list(namespace), ...this.caches.policies.list(namespace)].some(
        (o) => secretRefNames(o['spec']).has(name),
      );
    if (referenced) this.#queue.add(namespace);
  }

  #onCaBundle(change: CacheChange): void {
    const { name, namespace } = change.object.metadata;
    if (namespace === undefined || this.#queue === undefined) return;
    // Only ConfigMaps an endpoint names as its CA bundle; every other change is no news.
    const referenced = this.caches.endpoints
      .list(namespace)
      .some((o) => configMapRefNames(o['spec']).has(name));
    if (referenced) this.#queue.add(namespace);
  }

  #namespaces(): string[] {
    return [
      ...new Set([
        ...this.caches.endpoints.namespaces(),
        ...this.caches.policies.namespaces(),
        ...this.caches.configMaps
          .namespaces()
          .filter((ns) => this.caches.configMaps.get(ns, CONFIG_MAP_NAME)),
      ]),
    ].sort();
  }

  #startLeading(): void {
    const term = ++this.#term;
    const queue = new WorkQueue({
      ...(this.#options.queueBackoff === undefined
        ? {}
        : {
            initialBackoffMs: this.#options.queueBackoff.initialMs,
            maxBackoffMs: this.#options.queueBackoff.maxMs,
          }),
      onDepth: (depth) => this.metrics.queueDepth.set(depth),
    });
    this.#queue = queue;
    this.metrics.leader.set(1);
    this.#access?.startLeading();
    for (const namespace of this.#namespaces()) queue.add(namespace);
    const workers = this.#options.workers ?? 2;
    this.#workers = Array.from({ length: workers }, () => this.#work(queue));
    const resyncMs = this.#options.resyncMs ?? 10 * 60_000;
    if (resyncMs > 0) {
      this.#resync = setInterval(() => {
        if (this.#term === term) for (const namespace of this.#namespaces()) queue.add(namespace);
      }, resyncMs);
      this.#resync.unref();
    }
    this.#log.info('reconciling', { namespaces: this.#namespaces().length, workers });
  }

  #stopLeading(): void {
    this.#term++;
    this.#access?.stopLeading();
    clearInterval(this.#resync);
    this.#queue?.shutDown();
    this.#queue = undefined;
    this.metrics.leader.set(0);
    this.metrics.queueDepth.set(0);
  }

  async #work(queue: WorkQueue): Promise<void> {
    for (;;) {
      const namespace = await queue.get();
      if (namespace === undefined) return;
      const access = this.#access;
      if (access !== undefined && access.optedIn(namespace) && !access.ready(namespace)) {
        // Its Secrets not listed yet (the binding may not be effective): reconciled once they
        // are (onChange), never with an empty Secret cache that would refuse every endpoint.
        queue.done(namespace, false);
        continue;
      }
      const end = this.metrics.reconcileSeconds.startTimer();
      let failed = false;
      try {
        const result =
          access === undefined || access.optedIn(namespace)
            ? await this.#reconciler.reconcile(namespace)
            : await this.#reconciler.notEnabled(namespace);
        this.metrics.reconciles.inc({ result });
      } catch (err) {
        failed = true;
        this.metrics.reconciles.inc({ result: 'error' });
        this.#log.warn('reconcile failed', {
          namespace,
          failures: queue.failures(namespace) + 1,
          code: (err as { code?: string }).code,
          error: (err as Error).message,
        });
      } finally {
        end();
        queue.done(namespace, failed);
      }
    }
  }
}

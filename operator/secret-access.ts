// Least-privilege Secret access when every namespace is reconciled: the operator reads and
// writes Secrets only in namespaces labelled hookgate.io/injection=enabled. It watches those
// namespaces; for each, the leader creates a RoleBinding to the chart's Secret ClusterRole (the
// operator holds `bind` on exactly that role; it also grants reading ConfigMaps, for CA bundles)
// and every replica starts a Secret informer and a CA ConfigMap informer scoped to it. On opt-out
// the informers stop and the leader deletes the binding. See ADR 0012 and ADR 0021.
import type { Logger } from '../common/log.ts';
import type { ResourceCache } from './cache.ts';
import { isStatus } from './errors.ts';
import type { KubeClient } from './kube/client.ts';
import { Informer, apiListerWatcher } from './kube/informer.ts';
import type { KubeObject } from './kube/types.ts';
import { MANAGED_BY_LABEL, MANAGED_BY_VALUE } from './names.ts';

const RBAC = '/apis/rbac.authorization.k8s.io/v1';

/** Options for {@link SecretAccess}. */
export interface SecretAccessOptions {
  readonly client: KubeClient;
  readonly log: Logger;
  /** The per-namespace Secret cache this grows and shrinks. */
  readonly secrets: ResourceCache;
  /** The per-namespace CA ConfigMap cache, grown and shrunk with it (same role, same binding). */
  readonly caBundles: ResourceCache;
  /** Label selector of opted-in namespaces. */
  readonly selector: string;
  /** The ClusterRole bound in each opted-in namespace; the RoleBinding has the same name. */
  readonly role: string;
  /** The operator's ServiceAccount, the binding's subject. */
  readonly serviceAccount: { readonly namespace: string; readonly name: string };
  readonly watchTimeoutSeconds: number;
  readonly watchdogGraceMs: number;
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number };
  /** Delay before a failed binding write is tried again. */
  readonly retryMs?: number;
  /** Called when a namespace's Secrets are listed or it opted out: reconcile it again. */
  readonly onChange: (namespace: string) => void;
}

/** Which namespaces the operator may read Secrets in, and the RoleBindings that grant it. */
export class SecretAccess {
  #options: SecretAccessOptions;
  #namespaces: Informer;
  #leading = false;
  #retries = new Map<string, NodeJS.Timeout>();

  constructor(options: SecretAccessOptions) {
    this.#options = options;
    this.#namespaces = new Informer({
      resource: 'namespaces',
      log: options.log,
      source: apiListerWatcher(options.client, '/api/v1/namespaces', {
        labelSelector: options.selector,
        timeoutSeconds: options.watchTimeoutSeconds,
      }),
      // Only the name is read.
      transform: (o) => ({ metadata: { name: o.metadata.name } }),
      watchdogMs: options.watchTimeoutSeconds * 1000 + options.watchdogGraceMs,
      ...(options.backoff === undefined ? {} : { backoff: options.backoff }),
    });
    // A namespace that loses the label leaves a label-selected watch as a deletion.
    this.#namespaces.onChange((change) => {
      const name = change.object.metadata.name;
      if (change.type === 'delete') void this.#optOut(name);
      else if (change.type === 'add') this.#optIn(name);
    });
  }

  /** Starts watching namespaces; resolves once they are listed. */
  async start(): Promise<void> {
    this.#namespaces.start();
    await this.#namespaces.whenSynced();
  }

  async stop(): Promise<void> {
    this.stopLeading();
    await this.#namespaces.stop();
  }

  /** Why the namespace watch is not current, or undefined. */
  unhealthy(maxDownMs: number): string | undefined {
    return this.#namespaces.unhealthy(maxDownMs);
  }

  /** True when `namespace` opted in. */
  optedIn(namespace: string): boolean {
    return this.#namespaces.get('', namespace) !== undefined;
  }

  /** True when `namespace` opted in and its Secrets and CA ConfigMaps are listed. */
  ready(namespace: string): boolean {
    const { secrets, caBundles } = this.#options;
    return this.optedIn(namespace) && secrets.synced(namespace) && caBundles.synced(namespace);
  }

  /** The leader writes the bindings: every opted-in namespace gets one, stale ones go. */
  startLeading(): void {
    this.#leading = true;
    for (const { metadata } of this.#namespaces.list()) void this.#bind(metadata.name);
    void this.#collect();
  }

  stopLeading(): void {
    this.#leading = false;
    for (const timer of this.#retries.values()) clearTimeout(timer);
    this.#retries.clear();
  }

  #optIn(namespace: string): void {
    const { secrets, caBundles } = this.#options;
    const started = [secrets.addNamespace(namespace), caBundles.addNamespace(namespace)].filter(
      (listing): listing is Promise<void> => listing !== undefined,
    );
    const listed = started.length === 0 ? undefined : Promise.all(started);
    // Until the binding is effective the informers are refused (403) and retry with backoff.
    void listed?.then(() => {
      if (this.optedIn(namespace)) this.#options.onChange(namespace);
    });
    if (this.#leading) void this.#bind(namespace);
  }

  async #optOut(namespace: string): Promise<void> {
    clearTimeout(this.#retries.get(namespace));
    this.#retries.delete(namespace);
    await this.#options.secrets.removeNamespace(namespace);
    await this.#options.caBundles.removeNamespace(namespace);
    this.#options.onChange(namespace);
    if (this.#leading) await this.#unbind(namespace);
  }

  #retry(namespace: string, write: () => Promise<void>): void {
    if (!this.#leading || this.#retries.has(namespace)) return;
    const timer = setTimeout(() => {
      this.#retries.delete(namespace);
      void write();
    }, this.#options.retryMs ?? 5_000);
    timer.unref();
    this.#retries.set(namespace, timer);
  }

  async #bind(namespace: string): Promise<void> {
    const { client, log, role, serviceAccount } = this.#options;
    if (!this.#leading || !this.optedIn(namespace)) return;
    const binding: KubeObject = {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: role, namespace, labels: { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE } },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
      subjects: [{ kind: 'ServiceAccount', ...serviceAccount }],
    };
    try {
      await client.request('POST', `${RBAC}/namespaces/${namespace}/rolebindings`, {
        body: binding,
      });
      log.info('secret access granted', { namespace, roleBinding: role });
    } catch (err) {
      if (isStatus(err, 409)) return;
      log.warn('secret access not granted', { namespace, error: (err as Error).message });
      this.#retry(namespace, () => this.#bind(namespace));
    }
  }

  async #unbind(namespace: string): Promise<void> {
    const { client, log, role } = this.#options;
    if (this.optedIn(namespace)) return;
    try {
      await client.request('DELETE', `${RBAC}/namespaces/${namespace}/rolebindings/${role}`);
      log.info('secret access revoked', { namespace, roleBinding: role });
    } catch (err) {
      if (isStatus(err, 404)) return;
      log.warn('secret access not revoked', { namespace, error: (err as Error).message });
      this.#retry(namespace, () => this.#unbind(namespace));
    }
  }

  /** Deletes the operator's bindings in namespaces that opted out while no replica led. */
  async #collect(): Promise<void> {
    const { client, log, role } = this.#options;
    try {
      const list = await client.request<{ items: KubeObject[] }>('GET', `${RBAC}/rolebindings`, {
        query: {
          fieldSelector: `metadata.name=${role}`,
          labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`,
          limit: '1000',
        },
      });
      for (const binding of list.items) {
        const namespace = binding.metadata.namespace;
        if (namespace !== undefined && !this.optedIn(namespace)) await this.#unbind(namespace);
      }
    } catch (err) {
      log.warn('stale secret access not collected', { error: (err as Error).message });
    }
  }
}

// Leader election on a coordination.k8s.io Lease, the client-go way: the holder renews every
// retry period; others take over once the lease has gone unrenewed for its duration, measured on
// their own clock from when they last saw it change (so clock skew between nodes does not
// matter); a holder that cannot renew within the renew deadline steps down before anyone else
// may take over; a clean stop hands the lease back at once.
import type { Logger } from '../common/log.ts';
import { microTime, type Clock } from './clock.ts';
import { isStatus } from './errors.ts';
import type { KubeClient } from './kube/client.ts';

/** Options for {@link LeaderElector}. */
export interface LeaderElectionOptions {
  readonly namespace: string;
  readonly name: string;
  /** Unique per replica: pod name plus a random suffix. */
  readonly identity: string;
  readonly leaseDurationMs?: number;
  readonly renewDeadlineMs?: number;
  readonly retryPeriodMs?: number;
}

/** What the elector tells its owner. */
export interface LeaderCallbacks {
  onStartedLeading(): void;
  /** Called after leadership is lost or given up; the owner must stop writing. */
  onStoppedLeading(): void;
}

interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

interface Lease {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: LeaseSpec;
}

/** Competes for one Lease and reports leadership changes. */
export class LeaderElector {
  #client: KubeClient;
  #options: Required<LeaderElectionOptions>;
  #clock: Clock;
  #log: Logger;
  #callbacks: LeaderCallbacks;
  #leader = false;
  #stopped = false;
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;
  /** The lease as last seen, and when (our clock) it last changed. */
  #observed: { record: string; at: number } | undefined;
  #lastRenew = 0;

  constructor(
    client: KubeClient,
    options: LeaderElectionOptions,
    clock: Clock,
    log: Logger,
    callbacks: LeaderCallbacks,
  ) {
    this.#client = client;
    this.#options = {
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      ...options,
    };
    if (this.#options.renewDeadlineMs >= this.#options.leaseDurationMs) {
      throw new Error('the renew deadline must be shorter than the lease duration');
    }
    this.#clock = clock;
    this.#log = log.child({ lease: `${options.namespace}/${options.name}` });
    this.#callbacks = callbacks;
  }

  /** True while this replica holds the lease. */
  get isLeader(): boolean {
    return this.#leader;
  }

  /** Starts competing in the background. */
  start(): void {
    this.#loop ??= this.#run();
  }

  /** Stops competing; `release` hands the lease over at once instead of letting it expire. */
  async stop(release: boolean): Promise<void> {
    this.#stopped = true;
    this.#wake?.();
    await this.#loop;
    if (this.#leader) {
      this.#leader = false;
      this.#callbacks.onStoppedLeading();
      if (release) await this.#release();
    }
  }

  get #path(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${this.#options.namespace}/leases`;
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      let outcome: 'held' | 'other' | 'failed' = 'failed';
      try {
        outcome = await this.#tryAcquireOrRenew();
      } catch (err) {
        this.#log.warn('lease request failed', { error: (err as Error).message });
      }
      if (this.#stopped) break;
      const now = this.#clock.now().getTime();
      if (outcome === 'held') {
        this.#lastRenew = now;
        if (!this.#leader) {
          this.#leader = true;
          this.#log.info('became leader', { identity: this.#options.identity });
          this.#callbacks.onStartedLeading();
        }
      } else if (
        this.#leader &&
        (outcome === 'other' || now - this.#lastRenew > this.#options.renewDeadlineMs)
      ) {
        // Step down when another holds the lease, or before it can expire for the others when
        // renewing keeps failing: two leaders must never overlap.
        this.#leader = false;
        this.#log.warn('lost leadership', { identity: this.#options.identity });
        this.#callbacks.onStoppedLeading();
      }
      await this.#sleep(this.#options.retryPeriodMs);
    }
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

  #spec(previous: LeaseSpec | undefined, now: Date): LeaseSpec {
    const mine = previous?.holderIdentity === this.#options.identity;
    return {
      holderIdentity: this.#options.identity,
      leaseDurationSeconds: Math.ceil(this.#options.leaseDurationMs / 1000),
      acquireTime:
        mine && previous?.acquireTime !== undefined ? previous.acquireTime : microTime(now),
      renewTime: microTime(now),
      // As client-go counts: every change of holder after the Lease was created.
      leaseTransitions:
        previous === undefined
          ? 0
          : mine
            ? (previous.leaseTransitions ?? 0)
            : (previous.leaseTransitions ?? 0) + 1,
    };
  }

  /** 'held': this replica holds the lease now; 'other': another one does; 'failed': unknown. */
  async #tryAcquireOrRenew(): Promise<'held' | 'other' | 'failed'> {
    const now = this.#clock.now();
    const { name, namespace, identity } = this.#options;
    let lease: Lease;
    try {
      lease = await this.#client.request<Lease>('GET', `${this.#path}/${name}`);
    } catch (err) {
      if (!isStatus(err, 404)) throw err;
      try {
        await this.#client.request('POST', this.#path, {
          body: {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name, namespace },
            spec: this.#spec(undefined, now),
          },
        });
        return 'held';
      } catch (createErr) {
        if (isStatus(createErr, 409)) return 'other';
        throw createErr;
      }
    }

    const record = JSON.stringify([lease.spec.holderIdentity, lease.spec.renewTime]);
    if (this.#observed?.record !== record) this.#observed = { record, at: now.getTime() };
    const holder = lease.spec.holderIdentity;
    const durationMs = (lease.spec.leaseDurationSeconds ?? 0) * 1000;
    if (
      holder !== undefined &&
      holder !== '' &&
      holder !== identity &&
      this.#observed.at + durationMs > now.getTime()
    ) {
      return 'other';
    }
    try {
      const updated = await this.#client.request<Lease>('PUT', `${this.#path}/${name}`, {
        body: { ...lease, spec: this.#spec(lease.spec, now) },
      });
      this.#observed = {
        record: JSON.stringify([updated.spec.holderIdentity, updated.spec.renewTime]),
        at: now.getTime(),
      };
      if (holder !== identity) {
        this.#log.info('acquired lease', { previousHolder: holder ?? '' });
      }
      return 'held';
    } catch (err) {
      // Someone wrote in between: look again next period (a renew keeps trying to the deadline).
      if (isStatus(err, 409)) return 'failed';
      throw err;
    }
  }

  async #release(): Promise<void> {
    try {
      const lease = await this.#client.request<Lease>('GET', `${this.#path}/${this.#options.name}`);
      if (lease.spec.holderIdentity !== this.#options.identity) return;
      const now = this.#clock.now();
      await this.#client.request('PUT', `${this.#path}/${this.#options.name}`, {
        body: {
          ...lease,
          spec: {
            leaseDurationSeconds: 1,
            renewTime: microTime(now),
            acquireTime: microTime(now),
            leaseTransitions: lease.spec.leaseTransitions ?? 0,
          },
        },
      });
      this.#log.info('released lease');
    } catch (err) {
      this.#log.warn('lease release failed', { error: (err as Error).message });
    }
  }
}

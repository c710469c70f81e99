// The replica wait before a 202 (ADR 0017): Redis replicates asynchronously, so a delivery the
// primary alone stored is lost if a replica that never received it is promoted. `WAIT n timeout`
// on the connection that wrote it blocks until n replicas acknowledged every write that connection
// made so far. WAIT blocks the connection, so waits are grouped: one WAIT in flight covers every
// enqueue that finished before it was sent; enqueues finishing meanwhile share the next one.
import type { RedisClient, ReplicaWaitSettings } from '../redis-connect.ts';
import { SidecarError } from '../errors.ts';

/** Fewer replicas than asked acknowledged in time: the delivery is on the primary only. */
export class ReplicaWaitError extends SidecarError<'ERR_QUEUE_REPLICA_WAIT'> {
  constructor(acknowledged: number, wanted: number, timeoutMs: number) {
    super(
      'ERR_QUEUE_REPLICA_WAIT',
      503,
      `${acknowledged} of ${wanted} Redis replicas acknowledged the delivery within ${timeoutMs} ms`,
    );
    this.name = 'ReplicaWaitError';
  }
}

/** Groups `WAIT` calls on the primary that holds `key`'s slot. */
export class ReplicaWait {
  readonly #redis: RedisClient;
  readonly #key: string;
  readonly #settings: ReplicaWaitSettings;
  /** The WAIT on the wire, if any. */
  #inFlight: Promise<number> | undefined;
  /** The WAIT that will be sent when the one in flight returns; covers writes done since. */
  #next: Promise<number> | undefined;

  /** `key`: any key of the slot written (a pipeline with it goes to that slot's primary). */
  constructor(redis: RedisClient, key: string, settings: ReplicaWaitSettings) {
    this.#redis = redis;
    this.#key = key;
    this.#settings = settings;
  }

  /** Resolves once the writes this connection made so far are on enough replicas; else throws. */
  async afterWrite(): Promise<void> {
    const acknowledged = await this.#join();
    const { replicas, timeoutMs } = this.#settings;
    if (acknowledged < replicas) throw new ReplicaWaitError(acknowledged, replicas, timeoutMs);
  }

  #join(): Promise<number> {
    // A WAIT already on the wire may have been sent before our write finished: wait for the next.
    if (this.#inFlight === undefined) return this.#send();
    this.#next ??= this.#inFlight
      .catch(() => 0)
      .then(() => {
        this.#next = undefined;
        return this.#send();
      });
    return this.#next;
  }

  #send(): Promise<number> {
    const { replicas, timeoutMs } = this.#settings;
    // In a pipeline with a command on the key, WAIT goes to the connection of that slot's
    // primary: the connection that wrote the delivery (one connection per node in ioredis).
    const sent = this.#redis
      .pipeline()
      .exists(this.#key)
      .wait(replicas, timeoutMs)
      .exec()
      .then((results) => {
        const [, waited] = results ?? [];
        if (waited === undefined) throw new Error('WAIT got no reply');
        if (waited[0] !== null) throw waited[0];
        return Number(waited[1]);
      });
    this.#inFlight = sent;
    void sent
      .catch(() => undefined)
      .then(() => {
        if (this.#inFlight === sent) this.#inFlight = undefined;
      });
    return sent;
  }
}

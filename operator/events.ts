// Kubernetes Events (events.k8s.io/v1) for condition transitions, so `kubectl describe` and event
// exporters show what changed and why. Best effort: a lost Event never fails a reconcile, and the
// reconciler never waits for one — `emit` queues it (bounded, a few in flight) so a burst of
// transitions costs the status writes their own round trips only.
import { randomBytes } from 'node:crypto';
import type { Logger } from '../common/log.ts';
import { microTime, type Clock } from './clock.ts';
import { EVENT_CONTROLLER } from './names.ts';
import type { KubeClient } from './kube/client.ts';
import type { KubeObject } from './kube/types.ts';

/** Normal or Warning, as Kubernetes spells them. */
export type EventType = 'Normal' | 'Warning';

/** Limit of an Event's note. */
const MAX_NOTE = 1024;

/** Options for the background queue of {@link EventRecorder.emit}. */
export interface EventQueueOptions {
  /** Events sent at once. */
  readonly concurrency?: number;
  /** Events waiting at most; past it new ones are dropped (logged and counted). */
  readonly maxPending?: number;
  /** Called per Event dropped for a full queue. */
  readonly onDropped?: () => void;
}

interface QueuedEvent {
  readonly regarding: KubeObject;
  readonly type: EventType;
  readonly reason: string;
  readonly note: string;
  readonly action: string;
}

/** Writes Events about hookgate.io objects. */
export class EventRecorder {
  #client: KubeClient;
  #instance: string;
  #clock: Clock;
  #log: Logger;
  #queue: QueuedEvent[] = [];
  #inFlight = 0;
  #concurrency: number;
  #maxPending: number;
  #onDropped: () => void;
  #drained: (() => void)[] = [];

  /** `instance` identifies this replica (`reportingInstance`). */
  constructor(
    client: KubeClient,
    instance: string,
    clock: Clock,
    log: Logger,
    queue: EventQueueOptions = {},
  ) {
    this.#client = client;
    this.#instance = instance;
    this.#clock = clock;
    this.#log = log;
    this.#concurrency = queue.concurrency ?? 4;
    this.#maxPending = queue.maxPending ?? 10_000;
    this.#onDropped = queue.onDropped ?? ((): void => undefined);
  }

  /** Events queued or being sent. */
  get pending(): number {
    return this.#queue.length + this.#inFlight;
  }

  /**
   * Queues one Event about `regarding` and returns at once; it is sent in the background, in
   * the order queued. A full queue drops it: Events are best effort, status is the record.
   */
  emit(regarding: KubeObject, type: EventType, reason: string, note: string, action: string): void {
    if (this.#queue.length >= this.#maxPending) {
      this.#onDropped();
      this.#log.warn('event dropped: queue full', {
        namespace: regarding.metadata.namespace,
        name: regarding.metadata.name,
        reason,
        pending: this.#queue.length,
      });
      return;
    }
    this.#queue.push({ regarding, type, reason, note, action });
    this.#pump();
  }

  /** Resolves once every queued Event has been sent (or failed). */
  drain(): Promise<void> {
    if (this.pending === 0) return Promise.resolve();
    return new Promise((resolve) => this.#drained.push(resolve));
  }

  #pump(): void {
    while (this.#inFlight < this.#concurrency && this.#queue.length > 0) {
      const e = this.#queue.shift()!;
      this.#inFlight++;
      void this.record(e.regarding, e.type, e.reason, e.note, e.action).finally(() => {
        this.#inFlight--;
        this.#pump();
        if (this.pending === 0) for (const resolve of this.#drained.splice(0)) resolve();
      });
    }
  }

  /** Records one Event about `regarding`; resolves whether or not it was stored. */
  async record(
    regarding: KubeObject,
    type: EventType,
    reason: string,
    note: string,
    action: string,
  ): Promise<boolean> {
    const { name, namespace, uid, resourceVersion } = regarding.metadata;
    const now = this.#clock.now();
    const event = {
      apiVersion: 'events.k8s.io/v1',
      kind: 'Event',
      metadata: {
        name: `${name.slice(0, 200)}.${now.getTime().toString(16)}${randomBytes(4).toString('hex')}`,
        namespace,
      },
      eventTime: microTime(now),
      reportingController: EVENT_CONTROLLER,
      reportingInstance: this.#instance,
      action,
      reason,
      type,
      note: note.length > MAX_NOTE ? `${note.slice(0, MAX_NOTE - 1)}…` : note,
      regarding: {
        apiVersion: regarding.apiVersion,
        kind: regarding.kind,
        name,
        namespace,
        uid,
        resourceVersion,
      },
    };
    try {
      await this.#client.request('POST', `/apis/events.k8s.io/v1/namespaces/${namespace}/events`, {
        body: event,
      });
      return true;
    } catch (err) {
      this.#log.warn('event not recorded', {
        namespace,
        name,
        kind: regarding.kind,
        reason,
        error: (err as Error).message,
      });
      return false;
    }
  }
}

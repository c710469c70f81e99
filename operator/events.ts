// Kubernetes Events (events.k8s.io/v1) for condition transitions, so `kubectl describe` and event
// exporters show what changed and why. Best effort: a lost Event never fails a reconcile.
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

/** Writes Events about hookgate.io objects. */
export class EventRecorder {
  #client: KubeClient;
  #instance: string;
  #clock: Clock;
  #log: Logger;

  /** `instance` identifies this replica (`reportingInstance`). */
  constructor(client: KubeClient, instance: string, clock: Clock, log: Logger) {
    this.#client = client;
    this.#instance = instance;
    this.#clock = clock;
    this.#log = log;
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

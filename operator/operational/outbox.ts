// Operational webhooks, the operator's half (ADR 0025). The leader's health writer announces each
// transition it sees (an endpoint disabled or enabled, a circuit opened or closed, dead letters
// arriving); the outbox turns it into one delivery per subscribing endpoint of the namespace
// (`spec.operationalEvents`) and offers those to the next sidecar that reports having the
// subscriber in its config, in the answer to its report. The sidecar queues them as ordinary async
// deliveries and names them in its next report, which lets them go here. Offered but never
// acknowledged (the pod died, the answer was lost) means offered again after a lease, to any pod:
// at least once while this leader lives, a stable webhook-id for the receiver to drop copies.
import { randomBytes } from 'node:crypto';
import type { SidecarHealthReport } from '../../common/health.ts';
import type { Logger } from '../../common/log.ts';
import {
  MAX_OPERATIONAL_PER_REPLY,
  type OperationalDelivery,
  type OperationalEventType,
} from '../../common/operational.ts';
import type { ResourceCache } from '../cache.ts';
import type { Clock } from '../clock.ts';
import { metaTime } from '../clock.ts';
import type { PodIdentity } from '../config-server/auth.ts';
import type { KubeObject } from '../kube/types.ts';

/** Where the health writer announces transitions; the outbox implements it. */
export interface OperationalEvents {
  /** One event about `subject` (a WebhookEndpoint); `data` is added to its identity. */
  emit(subject: KubeObject, type: OperationalEventType, data: Record<string, unknown>): void;
}

/** Options for {@link OperationalOutbox}. */
export interface OutboxOptions {
  readonly endpoints: Pick<ResourceCache, 'list'>;
  readonly clock: Clock;
  readonly log: Logger;
  /** How long an offered delivery waits for its acknowledgement before it is offered again. */
  readonly leaseMs?: number;
  /** Deliveries kept per namespace at most; past it the oldest are dropped (and logged). */
  readonly maxPerNamespace?: number;
}

interface Pending {
  readonly delivery: OperationalDelivery;
  offeredAt?: number;
}

/** Subscribing endpoints of `namespace` for `type`. */
function subscribers(
  endpoints: Pick<ResourceCache, 'list'>,
  namespace: string,
  type: OperationalEventType,
): KubeObject[] {
  return endpoints.list(namespace).filter((o) => {
    const spec = o['spec'] as { direction?: unknown; operationalEvents?: unknown } | undefined;
    return (
      o.metadata.deletionTimestamp === undefined &&
      spec?.direction === 'Egress' &&
      Array.isArray(spec.operationalEvents) &&
      spec.operationalEvents.includes(type)
    );
  });
}

/** The leader's operational webhooks, waiting to be handed to a sidecar. */
export class OperationalOutbox implements OperationalEvents {
  readonly #o: OutboxOptions;
  /** Namespace → delivery id → pending delivery, in order of emission. */
  readonly #pending = new Map<string, Map<string, Pending>>();

  constructor(options: OutboxOptions) {
    this.#o = options;
  }

  /** Deliveries waiting (offered or not), all namespaces. */
  get size(): number {
    let n = 0;
    for (const m of this.#pending.values()) n += m.size;
    return n;
  }

  emit(subject: KubeObject, type: OperationalEventType, data: Record<string, unknown>): void {
    const namespace = subject.metadata.namespace ?? '';
    const targets = subscribers(this.#o.endpoints, namespace, type);
    if (targets.length === 0) return;
    const now = this.#o.clock.now();
    const body = JSON.stringify({
      type,
      timestamp: metaTime(now),
      data: {
        namespace,
        endpoint: subject.metadata.name,
        uid: subject.metadata.uid,
        generation: subject.metadata.generation,
        ...data,
      },
    });
    let queue = this.#pending.get(namespace);
    if (queue === undefined) this.#pending.set(namespace, (queue = new Map<string, Pending>()));
    for (const target of targets) {
      // Kept with the delivery, so every hand-off of it carries the same webhook-id.
      const deliveryId = `hgo_${randomBytes(16).toString('hex')}`;
      queue.set(deliveryId, {
        delivery: { deliveryId, endpoint: target.metadata.name, type, body },
      });
    }
    const max = this.#o.maxPerNamespace ?? 1000;
    for (const id of queue.keys()) {
      if (queue.size <= max) break;
      queue.delete(id);
      this.#o.log.warn('operational webhook dropped: too many waiting for a sidecar', {
        namespace,
        max,
      });
    }
  }

  /**
   * What to hand `pod` in the answer to `report`: lets go of what it queued, then offers the
   * deliveries whose subscriber it has in its config and no other pod holds on lease.
   */
  take(pod: PodIdentity, report: SidecarHealthReport): OperationalDelivery[] {
    const queue = this.#pending.get(pod.namespace);
    if (queue === undefined) return [];
    for (const id of report.operationalQueued ?? []) queue.delete(id);
    const has = new Set(report.endpoints.map((e) => e.endpoint));
    const now = this.#o.clock.now().getTime();
    const lease = this.#o.leaseMs ?? 30_000;
    const offer: OperationalDelivery[] = [];
    for (const p of queue.values()) {
      if (offer.length >= MAX_OPERATIONAL_PER_REPLY) break;
      if (!has.has(`${pod.namespace}/${p.delivery.endpoint}`)) continue;
      if (p.offeredAt !== undefined && now - p.offeredAt < lease) continue;
      p.offeredAt = now;
      offer.push(p.delivery);
    }
    if (queue.size === 0) this.#pending.delete(pod.namespace);
    return offer;
  }

  /** Forgets everything: this replica stopped leading (the next leader starts empty). */
  clear(): void {
    this.#pending.clear();
  }
}

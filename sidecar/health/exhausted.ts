// `hookgate.delivery.attempts_exhausted` (ADR 0025): the operational event a sidecar sends itself,
// one per async delivery it dead-letters, to every endpoint of its config that subscribes — as an
// ordinary async delivery, so it is signed, retried and queued like any webhook. The operator's
// `hookgate.delivery.dead_lettered` says "dead letters are arriving" once per burst; this one
// names each delivery, so a platform team can inspect and replay it.
import { createHash } from 'node:crypto';
import type { Logger } from '../../common/log.ts';
import { OPERATIONAL_EVENT_TYPE_HEADER } from '../../common/operational.ts';
import type { LoadedConfig } from '../config/load.ts';
import type { DeliveryEnd, DeliveryObserver } from '../delivery/observe.ts';
import type { EgressRuntime } from '../delivery/runtime.ts';
import type { AcceptAsync } from '../queue/index.ts';
import { INGRESS_PREFIX } from '../queue/ingress.ts';

/** The event type this observer sends. */
export const ATTEMPTS_EXHAUSTED = 'hookgate.delivery.attempts_exhausted';

/** What the notifier reads when a delivery dies: all of it as of that moment. */
export interface ExhaustedNotifierDeps {
  readonly config: () => LoadedConfig;
  /** The egress runtime once the egress server runs, else undefined. */
  readonly runtime: () => EgressRuntime | undefined;
  /** The queue's accept path, or undefined without a queue. */
  readonly accept: () => AcceptAsync | undefined;
  readonly log: Logger;
}

/** The `webhook-id` of the event about `deliveryId` for `subscriber`: the same on every pod. */
export function exhaustedEventId(deliveryId: string, subscriber: string): string {
  const digest = createHash('sha256')
    .update(`${ATTEMPTS_EXHAUSTED}\0${deliveryId}\0${subscriber}`)
    .digest('hex');
  return `hgo_${digest.slice(0, 32)}`;
}

/** Sends `hookgate.delivery.attempts_exhausted` for each dead-lettered delivery. */
export function exhaustedNotifier(deps: ExhaustedNotifierDeps): DeliveryObserver {
  return {
    onDeliveryEnd(end: DeliveryEnd): void {
      if (end.outcome !== 'dead') return;
      const { delivery } = end;
      // An operational event that died tells nobody: no event about an event, no loop.
      if (delivery.headers[OPERATIONAL_EVENT_TYPE_HEADER]?.startsWith('hookgate.') === true) return;
      const loaded = deps.config();
      const subscribers = loaded.config.endpoints.filter((e) =>
        e.operationalEvents.includes(ATTEMPTS_EXHAUSTED),
      );
      const runtime = deps.runtime();
      const accept = deps.accept();
      if (subscribers.length === 0 || runtime === undefined || accept === undefined) return;
      const ingress = delivery.endpointName.startsWith(INGRESS_PREFIX);
      const body = JSON.stringify({
        type: ATTEMPTS_EXHAUSTED,
        timestamp: new Date(end.at).toISOString(),
        data: {
          namespace: loaded.config.namespace ?? null,
          endpoint: ingress
            ? delivery.endpointName.slice(INGRESS_PREFIX.length)
            : delivery.endpointName,
          direction: ingress ? 'ingress' : 'egress',
          deliveryId: delivery.deliveryId,
          attempts: end.attempts,
          ...(end.reason === undefined ? {} : { reason: end.reason }),
          ...(delivery.eventType === undefined ? {} : { eventType: delivery.eventType }),
        },
      });
      for (const subscriber of subscribers) {
        const endpoint = runtime.endpoints.get(subscriber.name);
        if (endpoint?.url === undefined) continue;
        const deliveryId = exhaustedEventId(delivery.deliveryId, subscriber.name);
        accept(endpoint, {
          deliveryId,
          url: endpoint.url,
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            [OPERATIONAL_EVENT_TYPE_HEADER]: ATTEMPTS_EXHAUSTED,
          },
          body: Buffer.from(body),
        }).then(
          (result) => {
            if (!('deliveryId' in result))
              deps.log.warn('operational webhook not queued', {
                endpoint: subscriber.name,
                type: ATTEMPTS_EXHAUSTED,
                bound: result.bound,
              });
          },
          (err: unknown) =>
            deps.log.warn('operational webhook not queued', {
              endpoint: subscriber.name,
              type: ATTEMPTS_EXHAUSTED,
              error: (err as Error).message,
            }),
        );
      }
    },
  };
}

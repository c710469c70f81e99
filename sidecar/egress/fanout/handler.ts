// POST /_events: the app says what happened once; the sidecar decides who hears about it.
// Reads the event (type from Hookgate-Event-Type, else the configured JSON field), narrows the
// subscribers by the optional Hookgate-Endpoint-Selector and their filters, refuses an event
// wider than the fan-out cap, then starts one delivery per endpoint — each with its own id,
// signing, policy and retries — and answers with the list (202 when any went to the queue).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import type { Logger } from '../../../common/log.ts';
import type { LoadedConfig } from '../../config/load.ts';
import { MISSING, resolve } from '../../filter/index.ts';
import { PayloadTooLargeError, readBody } from '../../delivery/body.ts';
import { problem, sendProblem } from '../../problem.ts';
import type { Clock } from '../../delivery/delivery.ts';
import {
  fanOutDeliveryId,
  newDelivery,
  prefersAsync,
  requestedDeliveryId,
} from '../../delivery/request.ts';
import type { EgressMetrics } from '../../delivery/metrics.ts';
import type { DeliveryObservers } from '../../delivery/observe.ts';
import type { EgressRuntime } from '../../delivery/runtime.ts';
import { syncDispatcher } from './dispatch.ts';
import { isEventType } from './event-types.ts';
import {
  runDeliveries,
  type AcceptAsync,
  type DeliveryReport,
  type PlannedDelivery,
} from './fanout.ts';
import { createFanoutMetrics, type FanoutMetrics } from './metrics.ts';
import { parseLabelSelector, type LabelPredicate } from './selector.ts';
import {
  buildSubscriptionIndex,
  fanOutCap,
  selectSubscribers,
  type SubscriptionIndex,
} from './subscriptions.ts';

/** The path the app posts events to. */
export const EVENTS_PATH = '/_events';

/** What the fan-out handler needs from the egress server. */
export interface FanoutOptions {
  readonly registry: Registry;
  readonly metrics: EgressMetrics;
  readonly clock: Clock;
  readonly log: Logger;
  /** The durable queue's hook; absent: async deliveries are made synchronously. */
  readonly acceptAsync?: AcceptAsync | undefined;
  /** Told of every synchronous delivery's end. */
  readonly observers?: DeliveryObservers | undefined;
}

/** The fan-out handler of one egress server. */
export interface Fanout {
  /** Answers one POST /_events under the given runtime and configuration. */
  handle(
    req: IncomingMessage,
    res: ServerResponse,
    rt: EgressRuntime,
    config: LoadedConfig,
  ): Promise<void>;
}

/** Creates the handler; its metrics register once, on the server's registry. */
export function createFanout(options: FanoutOptions): Fanout {
  const metrics: FanoutMetrics = createFanoutMetrics(options.registry);
  const dispatchSync = syncDispatcher(options);
  const indexes = new WeakMap<LoadedConfig, SubscriptionIndex>();
  const indexOf = (config: LoadedConfig): SubscriptionIndex => {
    let index = indexes.get(config);
    if (index === undefined) {
      index = buildSubscriptionIndex(config.config);
      indexes.set(config, index);
    }
    return index;
  };

  return {
    async handle(req, res, rt, config) {
      const started = options.clock.now();
      if (req.method !== 'POST') {
        sendProblem(res, problem('method-not-allowed', 'send events with POST /_events'));
        return;
      }
      const index = indexOf(config);
      let body: Buffer;
      try {
        body = await readBody(req, index.bodyCap, req.headers['content-length']);
      } catch (err) {
        if (!(err instanceof PayloadTooLargeError)) throw err;
        sendProblem(
          res,
          problem(
            'payload-too-large',
            `the event exceeds ${index.bodyCap} bytes, the largest maxPayloadBytes of any subscribed endpoint`,
          ),
          {},
          true,
        );
        return;
      }
      let parsed: { value: unknown } | undefined;
      const payload = (): unknown => {
        if (parsed === undefined) {
          try {
            parsed = { value: JSON.parse(body.toString('utf8')) as unknown };
          } catch {
            // Not JSON: it has no fields; filters see every path as missing.
            parsed = { value: undefined };
          }
        }
        return parsed.value;
      };

      // The event type: the header wins, else the configured field of a JSON body.
      const header = req.headers['hookgate-event-type'];
      let eventType: string;
      if (typeof header === 'string') eventType = header.trim();
      else {
        const field = resolve(payload(), index.eventTypeField);
        if (field === MISSING || typeof field !== 'string') {
          sendProblem(
            res,
            problem(
              'event-type-missing',
              `send the event type in the Hookgate-Event-Type header, or as a string at ${index.eventTypeFieldText} in a JSON body`,
            ),
          );
          return;
        }
        eventType = field;
      }
      if (!isEventType(eventType)) {
        sendProblem(
          res,
          problem(
            'bad-event-type',
            'an event type is 1 to 128 characters: dot-separated segments of letters, digits, _, -, : and /, e.g. order.created',
          ),
        );
        return;
      }
      const label = metrics.label(eventType);
      metrics.events.inc({ event_type: label });

      let selector: LabelPredicate | undefined;
      const selectorHeader = req.headers['hookgate-endpoint-selector'];
      if (typeof selectorHeader === 'string' && selectorHeader.trim() !== '') {
        const parsedSelector = parseLabelSelector(selectorHeader);
        if ('error' in parsedSelector) {
          sendProblem(
            res,
            problem('bad-selector', `Hookgate-Endpoint-Selector: ${parsedSelector.error}`),
          );
          return;
        }
        selector = parsedSelector;
      }

      const { matched, filtered } = selectSubscribers(index, eventType, selector, payload);
      if (filtered.length > 0) metrics.filtered.inc({ event_type: label }, filtered.length);
      const cap = fanOutCap(index, matched);
      if (matched.length > cap.limit) {
        options.log.warn('fan-out refused: too wide', {
          eventType,
          endpoints: matched.length,
          limit: cap.limit,
        });
        sendProblem(
          res,
          problem(
            'fan-out-too-wide',
            `${eventType} would go to ${matched.length} endpoints; ${cap.setBy} allows ${cap.limit}. Nothing was sent: narrow it with Hookgate-Endpoint-Selector or raise the cap`,
            { eventType, endpoints: matched.length, limit: cap.limit },
          ),
        );
        return;
      }

      const eventId = requestedDeliveryId(req.headers);
      const preferAsync = prefersAsync(req.headers);
      const planned: PlannedDelivery[] = [];
      for (const subscriber of matched) {
        const endpoint = rt.endpoints.get(subscriber.name);
        if (endpoint?.url === undefined) continue;
        const delivery = newDelivery(endpoint, {
          deliveryId: fanOutDeliveryId(eventId, endpoint.name),
          label: endpoint.name,
          url: endpoint.url,
          method: 'POST',
          headers: req.headers,
          body,
          started,
          eventType,
        });
        const tooLarge = body.length > endpoint.plan.maxPayloadBytes;
        planned.push({
          endpoint,
          delivery,
          async: preferAsync || subscriber.async,
          ...(tooLarge
            ? {
                refusal: {
                  deliveryId: delivery.deliveryId,
                  endpoint: endpoint.name,
                  status: 413,
                  outcome: 'too_large',
                  mode: 'sync' as const,
                  detail: `the event exceeds ${endpoint.plan.maxPayloadBytes} bytes, the maxPayloadBytes of this endpoint's policy`,
                },
              }
            : {}),
        });
      }

      const deliveries: DeliveryReport[] = await runDeliveries(
        planned,
        { dispatchSync, acceptAsync: options.acceptAsync },
        (report) => {
          if (report.outcome === 'too_large') {
            options.metrics.deliveries.inc({ endpoint: report.endpoint, outcome: 'too_large' });
            return;
          }
          metrics.sent.inc({ event_type: label });
          if (report.outcome === 'delivered') metrics.delivered.inc({ event_type: label });
        },
      );
      const queued = deliveries.some((d) => d.outcome === 'queued');
      const text = JSON.stringify({ eventType, deliveries, filtered: filtered.length });
      res.writeHead(queued ? 202 : 200, {
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(text),
        'cache-control': 'no-store',
        'hookgate-event-type': eventType,
        'hookgate-deliveries': String(deliveries.length),
      });
      res.end(text);
    },
  };
}

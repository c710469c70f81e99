// Who hears about an event: the subscription index of one configuration (built once per
// LoadedConfig, like the egress runtime) and the selection for one event — subscribed to its
// type, inside the app's label selector, and, last, passing the endpoint's payload filter.
import type { SidecarConfig } from '../../config/schema.ts';
import { compileFilter, parsePath, type Filter, type PathSegment } from '../../filter/index.ts';
import { eventTypeMatcher, type EventTypeMatcher } from './event-types.ts';
import type { LabelPredicate } from './selector.ts';

/** One endpoint that subscribes to some event types. */
export interface Subscriber {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly matchesType: EventTypeMatcher;
  readonly filter: Filter | undefined;
  /** The policy's `fanOut.maxEndpoints`, if it sets one. */
  readonly maxFanOut: number | undefined;
  /** The policy that set `maxFanOut`, for the refusal's message. */
  readonly policyName: string | undefined;
  /** The policy asks for asynchronous delivery. */
  readonly async: boolean;
  readonly maxPayloadBytes: number;
}

/** Everything fan-out needs from one configuration. */
export interface SubscriptionIndex {
  /** In config order (sorted by name by the operator). */
  readonly subscribers: readonly Subscriber[];
  /** Largest body any subscriber accepts: the read cap for POST /_events. */
  readonly bodyCap: number;
  /** Where the event type is read in a JSON body without Hookgate-Event-Type. */
  readonly eventTypeField: readonly PathSegment[];
  readonly eventTypeFieldText: string;
  /** The configuration's own width cap. */
  readonly maxEndpoints: number;
}

const DEFAULT_BODY_CAP = 1_048_576;

/** Builds the index of `config`; filters were checked when the config was parsed. */
export function buildSubscriptionIndex(config: SidecarConfig): SubscriptionIndex {
  const subscribers: Subscriber[] = [];
  for (const endpoint of config.endpoints) {
    if (endpoint.eventTypes.length === 0) continue;
    let filter: Filter | undefined;
    if (endpoint.filter !== undefined) {
      const compiled = compileFilter(endpoint.filter);
      // The schema refuses a config with a malformed filter; this cannot happen.
      if ('error' in compiled) throw new Error(`endpoint ${endpoint.name}: ${compiled.error}`);
      filter = compiled;
    }
    subscribers.push({
      name: endpoint.name,
      labels: endpoint.labels,
      matchesType: eventTypeMatcher(endpoint.eventTypes),
      filter,
      maxFanOut: endpoint.policy.fanOut?.maxEndpoints,
      policyName: endpoint.policy.name,
      async: endpoint.policy.delivery.mode === 'async',
      maxPayloadBytes: endpoint.policy.maxPayloadBytes,
    });
  }
  return {
    subscribers,
    bodyCap:
      subscribers.length === 0
        ? DEFAULT_BODY_CAP
        : Math.max(...subscribers.map((s) => s.maxPayloadBytes)),
    eventTypeField: parsePath(config.fanout.eventTypeField) ?? ['type'],
    eventTypeFieldText: config.fanout.eventTypeField,
    maxEndpoints: config.fanout.maxEndpoints,
  };
}

/** Who an event goes to, and who its filters kept it from. */
export interface Selection {
  readonly matched: readonly Subscriber[];
  readonly filtered: readonly Subscriber[];
}

/**
 * Selects the subscribers of one event. `payload` is called at most once, and only when a
 * candidate has a filter: most events need no JSON parse at all.
 */
export function selectSubscribers(
  index: SubscriptionIndex,
  eventType: string,
  selector: LabelPredicate | undefined,
  payload: () => unknown,
): Selection {
  const matched: Subscriber[] = [];
  const filtered: Subscriber[] = [];
  let parsed: { value: unknown } | undefined;
  for (const subscriber of index.subscribers) {
    if (!subscriber.matchesType(eventType)) continue;
    if (selector !== undefined && !selector(subscriber.labels)) continue;
    if (subscriber.filter !== undefined) {
      parsed ??= { value: payload() };
      if (!subscriber.filter.matches(parsed.value)) {
        filtered.push(subscriber);
        continue;
      }
    }
    matched.push(subscriber);
  }
  return { matched, filtered };
}

/** The narrowest width cap that applies to `matched`, and who set it. */
export function fanOutCap(
  index: SubscriptionIndex,
  matched: readonly Subscriber[],
): { readonly limit: number; readonly setBy: string } {
  let cap = { limit: index.maxEndpoints, setBy: 'the sidecar configuration (fanout.maxEndpoints)' };
  for (const s of matched) {
    if (s.maxFanOut !== undefined && s.maxFanOut < cap.limit) {
      cap = {
        limit: s.maxFanOut,
        setBy: `WebhookPolicy "${s.policyName ?? '(unnamed)'}" (fanOut.maxEndpoints), in effect for ${s.name}`,
      };
    }
  }
  return cap;
}

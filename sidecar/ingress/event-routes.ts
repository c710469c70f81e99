// De-multiplexing: a verified webhook's event type picks where in the pod it goes. The type is
// read from a header (GitHub's X-GitHub-Event, Shopify's X-Shopify-Topic) or a JSON path (Stripe's
// and Standard Webhooks' `$.type`), routes are tried in order, and a type no route takes goes to
// the endpoint's default forward target, or is refused (422) or dropped (200), as configured.
import type { IngressEndpoint } from '../config/schema.ts';
import { eventTypeMatcher, type EventTypeMatcher } from '../egress/fanout/event-types.ts';
import { MISSING, parsePath, resolve, type PathSegment } from '../filter/index.ts';
import type { HeaderMap } from '../headers.ts';
import { problem } from '../problem.ts';
import type { Refusal } from './refusals.ts';

/** Where each verify scheme carries its event type when the config does not say. */
const DEFAULT_SOURCE: Partial<Record<IngressEndpoint['verify']['scheme'], EventTypeSource>> = {
  github: { header: 'x-github-event' },
  shopify: { header: 'x-shopify-topic' },
  stripe: { jsonPath: '$.type' },
  'standard-webhooks': { jsonPath: '$.type' },
};

type EventTypeSource = { readonly header: string } | { readonly jsonPath: string };

/** Where a verified webhook goes, or how it is answered instead. */
export type RoutingDecision =
  | {
      readonly kind: 'forward';
      /** The app port; undefined: the endpoint's forward.port. */
      readonly port: number | undefined;
      /** The app path; undefined: the endpoint's forward.path, else the arrival path. */
      readonly path: string | undefined;
      readonly eventType: string | undefined;
    }
  | { readonly kind: 'answer'; readonly refusal: Refusal; readonly eventType: string | undefined };

/** The compiled routing of one ingress endpoint. */
export type EventRouter = (headers: HeaderMap, body: Buffer) => RoutingDecision;

interface CompiledRoute {
  readonly matches: EventTypeMatcher;
  readonly port: number | undefined;
  readonly path: string | undefined;
}

const MAX_TYPE_LENGTH = 256;
/** What may become a Hookgate-Event-Type header value: printable ASCII without spaces. */
const PRINTABLE = /^[\x21-\x7e]{1,256}$/;

/** The refusal of a type no route takes (`unrouted: refuse`). */
export function unroutedRefused(eventType: string | undefined): Refusal {
  return {
    problem: problem(
      'event-type-not-routed',
      eventType === undefined
        ? 'This endpoint routes webhooks by event type and could not read one from this webhook.'
        : `This endpoint takes no ${eventType.slice(0, MAX_TYPE_LENGTH)} events. Unsubscribe the endpoint from this type at the provider, or add a route for it.`,
      {},
      { code: 'unrouted' },
    ),
    outcome: 'unrouted_refused',
  };
}

/** The answer to a type no route takes (`unrouted: drop`): accepted, not forwarded. */
export function unroutedDropped(eventType: string | undefined): Refusal {
  return {
    problem: problem(
      'event-type-dropped',
      `Verified and accepted, not forwarded: this endpoint drops ${eventType === undefined ? 'webhooks without an event type' : `${eventType.slice(0, MAX_TYPE_LENGTH)} events`}.`,
      {},
      { code: 'unrouted_dropped' },
    ),
    outcome: 'unrouted_dropped',
    headers: { 'hookgate-dropped': 'unrouted' },
  };
}

function reader(source: EventTypeSource): (headers: HeaderMap, body: Buffer) => string | undefined {
  if ('header' in source) {
    const name = source.header.toLowerCase();
    return (headers) => {
      const value = headers[name];
      const first = Array.isArray(value) ? (value as string[])[0] : (value as string | undefined);
      return first === undefined || first === '' ? undefined : first;
    };
  }
  const path: readonly PathSegment[] = parsePath(source.jsonPath) ?? ['type'];
  return (_headers, body) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      return undefined;
    }
    const value = resolve(parsed, path);
    return value === MISSING || typeof value !== 'string' || value === '' ? undefined : value;
  };
}

/**
 * Compiles the routing of `endpoint`; undefined when it has no routes (every webhook goes to
 * the default target, as before routes existed).
 */
export function compileEventRouter(endpoint: IngressEndpoint): EventRouter | undefined {
  const { routes, unrouted } = endpoint.forward;
  if (routes.length === 0) return undefined;
  const source = endpoint.forward.eventType ?? DEFAULT_SOURCE[endpoint.verify.scheme];
  const read = source === undefined ? () => undefined : reader(source);
  const compiled: CompiledRoute[] = routes.map((r) => ({
    matches: eventTypeMatcher(r.eventTypes),
    port: r.port,
    path: r.path,
  }));
  return (headers, body) => {
    const raw = read(headers, body);
    // A type that could not be a header value matches no route either: it is unrouted.
    const eventType = raw !== undefined && PRINTABLE.test(raw) ? raw : undefined;
    if (eventType !== undefined) {
      const route = compiled.find((r) => r.matches(eventType));
      if (route !== undefined)
        return { kind: 'forward', port: route.port, path: route.path, eventType };
    }
    switch (unrouted) {
      case 'refuse':
        return { kind: 'answer', refusal: unroutedRefused(eventType), eventType };
      case 'drop':
        return { kind: 'answer', refusal: unroutedDropped(eventType), eventType };
      case 'default':
        return { kind: 'forward', port: undefined, path: undefined, eventType };
    }
  };
}

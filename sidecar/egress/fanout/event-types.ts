// Event type patterns, shared by fan-out subscriptions and ingress routes: an exact type
// (`order.created`), a prefix wildcard (`order.*`: any type under `order.`, not `order` itself)
// or `*` (every type). Matching is case-sensitive, as providers spell their types.
import { EVENT_TYPE_PATTERN } from '../../../api/v1alpha1/common.ts';

/** Whether a string is a well-formed event type (not a pattern). */
export function isEventType(value: string): boolean {
  return value.length <= 128 && EVENT_TYPE_PATTERN.test(value);
}

/** A predicate over event types, compiled from patterns. */
export type EventTypeMatcher = (eventType: string) => boolean;

/** Compiles `patterns`: one Set lookup for the exact ones, a prefix test per wildcard. */
export function eventTypeMatcher(patterns: readonly string[]): EventTypeMatcher {
  if (patterns.includes('*')) return () => true;
  const exact = new Set(patterns.filter((p) => !p.endsWith('.*')));
  // `order.*` keeps its dot: `order.created` starts with `order.`, `orders.x` does not.
  const prefixes = patterns.filter((p) => p.endsWith('.*')).map((p) => p.slice(0, -1));
  return (eventType) => exact.has(eventType) || prefixes.some((p) => eventType.startsWith(p));
}

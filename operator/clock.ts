// Time comes in through constructors so tests can drive it; these are the pieces that need it.

/** A source of the current time. */
export interface Clock {
  now(): Date;
}

/** The wall clock. */
export const systemClock: Clock = { now: () => new Date() };

/**
 * `metav1.Time` text: RFC 3339 in whole seconds. The API server truncates to seconds on write, so
 * a value with milliseconds would never compare equal to what it reads back and every reconcile
 * would rewrite it.
 */
export function metaTime(date: Date): string {
  return new Date(Math.floor(date.getTime() / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

/** `metav1.MicroTime` text: RFC 3339 with microseconds (Events and Leases). */
export function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

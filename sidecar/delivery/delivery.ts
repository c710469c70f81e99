// The shapes every egress layer shares: one delivery (stable across its attempts), one attempt's
// result, and the Layer interface the pipeline stacks. A layer may answer locally (`local`)
// without calling the next one — the rate limiter and an open breaker do.
import type { Problem } from '../problem.ts';
import type { TransportErrorKind } from './retry-classifier.ts';

/** One webhook on its way out; the same object for every attempt. */
export interface Delivery {
  /** Stable across retries; sent as `webhook-id` and returned as `Hookgate-Delivery-Id`. */
  readonly deliveryId: string;
  /** Endpoint name for logs and metrics (`dynamic` for Hookgate-Destination deliveries). */
  readonly endpointName: string;
  /**
   * The target. Shared with the endpoint's plan and every other delivery to it while the request
   * adds no path or query (parsing it per request cost ~1 µs), so never changed: Readonly<URL>
   * makes an assignment to one of its parts a type error.
   */
  readonly url: Readonly<URL>;
  readonly method: string;
  /** Headers for the receiver, already filtered, static headers added; signature headers come later. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
  /** Epoch ms after which no attempt may start and none may run on. */
  readonly deadline: number;
  /** For observers (history, traces): how it was handed over; absent: sync. */
  readonly mode?: 'sync' | 'async';
  /** For observers: absent: egress; buffered ingress forwards are `ingress`. */
  readonly direction?: 'egress' | 'ingress';
  /** For observers: the event type a fan-out delivery carries. */
  readonly eventType?: string;
}

/** What one attempt produced. */
export type AttemptResult =
  | {
      readonly kind: 'response';
      readonly status: number;
      readonly headers: Readonly<Record<string, string | string[]>>;
      readonly body: Buffer;
      /** The body was longer than the cap and was cut there. */
      readonly truncated: boolean;
      readonly durationMs: number;
    }
  | {
      readonly kind: 'error';
      readonly error: TransportErrorKind;
      readonly message: string;
      /** For destination-not-allowed: the refused address range (metrics label). */
      readonly range?: string;
      readonly durationMs: number;
    }
  /** A layer answered without reaching the receiver: final, never retried. */
  | { readonly kind: 'local'; readonly problem: Problem };

/** Performs attempt number `attempt` (1-based) of `delivery`. */
export type Attempt = (delivery: Delivery, attempt: number) => Promise<AttemptResult>;

/** Wraps the next stage of the pipeline. */
export type Layer = (next: Attempt) => Attempt;

/** Time, injected so tests drive backoff, limits and breakers without sleeping. */
export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

/** The real clock. */
export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

// Helpers for unit tests of the delivery core. The clock: time moves only when a layer or loop sleeps (the
// sleep returns at once, recorded) or the test calls advance(). No real timer is involved.
import type { AttemptResult, Clock, Delivery } from '../delivery.ts';

/** An injected clock whose sleeps are recorded and skipped. */
export class ManualClock implements Clock {
  /** Every sleep asked for, in order, in ms. */
  readonly sleeps: number[] = [];
  #now: number;

  constructor(start = 1_767_225_600_000) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
    this.#now += ms;
    return Promise.resolve();
  }

  /** Moves time forward by `ms`. */
  advance(ms: number): void {
    this.#now += ms;
  }
}

/** A receiver's response as an attempt result. */
export function response(status: number, headers: Record<string, string> = {}): AttemptResult {
  return {
    kind: 'response',
    status,
    headers,
    body: Buffer.alloc(0),
    truncated: false,
    durationMs: 1,
  };
}

/** A delivery to orders whose deadline is `deadlineMs` after the clock's now. */
export function testDelivery(clock: Clock, deadlineMs = 30_000): Delivery {
  return {
    deliveryId: 'msg_1',
    endpointName: 'orders',
    url: new URL('https://hooks.example.com/orders'),
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: Buffer.from('{"type":"order.created"}'),
    deadline: clock.now() + deadlineMs,
  };
}

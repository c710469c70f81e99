// A clock for unit tests of the delivery core: time moves only when a layer or loop sleeps (the
// sleep returns at once, recorded) or the test calls advance(). No real timer is involved.
import type { Clock } from '../delivery.ts';

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

// One connection pool (an undici Agent) lent out per request, so a pool whose settings went away
// in a reload (a rotated client certificate, a new CA, other SSRF rules) closes only once its
// requests finished: in-flight deliveries are never cut. A retry of an old delivery that asks a
// retired pool again gets a fresh Agent with the old settings, closed again once idle.
import type { Dispatcher } from 'undici';
import type { Agent } from '../../http-client.ts';

/** An Agent lent per request, closed when retired and idle. */
export class DispatcherPool {
  readonly #make: () => Agent;
  #agent: Agent | undefined;
  #active = 0;
  #retired = false;

  constructor(make: () => Agent) {
    this.#make = make;
  }

  /** The Agent for one request; pair with {@link release}. */
  acquire(): Dispatcher {
    this.#agent ??= this.#make();
    this.#active++;
    return this.#agent;
  }

  /** One request ended. */
  release(): void {
    this.#active--;
    if (this.#retired && this.#active === 0) this.#closeIdle();
  }

  /** No configuration uses this pool any more: close it once its requests ended. */
  retire(): void {
    this.#retired = true;
    if (this.#active === 0) this.#closeIdle();
  }

  /** Requests in flight (for tests). */
  get active(): number {
    return this.#active;
  }

  /** Closes the Agent (graceful: undici lets queued requests finish). */
  async close(): Promise<void> {
    const agent = this.#agent;
    this.#agent = undefined;
    await agent?.close();
  }

  #closeIdle(): void {
    void this.close();
  }
}

// Buffered ingress (`forward.buffered: true`): a verified webhook is stored in the durable queue
// and the provider gets 202 at once; the worker then forwards it to the app on loopback with the
// default schedule (at once, 5s, 5m, … ~27 h), so an app that is down or restarting loses nothing.
// The queue entry's endpoint is `ingress:<name>`; its URL is the app's, fixed at accept time.
import type { Dispatcher } from 'undici';
import { Agent } from '../http-client.ts';
import { Policy } from '../config/schema.ts';
import type { Clock } from '../delivery/delivery.ts';
import { sendStage } from '../delivery/layers/send.ts';
import { observeLayer, type DeliveryObservers } from '../delivery/observe.ts';
import { compileEndpointPlan, type EndpointPlan } from '../delivery/plan.ts';
import type { EndpointRuntime } from '../delivery/runtime.ts';

/** Queue endpoint-name prefix of buffered ingress deliveries. */
export const INGRESS_PREFIX = 'ingress:';

/**
 * The plan of every path into the app, buffered or direct: the built-in defaults, since a
 * WebhookPolicy does not apply to it (its history keeps what any endpoint's does by default).
 */
export const INGRESS_PLAN: EndpointPlan = compileEndpointPlan(Policy.parse({}));

/** The app-forwarding "endpoints" of buffered ingress routes, built once per route name. */
export class IngressForwarders {
  readonly #clock: Clock;
  readonly #agent: Dispatcher = new Agent({ connections: 64, keepAliveTimeout: 30_000 });
  readonly #runtimes = new Map<string, EndpointRuntime>();
  readonly #plan: EndpointPlan = INGRESS_PLAN;

  readonly #observers: DeliveryObservers | undefined;

  constructor(clock: Clock, observers?: DeliveryObservers) {
    this.#clock = clock;
    this.#observers = observers;
  }

  /** The runtime that forwards `ingress:<name>` deliveries, or undefined for other names. */
  runtime(endpointName: string): EndpointRuntime | undefined {
    if (!endpointName.startsWith(INGRESS_PREFIX)) return undefined;
    let rt = this.#runtimes.get(endpointName);
    if (rt === undefined) {
      const plan = this.#plan;
      const send = sendStage(this.#agent, plan.timeoutMs, this.#clock);
      rt = {
        name: endpointName,
        url: undefined,
        plan,
        headers: {},
        reservedHeaders: [],
        // No SSRF guard and no signing: the app is on loopback and gets the provider's headers.
        attempt:
          this.#observers === undefined || this.#observers.empty
            ? send
            : observeLayer(this.#observers, plan, this.#clock)(send),
        admitsHost: () => false,
        paused: false,
        disabled: undefined,
      };
      this.#runtimes.set(endpointName, rt);
    }
    return rt;
  }

  close(): Promise<void> {
    return this.#agent.close();
  }
}

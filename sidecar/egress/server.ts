// The egress HTTP server on 127.0.0.1:15001: the app POSTs a webhook here and gets the receiver's
// final answer (or a problem body when the gateway refuses). A request goes through short named
// steps — refuse while draining → interception → method → fan-out → route → read the body →
// dispatch (async to the queue, or sync through the delivery core) → respond; everything about
// delivering lives in sidecar/delivery/.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer } from '../../common/http-server.ts';
import type { AddressInfo } from 'node:net';
import type { RedisClient } from '../redis-connect.ts';
import type { Registry } from 'prom-client';
import type { Logger } from '../../common/log.ts';
import type { LoadedConfig } from '../config/load.ts';
import { PayloadTooLargeError, readBody } from '../delivery/body.ts';
import { systemClock, type Clock } from '../delivery/delivery.ts';
import { createEgressMetrics, type EgressMetrics } from '../delivery/metrics.ts';
import {
  newDeliveryId,
  newDelivery,
  prefersAsync,
  requestedDeliveryId,
} from '../delivery/request.ts';
import { RuntimeStore, buildEgressRuntime, type EgressRuntime } from '../delivery/runtime.ts';
import type { DeliveryObservers } from '../delivery/observe.ts';
import type { Resolver } from '../delivery/ssrf/ssrf.ts';
import { deliverSync } from '../delivery/sync.ts';
import { TransparentEgress, classifyEgressRequest } from '../interception/egress.ts';
import { problem, problemCode, sendProblem } from '../problem.ts';
import type { AcceptAsync } from '../queue/index.ts';
import type { OverloadGuard } from '../budget/overload.ts';
import { createFanout, EVENTS_PATH, type Fanout } from './fanout/handler.ts';
import { answerAsync, answerSync } from './respond.ts';
import { isProblem, routeRequest, type Routed } from './route.ts';

/** What the egress server needs. */
export interface EgressServerOptions {
  /** The configuration in force, read per request (hot reload). */
  config: () => LoadedConfig;
  registry: Registry;
  log: Logger;
  redis?: RedisClient | undefined;
  clock?: Clock;
  /** Prefix of global rate-limit keys (the namespace); default `default`. */
  scope?: string;
  /** The durable queue's accept path (named routes and fan-out); absent: async goes synchronously. */
  acceptAsync?: AcceptAsync | undefined;
  /** Sheds new requests while memory is near the budget (ADR 0016). */
  overload?: OverloadGuard | undefined;
  /**
   * `transparent` when the pod's rules redirect the app's traffic here (HOOKGATE_INTERCEPTION,
   * set by the injector); default `explicit`: the Host header is never read as a destination.
   */
  interception?: 'explicit' | 'transparent' | undefined;
  /** DNS for the transparent pass-through's SSRF guard (tests); default `dns.lookup`. */
  resolver?: Resolver | undefined;
  /** Who watches every attempt and delivery end (history, health); complete before start. */
  observers?: DeliveryObservers | undefined;
}

/** A listening egress server. */
export interface EgressServer {
  readonly port: number;
  /** The runtime of the configuration in force (the queue worker delivers through it). */
  runtime(): EgressRuntime;
  /**
   * Stops accepting, lets in-flight deliveries finish for up to `drainMs`, then closes; the
   * connection pools close only once `poolsFree` settles too (the queue worker sends through them).
   */
  close(drainMs?: number, poolsFree?: Promise<void>): Promise<void>;
}

/** Methods a webhook may use; the rest are refused before routing. */
const REFUSED_METHODS: ReadonlySet<string> = new Set(['CONNECT', 'GET', 'HEAD']);

/** Whether a request target is POST /_events (fan-out). */
function isEventsPath(target: string): boolean {
  return target === EVENTS_PATH || target.startsWith(`${EVENTS_PATH}?`);
}

/** Answers one egress request at a time; holds what the steps share. */
class EgressHandler {
  readonly #options: EgressServerOptions;
  readonly #clock: Clock;
  readonly #metrics: EgressMetrics;
  readonly #store = new RuntimeStore();
  readonly #runtimes = new WeakMap<LoadedConfig, EgressRuntime>();
  readonly #fanout: Fanout;
  // Transparent interception (ADR 0009): requests redirected by the pod's rules.
  readonly #transparent: TransparentEgress;
  /** Set by close(): new requests get 503 shutting-down. */
  draining = false;

  constructor(options: EgressServerOptions) {
    this.#options = options;
    this.#clock = options.clock ?? systemClock;
    this.#metrics = createEgressMetrics(options.registry);
    this.#fanout = createFanout({
      registry: options.registry,
      metrics: this.#metrics,
      clock: this.#clock,
      log: options.log,
      acceptAsync: options.acceptAsync,
      observers: options.observers,
    });
    this.#transparent = new TransparentEgress({
      log: options.log,
      registry: options.registry,
      resolver: options.resolver,
    });
  }

  get metrics(): EgressMetrics {
    return this.#metrics;
  }

  /** The runtime of the configuration in force, built once per loaded configuration. */
  runtime(): EgressRuntime {
    const config = this.#options.config();
    let built = this.#runtimes.get(config);
    if (built === undefined) {
      built = buildEgressRuntime(config.config.generation, config.egress, this.#store, {
        clock: this.#clock,
        metrics: this.#metrics,
        log: this.#options.log,
        redis: this.#options.redis,
        scope: this.#options.scope ?? 'default',
        observers: this.#options.observers,
      });
      this.#runtimes.set(config, built);
    }
    return built;
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = this.#clock.now();
    if (this.draining) return this.#refuseDraining(res);
    const intercepted =
      this.#options.interception === 'transparent'
        ? classifyEgressRequest(req, TransparentEgress.endpoints(this.#options.config()))
        : undefined;
    if (intercepted?.kind === 'unmatched')
      return this.#transparent.unmatched(req, res, intercepted, this.#options.config());
    if (REFUSED_METHODS.has(req.method ?? '')) return this.#refuseMethod(res);
    const rt = this.runtime();
    // An intercepted request is for its own host, never a fan-out.
    if (intercepted === undefined && isEventsPath(req.url ?? '/'))
      return this.#fanout.handle(req, res, rt, this.#options.config());
    const routed = routeRequest(req, rt, intercepted);
    if (isProblem(routed)) {
      // Never the requested name: arbitrary paths must not become label values.
      this.#metrics.deliveries.inc({ endpoint: 'unknown', outcome: problemCode(routed) });
      return sendProblem(res, routed);
    }
    const body = await this.#readPayload(req, res, routed);
    if (body === undefined) return;
    const delivery = newDelivery(routed.endpoint, {
      deliveryId: requestedDeliveryId(req.headers) ?? newDeliveryId(),
      label: routed.label,
      url: routed.url,
      method: req.method ?? 'POST',
      headers: req.headers,
      body,
      started,
    });
    const accept = this.#options.acceptAsync;
    const preferred = prefersAsync(req.headers);
    if (accept !== undefined && (routed.endpoint.plan.mode === 'async' || preferred))
      return answerAsync(res, accept, routed.endpoint, delivery, this.#metrics, preferred);
    const done = await deliverSync(routed.endpoint, delivery, routed.label, {
      clock: this.#clock,
      metrics: this.#metrics,
      log: this.#options.log,
      observers: this.#options.observers,
    });
    answerSync(res, delivery, done);
  }

  #refuseDraining(res: ServerResponse): void {
    sendProblem(
      res,
      problem('shutting-down', 'the sidecar is draining; retry on another pod', {
        retryAfterMs: 1000,
      }),
      { connection: 'close' },
    );
  }

  #refuseMethod(res: ServerResponse): void {
    sendProblem(
      res,
      problem('method-not-allowed', 'send webhooks with POST (or PUT, PATCH, DELETE)'),
    );
  }

  /** The body within the policy's cap, or undefined once the 413 problem went out. */
  async #readPayload(
    req: IncomingMessage,
    res: ServerResponse,
    { endpoint, label }: Routed,
  ): Promise<Buffer | undefined> {
    const cap = endpoint.plan.maxPayloadBytes;
    try {
      return await readBody(req, cap, req.headers['content-length']);
    } catch (err) {
      if (!(err instanceof PayloadTooLargeError)) throw err;
      this.#metrics.deliveries.inc({ endpoint: label, outcome: 'too_large' });
      // The rest of the body is unread: the connection cannot carry another request.
      sendProblem(
        res,
        problem(
          'payload-too-large',
          `the body exceeds ${cap} bytes, the maxPayloadBytes of ${label}'s policy`,
          { endpoint: label },
        ),
        {},
        true,
      );
      return undefined;
    }
  }

  /** Closes the connection pools (after the server and the queue worker stopped using them). */
  async close(): Promise<void> {
    await Promise.all([this.#store.close(), this.#transparent.close()]);
  }
}

/** Starts the egress server on `host:port`. */
export async function startEgressServer(
  host: string,
  port: number,
  options: EgressServerOptions,
): Promise<EgressServer> {
  const handler = new EgressHandler(options);
  // The one count of requests being handled: the drain waits on it, the gauge reads it.
  const inFlight = handler.metrics.inFlight;
  let drained: (() => void) | undefined;
  const server = createServer((req, res) => {
    if (options.overload?.refuse('egress', req, res) === true) return;
    inFlight.count++;
    const settled = (): void => {
      inFlight.count--;
      if (handler.draining && inFlight.count === 0) drained?.();
    };
    // One reaction for both ends (not catch + finally: a promise less per request).
    handler.handle(req, res).then(settled, (err: unknown) => {
      options.log.error('egress request failed', { error: (err as Error).message });
      if (!res.headersSent)
        sendProblem(res, problem('bad-request', 'the request could not be read'));
      else res.destroy();
      settled();
    });
  });
  // Keep-alive from the app is the common case; a webhook body can be slow to arrive, not forever.
  server.requestTimeout = 60_000;
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });

  return {
    port: (server.address() as AddressInfo).port,
    runtime: () => handler.runtime(),
    async close(drainMs = 10_000, poolsFree: Promise<void> = Promise.resolve()): Promise<void> {
      handler.draining = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      if (inFlight.count > 0) {
        await Promise.race([
          new Promise<void>((resolve) => (drained = resolve)),
          new Promise<void>((resolve) => setTimeout(resolve, drainMs).unref()),
        ]);
      }
      server.closeAllConnections();
      await closed;
      await poolsFree;
      await handler.close();
    },
  };
}

// The durable delivery queue as the sidecar composes it: a store (Redis or the pod's disk), the
// accept path the egress server calls before answering 202, the background worker, and the admin
// API. `main.ts` builds one per process.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import type { Logger } from '../../common/log.ts';
import { parseDuration } from '../../common/duration.ts';
import type { QueueSettings } from '../config/schema.ts';
import type { Clock } from '../delivery/delivery.ts';
import type { DeliveryObservers } from '../delivery/observe.ts';
import type { EgressRuntime, EndpointRuntime } from '../delivery/runtime.ts';
import { queueAdminHandler } from './admin.ts';
import { Batcher } from './batch.ts';
import { INGRESS_PREFIX, IngressForwarders } from './ingress.ts';
import { createQueueMetrics, endpointLabel, type QueueMetrics } from './metrics.ts';
import type { NewDelivery, QueueFullError, QueueLimits, QueueStore } from './store.ts';
import { QueueWorker } from './worker.ts';

/** A webhook the egress server accepted for background delivery. */
export interface AsyncRequest {
  readonly deliveryId: string;
  readonly url: URL;
  readonly method: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
}

/** The accept path: `{deliveryId}` once durable, or the QueueFullError to answer 503 with. */
export type AcceptAsync = (
  endpoint: EndpointRuntime,
  request: AsyncRequest,
) => Promise<{ readonly deliveryId: string } | QueueFullError>;

/** A verified ingress webhook to forward to the app in the background. */
export interface BufferedIngress {
  readonly deliveryId: string;
  /** The ingress endpoint's name. */
  readonly endpointName: string;
  /** The app's URL on loopback, path and query included. */
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
}

/** What the queue needs from the process. */
export interface DeliveryQueueOptions {
  readonly store: QueueStore;
  readonly settings: QueueSettings;
  readonly registry: Registry;
  readonly log: Logger;
  readonly clock: Clock;
  /** Which backend, for logs and the admin API: `redis` or `disk`. */
  readonly backend: string;
  /** Bearer token that lets non-loopback clients use the admin queue API (else loopback only). */
  readonly adminToken?: string | undefined;
  readonly random?: () => number;
  /** Who watches background attempts and delivery ends (history, health). */
  readonly observers?: DeliveryObservers | undefined;
}

/** The limits a store enforces, from the queue settings. */
export function queueLimits(settings: QueueSettings): QueueLimits {
  return {
    maxPerEndpoint: settings.maxPerEndpoint,
    maxTotal: settings.maxTotal,
    maxBytes: settings.maxBytes,
  };
}

/** The queue's name of an endpoint: dynamic destinations are queued per host. */
export function queueEndpointName(endpoint: EndpointRuntime, url: URL): string {
  return endpoint.url === undefined ? `dynamic:${url.host}` : endpoint.name;
}

function withoutPrefer(headers: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => name !== 'prefer'));
}

/**
 * Accepts per enqueue script: large enough that a burst of concurrent requests shares one round
 * trip, small enough that one script never holds Redis for long (about 30 µs per delivery).
 */
export const ENQUEUE_BATCH = 128;

/** The durable queue of one sidecar. */
export class DeliveryQueue {
  readonly backend: string;
  readonly store: QueueStore;
  readonly metrics: QueueMetrics;
  readonly #o: DeliveryQueueOptions;
  #worker: QueueWorker | undefined;
  readonly #ingress: IngressForwarders;
  /** Concurrent accepts, stored together. */
  readonly #enqueues: Batcher<NewDelivery, QueueFullError | undefined>;

  constructor(options: DeliveryQueueOptions) {
    this.#o = options;
    this.#enqueues = new Batcher((ds) => options.store.enqueueMany(ds), {
      maxItems: ENQUEUE_BATCH,
      maxInFlight: 2,
    });
    this.#ingress = new IngressForwarders(options.clock, options.observers);
    this.backend = options.backend;
    this.store = options.store;
    this.metrics = createQueueMetrics(options.registry, options.store, () => options.clock.now());
  }

  /** Stores the delivery durably; resolves once it would survive a crash. */
  readonly accept: AcceptAsync = async (endpoint, request) => {
    const endpointName = queueEndpointName(endpoint, request.url);
    return this.#enqueue(endpointLabel(endpointName), {
      deliveryId: request.deliveryId,
      endpointName,
      url: request.url.href,
      method: request.method,
      // `Prefer` spoke to the sidecar, not to the receiver.
      headers: withoutPrefer(request.headers),
      body: request.body,
      acceptedAt: this.#o.clock.now(),
      ordered: endpoint.plan.ordering === 'per-endpoint',
    });
  };

  /** Stores a verified ingress webhook for background forwarding to the app (`forward.buffered`). */
  readonly acceptIngress = async (
    request: BufferedIngress,
  ): Promise<{ readonly deliveryId: string } | QueueFullError> => {
    const endpointName = `${INGRESS_PREFIX}${request.endpointName}`;
    return this.#enqueue(endpointName, {
      deliveryId: request.deliveryId,
      endpointName,
      url: request.url,
      method: 'POST',
      headers: request.headers,
      body: request.body,
      acceptedAt: this.#o.clock.now(),
      ordered: false,
    });
  };

  /** Stores one delivery in the next enqueue batch; counts the outcome under `label`. */
  async #enqueue(
    label: string,
    delivery: NewDelivery,
  ): Promise<{ readonly deliveryId: string } | QueueFullError> {
    const refused = await this.#enqueues.add(delivery);
    if (refused !== undefined) {
      this.metrics.refused.inc({ endpoint: label, bound: refused.bound });
      return refused;
    }
    this.metrics.accepted.inc({ endpoint: label });
    this.#worker?.notify();
    return { deliveryId: delivery.deliveryId };
  }

  /** Starts the background worker over the egress runtime in force. */
  start(runtime: () => EgressRuntime): void {
    const s = this.#o.settings;
    this.#worker = new QueueWorker({
      store: this.store,
      runtime,
      settings: {
        concurrency: s.concurrency,
        endpointConcurrency: s.endpointConcurrency,
        leaseMs: parseDuration(s.lease),
        pollMs: parseDuration(s.pollInterval),
      },
      metrics: this.metrics,
      log: this.#o.log,
      clock: this.#o.clock,
      extraEndpoint: (name) => this.#ingress.runtime(name),
      observers: this.#o.observers,
      ...(this.#o.random !== undefined ? { random: this.#o.random } : {}),
    });
    this.#worker.start();
  }

  /** The admin API under `/queue/`; returns false for other paths. */
  readonly admin = (req: IncomingMessage, res: ServerResponse): boolean =>
    queueAdminHandler(req, res, {
      store: this.store,
      clock: this.#o.clock,
      backend: this.backend,
      adminToken: this.#o.adminToken,
      onReplayed: (n) => {
        this.metrics.replayed.inc(n);
        this.#worker?.notify();
      },
    });

  /**
   * Stops the worker: no more claims, deliveries not started go back to the queue, attempts in
   * flight settle within `drainMs`. The store stays open for the accept path.
   */
  async stopWorker(drainMs: number): Promise<void> {
    await this.#worker?.stop(drainMs);
  }

  /** Stops the worker (if still running), then closes the store. */
  async close(drainMs: number): Promise<void> {
    await this.stopWorker(drainMs);
    await this.#ingress.close();
    await this.store.close();
  }
}

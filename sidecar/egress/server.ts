// The egress HTTP server on 127.0.0.1:15001: the app POSTs a webhook here and gets the receiver's
// final answer (or a problem body when the gateway refuses). Routing, the body cap and the
// response mapping live here; everything between is the endpoint's pipeline and retry loop.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Redis } from 'ioredis';
import type { Registry } from 'prom-client';
import type { Logger } from '../../common/log.ts';
import type { LoadedConfig } from '../config/load.ts';
import {
  TransparentEgress,
  classifyEgressRequest,
  type InterceptedRequest,
} from '../interception/egress.ts';
import type { AcceptAsync } from '../queue/index.ts';
import { problem, problemCode, sendProblem, type Problem } from '../problem.ts';
import { systemClock, type Clock, type Delivery } from '../delivery/delivery.ts';
import { inboundHeaders, outboundHeaders } from '../delivery/headers.ts';
import { createFanout, EVENTS_PATH } from './fanout/handler.ts';
import { countAttempt, createEgressMetrics, type EgressMetrics } from '../delivery/metrics.ts';
import { finalAnswer } from '../delivery/outcome.ts';
import { deliverWithRetries, type DeliveryOutcome } from '../delivery/retry.ts';
import type { Resolver } from '../delivery/ssrf/ssrf.ts';
import {
  RuntimeStore,
  buildEgressRuntime,
  type EgressRuntime,
  type EndpointRuntime,
} from '../delivery/runtime.ts';

/** What the egress server needs. */
export interface EgressServerOptions {
  /** The configuration in force, read per request (hot reload). */
  config: () => LoadedConfig;
  registry: Registry;
  log: Logger;
  redis?: Redis | undefined;
  clock?: Clock;
  /** Prefix of global rate-limit keys (the namespace); default `default`. */
  scope?: string;
  /** The durable queue's accept path (named routes and fan-out); absent: async goes synchronously. */
  acceptAsync?: AcceptAsync | undefined;
  /**
   * `transparent` when the pod's rules redirect the app's traffic here (HOOKGATE_INTERCEPTION,
   * set by the injector); default `explicit`: the Host header is never read as a destination.
   */
  interception?: 'explicit' | 'transparent' | undefined;
  /** DNS for the transparent pass-through's SSRF guard (tests); default `dns.lookup`. */
  resolver?: Resolver | undefined;
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

const DELIVERY_ID = /^[A-Za-z0-9_.:-]{1,128}$/;

/** A new delivery id in the Standard Webhooks style: `msg_` and 32 random hex digits. */
export function newDeliveryId(): string {
  // randomUUID draws from a buffered entropy pool: no syscall per delivery, unlike randomBytes.
  return `msg_${randomUUID().replaceAll('-', '')}`;
}

/** Reads the request body, refusing more than `cap` bytes. */
async function readBody(req: IncomingMessage, cap: number): Promise<Buffer | undefined> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > cap) return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > cap) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Whether the app asked for async delivery (`Prefer: respond-async`) or the policy is async. */
function wantsAsync(req: IncomingMessage, endpoint: EndpointRuntime): boolean {
  if (endpoint.plan.mode === 'async') return true;
  return preferAsync(req);
}

function preferAsync(req: IncomingMessage): boolean {
  const prefer = req.headers['prefer'];
  if (prefer === undefined) return false;
  return (Array.isArray(prefer) ? prefer.join(',') : prefer)
    .split(',')
    .some((p) => p.split(/[;=]/)[0]!.trim().toLowerCase() === 'respond-async');
}

/** Queues the delivery durably, then answers 202 (or 503 when the queue is full or down). */
async function answerAsync(
  req: IncomingMessage,
  res: ServerResponse,
  accept: AcceptAsync,
  endpoint: EndpointRuntime,
  delivery: Delivery,
  metrics: EgressMetrics,
  label: string,
): Promise<void> {
  const applied: Record<string, string> = preferAsync(req)
    ? { 'preference-applied': 'respond-async' }
    : {};
  let accepted: Awaited<ReturnType<AcceptAsync>>;
  try {
    accepted = await accept(endpoint, delivery);
  } catch (err) {
    metrics.deliveries.inc({ endpoint: label, outcome: 'queue_unavailable' });
    sendProblem(
      res,
      problem(
        'queue-unavailable',
        `the delivery could not be stored durably (${(err as Error).message}); it was not accepted, send it again`,
        { endpoint: label, deliveryId: delivery.deliveryId, retryAfterMs: 1000 },
      ),
    );
    return;
  }
  if (!('deliveryId' in accepted)) {
    metrics.deliveries.inc({ endpoint: label, outcome: 'queue_full' });
    sendProblem(
      res,
      problem(
        'queue-full',
        `the delivery queue is full (${accepted.bound} bound); send it again later`,
        { endpoint: label, bound: accepted.bound, retryAfterMs: accepted.retryAfterMs },
      ),
    );
    return;
  }
  metrics.deliveries.inc({ endpoint: label, outcome: 'accepted' });
  const body = JSON.stringify({ deliveryId: accepted.deliveryId, status: 'accepted' });
  res.writeHead(202, {
    ...applied,
    'hookgate-delivery-id': accepted.deliveryId,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

/** Starts the egress server on `host:port`. */
export async function startEgressServer(
  host: string,
  port: number,
  options: EgressServerOptions,
): Promise<EgressServer> {
  const clock = options.clock ?? systemClock;
  const metrics: EgressMetrics = createEgressMetrics(options.registry);
  const store = new RuntimeStore();
  const deps = {
    clock,
    metrics,
    log: options.log,
    redis: options.redis,
    scope: options.scope ?? 'default',
  };
  const runtimes = new WeakMap<LoadedConfig, EgressRuntime>();
  const runtime = (): EgressRuntime => {
    const config = options.config();
    let built = runtimes.get(config);
    if (built === undefined) {
      built = buildEgressRuntime(config.config.generation, config.egress, store, deps);
      runtimes.set(config, built);
    }
    return built;
  };
  const fanout = createFanout({
    registry: options.registry,
    metrics,
    clock,
    log: options.log,
    newDeliveryId,
    acceptAsync: options.acceptAsync,
  });
  // Transparent interception (ADR 0009): requests redirected by the pod's rules.
  const transparent = new TransparentEgress({
    log: options.log,
    registry: options.registry,
    resolver: options.resolver,
  });
  const transparentMode = options.interception === 'transparent';
  let inFlight = 0;
  let draining = false;
  let drained: (() => void) | undefined;

  /** Finds the endpoint and target URL of a request, or the problem that refuses it. */
  const route = (
    req: IncomingMessage,
    rt: EgressRuntime,
    intercepted?: InterceptedRequest,
  ): { endpoint: EndpointRuntime; url: URL } | Problem => {
    const claimed =
      intercepted?.kind === 'endpoint' ? rt.endpoints.get(intercepted.endpointName) : undefined;
    if (claimed !== undefined && intercepted?.kind === 'endpoint')
      return { endpoint: claimed, url: intercepted.url };
    const url = new URL(req.url ?? '/', 'http://egress');
    const [, first = '', ...rest] = url.pathname.split('/');
    if (first === '') {
      const destination = req.headers['hookgate-destination'];
      if (typeof destination !== 'string') {
        return problem(
          'unknown-endpoint',
          'POST /<endpoint-name>[/path], or POST / with a Hookgate-Destination header',
        );
      }
      let target: URL;
      try {
        target = new URL(destination);
      } catch {
        target = new URL('invalid:');
      }
      if (target.protocol !== 'https:' && target.protocol !== 'http:') {
        return problem(
          'bad-destination',
          'Hookgate-Destination must be an absolute http:// or https:// URL',
        );
      }
      const dynamic = rt.dynamic.find((d) => d.admitsHost(target.hostname));
      if (dynamic === undefined) {
        return problem(
          'destination-not-allowed',
          `no policy's destinations.allowedHosts admits ${target.hostname}`,
        );
      }
      return { endpoint: dynamic, url: target };
    }
    const name = decodeURIComponent(first);
    const endpoint = rt.endpoints.get(name);
    if (endpoint?.url === undefined) {
      return problem(
        'unknown-endpoint',
        `no egress endpoint named "${name}" in config generation ${rt.generation}`,
        { endpoint: name },
      );
    }
    const target = new URL(endpoint.url);
    if (rest.length > 0)
      target.pathname = `${target.pathname.replace(/\/$/, '')}/${rest.join('/')}`;
    if (url.search !== '') target.search = url.search;
    return { endpoint, url: target };
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = clock.now();
    if (draining) {
      sendProblem(
        res,
        problem('shutting-down', 'the sidecar is draining; retry on another pod', {
          retryAfterMs: 1000,
        }),
        { connection: 'close' },
      );
      return;
    }
    const intercepted = transparentMode
      ? classifyEgressRequest(req, TransparentEgress.endpoints(options.config()))
      : undefined;
    if (intercepted?.kind === 'unmatched') {
      await transparent.unmatched(req, res, intercepted, options.config());
      return;
    }
    if (req.method === 'CONNECT' || req.method === 'GET' || req.method === 'HEAD') {
      sendProblem(
        res,
        problem('method-not-allowed', 'send webhooks with POST (or PUT, PATCH, DELETE)'),
      );
      return;
    }
    const rt = runtime();
    // Fan-out (multiplexing) has its own module: one event, many endpoints.
    const requestTarget = req.url ?? '/';
    const isEvents = requestTarget === EVENTS_PATH || requestTarget.startsWith(`${EVENTS_PATH}?`);
    // An intercepted request is for its own host, never a fan-out.
    if (intercepted === undefined && isEvents) {
      await fanout.handle(req, res, rt, options.config());
      return;
    }
    const routed = route(req, rt, intercepted);
    if ('type' in routed) {
      metrics.deliveries.inc({
        // Never the requested name: arbitrary paths must not become label values.
        endpoint: 'unknown',
        outcome: problemCode(routed),
      });
      sendProblem(res, routed);
      return;
    }
    const { endpoint, url } = routed;
    const label = endpoint.url === undefined ? 'dynamic' : endpoint.name;
    const cap = endpoint.plan.maxPayloadBytes;
    const body = await readBody(req, cap);
    if (body === undefined) {
      metrics.deliveries.inc({ endpoint: label, outcome: 'too_large' });
      sendProblem(
        res,
        problem(
          'payload-too-large',
          `the body exceeds ${cap} bytes, the maxPayloadBytes of ${label}'s policy`,
          { endpoint: label },
        ),
        { connection: 'close' },
      );
      return;
    }
    const requested = req.headers['hookgate-delivery-id'];
    const delivery: Delivery = {
      deliveryId:
        typeof requested === 'string' && DELIVERY_ID.test(requested) ? requested : newDeliveryId(),
      endpointName: label,
      url,
      method: req.method ?? 'POST',
      headers: { ...outboundHeaders(req.headers, endpoint.reservedHeaders), ...endpoint.headers },
      body,
      deadline: started + endpoint.plan.retry.syncDeadlineMs,
    };
    if (options.acceptAsync !== undefined && wantsAsync(req, endpoint)) {
      await answerAsync(req, res, options.acceptAsync, endpoint, delivery, metrics, label);
      return;
    }
    const outcome: DeliveryOutcome = await deliverWithRetries(
      delivery,
      endpoint.attempt,
      endpoint.plan.retry,
      clock,
      (result) => countAttempt(metrics, label, result),
    );
    const answer = finalAnswer(outcome.result, label);
    metrics.deliveries.inc({ endpoint: label, outcome: answer.outcome });
    metrics.duration.observe({ endpoint: label }, (clock.now() - started) / 1000);
    const ours = {
      'hookgate-delivery-id': delivery.deliveryId,
      'hookgate-attempts': String(outcome.attempts),
    };
    if (answer.outcome !== 'delivered') {
      options.log.info('delivery not delivered', {
        endpoint: label,
        deliveryId: delivery.deliveryId,
        outcome: answer.outcome,
        attempts: outcome.attempts,
        reason: outcome.decision.reason,
      });
    }
    if (answer.problem !== undefined || outcome.result.kind !== 'response') {
      sendProblem(
        res,
        {
          ...answer.problem!,
          endpoint: label,
          deliveryId: delivery.deliveryId,
          attempts: outcome.attempts,
        },
        ours,
      );
      return;
    }
    const result = outcome.result;
    res.writeHead(result.status, {
      ...inboundHeaders(result.headers),
      ...ours,
      ...(result.truncated ? { 'hookgate-response-truncated': 'true' } : {}),
      'content-length': result.body.length,
    });
    res.end(result.body);
  };

  const server = createServer((req, res) => {
    inFlight++;
    metrics.inFlight.inc();
    handle(req, res)
      .catch((err: unknown) => {
        options.log.error('egress request failed', { error: (err as Error).message });
        if (!res.headersSent)
          sendProblem(res, problem('bad-request', 'the request could not be read'));
        else res.destroy();
      })
      .finally(() => {
        inFlight--;
        metrics.inFlight.dec();
        if (draining && inFlight === 0) drained?.();
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
    runtime,
    async close(drainMs = 10_000, poolsFree: Promise<void> = Promise.resolve()): Promise<void> {
      draining = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      if (inFlight > 0) {
        await Promise.race([
          new Promise<void>((resolve) => (drained = resolve)),
          new Promise<void>((resolve) => setTimeout(resolve, drainMs).unref()),
        ]);
      }
      server.closeAllConnections();
      await closed;
      await poolsFree;
      await Promise.all([store.close(), transparent.close()]);
    },
  };
}

// The ingress port: providers' webhooks arrive here and only verified, fresh, first-seen ones
// reach the app. The pipeline in `#handle` reads top to bottom; each stage may answer locally
// (a problem body) and the app is called last, so nothing that failed a stage can reach it.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer } from '../../common/http-server.ts';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { RedisClient } from '../redis-connect.ts';
import type { Registry } from 'prom-client';
import type { Logger } from '../../common/log.ts';
import type { LoadedConfig } from '../config/load.ts';
import type { OverloadGuard } from '../budget/overload.ts';
import type { VerifySuccess } from '../signing/index.ts';
import { PayloadTooLargeError, readBody } from '../delivery/body.ts';
import type { AttemptResult, Delivery } from '../delivery/delivery.ts';
import { resultReason, type DeliveryObservers } from '../delivery/observe.ts';
import { INGRESS_PLAN, INGRESS_PREFIX } from '../queue/ingress.ts';
import { deliveryKey, LocalDedupStore, type DedupStore } from './dedup.ts';
import { RedisDedupStore } from './dedup-redis.ts';
import { AppForwarder, DEFAULT_FORWARD_TIMEOUT_MS, type ForwardResult } from './forward.ts';
import { endToEndHeaders } from '../headers.ts';
import { createIngressMetrics, UNKNOWN_ENDPOINT_LABEL, type IngressMetrics } from './metrics.ts';
import { problem, sendProblem } from '../problem.ts';
import * as refuse from './refusals.ts';
import type { Refusal } from './refusals.ts';
import { compileRoutes, type IngressRoute } from './routes.ts';
import { LimiterFactory } from '../delivery/limiters.ts';
import type { RateLimiter } from '../delivery/token-bucket.ts';
import { FailureLimiter, failureSource } from './source-limit.ts';

/** What the ingress server needs from the rest of the sidecar. */
export interface IngressServerOptions {
  /** The configuration in force, read per request so a hot reload applies to the next one. */
  config: () => LoadedConfig;
  /** Registry for the `hookgate_ingress_*` metrics. */
  registry: Registry;
  log: Logger;
  /** Sheds new requests while memory is near the budget (ADR 0016). */
  overload?: OverloadGuard | undefined;
  /** Shares de-duplication across replicas when set; else a bounded store in this pod. */
  redis?: RedisClient;
  /** Clock in epoch ms (default `Date.now`): replay windows and the local store read it. */
  now?: () => number;
  /** Where the app listens (default 127.0.0.1). */
  appHost?: string;
  /** Longest wait for the app's response headers (default 30 s). */
  forwardTimeoutMs?: number;
  /** Waits between attempts while the app refuses connections (default 25/50/100/200 ms). */
  appConnectRetryDelaysMs?: readonly number[];
  /** How those waits are done; injected by tests. */
  sleep?: (ms: number) => Promise<void>;
  /** Keys the pod-local de-duplication store holds at most (default 100 000). */
  localDedupCapacity?: number;
  /** The durable queue's buffered-ingress accept path; `forward.buffered` routes use it when set. */
  buffer?: BufferIngress | undefined;
  /**
   * Who watches deliveries (history, traces). A direct forward is one attempt they hear of once
   * the app's answer has been streamed back; buffered ones are told by the queue worker.
   */
  observers?: DeliveryObservers | undefined;
}

/** Most of a response body kept for observers when the history keeps bodies whole. */
const MAX_OBSERVED_BODY_BYTES = 1024 * 1024;

/** Stores a verified webhook for background forwarding; `{deliveryId}` once durable. */
export type BufferIngress = (request: {
  readonly deliveryId: string;
  readonly endpointName: string;
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: Buffer;
}) => Promise<
  { readonly deliveryId: string } | { readonly bound: string; readonly retryAfterMs: number }
>;

/** A listening ingress server. */
export interface IngressServer {
  /** The bound port (useful when listening on port 0). */
  readonly port: number;
  /** Stops accepting, lets requests in progress finish, closes the pool to the app. */
  close(): Promise<void>;
}

// A slow sender must not hold a connection forever: the headers and the whole request each
// get a bound, generous for a 25 MiB body on a slow link.
const HEADERS_TIMEOUT_MS = 15_000;
const REQUEST_TIMEOUT_MS = 60_000;
// Margin on top of the longest forward, so a claim outlives the forward that holds it.
const CLAIM_MARGIN_MS = 5_000;

/** Path and query of a request target; absolute-form targets keep only their path. */
function splitTarget(url: string | undefined): { path: string; query: string } {
  let target = url ?? '/';
  if (!target.startsWith('/')) {
    try {
      const parsed = new URL(target);
      target = parsed.pathname + parsed.search;
    } catch {
      target = '/';
    }
  }
  const q = target.indexOf('?');
  return q < 0 ? { path: target, query: '' } : { path: target.slice(0, q), query: target.slice(q) };
}

/** The ingress pipeline, one instance per server. */
class Ingress {
  readonly #options: IngressServerOptions;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #metrics: IngressMetrics;
  readonly #forwarder: AppForwarder;
  readonly #dedup: DedupStore;
  readonly #routes = new WeakMap<LoadedConfig, ReadonlyMap<string, IngressRoute>>();
  readonly #bufferingNoticeGiven = new Set<string>();
  readonly #limiters: LimiterFactory;
  readonly #failures = new FailureLimiter();
  readonly #appHost: string;

  constructor(options: IngressServerOptions) {
    this.#options = options;
    this.#log = options.log.child({ component: 'ingress' });
    this.#now = options.now ?? Date.now;
    this.#metrics = createIngressMetrics(options.registry);
    this.#limiters = new LimiterFactory(options.redis, this.#log);
    this.#forwarder = new AppForwarder({
      ...(options.forwardTimeoutMs === undefined ? {} : { timeoutMs: options.forwardTimeoutMs }),
      ...(options.appConnectRetryDelaysMs === undefined
        ? {}
        : { connectRetryDelaysMs: options.appConnectRetryDelaysMs }),
      ...(options.sleep === undefined ? {} : { sleep: options.sleep }),
    });
    const local = new LocalDedupStore({
      now: this.#now,
      ...(options.localDedupCapacity === undefined ? {} : { capacity: options.localDedupCapacity }),
    });
    this.#dedup =
      options.redis === undefined
        ? local
        : new RedisDedupStore({
            redis: options.redis,
            fallback: local,
            onRedisError: (err) => {
              this.#metrics.dedupStoreErrors.inc();
              this.#log.warn('de-duplication store unavailable; using the pod-local store', {
                error: err.message,
              });
            },
          });
    const host = options.appHost ?? '127.0.0.1';
    this.#appHost = host.includes(':') ? `[${host}]` : host;
  }

  /** Handles one request; never rejects. */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let endpoint = UNKNOWN_ENDPOINT_LABEL;
    try {
      const { path, query } = splitTarget(req.url);
      // 1. Route by exact path; a stranger probing paths learns nothing about the others.
      const route = this.#routesFor(this.#options.config()).get(path);
      if (route === undefined) return this.#refuse(res, endpoint, refuse.unknownEndpoint());
      endpoint = route.endpointName;
      // 2. Webhooks are POSTs; refused before a byte of body is read.
      if (req.method !== 'POST')
        return this.#refuse(res, endpoint, refuse.methodNotAllowed(req.method));
      // 2b. A source whose forgeries used up its budget: 429 before its body is read.
      const source = failureSource(route.dedupScope, route.rateLimit, req.socket.remoteAddress);
      const failures = source && this.#failures.admits(source, this.#now());
      if (failures?.allowed === false)
        return this.#refuse(res, endpoint, refuse.rateLimited(failures.retryAfterMs), true);
      // 3. An endpoint that cannot verify answers 503, so providers retry once it is fixed.
      if (route.verifier === undefined)
        return this.#refuse(res, endpoint, refuse.endpointMisconfigured());
      // 4. The body, capped: a signature covers all of it, so it is held, never past the cap.
      let body: Buffer;
      try {
        body = await readBody(req, route.maxPayloadBytes, req.headers['content-length']);
      } catch (err) {
        if (err instanceof PayloadTooLargeError) {
          return this.#refuse(res, endpoint, refuse.payloadTooLarge(err.limitBytes), true);
        }
        this.#count(endpoint, 'aborted');
        res.destroy();
        return;
      }
      // 5. Verify, on the exact bytes received; nothing unverified goes past this line.
      const verified = route.verifier(req.headers, body, this.#now());
      this.#metrics.verifications.inc({
        endpoint,
        scheme: route.scheme,
        result: verified.ok ? 'verified' : verified.code,
      });
      if (!verified.ok) {
        if (source !== undefined) this.#failures.charge(source, this.#now());
        this.#log.info('webhook refused', {
          endpoint,
          code: verified.code,
          status: verified.statusCode,
        });
        return this.#refuse(res, endpoint, refuse.verificationRefusal(verified));
      }
      // 5a. The endpoint's rate limit, charged only by webhooks that verified.
      const limited = await this.#overLimit(route);
      if (limited !== undefined) return this.#refuse(res, endpoint, limited);
      // 5b. De-multiplex: the event type picks the app port and path (event-routes.ts); a type
      // no route takes may be refused or dropped here, before it claims a delivery id.
      const target = route.eventRouter?.(req.headers, body);
      if (target?.kind === 'answer') return this.#refuse(res, endpoint, target.refusal);
      // 6. De-duplicate, then 7. forward; in this order so that only a first copy is forwarded.
      await this.#deliver(
        req,
        res,
        route,
        verified,
        body,
        (target?.path ?? route.forwardPath ?? path) + query,
        target?.port ?? route.forwardPort,
        target?.eventType,
      );
    } catch (err) {
      this.#log.error('ingress request failed', { endpoint, error: (err as Error).message });
      if (res.headersSent) res.destroy();
      else this.#refuse(res, endpoint, refuse.internalError(), true);
    }
  }

  /** Claims the delivery id (when the scheme has one), forwards, then commits or releases. */
  async #deliver(
    req: IncomingMessage,
    res: ServerResponse,
    route: IngressRoute,
    verified: VerifySuccess,
    body: Buffer,
    appPath: string,
    appPort: number = route.forwardPort,
    eventType?: string,
  ): Promise<void> {
    const endpoint = route.endpointName;
    const { deliveryId } = verified;
    let key: string | undefined;
    const token = randomUUID();
    if (deliveryId !== undefined && route.dedupWindowMs > 0) {
      const binding =
        route.idBindingHeader === undefined
          ? undefined
          : String(req.headers[route.idBindingHeader]);
      key = deliveryKey(route.dedupScope, deliveryId, binding);
      const claimTtlMs = this.#forwarder.maxDurationMs + CLAIM_MARGIN_MS;
      const claim = await this.#dedup.claim(key, token, claimTtlMs);
      if (claim !== 'claimed') {
        this.#log.debug('duplicate delivery not forwarded', { endpoint, deliveryId, claim });
        return this.#refuse(
          res,
          endpoint,
          claim === 'delivered'
            ? refuse.duplicateDelivery(deliveryId, route.dedupWindow)
            : refuse.deliveryInFlight(deliveryId),
        );
      }
    }
    // The claim is settled (committed or released) before the provider hears back, so its retry
    // never finds a stale claim; `finally` covers a failure in between.
    let settled = key === undefined;
    const settle = async (accepted: boolean): Promise<void> => {
      if (settled || key === undefined) return;
      settled = true;
      // Remembered only once the app took it: a failed delivery must stay retryable.
      if (accepted) await this.#dedup.commit(key, route.dedupWindowMs);
      else await this.#dedup.release(key, token);
    };
    try {
      const buffer = this.#options.buffer;
      if (route.buffered && buffer !== undefined) {
        const stored = await buffer({
          deliveryId: `msg_${randomUUID().replaceAll('-', '')}`,
          endpointName: endpoint,
          url: `http://${this.#appHost}:${appPort}${appPath}`,
          headers: Object.fromEntries(
            Object.entries(this.#appHeaders(req, route, verified, eventType)).map(([k, v]) => [
              k,
              Array.isArray(v) ? v.join(', ') : v,
            ]),
          ),
          body,
        }).catch((err: unknown) => ({ bound: (err as Error).message, retryAfterMs: 1000 }));
        if ('bound' in stored) {
          await settle(false);
          this.#count(endpoint, 'queue_full');
          sendProblem(
            res,
            problem(
              'queue-full',
              `the webhook was verified but could not be stored for the app (${stored.bound}); send it again later`,
              { retryAfterMs: stored.retryAfterMs },
            ),
          );
          return;
        }
        // Stored durably: the provider is done, the worker forwards it (at least once).
        await settle(true);
        this.#count(endpoint, 'buffered');
        const text = JSON.stringify({ status: 'queued', deliveryId: stored.deliveryId });
        res.writeHead(202, {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(text),
          ...(deliveryId === undefined ? {} : { 'hookgate-delivery-id': deliveryId }),
        });
        res.end(text);
        return;
      }
      const headers = this.#appHeaders(req, route, verified, eventType);
      const observe = this.#observer(route, verified, headers, body, appPath, appPort, eventType);
      const result = await this.#forward(route, headers, body, appPath, appPort);
      if (result.kind !== 'response') {
        observe?.({
          kind: 'error',
          error:
            result.kind === 'timeout'
              ? 'timeout'
              : result.kind === 'unreachable'
                ? 'connect-error'
                : 'reset',
          message: result.kind === 'timeout' ? 'the app did not answer in time' : result.error,
          durationMs: observe.elapsed(),
        });
        await settle(false);
        this.#log.warn('webhook verified but not delivered', {
          endpoint,
          deliveryId,
          result: result.kind,
          attempts: result.attempts,
          ...(result.kind === 'timeout' ? {} : { error: result.error }),
        });
        return this.#refuse(
          res,
          endpoint,
          result.kind === 'timeout'
            ? refuse.appTimeout(this.#options.forwardTimeoutMs ?? DEFAULT_FORWARD_TIMEOUT_MS)
            : refuse.appUnreachable(),
        );
      }
      const accepted = result.statusCode >= 200 && result.statusCode < 300;
      await settle(accepted);
      this.#count(endpoint, accepted ? 'forwarded' : 'app_error');
      this.#log.debug('webhook forwarded', { endpoint, deliveryId, status: result.statusCode });
      res.writeHead(result.statusCode, {
        ...endToEndHeaders(result.headers),
        ...(deliveryId === undefined ? {} : { 'hookgate-delivery-id': deliveryId }),
      });
      // A provider that hangs up now has still delivered: the app took it, the claim is settled.
      // pipe, not stream.pipeline: that one builds an AbortError per call, which the bench profile showed.
      result.body.once('error', () => res.destroy());
      res.once('close', () => result.body.destroy());
      result.body.pipe(res);
      if (observe !== undefined) {
        const durationMs = observe.elapsed();
        captureBody(result.body, observe.bodyCap, (kept, truncated) =>
          observe({
            kind: 'response',
            status: result.statusCode,
            headers: result.headers as Record<string, string | string[]>,
            body: kept,
            truncated,
            durationMs,
          }),
        );
      }
    } finally {
      await settle(false);
    }
  }

  /**
   * The report of a direct forward to the observers, or undefined when none listen (then a
   * forward costs nothing more). Called once, with the attempt's result; `elapsed` is the time
   * since the forward began.
   */
  #observer(
    route: IngressRoute,
    verified: VerifySuccess,
    headers: Record<string, string | string[]>,
    body: Buffer,
    appPath: string,
    appPort: number,
    eventType: string | undefined,
  ): (((result: AttemptResult) => void) & { elapsed(): number; bodyCap: number }) | undefined {
    const observers = this.#options.observers;
    if (observers === undefined || observers.empty) return undefined;
    const startedAt = this.#now();
    const plan = INGRESS_PLAN;
    const delivery: Delivery = {
      // The provider's id when its scheme has one (its retries then land on one record).
      deliveryId: verified.deliveryId ?? `msg_${randomUUID().replaceAll('-', '')}`,
      endpointName: `${INGRESS_PREFIX}${route.endpointName}`,
      url: new URL(`http://${this.#appHost}:${appPort}${appPath}`),
      method: 'POST',
      headers: Object.fromEntries(
        Object.entries(headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(', ') : v]),
      ),
      body,
      deadline: startedAt + this.#forwarder.maxDurationMs,
      mode: 'sync',
      direction: 'ingress',
      ...(eventType === undefined ? {} : { eventType }),
    };
    let told = false;
    const observe = (result: AttemptResult): void => {
      if (told) return;
      told = true;
      observers.attempt({ delivery, attempt: 1, startedAt, result, plan });
      const delivered = result.kind === 'response' && result.status >= 200 && result.status < 300;
      const reason = resultReason(result);
      observers.ended({
        delivery,
        outcome: delivered ? 'delivered' : 'failed',
        attempts: 1,
        ...(reason === undefined ? {} : { reason }),
        at: this.#now(),
        plan,
      });
    };
    const { bodies, maxBodyBytes } = plan.history;
    return Object.assign(observe, {
      elapsed: () => this.#now() - startedAt,
      bodyCap:
        bodies === 'none' ? 0 : bodies === 'truncated' ? maxBodyBytes + 1 : MAX_OBSERVED_BODY_BYTES,
    });
  }

  /** Sends the webhook on with the original headers, minus hop-by-hop and credentials. */
  async #forward(
    route: IngressRoute,
    headers: Record<string, string | string[]>,
    body: Buffer,
    appPath: string,
    appPort: number = route.forwardPort,
  ): Promise<ForwardResult> {
    if (route.buffered && !this.#bufferingNoticeGiven.has(route.endpointName)) {
      // Reached only without a durable queue (it could not be opened).
      this.#bufferingNoticeGiven.add(route.endpointName);
      this.#log.warn(
        'buffered forwarding needs the durable queue, which is unavailable; forwarding synchronously',
        {
          endpoint: route.endpointName,
        },
      );
    }
    const started = performance.now();
    const result = await this.#forwarder.forward({
      origin: `http://${this.#appHost}:${appPort}`,
      path: appPath,
      headers,
      body,
    });
    this.#metrics.forwardDuration.observe(
      { endpoint: route.endpointName },
      (performance.now() - started) / 1000,
    );
    return result;
  }

  /** The headers the app gets: the original ones minus hop-by-hop and credentials, plus ours. */
  #appHeaders(
    req: IncomingMessage,
    route: IngressRoute,
    verified: VerifySuccess,
    eventType?: string,
  ): Record<string, string | string[]> {
    const drop = new Set([...route.credentialHeaders, 'content-length']);
    const forwardedFor = req.headers['x-forwarded-for'];
    const peer = req.socket.remoteAddress ?? '';
    return {
      ...endToEndHeaders(req.headers, drop),
      'x-forwarded-for': forwardedFor === undefined ? peer : `${String(forwardedFor)}, ${peer}`,
      'hookgate-verified': route.scheme,
      'hookgate-endpoint': route.endpointName,
      ...(verified.deliveryId === undefined ? {} : { 'hookgate-delivery-id': verified.deliveryId }),
      ...(eventType === undefined ? {} : { 'hookgate-event-type': eventType }),
    };
  }

  /** The routes of `loaded`, compiled on first use; problems are logged once per config. */
  #routesFor(loaded: LoadedConfig): ReadonlyMap<string, IngressRoute> {
    let routes = this.#routes.get(loaded);
    if (routes === undefined) {
      routes = compileRoutes(loaded);
      this.#routes.set(loaded, routes);
      for (const route of routes.values()) {
        if (route.misconfigured !== undefined) {
          this.#log.error('ingress endpoint cannot verify; answering 503 until fixed', {
            endpoint: route.endpointName,
            problem: route.misconfigured,
          });
        }
      }
    }
    return routes;
  }

  /** The 429 refusal when `route`'s rate limit is used up; takes a token otherwise. */
  async #overLimit(route: IngressRoute): Promise<Refusal | undefined> {
    const decision = await this.#limiterFor(route)?.take(this.#now());
    return decision?.allowed === false ? refuse.rateLimited(decision.retryAfterMs) : undefined;
  }

  /** One limiter per endpoint and settings, kept across config reloads that leave them alone. */
  #limiterFor(route: IngressRoute): RateLimiter | undefined {
    const settings = route.rateLimit;
    if (settings === undefined) return undefined;
    const limit = { ...settings, burst: settings.burst ?? settings.rate };
    return this.#limiters.limiter(route.dedupScope, `ingress/${route.dedupScope}`, limit);
  }

  #refuse(res: ServerResponse, endpoint: string, refusal: Refusal, closeConnection = false): void {
    this.#count(endpoint, refusal.outcome);
    sendProblem(res, refusal.problem, refusal.headers, closeConnection);
  }

  #count(endpoint: string, outcome: Refusal['outcome']): void {
    this.#metrics.requests.inc({ endpoint, outcome });
  }

  close(): Promise<void> {
    return this.#forwarder.close();
  }
}

/**
 * Copies the first `cap` bytes of `body` as it streams past (it is piped elsewhere) and calls
 * `done` once, when it ends or breaks: what was kept, and whether more went by.
 */
function captureBody(
  body: NodeJS.ReadableStream,
  cap: number,
  done: (kept: Buffer, truncated: boolean) => void,
): void {
  const chunks: Buffer[] = [];
  let kept = 0;
  let truncated = false;
  let finished = false;
  const finish = (): void => {
    if (finished) return;
    finished = true;
    done(Buffer.concat(chunks), truncated);
  };
  body.on('data', (chunk: Buffer) => {
    if (kept >= cap) {
      truncated ||= chunk.length > 0;
      return;
    }
    const part = chunk.length > cap - kept ? chunk.subarray(0, cap - kept) : chunk;
    if (part.length < chunk.length) truncated = true;
    chunks.push(Buffer.from(part));
    kept += part.length;
  });
  body.once('end', finish);
  body.once('close', finish);
}

/** Starts the ingress server on `host:port` (port 0 picks a free one). */
export async function startIngressServer(
  host: string,
  port: number,
  options: IngressServerOptions,
): Promise<IngressServer> {
  const ingress = new Ingress(options);
  const server: Server = createServer(
    { headersTimeout: HEADERS_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS },
    (req, res) => {
      if (options.overload?.refuse('ingress', req, res) !== true) void ingress.handle(req, res);
    },
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      await ingress.close();
    },
  };
}

// Transparent egress: a connection the pod's rules redirected to the egress port still carries
// the app's intent in its Host header (Node cannot read SO_ORIGINAL_DST without a native addon,
// and for HTTP the Host header names the same destination). `classifyEgressRequest` tells an
// intercepted request from an explicit one and matches it to an egress endpoint by host and port;
// `TransparentEgress` answers the ones no endpoint claims: pass through unchanged, or refuse.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Counter, type Registry } from 'prom-client';
import { Agent } from '../http-client.ts';
import type { Logger } from '../../common/log.ts';
import {
  createGuardedConnector,
  DestinationNotAllowedError,
  SsrfGuard,
  type Resolver,
} from '../delivery/ssrf/ssrf.ts';
import { endToEndHeaders } from '../headers.ts';
import type { LoadedConfig } from '../config/load.ts';
import { problem, sendProblem } from '../problem.ts';
import { hostText, isThisPod, parseAuthority } from './host.ts';

/** Methods that carry a webhook; other methods to an endpoint's host are ordinary traffic. */
const WEBHOOK_METHODS: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** The `Via` token the sidecar adds to what it passes through, and refuses to see twice. */
export const VIA_TOKEN = 'hookgate';

/** What an intercepted request is. */
export type InterceptedRequest =
  /** For an egress endpoint: deliver to `url` (the endpoint's origin, the app's path). */
  | { readonly kind: 'endpoint'; readonly endpointName: string; readonly url: URL }
  /** For no endpoint: `target` is where the app was going. */
  | { readonly kind: 'unmatched'; readonly target: URL; readonly reason: string };

/** The request's header and target, as node:http gives them. */
export interface RequestLine {
  readonly method?: string | undefined;
  readonly url?: string | undefined;
  readonly headers: IncomingMessage['headers'];
}

/** An egress endpoint as the matcher sees it. */
export interface EndpointAddress {
  readonly name: string;
  readonly url: string;
}

const normalHost = (host: string): string => host.toLowerCase().replace(/\.$/, '');

/**
 * The port a plain-HTTP request must be sent to for `endpoint` to claim it: the URL's explicit
 * port, else 80 — for https:// too, since the app sends plain HTTP and the sidecar adds TLS.
 */
function capturedPort(endpoint: URL): number {
  return endpoint.port === '' ? 80 : Number(endpoint.port);
}

/** Whether the endpoint's path is a prefix of `path` on a segment boundary. */
function pathPrefixLength(endpointPath: string, path: string): number {
  const base = endpointPath.replace(/\/$/, '');
  if (base === '') return 0;
  return path === base || path.startsWith(`${base}/`) ? base.length : -1;
}

/**
 * Classifies a request on the egress port of a transparent-mode sidecar (explicit-mode sidecars
 * never call this). `undefined`: an explicit request — it names a `Hookgate-Destination`, or its
 * authority is malformed, absent or this pod in any spelling (see host.ts) — handled as before.
 * Otherwise the Host header (or an absolute-form target, as from an app using HTTP_PROXY) names
 * where the app was going; the endpoint whose URL has that host and port claims it, the longest
 * URL path prefix winning among several.
 */
export function classifyEgressRequest(
  req: RequestLine,
  endpoints: readonly EndpointAddress[],
): InterceptedRequest | undefined {
  // The app said where the webhook goes: the dynamic route decides, never the Host header.
  if (req.headers['hookgate-destination'] !== undefined) return undefined;
  let authorityText: string;
  let pathAndQuery = req.url ?? '/';
  if (/^https?:\/\//i.test(pathAndQuery)) {
    const absolute = URL.parse(pathAndQuery);
    if (absolute === null || absolute.username !== '' || absolute.password !== '') return undefined;
    authorityText = absolute.host;
    pathAndQuery = absolute.pathname + absolute.search;
  } else {
    const host = req.headers.host;
    if (typeof host !== 'string') return undefined;
    // The app's own requests to the sidecar (Host: 127.0.0.1:15001) leave before any URL parse.
    if (host.startsWith('127.0.0.1:')) return undefined;
    authorityText = host;
  }
  const authority = parseAuthority(authorityText);
  if (authority === undefined || isThisPod(authority.host)) return undefined;
  const port = authority.port ?? 80;
  const target = URL.parse(
    `http://${hostText(authority.host)}:${port}${pathAndQuery.startsWith('/') ? '' : '/'}${pathAndQuery}`,
  );
  if (target === null) return undefined;
  const method = (req.method ?? 'GET').toUpperCase();
  if (!WEBHOOK_METHODS.has(method)) {
    return { kind: 'unmatched', target, reason: `${method} is not a webhook method` };
  }
  const host = normalHost(target.hostname);
  let best: { endpoint: EndpointAddress; url: URL; prefix: number } | undefined;
  for (const endpoint of endpoints) {
    const url = new URL(endpoint.url);
    if (normalHost(url.hostname) !== host || capturedPort(url) !== port) continue;
    const prefix = pathPrefixLength(url.pathname, target.pathname);
    if (best === undefined || prefix > best.prefix) best = { endpoint, url, prefix };
  }
  if (best === undefined) {
    return { kind: 'unmatched', target, reason: `no egress endpoint for ${host}:${port}` };
  }
  // The endpoint's scheme, host and port (https: TLS origination); the app's path and query.
  const url = new URL(best.url.origin);
  url.pathname = target.pathname;
  url.search = target.search;
  return { kind: 'endpoint', endpointName: best.endpoint.name, url };
}

/** Hop-by-hop and framing headers are Node's and undici's business on each side. */
const FRAMING: ReadonlySet<string> = new Set(['content-length']);

/** Answers intercepted requests that no endpoint claims, per `interception.unmatched`. */
export class TransparentEgress {
  // The pass-through pool of the configuration in force, dialling through that configuration's
  // SSRF guard: a reload gets a new pool, so no socket opened under looser rules outlives them.
  #pool: { readonly loaded: LoadedConfig; readonly agent: Agent } | undefined;
  readonly #resolver: Resolver | undefined;
  readonly #log: Logger;
  readonly #unmatched: Counter<'action'>;

  /** Registers `hookgate_egress_intercepted_unmatched_total` on `registry`. */
  constructor(options: { log: Logger; registry: Registry; resolver?: Resolver | undefined }) {
    this.#log = options.log;
    this.#resolver = options.resolver;
    this.#unmatched = new Counter({
      name: 'hookgate_egress_intercepted_unmatched_total',
      help: 'Intercepted egress requests no endpoint claimed, by action (passthrough, refused, loop, unreachable).',
      labelNames: ['action'],
      registers: [options.registry],
    });
  }

  /**
   * The pass-through's guard for `loaded`: the refused ranges of every egress delivery, with the
   * exceptions the namespace's policies grant (`destinations.allowedCIDRs` and `allowedHosts`, of
   * the policies in effect for endpoints and dynamic routes): what a policy admits for a delivery
   * it admits here too, and nothing else is.
   */
  #guardFor(loaded: LoadedConfig): SsrfGuard {
    const destinations = [...loaded.config.endpoints, ...loaded.config.dynamic].map(
      (e) => e.policy.destinations,
    );
    try {
      return new SsrfGuard(
        {
          allowedCidrs: destinations.flatMap((d) => d?.allowedCIDRs ?? []),
          allowedHosts: destinations.flatMap((d) => d?.allowedHosts ?? []),
        },
        this.#resolver,
      );
    } catch (err) {
      // A rule the guard cannot read admits nothing; the dynamic route refuses it as well.
      this.#log.warn('pass-through guard: ignoring invalid destination rules', {
        error: (err as Error).message,
      });
      return new SsrfGuard({}, this.#resolver);
    }
  }

  /** The pool for `loaded`; the previous configuration's pool closes once its requests finish. */
  #agentFor(loaded: LoadedConfig): Agent {
    if (this.#pool?.loaded !== loaded) {
      const previous = this.#pool?.agent;
      const connect = createGuardedConnector(this.#guardFor(loaded), { timeout: 5000 });
      this.#pool = { loaded, agent: new Agent({ connect, keepAliveTimeout: 10_000 }) };
      void previous?.close().catch(() => undefined);
    }
    return this.#pool.agent;
  }

  /** The endpoints of `loaded`, for {@link classifyEgressRequest}. */
  static endpoints(loaded: LoadedConfig): readonly EndpointAddress[] {
    return loaded.config.endpoints;
  }

  /** Passes `req` through to where the app was going, or refuses it; never rejects. */
  async unmatched(
    req: IncomingMessage,
    res: ServerResponse,
    intercepted: Extract<InterceptedRequest, { kind: 'unmatched' }>,
    loaded: LoadedConfig,
  ): Promise<void> {
    const { target } = intercepted;
    const via = req.headers.via;
    if (typeof via === 'string' && via.toLowerCase().includes(VIA_TOKEN)) {
      // Our own pass-through came back (a rule or Host pointing at this pod): stop the loop.
      this.#unmatched.inc({ action: 'loop' });
      sendProblem(
        res,
        problem('loop-detected', `${target.host} leads back to this sidecar`),
        {},
        true,
      );
      return;
    }
    if (loaded.config.interception.unmatched === 'refuse') {
      this.#refuse(
        res,
        `${intercepted.reason}, and interception.unmatched is refuse: add a WebhookEndpoint for ${target.host} or set interception.unmatched to passthrough`,
      );
      return;
    }
    const agent = this.#agentFor(loaded);
    const method = (req.method ?? 'GET').toUpperCase();
    const headers = endToEndHeaders(req.headers, FRAMING);
    headers['via'] = `${typeof via === 'string' ? `${via}, ` : ''}1.1 ${VIA_TOKEN}`;
    const length = req.headers['content-length'];
    if (length !== undefined) headers['content-length'] = length;
    try {
      const response = await agent.request({
        origin: target.origin,
        path: target.pathname + target.search,
        method: method,
        headers,
        body: method === 'GET' || method === 'HEAD' ? null : req,
      });
      this.#unmatched.inc({ action: 'passthrough' });
      res.writeHead(response.statusCode, endToEndHeaders(response.headers));
      response.body.once('error', () => res.destroy());
      res.once('close', () => response.body.destroy());
      response.body.pipe(res);
    } catch (err) {
      if (err instanceof DestinationNotAllowedError) {
        this.#refuse(
          res,
          `${err.message}; a policy's destinations.allowedCIDRs (or allowedHosts) can admit it`,
        );
        return;
      }
      this.#unmatched.inc({ action: 'unreachable' });
      this.#log.info('intercepted pass-through failed', {
        host: target.host,
        error: (err as Error).message,
      });
      if (res.headersSent) {
        res.destroy();
        return;
      }
      sendProblem(
        res,
        problem('receiver-unreachable', `${target.host}: ${(err as Error).message}`),
        {},
        true,
      );
    }
  }

  /** Answers 403 destination-not-allowed with `detail`, and counts it. */
  #refuse(res: ServerResponse, detail: string): void {
    this.#unmatched.inc({ action: 'refused' });
    sendProblem(res, problem('destination-not-allowed', detail), {}, true);
  }

  /** Closes the pass-through connection pool. */
  async close(): Promise<void> {
    await this.#pool?.agent.close();
  }
}

// Which endpoint a request to the egress port is for, and the URL it goes to: an intercepted
// request's own endpoint, a dynamic destination (POST / with Hookgate-Destination) admitted by a
// policy, or a named endpoint (POST /<name>[/extra/path][?query]). Anything else is a problem.
import type { IncomingMessage } from 'node:http';
import type { EgressRuntime, EndpointRuntime } from '../delivery/runtime.ts';
import type { InterceptedRequest } from '../interception/egress.ts';
import { problem, type Problem } from '../problem.ts';

/** A routed request. */
export interface Routed {
  readonly endpoint: EndpointRuntime;
  /** Never changed once routed: see `Delivery.url`. */
  readonly url: Readonly<URL>;
  /** Metrics and log name: the endpoint's, or `dynamic` (arbitrary hosts never become labels). */
  readonly label: string;
}

/** A dynamic destination: the first route whose policy admits the host (ADR 0006). */
function routeDynamic(destination: string, rt: EgressRuntime): Routed | Problem {
  let target: URL;
  try {
    target = new URL(destination);
  } catch {
    target = new URL('invalid:');
  }
  if (target.protocol !== 'https:' && target.protocol !== 'http:')
    return problem(
      'bad-destination',
      'Hookgate-Destination must be an absolute http:// or https:// URL',
    );
  const dynamic = rt.dynamic.find((d) => d.admitsHost(target.hostname));
  if (dynamic === undefined)
    return problem(
      'destination-not-allowed',
      `no policy's destinations.allowedHosts admits ${target.hostname}`,
    );
  return { endpoint: dynamic, url: target, label: 'dynamic' };
}

/** A target of one path segment of unreserved characters that is not `.` or `..`. */
const PLAIN_NAME = /^\/[A-Za-z0-9_~-][A-Za-z0-9._~-]*$/;

/** Finds the endpoint and target URL of a request, or the problem that refuses it. */
export function routeRequest(
  req: IncomingMessage,
  rt: EgressRuntime,
  intercepted?: InterceptedRequest,
): Routed | Problem {
  if (intercepted?.kind === 'endpoint') {
    const claimed = rt.endpoints.get(intercepted.endpointName);
    if (claimed !== undefined)
      return { endpoint: claimed, url: intercepted.url, label: claimed.name };
  }
  const target = req.url ?? '/';
  // The common case, `/<name>` with nothing URL parsing could change, skips the parser.
  if (PLAIN_NAME.test(target)) return routeNamed(target.slice(1), [], '', rt);
  const url = new URL(target, 'http://egress');
  const [, first = '', ...rest] = url.pathname.split('/');
  if (first === '') {
    const destination = req.headers['hookgate-destination'];
    if (typeof destination === 'string') return routeDynamic(destination, rt);
    return problem(
      'unknown-endpoint',
      'POST /<endpoint-name>[/path], or POST / with a Hookgate-Destination header',
    );
  }
  return routeNamed(decodeURIComponent(first), rest, url.search, rt);
}

/** The named endpoint `name`, its URL extended by `rest` and `search`. */
function routeNamed(
  name: string,
  rest: readonly string[],
  search: string,
  rt: EgressRuntime,
): Routed | Problem {
  const endpoint = rt.endpoints.get(name);
  if (endpoint?.url === undefined) {
    return problem(
      'unknown-endpoint',
      `no egress endpoint named "${name}" in config generation ${rt.generation}`,
      { endpoint: name },
    );
  }
  // The endpoint's own URL while the request adds nothing to it (no parse per request); a copy
  // to extend otherwise, so the endpoint's is never changed.
  if (rest.length === 0 && search === '')
    return { endpoint, url: endpoint.url, label: endpoint.name };
  const target = new URL(endpoint.url);
  if (rest.length > 0) target.pathname = `${target.pathname.replace(/\/$/, '')}/${rest.join('/')}`;
  if (search !== '') target.search = search;
  return { endpoint, url: target, label: endpoint.name };
}

/** Whether a route result is a refusal. */
export function isProblem(routed: Routed | Problem): routed is Problem {
  return 'type' in routed;
}

// Problem details (RFC 9457) for every answer the sidecar gives on its own, egress and ingress:
// the app or the provider learns what happened and what to do — the header or limit at fault —
// never a secret, an expected signature or the body.
import type { ServerResponse } from 'node:http';

/** Base of every problem `type` URI; the slug after it is stable (ADRs 0004 and 0006 list them). */
export const PROBLEM_TYPE_BASE = 'https://hookgate.io/problems/';

/** One catalog entry: the status a problem answers with, its title and what the client can do. */
export interface ProblemEntry {
  readonly status: number;
  readonly title: string;
  /** What the app, the provider or the operator can do about it; sent as the `hint` member. */
  readonly hint: string;
}

/**
 * Every answer the sidecar gives on its own, egress, ingress and admin (DESIGN.md's list): one
 * slug, one status, one title. Statuses marked "default" may be overridden by the caller (a
 * verification failure is 400 or 401 as the library decided).
 */
export const PROBLEMS = {
  // Egress: refusals before the receiver is reached.
  'unknown-endpoint': {
    status: 404,
    title: 'Unknown endpoint',
    hint: 'POST /<endpoint-name>[/path] naming an egress WebhookEndpoint, or POST / with Hookgate-Destination.',
  },
  'bad-destination': {
    status: 400,
    title: 'Bad destination',
    hint: 'Hookgate-Destination must be an absolute http:// or https:// URL.',
  },
  'destination-not-allowed': {
    status: 403,
    title: 'Destination not allowed',
    hint: "Add the host to a policy's destinations.allowedHosts, or its address range to allowedCIDRs.",
  },
  'payload-too-large': {
    status: 413,
    title: 'Payload too large',
    hint: "Send a smaller body, or raise the policy's maxPayloadBytes (at most 25 MiB).",
  },
  'method-not-allowed': {
    status: 405,
    title: 'Method not allowed',
    hint: 'Send webhooks with POST (or PUT, PATCH, DELETE).',
  },
  'bad-request': {
    status: 400,
    title: 'Bad request',
    hint: 'Fix the request as the detail says.',
  },
  'rate-limited': {
    status: 429,
    title: 'Rate limited',
    hint: 'Send it again after Retry-After, or send it async (Prefer: respond-async) to let the queue wait.',
  },
  'circuit-open': {
    status: 503,
    title: 'Circuit open',
    hint: 'The receiver keeps failing; send it again after Retry-After, or async so the queue holds it.',
  },
  'endpoint-paused': {
    status: 503,
    title: 'Endpoint paused',
    hint: 'The endpoint has spec.paused set; unpause it, or send async so the queue holds the delivery.',
  },
  'endpoint-disabled': {
    status: 503,
    title: 'Endpoint disabled',
    hint: 'The endpoint was disabled after failing for too long; see its Healthy condition.',
  },
  'queue-full': {
    status: 503,
    title: 'Queue full',
    hint: 'Send it again after Retry-After; the queue bounds are queue.maxPerEndpoint, maxTotal and maxBytes.',
  },
  'queue-unavailable': {
    status: 503,
    title: 'Queue unavailable',
    hint: 'The delivery was not stored; send it again after Retry-After.',
  },
  overloaded: {
    status: 503,
    title: 'Overloaded',
    hint: 'The sidecar is near its memory limit; send it again after Retry-After.',
  },
  'shutting-down': {
    status: 503,
    title: 'Shutting down',
    hint: 'The sidecar is draining; send it again, it reaches another pod.',
  },
  'loop-detected': {
    status: 508,
    title: 'Loop detected',
    hint: 'The request came back through this sidecar; check the interception rules and the Host header.',
  },
  // Egress: how the receiver failed, when the gateway answers for it.
  'receiver-unreachable': {
    status: 502,
    title: 'Receiver unreachable',
    hint: 'Check that the receiver is up and its name resolves.',
  },
  'receiver-timeout': {
    status: 504,
    title: 'Receiver timed out',
    hint: "The receiver did not answer within the policy's timeout.",
  },
  'token-endpoint-failed': {
    status: 502,
    title: 'Token endpoint failed',
    hint: "The receiver's OAuth2 token endpoint gave no token, so nothing was sent; check spec.auth.oauth2 (tokenURL, client id and secret) and that the authorization server is up.",
  },
  'redirect-not-followed': {
    status: 502,
    title: 'Receiver redirected',
    hint: 'Webhooks are never redirected: point the endpoint at the final URL.',
  },
  // Fan-out (POST /_events).
  'event-type-missing': {
    status: 400,
    title: 'Event type missing',
    hint: 'Send Hookgate-Event-Type, or the type at the configured field of a JSON body.',
  },
  'bad-event-type': {
    status: 400,
    title: 'Bad event type',
    hint: 'Write the event type like order.created.',
  },
  'bad-selector': {
    status: 400,
    title: 'Bad endpoint selector',
    hint: 'Write Hookgate-Endpoint-Selector as a label selector: key=value,key!=value.',
  },
  'fan-out-too-wide': {
    status: 422,
    title: 'Fan-out too wide',
    hint: 'Narrow the event with Hookgate-Endpoint-Selector, or raise fanOut.maxEndpoints.',
  },
  // Ingress (statuses by default; a verification failure keeps the library's 400 or 401).
  'signature-missing': {
    status: 401,
    title: 'Signature missing',
    hint: 'Send the signature headers this endpoint verifies.',
  },
  'signature-malformed': {
    status: 400,
    title: 'Signature header malformed',
    hint: "Send the header exactly as the scheme's documentation describes it.",
  },
  'signature-mismatch': {
    status: 401,
    title: 'Signature does not match',
    hint: "Sign the exact body bytes with the endpoint's current secret.",
  },
  'timestamp-outside-tolerance': {
    status: 401,
    title: 'Timestamp outside the replay window',
    hint: "Check the sender's clock, and sign each attempt with a fresh timestamp.",
  },
  'credentials-missing': {
    status: 401,
    title: 'Credentials missing',
    hint: 'Send the Authorization header this endpoint requires.',
  },
  'credentials-invalid': {
    status: 401,
    title: 'Credentials not accepted',
    hint: 'Send the credentials configured for this endpoint.',
  },
  'endpoint-misconfigured': {
    status: 503,
    title: 'Endpoint not ready',
    hint: 'Retry later; the receiver has been told about its configuration.',
  },
  'duplicate-delivery': {
    status: 200,
    title: 'Duplicate delivery',
    hint: 'Nothing to do: the application already has this delivery.',
  },
  'delivery-in-progress': {
    status: 409,
    title: 'Delivery in progress',
    hint: 'Retry after Retry-After: the copy in flight decides.',
  },
  'app-unreachable': {
    status: 502,
    title: 'Application unreachable',
    hint: 'Retry later; the webhook was not recorded as delivered.',
  },
  'app-timeout': {
    status: 504,
    title: 'Application timeout',
    hint: 'Retry later; the webhook was not recorded as delivered.',
  },
  'internal-error': {
    status: 500,
    title: 'Internal error',
    hint: 'Retry later.',
  },
  'event-type-not-routed': {
    status: 422,
    title: 'Event type not routed',
    hint: 'Unsubscribe the endpoint from this type at the provider, or add a route for it.',
  },
  'event-type-dropped': {
    status: 200,
    title: 'Event type dropped',
    hint: 'Nothing to do: this endpoint drops the type on purpose (forward.unrouted: drop).',
  },
  // Admin API.
  forbidden: {
    status: 403,
    title: 'Forbidden',
    hint: 'Use kubectl port-forward (loopback), or Authorization: Bearer with HOOKGATE_ADMIN_TOKEN.',
  },
  'not-found': { status: 404, title: 'Not found', hint: 'Check the id or the path.' },
  'not-dead': {
    status: 409,
    title: 'Not a dead letter',
    hint: 'Only dead letters are replayed.',
  },
  'history-unavailable': {
    status: 503,
    title: 'History unavailable',
    hint: 'The history store did not answer; try again, and check the sidecar log and Redis.',
  },
  'too-many-tails': {
    status: 503,
    title: 'Too many live tails',
    hint: 'Close another /history/stream on this pod, or filter one tail for several views.',
  },
} as const satisfies Record<string, ProblemEntry>;

/** A problem slug of the catalog. */
export type ProblemSlug = keyof typeof PROBLEMS;

/** An RFC 9457 problem; `type` holds the slug, written out as a URI on the wire. */
export interface Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  /** Stable machine-readable reason; defaults to the slug with `_` for `-`. */
  readonly code?: string;
  /** Extension members: endpoint, deliveryId, attempts, retryAfterMs… */
  readonly [extension: string]: unknown;
}

/** The problem's stable code: `code`, else the slug with `_` for `-`. */
export function problemCode(p: Problem): string {
  return p.code ?? p.type.replaceAll('-', '_');
}

/**
 * The catalog's problem `slug` with `detail` (what happened, naming the header or limit at
 * fault) and extension members; `status` and `code` override the entry's for the few callers
 * whose status is decided elsewhere (verification failures).
 */
export function problem(
  slug: ProblemSlug,
  detail: string,
  extensions: Readonly<Record<string, unknown>> = {},
  override: { readonly status?: number; readonly code?: string } = {},
): Problem {
  const entry: ProblemEntry = PROBLEMS[slug];
  return {
    ...extensions,
    type: slug,
    title: entry.title,
    status: override.status ?? entry.status,
    detail,
    hint: entry.hint,
    code: override.code ?? slug.replaceAll('-', '_'),
  };
}

/**
 * Writes `p` as the whole response, with `Retry-After` when it carries `retryAfterMs`. When the
 * request body was not read to the end, `closeConnection` stops Node from reusing a socket whose
 * unread bytes would be parsed as the next request.
 */
export function sendProblem(
  res: ServerResponse,
  p: Problem,
  headers: Readonly<Record<string, string>> = {},
  closeConnection = false,
): void {
  const body = JSON.stringify({
    ...p,
    type: PROBLEM_TYPE_BASE + p.type,
    code: problemCode(p),
  });
  const retryAfterMs = p['retryAfterMs'];
  res.writeHead(p.status, {
    ...(typeof retryAfterMs === 'number'
      ? { 'retry-after': String(Math.max(1, Math.ceil(retryAfterMs / 1000))) }
      : {}),
    ...headers,
    'content-type': 'application/problem+json',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    ...(closeConnection ? { connection: 'close' } : {}),
  });
  res.end(body);
}

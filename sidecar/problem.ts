// Problem details (RFC 9457) for every answer the sidecar gives on its own, egress and ingress:
// the app or the provider learns what happened and what to do — the header or limit at fault —
// never a secret, an expected signature or the body.
import type { ServerResponse } from 'node:http';

/** Base of every problem `type` URI; the slug after it is stable (ADRs 0004 and 0006 list them). */
export const PROBLEM_TYPE_BASE = 'https://hookgate.io/problems/';

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

/** Builds a problem. */
export function problem(
  slug: string,
  title: string,
  status: number,
  detail: string,
  code?: string,
): Problem {
  return { type: slug, title, status, detail, code: code ?? slug.replaceAll('-', '_') };
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

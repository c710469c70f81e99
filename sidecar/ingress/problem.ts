// Refusals the ingress answers itself, as RFC 9457 problem details. Every refusal is written for
// the sender (a provider's delivery log, a developer reading it): it names the header or the
// limit at fault and what to do, and never contains a secret, an expected signature or the body.
import type { ServerResponse } from 'node:http';

/** Base of every problem `type` URI; the slug after it is stable and documented in ADR 0004. */
export const PROBLEM_TYPE_BASE = 'https://hookgate.io/problems/';

/** Media type of a problem body (RFC 9457 section 3). */
export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** An RFC 9457 problem, plus `code`: the stable machine-readable reason. */
export interface Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  /** Stable reason code (a verification failure code, or an ingress one such as `duplicate`). */
  readonly code: string;
}

/** Builds a problem whose `type` is {@link PROBLEM_TYPE_BASE} + `slug`. */
export function problem(
  slug: string,
  title: string,
  status: number,
  detail: string,
  code: string = slug.replaceAll('-', '_'),
): Problem {
  return { type: PROBLEM_TYPE_BASE + slug, title, status, detail, code };
}

/**
 * Writes `p` as the whole response. `headers` adds to it (`Allow`, `Retry-After`, ...). When the
 * request body was not read to the end, `closeConnection` stops Node from reusing a socket whose
 * unread bytes would be parsed as the next request.
 */
export function sendProblem(
  res: ServerResponse,
  p: Problem,
  headers: Readonly<Record<string, string>> = {},
  closeConnection = false,
): void {
  const body = JSON.stringify(p);
  res.writeHead(p.status, {
    ...headers,
    'content-type': PROBLEM_CONTENT_TYPE,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    ...(closeConnection ? { connection: 'close' } : {}),
  });
  res.end(body);
}

// Problem details (RFC 9457) for every answer the sidecar gives on its own: the app or the
// provider learns what happened and what to do, never a secret.
import type { ServerResponse } from 'node:http';

/** Problem types the sidecar answers with; each is a page under https://hookgate.io/problems/. */
export type ProblemType =
  | 'rate-limited'
  | 'circuit-open'
  | 'destination-not-allowed'
  | 'payload-too-large'
  | 'unknown-endpoint'
  | 'receiver-unreachable'
  | 'receiver-timeout'
  | 'redirect-not-followed'
  | 'method-not-allowed'
  | 'bad-request'
  | 'shutting-down'
  | 'not-available';

/** An RFC 9457 problem with Hookgate's extension members. */
export interface Problem {
  type: ProblemType;
  title: string;
  status: number;
  detail: string;
  /** Extension members: endpoint, deliveryId, attempts, retryAfterMs… */
  [extension: string]: unknown;
}

/** Writes `problem` as `application/problem+json`, with Retry-After when it carries retryAfterMs. */
export function sendProblem(
  res: ServerResponse,
  problem: Problem,
  headers: Record<string, string> = {},
): void {
  const body = JSON.stringify({ ...problem, type: `https://hookgate.io/problems/${problem.type}` });
  const retryAfterMs = problem['retryAfterMs'];
  res.writeHead(problem.status, {
    ...headers,
    'content-type': 'application/problem+json',
    'content-length': Buffer.byteLength(body),
    ...(typeof retryAfterMs === 'number'
      ? { 'retry-after': String(Math.max(1, Math.ceil(retryAfterMs / 1000))) }
      : {}),
  });
  res.end(body);
}

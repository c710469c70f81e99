// The queue's admin API on the admin port (15020), for people on call:
//   GET    /queue/stats                                   depth by state and endpoint, oldest age
//   GET    /queue/deliveries?endpoint=&state=&from=&to=&limit=   summaries, oldest accepted first
//   GET    /queue/deliveries/{id}                         one delivery: attempt history, headers, body
//   POST   /queue/deliveries/{id}/replay                  a dead letter back to pending (same webhook-id)
//   POST   /queue/replay?endpoint=&from=&to=              an endpoint's dead letters accepted in [from, to)
//   DELETE /queue/deliveries/{id}                         purge one
//   DELETE /queue/deliveries?endpoint=&state=&from=&to=   purge matching (at least one filter)
// The admin port binds 0.0.0.0 and deliveries carry payloads: who may call is admin-guard.ts
// (loopback or the bearer token, no cross-site browser, a Host naming this pod, a header on changes).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { problem, sendProblem, type Problem } from '../problem.ts';
import { adminRefusal } from './admin-guard.ts';
import type { Clock } from '../delivery/delivery.ts';
import type { DeliveryFilter, DeliveryState, QueueStore, QueuedDelivery } from './store.ts';

/** What the admin handler needs. */
export interface QueueAdminOptions {
  readonly store: QueueStore;
  readonly clock: Clock;
  readonly backend: string;
  readonly adminToken?: string | undefined;
  readonly onReplayed: (n: number) => void;
}

const STATES = new Set<DeliveryState>(['pending', 'retrying', 'dead']);
const MAX_LIMIT = 1000;

/** A bad query parameter: the caller gets 400 naming it and the fix. */
export class BadParam extends Error {}

/** Epoch ms from `from`/`to`: RFC 3339 or epoch milliseconds. */
export function time(params: URLSearchParams, name: string): number | undefined {
  const value = params.get(name);
  if (value === null || value === '') return undefined;
  const ms = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
  if (!Number.isFinite(ms))
    throw new BadParam(`${name}="${value}" is not a time: use RFC 3339 or epoch milliseconds`);
  return ms;
}

function filterOf(params: URLSearchParams): DeliveryFilter {
  const state = params.get('state');
  if (state !== null && !STATES.has(state as DeliveryState))
    throw new BadParam(`state="${state}" is not one of pending, retrying, dead`);
  const endpointName = params.get('endpoint');
  const acceptedFrom = time(params, 'from');
  const acceptedTo = time(params, 'to');
  return {
    ...(endpointName !== null && endpointName !== '' ? { endpointName } : {}),
    ...(state !== null ? { state: state as DeliveryState } : {}),
    ...(acceptedFrom !== undefined ? { acceptedFrom } : {}),
    ...(acceptedTo !== undefined ? { acceptedTo } : {}),
  };
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** A delivery without its payload, for lists. */
function summary(d: QueuedDelivery): Record<string, unknown> {
  const url = new URL(d.url);
  const last = d.attempts.at(-1);
  return {
    deliveryId: d.deliveryId,
    endpoint: d.endpointName,
    url: `${url.origin}${url.pathname}`,
    state: d.state,
    acceptedAt: iso(d.acceptedAt),
    nextAttemptAt: d.state === 'dead' ? null : iso(d.nextAttemptAt),
    deadAt: d.state === 'dead' ? iso(d.nextAttemptAt) : null,
    attempts: d.attempts.length,
    lastAttempt: last === undefined ? null : { ...last, at: iso(last.at) },
    replays: d.replays,
    ordered: d.ordered,
  };
}

/** A delivery in full: its attempt history, headers and body (UTF-8 when it is, else base64). */
function detail(d: QueuedDelivery): Record<string, unknown> {
  const text = d.body.toString('utf8');
  const isText = Buffer.from(text, 'utf8').equals(d.body);
  return {
    ...summary(d),
    url: d.url,
    method: d.method,
    headers: d.headers,
    ...(isText ? { body: text } : { bodyBase64: d.body.toString('base64') }),
    attempts: d.attempts.map((a) => ({ ...a, at: iso(a.at) })),
  };
}

/** Answers `body` as JSON, never cached. */
export function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body) + '\n';
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  res.end(text);
}

function badRequest(detailText: string): Problem {
  return problem('bad-request', detailText);
}

/**
 * Serves one admin API under `/<prefix>/` behind the admin guard: false (without answering) for
 * other paths; a BadParam (or a RangeError) answers 400, any other failure `unavailable(err)`.
 */
export function guardedAdminRoute(
  req: IncomingMessage,
  res: ServerResponse,
  prefix: string,
  adminToken: string | undefined,
  serve: (url: URL) => Promise<void>,
  unavailable: (err: Error) => Problem,
): boolean {
  const url = new URL(req.url ?? '/', 'http://admin');
  if (url.pathname !== `/${prefix}` && !url.pathname.startsWith(`/${prefix}/`)) return false;
  const refusal = adminRefusal(req, adminToken);
  if (refusal !== undefined) {
    sendProblem(res, refusal);
    return true;
  }
  void serve(url).catch((err: unknown) => {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (err instanceof BadParam || err instanceof RangeError)
      sendProblem(res, badRequest(err.message));
    else sendProblem(res, unavailable(err as Error));
  });
  return true;
}

/** Serves `/queue/...`; returns false (without answering) for any other path. */
export function queueAdminHandler(
  req: IncomingMessage,
  res: ServerResponse,
  options: QueueAdminOptions,
): boolean {
  return guardedAdminRoute(
    req,
    res,
    'queue',
    options.adminToken,
    (url) => serve(req, res, url, options),
    (err) =>
      problem('queue-unavailable', `the ${options.backend} queue did not answer: ${err.message}`, {
        retryAfterMs: 1000,
      }),
  );
}

async function serve(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  o: QueueAdminOptions,
): Promise<void> {
  let parts: string[];
  try {
    parts = url.pathname.split('/').slice(2).map(decodeURIComponent);
  } catch {
    throw new BadParam(`${url.pathname} is not a valid path (bad percent-encoding)`);
  }
  const method = req.method ?? 'GET';
  const params = url.searchParams;
  const notFound = (id: string): void =>
    sendProblem(
      res,
      problem('not-found', `no delivery ${id} in the queue (delivered ones leave it)`),
    );

  if (parts.length === 1 && parts[0] === 'stats' && method === 'GET') {
    json(res, 200, { backend: o.backend, ...(await o.store.stats(o.clock.now())) });
    return;
  }
  if (parts.length === 1 && parts[0] === 'deliveries') {
    const filter = filterOf(params);
    if (method === 'GET') {
      const asked = Number(params.get('limit') ?? 100);
      if (!Number.isInteger(asked) || asked < 1)
        throw new BadParam(
          `limit="${params.get('limit')}" must be a whole number from 1 to ${MAX_LIMIT}`,
        );
      const limit = Math.min(MAX_LIMIT, asked);
      const list = await o.store.list(filter, limit);
      json(res, 200, { deliveries: list.map(summary) });
      return;
    }
    if (method === 'DELETE') {
      if (Object.keys(filter).length === 0)
        throw new BadParam('name at least one of endpoint, state, from, to to purge');
      json(res, 200, { purged: await o.store.purge(filter) });
      return;
    }
  }
  if (parts.length === 2 && parts[0] === 'deliveries') {
    const id = parts[1]!;
    if (method === 'GET') {
      const d = await o.store.get(id);
      if (d === undefined) notFound(id);
      else json(res, 200, detail(d));
      return;
    }
    if (method === 'DELETE') {
      const n = await o.store.purge({ deliveryId: id });
      if (n === 0) notFound(id);
      else json(res, 200, { purged: n });
      return;
    }
  }
  if (
    parts.length === 3 &&
    parts[0] === 'deliveries' &&
    parts[2] === 'replay' &&
    method === 'POST'
  ) {
    const id = parts[1]!;
    const n = await o.store.replay({ deliveryId: id }, o.clock.now());
    if (n === 0) {
      const d = await o.store.get(id);
      if (d === undefined) notFound(id);
      else
        sendProblem(
          res,
          problem('not-dead', `delivery ${id} is ${d.state}; only dead letters are replayed`),
        );
      return;
    }
    o.onReplayed(n);
    json(res, 200, { replayed: n, deliveryId: id });
    return;
  }
  if (parts.length === 1 && parts[0] === 'replay' && method === 'POST') {
    const filter = filterOf(params);
    if (filter.endpointName === undefined)
      throw new BadParam('name the endpoint whose dead letters to replay: ?endpoint=<name>');
    const n = await o.store.replay({ ...filter, state: 'dead' }, o.clock.now());
    o.onReplayed(n);
    json(res, 200, { replayed: n });
    return;
  }
  sendProblem(
    res,
    problem(
      'not-found',
      `${method} ${url.pathname} is not a queue admin route (see docs/adr/0007-durable-queue.md)`,
    ),
  );
}

// The history's admin API on the admin port (15020), behind the same guard as /queue/:
//   GET /history/deliveries?endpoint=&eventType=&outcome=&direction=&from=&to=&id=&cursor=&limit=
//        -> { items: DeliverySummary[], nextCursor? }  newest first, filtered by the store
//        (`since`/`until` are accepted for from/to)
//   GET /history/deliveries/{id}  -> DeliveryRecord, its attempt timeline (404 problem when unknown)
//   GET /history/stream?endpoint=&eventType=&outcome=&direction=  live tail of summaries as they are
//        recorded: text/event-stream, or NDJSON with `Accept: application/x-ndjson`
// Records are redacted when written; nothing here reads a secret.
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  advanceSummary,
  matchesQuery,
  summaryOf,
  type Direction,
  type HistoryQuery,
  type HistoryUpdate,
  type Outcome,
} from '../../common/history.ts';
import { problem, sendProblem } from '../problem.ts';
import { BadParam, guardedAdminRoute, json, time } from '../queue/admin.ts';
import { MAX_PAGE } from './store.ts';
import type { HistoryRecorder } from './recorder.ts';

/** What the history admin handler needs. */
export interface HistoryAdminOptions {
  readonly recorder: HistoryRecorder;
  readonly adminToken?: string | undefined;
  /** Live tails open at once at most. */
  readonly maxTails?: number;
  /** Milliseconds between keep-alive comments on a tail. */
  readonly heartbeatMs?: number;
}

const OUTCOMES: ReadonlySet<string> = new Set([
  'delivered',
  'failed',
  'retrying',
  'dead',
  'refused',
]);
const DIRECTIONS: ReadonlySet<string> = new Set(['egress', 'ingress']);
/** Bytes a slow tail reader may leave unread before updates to it are dropped. */
const TAIL_HIGH_WATER = 1024 * 1024;

function oneOf<T extends string>(
  params: URLSearchParams,
  name: string,
  allowed: ReadonlySet<string>,
): T | undefined {
  const value = params.get(name);
  if (value === null || value === '') return undefined;
  if (!allowed.has(value))
    throw new BadParam(`${name}="${value}" is not one of ${[...allowed].join(', ')}`);
  return value as T;
}

/** The filters of a list or a tail from the query string; every bad value is a BadParam. */
export function historyQuery(params: URLSearchParams): HistoryQuery {
  const asked = Number(params.get('limit') ?? 100);
  if (!Number.isInteger(asked) || asked < 1)
    throw new BadParam(
      `limit="${params.get('limit')}" must be a whole number from 1 to ${MAX_PAGE}`,
    );
  const text = (name: string): string | undefined => {
    const v = params.get(name);
    return v === null || v === '' ? undefined : v.slice(0, 253);
  };
  const outcome = oneOf<Outcome>(params, 'outcome', OUTCOMES);
  const direction = oneOf<Direction>(params, 'direction', DIRECTIONS);
  const from = time(params, 'from') ?? time(params, 'since');
  const to = time(params, 'to') ?? time(params, 'until');
  const endpoint = text('endpoint');
  const eventType = text('eventType');
  const cursor = text('cursor');
  return {
    limit: Math.min(MAX_PAGE, asked),
    ...(endpoint !== undefined ? { endpoint } : {}),
    ...(eventType !== undefined ? { eventType } : {}),
    ...(outcome !== undefined ? { outcome } : {}),
    ...(direction !== undefined ? { direction } : {}),
    ...(from !== undefined ? { from } : {}),
    ...(to !== undefined ? { to } : {}),
    ...(cursor !== undefined ? { cursor } : {}),
  };
}

/** Serves `/history/...`; returns false (without answering) for any other path. */
export function historyAdminHandler(
  req: IncomingMessage,
  res: ServerResponse,
  options: HistoryAdminOptions,
  tails: { open: number },
): boolean {
  return guardedAdminRoute(
    req,
    res,
    'history',
    options.adminToken,
    (url) => serve(req, res, url, options, tails),
    (err) =>
      problem(
        'history-unavailable',
        `the ${options.recorder.store.backend} history did not answer: ${err.message}`,
        { retryAfterMs: 1000 },
      ),
  );
}

async function serve(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  o: HistoryAdminOptions,
  tails: { open: number },
): Promise<void> {
  const store = o.recorder.store;
  const parts = url.pathname.split('/').slice(2);
  if ((req.method ?? 'GET') !== 'GET') {
    sendProblem(res, problem('method-not-allowed', 'the history is read-only: use GET'));
    return;
  }
  if (parts.length === 1 && parts[0] === 'deliveries') {
    const query = historyQuery(url.searchParams);
    const id = url.searchParams.get('id');
    if (id !== null && id !== '') {
      const record = await store.get(id);
      json(res, 200, {
        items: record !== undefined && matchesQuery(record, query) ? [summaryOf(record)] : [],
      });
      return;
    }
    json(res, 200, await store.list(query));
    return;
  }
  if (parts.length === 2 && parts[0] === 'deliveries') {
    let id: string;
    try {
      id = decodeURIComponent(parts[1]!);
    } catch {
      throw new BadParam(`${url.pathname} is not a valid path (bad percent-encoding)`);
    }
    const record = await store.get(id);
    if (record === undefined)
      sendProblem(
        res,
        problem('not-found', `no delivery ${id} in the history (it may be past its retention)`),
      );
    else json(res, 200, record);
    return;
  }
  if (parts.length === 1 && parts[0] === 'stream') {
    tail(req, res, url, o, tails);
    return;
  }
  sendProblem(
    res,
    problem(
      'not-found',
      `GET ${url.pathname} is not a history route (see docs/adr/0022-delivery-history.md)`,
    ),
  );
}

/** The live tail: each recorded update matching the filters, as one summary line or event. */
function tail(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  o: HistoryAdminOptions,
  tails: { open: number },
): void {
  const query = historyQuery(url.searchParams);
  if (tails.open >= (o.maxTails ?? 16)) {
    sendProblem(res, problem('too-many-tails', `${tails.open} live tails are open on this pod`));
    return;
  }
  const ndjson = (req.headers.accept ?? '').includes('application/x-ndjson');
  res.writeHead(200, {
    'content-type': ndjson ? 'application/x-ndjson' : 'text/event-stream',
    'cache-control': 'no-store',
    'x-accel-buffering': 'no',
  });
  res.flushHeaders();
  tails.open++;
  const write = (u: HistoryUpdate): void => {
    const summary = advanceSummary(undefined, u);
    if (!matchesQuery(summary, query)) return;
    // A reader that does not keep up loses updates rather than growing our memory.
    if (res.writableLength > TAIL_HIGH_WATER) return;
    const line = JSON.stringify(summary);
    res.write(ndjson ? `${line}\n` : `event: delivery\ndata: ${line}\n\n`);
  };
  const unsubscribe = o.recorder.subscribe(write);
  const heartbeat = setInterval(
    () => res.write(ndjson ? '\n' : ': keep-alive\n\n'),
    o.heartbeatMs ?? 15_000,
  );
  heartbeat.unref();
  res.on('close', () => {
    clearInterval(heartbeat);
    unsubscribe();
    tails.open--;
  });
}

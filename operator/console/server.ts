// The console on its own port (9090, off unless enabled; ADR 0023). Routes:
//   GET  /login, POST /login {token}, POST /logout        a session for a browser
//   GET  /endpoints, /deliveries, /deliveries/search?id=, /deliveries/{ns}/{id}, /dead-letters, /tail
//   GET  /api/v1/whoami | namespaces | status | endpoints | deliveries | deliveries/{id}
//        | namespaces/{ns}/deliveries/{id} | stream (SSE) | watch (NDJSON)
//   POST /api/v1/namespaces/{ns}/replay {ids} | {endpoint, from, to}
// (The JSON API is versioned by its path; `kubectl hookgate` is its client.)
// Identity: `Authorization: Bearer`, `Hookgate-Authorization: Bearer` (what arrives through the
// API server's service proxy, which consumes Authorization itself), or the session cookie.
// Changes need the `Hookgate-Console` header (no cross-site form can send it) and a same-origin
// request; the cookie is SameSite=Strict and HttpOnly.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createServer } from '../../common/http-server.ts';
import type { AddressInfo } from 'node:net';
import type { Outcome } from '../../common/history.ts';
import type { Logger } from '../../common/log.ts';
import type { Access, ConsoleUser } from './auth.ts';
import { CONSOLE_CSS, CONSOLE_JS } from './assets.ts';
import { OUTCOMES, type ConsoleData, type DeliveryFilter } from './data.ts';
import * as pages from './pages.ts';
import { deliveryChanges } from './watch.ts';

/** The header every change must carry. */
export const CONSOLE_CHANGE_HEADER = 'hookgate-console';
/** The header carrying the user's token through the API server's service proxy. */
export const CONSOLE_TOKEN_HEADER = 'hookgate-authorization';
const SESSION_COOKIE = 'hookgate_session';
const SESSION_TTL_MS = 8 * 3600_000;
const MAX_SESSIONS = 10_000;
const MAX_BODY_BYTES = 64 * 1024;
const PAGE_SIZE = 50;
const MAX_PAGE_SIZE = 500;

const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cache-control': 'no-store',
} as const;

/** What the console server needs. */
export interface ConsoleOptions {
  readonly host: string;
  readonly port: number;
  readonly access: Access;
  readonly data: ConsoleData;
  readonly log: Logger;
  /** How often a live tail asks the sidecars again; tests shorten it. */
  readonly pollMs?: number;
}

/** A started console. */
export interface ConsoleServer {
  readonly port: number;
  close(): Promise<void>;
}

/** A request the caller got wrong: answered with `status` and a problem document. */
class ConsoleRefusal extends Error {
  readonly status: number;
  readonly slug: string;
  constructor(status: number, slug: string, detail: string) {
    super(detail);
    this.status = status;
    this.slug = slug;
  }
}

function send(
  res: ServerResponse,
  status: number,
  type: string,
  body: string,
  extra: Record<string, string> = {},
): void {
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    'content-type': type,
    'content-length': Buffer.byteLength(body),
    ...extra,
  });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  send(res, status, 'application/json', JSON.stringify(body) + '\n');
}

function sendProblem(res: ServerResponse, status: number, slug: string, detail: string): void {
  send(
    res,
    status,
    'application/problem+json',
    JSON.stringify({ type: `https://hookgate.io/problems/${slug}`, title: slug, status, detail }) +
      '\n',
  );
}

function time(params: URLSearchParams, name: string): number | undefined {
  const value = params.get(name);
  if (value === null || value === '') return undefined;
  // datetime-local inputs carry no zone: the form labels them UTC.
  const ms = /^\d+$/.test(value)
    ? Number(value)
    : Date.parse(/T\d\d:\d\d(:\d\d(\.\d+)?)?$/.test(value) ? `${value}Z` : value);
  if (!Number.isFinite(ms))
    throw new ConsoleRefusal(400, 'bad-request', `${name}="${value}" is not a time (RFC 3339)`);
  return ms;
}

function filterOf(params: URLSearchParams, outcome?: Outcome): DeliveryFilter {
  const text = (name: string): string | undefined => {
    const v = params.get(name);
    return v === null || v === '' ? undefined : v;
  };
  const asked = text('outcome');
  if (asked !== undefined && !OUTCOMES.includes(asked as Outcome))
    throw new ConsoleRefusal(
      400,
      'bad-request',
      `outcome="${asked}" is not one of ${OUTCOMES.join(', ')}`,
    );
  const limit = Number(text('limit') ?? PAGE_SIZE);
  if (!Number.isInteger(limit) || limit < 1)
    throw new ConsoleRefusal(400, 'bad-request', `limit must be a whole number ≥ 1`);
  return {
    namespace: text('namespace'),
    endpoint: text('endpoint'),
    eventType: text('eventType'),
    outcome: outcome ?? (asked as Outcome | undefined),
    from: time(params, 'from'),
    to: time(params, 'to'),
    cursor: text('cursor'),
    limit: Math.min(limit, MAX_PAGE_SIZE),
  };
}

async function readJson(req: IncomingMessage): Promise<Record<string, unknown>> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new ConsoleRefusal(413, 'payload-too-large', 'body too big');
    chunks.push(chunk as Buffer);
  }
  if (size === 0) return {};
  try {
    const value = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
    if (typeof value === 'object' && value !== null) return value as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new ConsoleRefusal(400, 'bad-request', 'the body must be a JSON object');
}

function cookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return v.join('=');
  }
  return undefined;
}

/** A change must come from this console's own pages (or a non-browser client). */
function changeRefusal(req: IncomingMessage): string | undefined {
  if (req.headers[CONSOLE_CHANGE_HEADER] === undefined)
    return `changes need the header ${CONSOLE_CHANGE_HEADER}: 1`;
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none')
    return `a ${String(site)} browser request may not change anything`;
  const origin = req.headers.origin;
  if (origin !== undefined && URL.parse(origin)?.host !== req.headers.host)
    return 'a request from another origin may not change anything';
  return undefined;
}

/** Starts the console. */
export async function startConsole(o: ConsoleOptions): Promise<ConsoleServer> {
  const sessions = new Map<string, { token: string; until: number }>();
  const tails = new Set<ServerResponse>();

  const tokenOf = (req: IncomingMessage): string | undefined => {
    for (const header of [req.headers.authorization, req.headers[CONSOLE_TOKEN_HEADER]]) {
      if (typeof header === 'string' && header.startsWith('Bearer ')) return header.slice(7).trim();
    }
    const id = cookie(req, SESSION_COOKIE);
    const session = id === undefined ? undefined : sessions.get(id);
    if (session === undefined) return undefined;
    if (session.until < Date.now()) {
      sessions.delete(id!);
      return undefined;
    }
    return session.token;
  };

  const userOf = async (req: IncomingMessage): Promise<ConsoleUser | undefined> => {
    const token = tokenOf(req);
    return token === undefined || token === '' ? undefined : o.access.authenticate(token);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://console');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    const isApi = path.startsWith('/api/');
    if (method === 'GET' && path === '/assets/console.css')
      return send(res, 200, 'text/css; charset=utf-8', CONSOLE_CSS);
    if (method === 'GET' && path === '/assets/console.js')
      return send(res, 200, 'text/javascript; charset=utf-8', CONSOLE_JS);
    if (method === 'GET' && path === '/healthz') return send(res, 200, 'text/plain', 'ok\n');
    if (method === 'GET' && path === '/login')
      return send(res, 200, 'text/html; charset=utf-8', pages.loginPage());
    if (method === 'POST' && (path === '/login' || path === '/logout')) {
      const refusal = changeRefusal(req);
      if (refusal !== undefined) throw new ConsoleRefusal(403, 'forbidden', refusal);
      if (path === '/logout') {
        const id = cookie(req, SESSION_COOKIE);
        if (id !== undefined) sessions.delete(id);
        return sendJson(res, 200, {});
      }
      const { token } = await readJson(req);
      const user = typeof token === 'string' ? await o.access.authenticate(token) : undefined;
      if (user === undefined)
        throw new ConsoleRefusal(401, 'unauthenticated', 'the API server did not accept the token');
      if (sessions.size >= MAX_SESSIONS) sessions.delete(sessions.keys().next().value!);
      const id = randomBytes(32).toString('base64url');
      sessions.set(id, { token: token as string, until: Date.now() + SESSION_TTL_MS });
      res.setHeader(
        'set-cookie',
        `${SESSION_COOKIE}=${id}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${SESSION_TTL_MS / 1000}`,
      );
      o.log.info('console sign-in', { user: user.username });
      return sendJson(res, 200, { username: user.username });
    }

    const user = await userOf(req);
    if (user === undefined) {
      if (isApi)
        throw new ConsoleRefusal(
          401,
          'unauthenticated',
          'present a Kubernetes bearer token (Authorization or Hookgate-Authorization)',
        );
      res.writeHead(303, { ...SECURITY_HEADERS, location: '/login' });
      res.end();
      return;
    }
    const who = user.username;
    const params = url.searchParams;
    const parts = path
      .split('/')
      .filter((p) => p !== '')
      .map(decodeURIComponent);

    if (method === 'POST') {
      const refusal = changeRefusal(req);
      if (refusal !== undefined) throw new ConsoleRefusal(403, 'forbidden', refusal);
      // POST /api/v1/namespaces/{ns}/replay
      if (parts.length === 5 && parts[2] === 'namespaces' && parts[4] === 'replay') {
        const ns = parts[3]!;
        const body = await readJson(req);
        if (Array.isArray(body['ids'])) {
          const ids = body['ids'].filter((x): x is string => typeof x === 'string').slice(0, 1000);
          const results = await o.data.replay(user, ns, ids);
          o.log.info('console replay', { user: who, namespace: ns, count: ids.length });
          const forbidden = Object.values(results).every((r) => r === 'forbidden');
          return sendJson(res, ids.length > 0 && forbidden ? 403 : 200, { results });
        }
        if (typeof body['endpoint'] !== 'string')
          throw new ConsoleRefusal(400, 'bad-request', 'name ids, or an endpoint and a range');
        const range = new URLSearchParams();
        for (const k of ['from', 'to'])
          if (typeof body[k] === 'string' || typeof body[k] === 'number')
            range.set(k, String(body[k]));
        const n = await o.data.replayRange(
          user,
          ns,
          body['endpoint'],
          time(range, 'from'),
          time(range, 'to'),
        );
        if (n === undefined)
          throw new ConsoleRefusal(
            403,
            'forbidden',
            `replay needs update on webhookendpoints/${body['endpoint']} in ${ns}`,
          );
        o.log.info('console replay range', { user: who, namespace: ns, replayed: n });
        return sendJson(res, 200, { replayed: n });
      }
      throw new ConsoleRefusal(404, 'not-found', `POST ${path} is not a console route`);
    }
    if (method !== 'GET') throw new ConsoleRefusal(405, 'method-not-allowed', `${method} ${path}`);

    if (isApi) {
      const route = parts.slice(2).join('/');
      if (route === 'whoami') return sendJson(res, 200, { username: who, groups: user.groups });
      if (route === 'namespaces')
        return sendJson(res, 200, { namespaces: await o.data.namespaces(user) });
      if (route === 'endpoints')
        return sendJson(res, 200, {
          items: await o.data.endpoints(user, params.get('namespace') ?? undefined),
        });
      if (route === 'deliveries')
        return sendJson(res, 200, await o.data.deliveries(user, filterOf(params)));
      if (parts.length === 6 && parts[2] === 'namespaces' && parts[4] === 'deliveries') {
        const record = await o.data.delivery(user, parts[5]!, parts[3]);
        if (record === undefined)
          throw new ConsoleRefusal(404, 'not-found', `no delivery ${parts[5]} you may see`);
        return sendJson(res, 200, record);
      }
      if (route === 'status')
        return sendJson(res, 200, {
          namespaces: await o.data.status(user, params.get('namespace') ?? undefined),
        });
      // A delivery by id alone: searched in every namespace the caller may see.
      if (parts.length === 4 && parts[2] === 'deliveries') {
        const record = await o.data.delivery(user, parts[3]!);
        if (record === undefined)
          throw new ConsoleRefusal(404, 'not-found', `no delivery ${parts[3]} you may see`);
        return sendJson(res, 200, record);
      }
      if (route === 'stream') return tail(res, user, filterOf(params), 'sse');
      if (route === 'watch') return tail(res, user, filterOf(params), 'ndjson');
      throw new ConsoleRefusal(404, 'not-found', `GET ${path} is not a console route`);
    }

    const html = (body: string): void => send(res, 200, 'text/html; charset=utf-8', body);
    if (path === '/' || path === '/endpoints')
      return html(
        pages.endpointsPage(
          who,
          await o.data.endpoints(user, params.get('namespace') ?? undefined),
        ),
      );
    if (path === '/deliveries') {
      const f = filterOf(params);
      const [namespaces, page] = await Promise.all([
        o.data.namespaces(user),
        o.data.deliveries(user, f),
      ]);
      return html(pages.deliveriesPage(who, f, namespaces, page));
    }
    // Unknown and not visible read the same: a hidden namespace's delivery is not confirmed.
    const noDelivery = (id: string): void =>
      send(
        res,
        404,
        'text/html; charset=utf-8',
        pages.messagePage(who, 'Not found', `No delivery ${id} in a namespace you may see.`),
      );
    if (path === '/deliveries/search') {
      const id = (params.get('id') ?? '').trim();
      const record = id === '' ? undefined : await o.data.delivery(user, id);
      if (record === undefined) return noDelivery(id);
      res.writeHead(303, {
        ...SECURITY_HEADERS,
        location: `/deliveries/${encodeURIComponent(record.namespace)}/${encodeURIComponent(record.deliveryId)}`,
      });
      res.end();
      return;
    }
    if (parts.length === 3 && parts[0] === 'deliveries') {
      const [, ns, id] = parts as [string, string, string];
      const record = await o.data.delivery(user, id, ns);
      if (record === undefined) return noDelivery(id);
      const canReplay = await o.access.allowed(user, 'update', ns, record.endpoint);
      return html(pages.deliveryPage(who, record, canReplay));
    }
    if (path === '/dead-letters') {
      const f = filterOf(params, 'dead');
      const [namespaces, page] = await Promise.all([
        o.data.namespaces(user),
        o.data.deliveries(user, f),
      ]);
      return html(pages.deadLettersPage(who, f, namespaces, page));
    }
    if (path === '/tail') return html(pages.tailPage(who, params.get('namespace') ?? undefined));
    send(
      res,
      404,
      'text/html; charset=utf-8',
      pages.messagePage(who, 'Not found', `${path} is not a console page.`),
    );
  };

  /**
   * A live tail: every delivery whose attempts or outcome changed, as server-sent events (the
   * page) or as NDJSON lines `{"type":"delivery","delivery":{...}}` (the plugin's `-w`).
   */
  const tail = async (
    res: ServerResponse,
    user: ConsoleUser,
    filter: DeliveryFilter,
    framing: 'sse' | 'ndjson',
  ): Promise<void> => {
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'content-type': framing === 'sse' ? 'text/event-stream' : 'application/x-ndjson',
      connection: 'keep-alive',
    });
    if (framing === 'sse') res.write(': live tail\n\n');
    tails.add(res);
    const stop = new AbortController();
    // The response's close: the client went away (or the server is closing).
    res.on('close', () => {
      stop.abort();
      tails.delete(res);
    });
    for await (const change of deliveryChanges(o.data, user, filter, stop.signal, o.pollMs)) {
      if (stop.signal.aborted) break;
      const data = change.type === 'delivery' ? change.delivery : { detail: change.detail };
      res.write(
        framing === 'sse'
          ? `event: ${change.type}\ndata: ${JSON.stringify(data)}\n\n`
          : JSON.stringify({ type: change.type, [change.type]: data }) + '\n',
      );
    }
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      if (err instanceof ConsoleRefusal) sendProblem(res, err.status, err.slug, err.message);
      else {
        o.log.warn('console request failed', { path: req.url, error: (err as Error).message });
        sendProblem(res, 502, 'upstream-unavailable', (err as Error).message);
      }
    });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 0; // the live tail is a long response
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  o.log.info('console listening', { host: o.host, port });
  return {
    port,
    close: async (): Promise<void> => {
      for (const t of tails) t.end();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

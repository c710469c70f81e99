// Delivery history: the record of every attempt of every delivery (sync, async, fan-out, ingress
// forwarding), written by the sidecar and read by the console, `kubectl hookgate` and the admin
// API. One shape, so the recorder, the stores (Redis capped streams, the pod's disk) and the
// readers can be built side by side.
//
// Where it lives:
// - Redis (when the sidecar has HOOKGATE_REDIS_URL): see `historyKeys` below; readers may read
//   Redis directly.
// - Else the pod's disk, read through the sidecar's admin API (port 15020), which readers reach
//   through the API server's pod proxy:
//     GET  /history/deliveries?endpoint=&eventType=&outcome=&direction=&from=&to=&cursor=&limit=
//          -> { items: DeliverySummary[], nextCursor?: string }   newest first, server-side filters
//     GET  /history/deliveries/{deliveryId}  -> DeliveryRecord (404 problem when unknown)
//     GET  /history/stream?endpoint=...      -> text/event-stream of DeliverySummary (live tail)
//   Replay stays the queue's: POST /queue/deliveries/{id}/replay (and POST /queue/replay?...).
// Secrets and signatures are redacted before a record is written, never on read.

/** Which way the webhook went. */
export type Direction = 'egress' | 'ingress';

/** How a delivery (or one attempt) ended so far. */
export type Outcome =
  | 'delivered' // a 2xx from the receiver (egress) or the app (ingress)
  | 'failed' // attempts exhausted or not retryable, sync
  | 'retrying' // an async delivery waiting for its next attempt
  | 'dead' // an async delivery in the dead-letter state
  | 'refused'; // refused by the gateway before any attempt (problem slug in `problem`)

/** One attempt on the wire. */
export interface AttemptRecord {
  readonly attempt: number; // 1-based
  readonly at: string; // RFC 3339
  readonly latencyMs: number;
  /** The receiver's status; absent when no response arrived (connect error, timeout). */
  readonly status?: number;
  /** Why it failed when it did: a problem slug, `timeout`, `connect-error`, `http-<status>`. */
  readonly error?: string;
  /** The response body, truncated to the policy's limit (UTF-8, or base64 with `responseBodyEncoding`). */
  readonly responseBody?: string;
  readonly responseBodyEncoding?: 'utf8' | 'base64';
  readonly responseBodyTruncated?: boolean;
  /** Response headers, with secrets redacted. */
  readonly responseHeaders?: Readonly<Record<string, string>>;
}

/** A delivery without its bodies, for lists. */
export interface DeliverySummary {
  readonly deliveryId: string; // equals the webhook-id sent
  readonly namespace: string;
  readonly endpoint: string; // the WebhookEndpoint's name
  readonly direction: Direction;
  readonly eventType?: string;
  readonly mode: 'sync' | 'async';
  readonly outcome: Outcome;
  readonly problem?: string; // the problem slug when the gateway refused or gave up
  readonly attempts: number;
  readonly firstAttemptAt: string; // RFC 3339 (acceptance time when no attempt was made)
  readonly lastAttemptAt: string;
  readonly lastStatus?: number;
  readonly pod: string; // the sidecar's pod name, to reach its admin API
  readonly traceparent?: string;
}

/** A delivery in full. */
export interface DeliveryRecord extends DeliverySummary {
  readonly url: string; // origin + path only: no query, no userinfo
  readonly method: string;
  /** Request headers as sent, with signatures and secrets redacted to "[redacted]". */
  readonly requestHeaders: Readonly<Record<string, string>>;
  /** The request body when the policy's history.bodies allows it (none | truncated | full). */
  readonly requestBody?: string;
  readonly requestBodyEncoding?: 'utf8' | 'base64';
  readonly requestBodyTruncated?: boolean;
  readonly attemptLog: readonly AttemptRecord[];
}

/** The value written in place of a secret or a signature. */
export const REDACTED = '[redacted]';

/** Header names whose values are credentials or signatures, whatever the scheme. */
const SECRET_HEADER =
  /^(authorization|proxy-authorization|cookie|set-cookie|x-api-key|api-key|x-auth-token|webhook-signature|svix-signature|x-hub-signature(-256)?|stripe-signature|x-shopify-hmac-sha256|x-slack-signature|x-signature|.*-signature|.*-token|.*-secret|.*-api-key|.*-password)$/i;
/** Values that are credentials whatever header carries them: auth schemes and webhook secrets. */
const SECRET_VALUE = /^\s*(bearer|basic|digest|token)\s|whsec_/i;

/** True when a header named `name` must not be shown; `alsoSecret` holds lower-case extra names. */
export function isSecretHeader(name: string, alsoSecret?: ReadonlySet<string>): boolean {
  return knownSecret(name) || alsoSecret?.has(name.toLowerCase()) === true;
}

// The same few header names come by on every delivery: the pattern's verdict is kept per name
// (bounded: past it, names are judged afresh).
const verdicts = new Map<string, boolean>();
function knownSecret(name: string): boolean {
  let secret = verdicts.get(name);
  if (secret === undefined) {
    secret = SECRET_HEADER.test(name);
    if (verdicts.size < 1024) verdicts.set(name, secret);
  }
  return secret;
}

/**
 * The one redaction of history, pages and plugin output: `headers` with every credential or
 * signature replaced by {@link REDACTED} — known names, names the policy marks secret
 * (`alsoSecret`, lower-case: a generic HMAC scheme's header, `auth.headers` from Secrets), and any
 * value that reads as a credential. Names come back lower-case.
 */
export function redactHeaders(
  headers: Readonly<Record<string, string | readonly string[] | undefined>>,
  alsoSecret?: ReadonlySet<string>,
): Record<string, string> {
  const out: Record<string, string> = {};
  // for…in, not Object.entries: this runs for every recorded attempt (own enumerable keys only:
  // header records are plain objects).
  for (const rawName in headers) {
    if (!Object.hasOwn(headers, rawName)) continue;
    const raw = headers[rawName];
    if (raw === undefined) continue;
    const name = rawName.toLowerCase();
    out[name] = redactedValue(name, typeof raw === 'string' ? raw : raw.join(', '), alsoSecret);
  }
  return out;
}

/** `value` of the lower-case header `name` as {@link redactHeaders} keeps it. */
export function redactedValue(
  name: string,
  value: string,
  alsoSecret?: ReadonlySet<string>,
): string {
  return isSecretHeader(name, alsoSecret) || SECRET_VALUE.test(value) ? REDACTED : value;
}

/**
 * `record` with its request and response headers redacted again: readers (the console, the
 * plugin) do it whatever the writer did, so a record written before a header was known to be
 * secret shows it no more.
 */
export function redactRecord(record: DeliveryRecord): DeliveryRecord {
  return {
    ...record,
    requestHeaders: redactHeaders(record.requestHeaders),
    attemptLog: record.attemptLog.map((a) =>
      a.responseHeaders === undefined
        ? a
        : { ...a, responseHeaders: redactHeaders(a.responseHeaders) },
    ),
  };
}

/** A URL as history shows it: origin and path, never userinfo or the query (it may hold keys). */
export function historyUrl(url: URL | string): string {
  const u = typeof url === 'string' ? new URL(url) : url;
  return `${u.origin}${u.pathname}`;
}

/**
 * What the sidecar writes: one update of one delivery, an attempt that ended or (no `attempt`) a
 * change of outcome alone, such as an async delivery turning dead. A store keeps a delivery's
 * updates in order and a reader folds them with {@link foldHistory}, so no writer ever reads
 * before it writes (two pods may update one async delivery).
 */
export interface HistoryUpdate {
  readonly deliveryId: string;
  readonly namespace: string;
  readonly endpoint: string;
  readonly direction: Direction;
  readonly eventType?: string;
  readonly mode: 'sync' | 'async';
  /** The delivery's outcome as of this update. */
  readonly outcome: Outcome;
  readonly problem?: string;
  readonly pod: string;
  readonly traceparent?: string;
  /** When the update was made (RFC 3339): the attempt's start, or the change's time. */
  readonly at: string;
  readonly url: string;
  readonly method: string;
  readonly requestHeaders: Readonly<Record<string, string>>;
  readonly requestBody?: string;
  readonly requestBodyEncoding?: 'utf8' | 'base64';
  readonly requestBodyTruncated?: boolean;
  readonly attempt?: AttemptRecord;
}

/**
 * The summary after one more update: identity from the first, the outcome from the latest, the
 * attempt count the highest attempt number seen (an attempt recorded twice, as after a lease ran
 * out, counts once).
 */
export function advanceSummary(
  previous: DeliverySummary | undefined,
  u: HistoryUpdate,
): DeliverySummary {
  // Built field by field (no spread, no delete): stores index every update this way.
  const a = u.attempt;
  const attemptsBefore = previous?.attempts ?? 0;
  const newest = a !== undefined && a.attempt >= attemptsBefore;
  const summary: { -readonly [K in keyof DeliverySummary]: DeliverySummary[K] } = {
    deliveryId: previous?.deliveryId ?? u.deliveryId,
    namespace: previous?.namespace ?? u.namespace,
    endpoint: previous?.endpoint ?? u.endpoint,
    direction: previous?.direction ?? u.direction,
    mode: u.mode,
    outcome: u.outcome,
    attempts: a === undefined ? attemptsBefore : Math.max(attemptsBefore, a.attempt),
    firstAttemptAt: previous?.firstAttemptAt ?? u.at,
    lastAttemptAt: newest ? a.at : (previous?.lastAttemptAt ?? u.at),
    pod: previous?.pod ?? u.pod,
  };
  const eventType = previous?.eventType ?? u.eventType;
  if (eventType !== undefined) summary.eventType = eventType;
  // The problem is the latest update's own: a delivered retry clears an earlier one.
  if (u.problem !== undefined) summary.problem = u.problem;
  const lastStatus = newest ? a.status : previous?.lastStatus;
  if (lastStatus !== undefined) summary.lastStatus = lastStatus;
  const traceparent = previous === undefined ? u.traceparent : previous.traceparent;
  if (traceparent !== undefined) summary.traceparent = traceparent;
  return summary;
}

/**
 * A delivery's record from its updates, oldest first: the summary as {@link advanceSummary}
 * folds it, the request from the first update, every attempt in number order (one recorded
 * twice keeps the later). Undefined for no updates.
 */
export function foldHistory(updates: readonly HistoryUpdate[]): DeliveryRecord | undefined {
  const first = updates[0];
  if (first === undefined) return undefined;
  let summary: DeliverySummary | undefined;
  const byNumber = new Map<number, AttemptRecord>();
  for (const u of updates) {
    summary = advanceSummary(summary, u);
    if (u.attempt !== undefined) byNumber.set(u.attempt.attempt, u.attempt);
  }
  const request =
    first.requestBody === undefined
      ? undefined
      : shownBody(
          first.requestBody,
          first.requestBodyEncoding,
          first.requestBodyTruncated ?? false,
        );
  return {
    ...summary!,
    url: first.url,
    method: first.method,
    requestHeaders: first.requestHeaders,
    ...(request !== undefined
      ? {
          requestBody: request.text,
          requestBodyEncoding: request.encoding,
          requestBodyTruncated: first.requestBodyTruncated ?? false,
        }
      : {}),
    attemptLog: [...byNumber.values()]
      .sort((x, y) => x.attempt - y.attempt)
      .map((a) => {
        if (a.responseBody === undefined || a.responseBodyEncoding !== 'base64') return a;
        const shown = shownBody(a.responseBody, 'base64', a.responseBodyTruncated ?? false);
        return { ...a, responseBody: shown.text, responseBodyEncoding: shown.encoding };
      }),
  };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * A body as readers show it: the sidecar writes every body's bytes as base64 (no escaping on the
 * delivery's path, ADR 0022), and a reader shows them as text when they are UTF-8 — a body cut
 * at the policy's limit may end inside a character, which is left out — else as base64.
 */
function shownBody(
  text: string,
  encoding: 'utf8' | 'base64' | undefined,
  truncated: boolean,
): { readonly text: string; readonly encoding: 'utf8' | 'base64' } {
  if (encoding !== 'base64') return { text, encoding: 'utf8' };
  return bodyText(Buffer.from(text, 'base64'), truncated);
}

/** A body's bytes as {@link shownBody} shows them: UTF-8 text when they are, else base64. */
export function bodyText(
  bytes: Buffer,
  truncated: boolean,
): { readonly text: string; readonly encoding: 'utf8' | 'base64' } {
  try {
    return {
      text: utf8.decode(truncated ? bytes.subarray(0, wholeCharacters(bytes)) : bytes),
      encoding: 'utf8',
    };
  } catch {
    return { text: bytes.toString('base64'), encoding: 'base64' };
  }
}

/** How many bytes of `bytes` end on a whole UTF-8 character (a cut may split the last one). */
function wholeCharacters(bytes: Uint8Array): number {
  // A character is at most four bytes: look back at most three for the last one's first byte.
  for (let i = bytes.length - 1; i >= 0 && i >= bytes.length - 4; i--) {
    const b = bytes[i]!;
    if (b < 0x80) return bytes.length; // ASCII: whole
    if (b >= 0xc0) {
      const length = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : 2;
      return i + length <= bytes.length ? bytes.length : i;
    }
  }
  return bytes.length;
}

/** Whether `summary` passes every filter of `q` but the cursor and the endpoint index. */
export function matchesQuery(summary: DeliverySummary, q: HistoryQuery): boolean {
  const firstAt = Date.parse(summary.firstAttemptAt);
  return (
    (q.endpoint === undefined || summary.endpoint === q.endpoint) &&
    (q.eventType === undefined || summary.eventType === q.eventType) &&
    (q.outcome === undefined || summary.outcome === q.outcome) &&
    (q.direction === undefined || summary.direction === q.direction) &&
    (q.from === undefined || firstAt >= q.from) &&
    (q.to === undefined || firstAt < q.to)
  );
}

/** Fields a summary has and a record adds nothing to. */
const SUMMARY_FIELDS = [
  'deliveryId',
  'namespace',
  'endpoint',
  'direction',
  'eventType',
  'mode',
  'outcome',
  'problem',
  'attempts',
  'firstAttemptAt',
  'lastAttemptAt',
  'lastStatus',
  'pod',
  'traceparent',
] as const satisfies readonly (keyof DeliverySummary)[];

/** A record without its request and attempts, as lists show it. */
export function summaryOf(record: DeliverySummary): DeliverySummary {
  const out: Record<string, unknown> = {};
  for (const field of SUMMARY_FIELDS) if (record[field] !== undefined) out[field] = record[field];
  return out as unknown as DeliverySummary;
}

/** What a list asks for; every filter is applied by the store (server-side). */
export interface HistoryQuery {
  readonly endpoint?: string;
  readonly eventType?: string;
  readonly outcome?: Outcome;
  readonly direction?: Direction;
  /** Epoch ms: deliveries whose first attempt is at or after this. */
  readonly from?: number;
  /** Epoch ms: deliveries whose first attempt is before this. */
  readonly to?: number;
  /** The `nextCursor` of the page before. */
  readonly cursor?: string;
  readonly limit: number;
}

/** One page of a list, newest first. */
export interface HistoryPage {
  readonly items: readonly DeliverySummary[];
  readonly nextCursor?: string;
}

/** Redis keys of the history, per namespace (hash tag keeps one namespace in one cluster slot). */
export const historyKeys = {
  /**
   * Capped stream (XADD MAXLEN ~, MINID for age), one entry per update with fields `id`,
   * `endpoint`, `outcome` and `attempt` (0: no attempt, a change of outcome): the live tail reads it
   * and the record from `records`.
   */
  stream: (namespace: string): string => `hookgate:history:{${namespace}}:stream`,
  /** Hash deliveryId -> JSON array of the delivery's HistoryUpdates, oldest first. */
  records: (namespace: string): string => `hookgate:history:{${namespace}}:records`,
  /** Sorted set of `<endpoint>|<deliveryId>` by first update (epoch ms): order, age and count. */
  index: (namespace: string): string => `hookgate:history:{${namespace}}:index`,
  /** Sorted set of deliveryIds of one endpoint by first update: the endpoint filter. */
  endpoint: (namespace: string, endpoint: string): string =>
    `hookgate:history:{${namespace}}:endpoint:${endpoint}`,
  /** Bytes held in `records`, for the byte bound. */
  bytes: (namespace: string): string => `hookgate:history:{${namespace}}:bytes`,
} as const;

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

/** Redis keys of the history, per namespace (hash tag keeps one namespace in one cluster slot). */
export const historyKeys = {
  /** Capped stream (XADD MAXLEN ~) of DeliverySummary JSON, one entry per delivery update. */
  stream: (namespace: string): string => `hookgate:history:{${namespace}}:stream`,
  /** Hash deliveryId -> DeliveryRecord JSON (bounded with the stream; expired by age). */
  records: (namespace: string): string => `hookgate:history:{${namespace}}:records`,
} as const;

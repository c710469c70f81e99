// One observed attempt (or delivery end) as the history update a store keeps: redacted headers,
// bodies as the policy allows, the outcome as of that attempt. Pure, so the rules of what is kept
// are tested without a store.
import { isAscii } from 'node:buffer';
import {
  historyUrl,
  redactHeaders,
  redactedValue,
  type AttemptRecord,
  type HistoryUpdate,
  type Outcome,
} from '../../common/history.ts';
import type { Delivery } from '../delivery/delivery.ts';
import type { AttemptObservation, DeliveryEnd } from '../delivery/observe.ts';
import { resultReason } from '../delivery/observe.ts';
import type { HistoryPlan } from '../delivery/plan.ts';

/** Where the updates come from. */
export interface UpdateSource {
  readonly namespace: string;
  readonly pod: string;
}

/** A body as the history keeps it: UTF-8 when it is, else base64; cut as the plan says. */
export interface KeptBody {
  readonly text: string;
  readonly encoding: 'utf8' | 'base64';
  readonly truncated: boolean;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** `body` as `plan` keeps it, or undefined when bodies are `none` (or the body is empty). */
export function keptBody(body: Buffer, plan: HistoryPlan): KeptBody | undefined {
  if (plan.bodies === 'none' || body.length === 0) return undefined;
  const truncated = plan.bodies === 'truncated' && body.length > plan.maxBodyBytes;
  const kept = truncated ? body.subarray(0, plan.maxBodyBytes) : body;
  // Most webhook payloads are ASCII JSON: copied as they are, no decoder needed.
  if (isAscii(kept)) return { text: kept.toString('latin1'), encoding: 'utf8', truncated };
  try {
    // `stream` tolerates a character the cut split in two; anything else invalid is binary.
    return { text: utf8.decode(kept, { stream: truncated }), encoding: 'utf8', truncated };
  } catch {
    return { text: kept.toString('base64'), encoding: 'base64', truncated };
  }
}

function outcomeOf(o: AttemptObservation, async: boolean): Outcome {
  const r = o.result;
  if (r.kind === 'response' && r.status >= 200 && r.status < 300) return 'delivered';
  if (async) return 'retrying';
  return r.kind === 'local' ? 'refused' : 'failed';
}

/** A type's fields made writable: updates are built field by field, never by spreading. */
type Writable<T> = { -readonly [K in keyof T]: T[K] };

// Built by assignment rather than by spreading `{...(x ? { a } : {})}`: this runs for every
// attempt, and spreads allocate a temporary per optional field.
function attemptRecord(o: AttemptObservation, plan: HistoryPlan, at: string): AttemptRecord {
  const r = o.result;
  const error = resultReason(r);
  const record: Writable<AttemptRecord> = {
    attempt: o.attempt,
    at,
    latencyMs: r.kind === 'local' ? 0 : r.durationMs,
  };
  if (r.kind === 'response') record.status = r.status;
  if (error !== undefined) record.error = error;
  if (r.kind !== 'response') return record;
  const body = keptBody(r.body, plan);
  if (body !== undefined) {
    record.responseBody = body.text;
    record.responseBodyEncoding = body.encoding;
    record.responseBodyTruncated = body.truncated || r.truncated;
  }
  record.responseHeaders = redactHeaders(r.headers, plan.secretHeaders);
  return record;
}

/** The fields every update of `delivery` carries, `outcome` and `at` given. */
function identity(
  delivery: Delivery,
  source: UpdateSource,
  outcome: Outcome,
  at: string,
): Writable<HistoryUpdate> {
  const update: Writable<HistoryUpdate> = {
    deliveryId: delivery.deliveryId,
    namespace: source.namespace,
    endpoint: delivery.endpointName,
    direction: delivery.direction ?? 'egress',
    mode: delivery.mode ?? 'sync',
    outcome,
    pod: source.pod,
    at,
    url: historyUrl(delivery.url),
    method: delivery.method,
    requestHeaders: EMPTY,
  };
  if (delivery.eventType !== undefined) update.eventType = delivery.eventType;
  const traceparent = delivery.headers['traceparent'];
  if (traceparent !== undefined) update.traceparent = traceparent;
  return update;
}

const EMPTY: Readonly<Record<string, string>> = Object.freeze({});

/**
 * The update of one attempt. The request (headers, body) rides on the first attempt only: a
 * record takes it from its first update, and retries would only repeat it.
 */
export function attemptUpdate(o: AttemptObservation, source: UpdateSource): HistoryUpdate {
  const plan = o.plan.history;
  const outcome = outcomeOf(o, o.delivery.mode === 'async');
  const at = new Date(o.startedAt).toISOString();
  const update = identity(o.delivery, source, outcome, at);
  const problem = outcome === 'delivered' ? undefined : resultReason(o.result);
  if (problem !== undefined) update.problem = problem;
  if (o.attempt === 1) {
    // The id the receiver got, added after redaction rather than spread into a copy first.
    const headers = redactHeaders(o.delivery.headers, plan.secretHeaders);
    headers['webhook-id'] = redactedValue('webhook-id', o.delivery.deliveryId, plan.secretHeaders);
    update.requestHeaders = headers;
    const body = keptBody(o.delivery.body, plan);
    if (body !== undefined) {
      update.requestBody = body.text;
      update.requestBodyEncoding = body.encoding;
      update.requestBodyTruncated = body.truncated;
    }
  }
  update.attempt = attemptRecord(o, plan, at);
  return update;
}

/** The update of an async delivery that turned dead; undefined for ends the attempts told. */
export function endUpdate(end: DeliveryEnd, source: UpdateSource): HistoryUpdate | undefined {
  if (end.outcome !== 'dead') return undefined;
  const update = identity(end.delivery, source, 'dead', new Date(end.at).toISOString());
  if (end.reason !== undefined) update.problem = end.reason;
  return update;
}

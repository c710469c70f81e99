// One observed attempt (or delivery end) as the history update a store keeps: redacted headers,
// bodies as the policy allows, the outcome as of that attempt. Pure, so the rules of what is kept
// are tested without a store.
import {
  historyUrl,
  redactHeaders,
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

function attemptRecord(o: AttemptObservation, plan: HistoryPlan): AttemptRecord {
  const r = o.result;
  const at = new Date(o.startedAt).toISOString();
  const error = resultReason(r);
  if (r.kind !== 'response')
    return {
      attempt: o.attempt,
      at,
      latencyMs: r.kind === 'error' ? r.durationMs : 0,
      ...(error !== undefined ? { error } : {}),
    };
  const body = keptBody(r.body, plan);
  return {
    attempt: o.attempt,
    at,
    latencyMs: r.durationMs,
    status: r.status,
    ...(error !== undefined ? { error } : {}),
    ...(body !== undefined
      ? {
          responseBody: body.text,
          responseBodyEncoding: body.encoding,
          responseBodyTruncated: body.truncated || r.truncated,
        }
      : {}),
    responseHeaders: redactHeaders(r.headers, plan.secretHeaders),
  };
}

function identity(
  delivery: Delivery,
  source: UpdateSource,
): Pick<
  HistoryUpdate,
  'deliveryId' | 'namespace' | 'endpoint' | 'direction' | 'mode' | 'pod' | 'url' | 'method'
> & { eventType?: string; traceparent?: string } {
  const traceparent = delivery.headers['traceparent'];
  return {
    deliveryId: delivery.deliveryId,
    namespace: source.namespace,
    endpoint: delivery.endpointName,
    direction: delivery.direction ?? 'egress',
    ...(delivery.eventType !== undefined ? { eventType: delivery.eventType } : {}),
    mode: delivery.mode ?? 'sync',
    pod: source.pod,
    ...(traceparent !== undefined ? { traceparent } : {}),
    url: historyUrl(delivery.url),
    method: delivery.method,
  };
}

/**
 * The update of one attempt. The request (headers, body) rides on the first attempt only: a
 * record takes it from its first update, and retries would only repeat it.
 */
export function attemptUpdate(o: AttemptObservation, source: UpdateSource): HistoryUpdate {
  const plan = o.plan.history;
  const outcome = outcomeOf(o, o.delivery.mode === 'async');
  const problem = outcome === 'delivered' ? undefined : resultReason(o.result);
  const first = o.attempt === 1;
  const body = first ? keptBody(o.delivery.body, plan) : undefined;
  return {
    ...identity(o.delivery, source),
    outcome,
    ...(problem !== undefined ? { problem } : {}),
    at: new Date(o.startedAt).toISOString(),
    requestHeaders: first
      ? redactHeaders(
          { ...o.delivery.headers, 'webhook-id': o.delivery.deliveryId },
          plan.secretHeaders,
        )
      : {},
    ...(body !== undefined
      ? {
          requestBody: body.text,
          requestBodyEncoding: body.encoding,
          requestBodyTruncated: body.truncated,
        }
      : {}),
    attempt: attemptRecord(o, plan),
  };
}

/** The update of an async delivery that turned dead; undefined for ends the attempts told. */
export function endUpdate(end: DeliveryEnd, source: UpdateSource): HistoryUpdate | undefined {
  if (end.outcome !== 'dead') return undefined;
  return {
    ...identity(end.delivery, source),
    outcome: 'dead',
    ...(end.reason !== undefined ? { problem: end.reason } : {}),
    at: new Date(end.at).toISOString(),
    requestHeaders: {},
  };
}

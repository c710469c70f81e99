// What every path reads off an incoming request the same way: the delivery id (the app's own, or
// a new one), whether the app prefers an async answer, and the Delivery it becomes. The egress route and fan-out both call
// these, so the two cannot disagree on what `Prefer: respond-async` means.
import { createHash, randomFillSync } from 'node:crypto';
import type { HeaderMap } from '../headers.ts';
import type { Delivery } from './delivery.ts';
import { outboundHeaders } from './headers.ts';
import type { EndpointRuntime } from './runtime.ts';

/** Delivery ids the app may choose: 1–128 of `[A-Za-z0-9_.:-]` (ADR 0006). */
export const DELIVERY_ID_PATTERN = /^[A-Za-z0-9_.:-]{1,128}$/;

// 256 ids' worth of CSPRNG bytes, refilled when spent: no syscall per delivery (as randomUUID's
// own pool), and one hex string per id instead of a UUID's pieces and a replaceAll (ADR 0019).
const ID_BYTES = 16;
const idPool = Buffer.alloc(ID_BYTES * 256);
let idOffset = idPool.length;

/** A new delivery id in the Standard Webhooks style: `msg_` and 32 random hex digits. */
export function newDeliveryId(): string {
  if (idOffset === idPool.length) {
    randomFillSync(idPool);
    idOffset = 0;
  }
  const id = `msg_${idPool.toString('hex', idOffset, idOffset + ID_BYTES)}`;
  idOffset += ID_BYTES;
  return id;
}

/** The app's own `Hookgate-Delivery-Id` when it is a valid id, else undefined. */
export function requestedDeliveryId(headers: HeaderMap): string | undefined {
  const requested = headers['hookgate-delivery-id'];
  return typeof requested === 'string' && DELIVERY_ID_PATTERN.test(requested)
    ? requested
    : undefined;
}

/**
 * The delivery id of one fan-out delivery. With the app's own event id each one is derived from
 * it, so the app's retry of an event reaches every receiver under the same webhook-id and their
 * de-duplication works; without, each is new.
 */
export function fanOutDeliveryId(eventId: string | undefined, endpoint: string): string {
  if (eventId === undefined) return newDeliveryId();
  const joined = `${eventId}.${endpoint}`;
  if (DELIVERY_ID_PATTERN.test(joined)) return joined;
  return `msg_${createHash('sha256').update(`${eventId}\0${endpoint}`).digest('hex').slice(0, 32)}`;
}

/**
 * Whether `Prefer` (RFC 7240) asks for `respond-async`: any comma-separated preference, of any
 * of the header's lines, whose token (before `;` or `=`) is respond-async, in any case.
 */
export function prefersAsync(headers: HeaderMap): boolean {
  const prefer = headers['prefer'];
  if (prefer === undefined) return false;
  return (typeof prefer === 'string' ? prefer : prefer.join(','))
    .split(',')
    .some((p) => p.split(/[;=]/)[0]!.trim().toLowerCase() === 'respond-async');
}

/** The parts of a delivery a request decides. */
export interface DeliveryRequest {
  readonly deliveryId: string;
  /** Metrics and log name: the endpoint's, or `dynamic`. */
  readonly label: string;
  readonly url: URL;
  readonly method: string;
  readonly headers: HeaderMap;
  readonly body: Buffer;
  /** When the request arrived (epoch ms): the sync deadline counts from here. */
  readonly started: number;
  /** A fan-out delivery's event type. */
  readonly eventType?: string;
}

/**
 * The delivery of one request to `endpoint`: the app's end-to-end headers minus the ones the
 * signer writes, the endpoint's static headers on top, and the plan's sync deadline.
 */
export function newDelivery(endpoint: EndpointRuntime, request: DeliveryRequest): Delivery {
  const headers = outboundHeaders(request.headers, endpoint.reservedHeaders);
  // The endpoint's static headers win over the app's (a fresh object: no copy needed).
  Object.assign(headers, endpoint.headers);
  return {
    deliveryId: request.deliveryId,
    endpointName: request.label,
    url: request.url,
    method: request.method,
    headers,
    body: request.body,
    deadline: request.started + endpoint.plan.retry.syncDeadlineMs,
    ...(request.eventType !== undefined ? { eventType: request.eventType } : {}),
  };
}

// One observed attempt (or delivery end) as the history update a store keeps — redacted headers,
// bodies as the policy allows, the outcome as of that attempt — encoded once, as JSON, when it
// is observed. What waits for the store's write is then one string per update, not the
// delivery's and the answer's objects (which a V8 scavenge would copy while they wait), and no
// store encodes again. The attempt's JSON is written by hand: JSON.stringify over a built
// object costs about 1 ns per byte of output here, and this runs for every attempt (ADR 0022,
// "Cost"). Bodies are written as base64, which needs no escaping (about 0.2 ns a byte against
// 1 for a JSON string), or for the disk store as raw bytes after the JSON line; readers show them
// as text again when they are UTF-8 (foldHistory, the disk store's reader).
import {
  historyUrl,
  redactedValue,
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

/** One update as the stores take it: its JSON, and what a store indexes without parsing it. */
export interface EncodedUpdate {
  readonly deliveryId: string;
  readonly endpoint: string;
  /** The update's time (its `at`), epoch ms. */
  readonly at: number;
  readonly outcome: Outcome;
  /** The attempt's number; 0 for an update without one (a change of outcome). */
  readonly attempt: number;
  /** The {@link HistoryUpdate} as JSON. */
  readonly json: string;
  /**
   * For a store that writes bodies raw (the disk store): the kept bodies' bytes, request then
   * response, which the JSON counts (`requestBodyBytes`, `attempt.responseBodyBytes`) instead of
   * holding them.
   */
  readonly raw?: readonly Buffer[] | undefined;
}

/** `u` as the stores take it (an update built as an object: a death, or a test's). */
export function encodeUpdate(u: HistoryUpdate): EncodedUpdate {
  return {
    deliveryId: u.deliveryId,
    endpoint: u.endpoint,
    at: Date.parse(u.at),
    outcome: u.outcome,
    attempt: u.attempt?.attempt ?? 0,
    json: JSON.stringify(u),
  };
}

// A string needs JSON.stringify when it has a quote, a backslash, a control character or a
// surrogate (a lone one must be escaped; a pair is left to the slow path too, it is rare).
// eslint-disable-next-line no-control-regex -- control characters are what JSON must escape
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/;

/** `s` as a JSON string. */
function str(s: string): string {
  return NEEDS_ESCAPE.test(s) ? JSON.stringify(s) : `"${s}"`;
}

/**
 * `s` as one flat string. A string built by concatenation is a tree of its parts, and every
 * update built from a kept one would walk that tree again when its text is written; V8 flattens
 * a string it converts to a number, and the result is what is kept.
 */
function flat(s: string): string {
  Number(s);
  return s;
}

// Attempts' RFC 3339 times: each second's text is made once (attempts end out of order, so a
// cache of the last millisecond would miss), the milliseconds are looked up.
const MILLIS = Array.from({ length: 1000 }, (_, n) => `${String(n).padStart(3, '0')}Z`);
/** Past 9999-12-31, toISOString writes a six-digit year. */
const LAST_FOUR_DIGIT_YEAR_MS = 253_402_300_800_000;
let isoSecond = NaN;
let isoPrefix = '';
function iso(ms: number): string {
  const t = Math.floor(ms);
  if (t < 0 || t >= LAST_FOUR_DIGIT_YEAR_MS) return new Date(t).toISOString();
  const second = Math.floor(t / 1000);
  if (second !== isoSecond) {
    isoPrefix = new Date(second * 1000).toISOString().slice(0, 20); // up to and with the '.'
    isoSecond = second;
  }
  return isoPrefix + MILLIS[t - second * 1000]!;
}

/** A header's member as last written: reused while the header keeps its value. */
interface Member {
  readonly value: string | readonly string[];
  /** Lower-case. */
  readonly name: string;
  readonly text: string;
}

/** Header names whose last member is kept, per cache: past it, members are made afresh. */
const MEMBER_NAMES = 256;

/**
 * Header members as JSON, per set of secret names: most headers carry the same value delivery
 * after delivery (content-type, user-agent, the redacted signature), so each name's last member
 * is kept with the value it was made from, redaction and escaping already applied.
 */
class HeaderMembers {
  readonly #secret: ReadonlySet<string>;
  readonly #last = new Map<string, Member>();

  constructor(secret: ReadonlySet<string>) {
    this.#secret = secret;
  }

  /**
   * `headers` as a JSON object's members (no braces), names lower-case, credentials and
   * signatures redacted as `redactHeaders` does (common/history.ts); `skip` is left out.
   */
  of(
    headers: Readonly<Record<string, string | readonly string[] | undefined>>,
    skip?: string,
  ): string {
    let out = '';
    // for…in, not Object.entries: header records are plain objects (own enumerable keys only).
    for (const rawName in headers) {
      if (!Object.hasOwn(headers, rawName)) continue;
      const raw = headers[rawName];
      if (raw === undefined) continue;
      let member = this.#last.get(rawName);
      if (member?.value !== raw) {
        member = this.#member(rawName, raw);
        if (this.#last.size < MEMBER_NAMES || this.#last.has(rawName))
          this.#last.set(rawName, member);
      }
      if (member.name === skip) continue;
      out += out === '' ? member.text : `,${member.text}`;
    }
    return out;
  }

  #member(rawName: string, raw: string | readonly string[]): Member {
    const name = rawName.toLowerCase();
    const value = redactedValue(name, typeof raw === 'string' ? raw : raw.join(', '), this.#secret);
    return { value: raw, name, text: flat(`${str(name)}:${str(value)}`) };
  }
}

/**
 * `body` as the policy keeps it, as JSON members after `prefix` (`requestBody`…), or '' when
 * bodies are `none` or the body is empty: its bytes as base64, or (`raw` given) their count,
 * the bytes themselves pushed on `raw`.
 */
function bodyMembers(
  prefix: string,
  body: Buffer,
  plan: HistoryPlan,
  cut: boolean,
  raw: Buffer[] | undefined,
): string {
  if (plan.bodies === 'none' || body.length === 0) return '';
  const truncated = plan.bodies === 'truncated' && body.length > plan.maxBodyBytes;
  const kept = truncated ? body.subarray(0, plan.maxBodyBytes) : body;
  if (raw === undefined)
    return `,"${prefix}":"${kept.toString('base64')}","${prefix}Encoding":"base64","${prefix}Truncated":${truncated || cut}`;
  raw.push(kept);
  return `,"${prefix}Bytes":${kept.length},"${prefix}Truncated":${truncated || cut}`;
}

function outcomeOf(o: AttemptObservation): Outcome {
  const r = o.result;
  if (r.kind === 'response' && r.status >= 200 && r.status < 300) return 'delivered';
  if (o.delivery.mode === 'async') return 'retrying';
  return r.kind === 'local' ? 'refused' : 'failed';
}

/**
 * What the deliveries of one endpoint share, as the members that open each update: made once
 * per endpoint, and again when one of them changes (a reload, a dynamic destination).
 */
interface Shape {
  readonly href: string;
  readonly method: string;
  readonly mode: string;
  readonly direction: string;
  readonly text: string;
}

/** Endpoints whose shape is kept: past it, the cache starts again. */
const SHAPES = 1024;

/** How the updates are for their store. */
export interface UpdateEncoderOptions {
  /**
   * Bodies as raw bytes beside the JSON (`EncodedUpdate.raw`), for the disk store: no base64,
   * a quarter fewer bytes written. Off: base64 in the JSON (Redis).
   */
  readonly rawBodies?: boolean;
}

/** Encodes the updates of one source (a pod of a namespace). */
export class UpdateEncoder {
  readonly #source: UpdateSource;
  readonly #rawBodies: boolean;
  /** `"namespace":…,"pod":…`, written into every update. */
  readonly #origin: string;
  readonly #shapes = new Map<string, Shape>();
  /** Request and response header members per set of secret header names (one per plan). */
  readonly #members = new WeakMap<
    ReadonlySet<string>,
    { readonly request: HeaderMembers; readonly response: HeaderMembers }
  >();

  constructor(source: UpdateSource, options: UpdateEncoderOptions = {}) {
    this.#source = source;
    this.#rawBodies = options.rawBodies ?? false;
    this.#origin = flat(`"namespace":${str(source.namespace)},"pod":${str(source.pod)}`);
  }

  #shape(d: Delivery): string {
    const href = d.url.href;
    const mode = d.mode ?? 'sync';
    const direction = d.direction ?? 'egress';
    const known = this.#shapes.get(d.endpointName);
    if (
      known?.href === href &&
      known.method === d.method &&
      known.mode === mode &&
      known.direction === direction
    )
      return known.text;
    if (this.#shapes.size >= SHAPES) this.#shapes.clear();
    const text = flat(
      `{${this.#origin},"endpoint":${str(d.endpointName)},"direction":${str(direction)},"mode":${str(mode)},"url":${str(historyUrl(d.url))},"method":${str(d.method)}`,
    );
    this.#shapes.set(d.endpointName, {
      href,
      method: d.method,
      mode,
      direction,
      text,
    });
    return text;
  }

  #headers(secret: ReadonlySet<string>): {
    readonly request: HeaderMembers;
    readonly response: HeaderMembers;
  } {
    let members = this.#members.get(secret);
    if (members === undefined) {
      members = { request: new HeaderMembers(secret), response: new HeaderMembers(secret) };
      this.#members.set(secret, members);
    }
    return members;
  }

  /**
   * The update of one attempt. The request (headers, body) rides on the first attempt only: a
   * record takes it from its first update, and retries would only repeat it.
   */
  attempt(o: AttemptObservation): EncodedUpdate {
    const d = o.delivery;
    const r = o.result;
    const plan = o.plan.history;
    const outcome = outcomeOf(o);
    const at = iso(o.startedAt);
    const reason = resultReason(r);
    const headers = this.#headers(plan.secretHeaders);
    const raw: Buffer[] | undefined = this.#rawBodies ? [] : undefined;
    let json = `${this.#shape(d)},"deliveryId":${str(d.deliveryId)},"outcome":"${outcome}","at":"${at}"`;
    if (o.attempt === 1) {
      // The id the receiver got, after the delivery's own headers.
      const members = headers.request.of(d.headers, 'webhook-id');
      json += `,"requestHeaders":{${members}${members === '' ? '' : ','}"webhook-id":${str(redactedValue('webhook-id', d.deliveryId, plan.secretHeaders))}}`;
      json += bodyMembers('requestBody', d.body, plan, false, raw);
    } else json += ',"requestHeaders":{}';
    if (d.eventType !== undefined) json += `,"eventType":${str(d.eventType)}`;
    const traceparent = d.headers['traceparent'];
    if (traceparent !== undefined) json += `,"traceparent":${str(traceparent)}`;
    if (outcome !== 'delivered' && reason !== undefined) json += `,"problem":${str(reason)}`;
    json += `,"attempt":{"attempt":${o.attempt},"at":"${at}","latencyMs":${r.kind === 'local' || !Number.isFinite(r.durationMs) ? 0 : r.durationMs}`;
    if (r.kind === 'response') json += `,"status":${r.status}`;
    if (reason !== undefined) json += `,"error":${str(reason)}`;
    if (r.kind === 'response') {
      json += bodyMembers('responseBody', r.body, plan, r.truncated, raw);
      json += `,"responseHeaders":{${headers.response.of(r.headers)}}`;
    }
    json += '}}';
    return {
      deliveryId: d.deliveryId,
      endpoint: d.endpointName,
      at: o.startedAt,
      outcome,
      attempt: o.attempt,
      // Flat now, while its parts are young: they die in this turn, and only the text waits.
      json: flat(json),
      raw: raw?.length === 0 ? undefined : raw,
    };
  }
  /** The update of an async delivery that turned dead; undefined for ends the attempts told. */
  end(end: DeliveryEnd): EncodedUpdate | undefined {
    if (end.outcome !== 'dead') return undefined;
    const d = end.delivery;
    const update: { -readonly [K in keyof HistoryUpdate]: HistoryUpdate[K] } = {
      deliveryId: d.deliveryId,
      namespace: this.#source.namespace,
      endpoint: d.endpointName,
      direction: d.direction ?? 'egress',
      mode: d.mode ?? 'sync',
      outcome: 'dead',
      pod: this.#source.pod,
      at: new Date(end.at).toISOString(),
      url: historyUrl(d.url),
      method: d.method,
      requestHeaders: {},
    };
    if (d.eventType !== undefined) update.eventType = d.eventType;
    const traceparent = d.headers['traceparent'];
    if (traceparent !== undefined) update.traceparent = traceparent;
    if (end.reason !== undefined) update.problem = end.reason;
    return encodeUpdate(update);
  }
}

// One observed attempt (or delivery end) as the history update a store keeps — redacted headers,
// bodies as the policy allows, the outcome as of that attempt — encoded once, as JSON, when it
// is observed, straight into bytes. What waits for the store's write is then one view of a slab
// per update, not the delivery's and the answer's objects (which a V8 scavenge would copy while
// they wait), and no store encodes again. The attempt's JSON is written by hand: JSON.stringify
// over a built object costs about 1 ns per byte of output here, and this runs for every attempt
// (ADR 0022, "Cost"). Bodies are written as base64, which needs no escaping (about 0.2 ns a byte against
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
  /**
   * What a store writes (a view into the encoder's slab): the {@link HistoryUpdate} as JSON,
   * UTF-8; from an encoder with `rawBodies` that kept a body, followed by a newline and the kept
   * bodies' bytes, request then response, which the JSON counts (`requestBodyBytes`,
   * `attempt.responseBodyBytes`) instead of holding them.
   */
  readonly bytes: Buffer;
  /** How many of `bytes` are the JSON (all of them when no raw bodies follow). */
  readonly jsonBytes: number;
}

/** `u` as the stores take it (an update built as an object: a death, or a test's). */
export function encodeUpdate(u: HistoryUpdate): EncodedUpdate {
  const json = Buffer.from(JSON.stringify(u));
  return {
    deliveryId: u.deliveryId,
    endpoint: u.endpoint,
    at: Date.parse(u.at),
    outcome: u.outcome,
    attempt: u.attempt?.attempt ?? 0,
    bytes: json,
    jsonBytes: json.length,
  };
}

/** An update's JSON as text (the live tail, tests). */
export function jsonText(u: EncodedUpdate): string {
  return u.bytes.toString('utf8', 0, u.jsonBytes);
}

/** `s` as a JSON string (for the pieces made once and kept). */
function str(s: string): string {
  return JSON.stringify(s);
}

const QUOTE = 0x22;
/** Bytes of the slabs the updates are written into; a larger update gets a slab of its own size. */
const SLAB_BYTES = 64 * 1024;

/**
 * A JSON text written straight as UTF-8 bytes, one update after the other into a slab, each
 * taken as a view of it. The pieces every update shares are kept as bytes and copied in (a
 * `TypedArray.set`, ~15 ns); what varies is written a character at a time when it is printable
 * ASCII and needs no escape, else through JSON.stringify. Building a text by concatenation and
 * turning it into bytes costs several times more: V8 walks every piece of a concatenated string
 * again when it is written out, or when it is flattened (ADR 0022, "Issue 16, fourth step").
 */
class JsonWriter {
  #slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
  #start = 0;
  #pos = 0;

  /** Room for `n` more bytes of the current update (moved to a new slab when this one is full). */
  #room(n: number): void {
    if (this.#pos + n <= this.#slab.length) return;
    const written = this.#pos - this.#start;
    const next = Buffer.allocUnsafeSlow(Math.max(SLAB_BYTES, 2 * (written + n)));
    this.#slab.copy(next, 0, this.#start, this.#pos);
    this.#slab = next;
    this.#start = 0;
    this.#pos = written;
  }

  /** Starts an update: what one that threw left unfinished is dropped. */
  begin(): void {
    this.#pos = this.#start;
  }

  /** Bytes as they are (a kept piece). */
  bytes(b: Uint8Array): void {
    this.#room(b.length);
    this.#slab.set(b, this.#pos);
    this.#pos += b.length;
  }

  /** `s` as a JSON string, quotes included. */
  string(s: string): void {
    const n = s.length;
    this.#room(n + 2);
    const slab = this.#slab;
    let p = this.#pos;
    slab[p++] = QUOTE;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      // Anything else (a quote, a backslash, a control character, non-ASCII) takes the slow path.
      if (c < 0x20 || c > 0x7e || c === QUOTE || c === 0x5c) {
        this.#text(JSON.stringify(s));
        return;
      }
      slab[p++] = c;
    }
    slab[p++] = QUOTE;
    this.#pos = p;
  }

  /** A finite number as JSON. */
  number(n: number): void {
    if (!Number.isSafeInteger(n) || n < 0) {
      this.#text(String(n));
      return;
    }
    let digits = 1;
    for (let m = n; m >= 10; m = Math.floor(m / 10)) digits++;
    this.#room(digits);
    let p = this.#pos + digits;
    this.#pos = p;
    const slab = this.#slab;
    for (let m = n, i = 0; i < digits; i++, m = Math.floor(m / 10)) slab[--p] = 48 + (m % 10);
  }

  /** Text already in JSON form (an escaped string, a number, base64), written as UTF-8. */
  #text(text: string): void {
    this.#room(3 * text.length);
    this.#pos += this.#slab.write(text, this.#pos);
  }

  /** Printable ASCII that needs no escape (base64), in one copy. */
  latin1(text: string): void {
    this.#room(text.length);
    this.#pos += this.#slab.write(text, this.#pos, 'latin1');
  }

  /** This update's bytes [from, to) again (offsets from its start, as `length` gave them). */
  again(from: number, to: number): void {
    this.#room(to - from);
    this.#slab.copyWithin(this.#pos, this.#start + from, this.#start + to);
    this.#pos += to - from;
  }

  /** Bytes of the update written so far. */
  get length(): number {
    return this.#pos - this.#start;
  }

  /** The update written since the last take, as a view of the slab. */
  take(): Buffer {
    const out = this.#slab.subarray(this.#start, this.#pos);
    this.#start = this.#pos;
    return out;
  }
}

const bytes = (text: string): Buffer => Buffer.from(text);

// Attempts' RFC 3339 times, quoted: each second's text is kept as bytes (attempts end out of
// order, so a cache of the last millisecond would miss), the milliseconds written as digits.
/** Past 9999-12-31, toISOString writes a six-digit year. */
const LAST_FOUR_DIGIT_YEAR_MS = 253_402_300_800_000;
const MILLIS_Z = Array.from({ length: 1000 }, (_, n) => bytes(`${String(n).padStart(3, '0')}Z"`));
let isoSecond = NaN;
let isoPrefix = bytes('');
function iso(w: JsonWriter, ms: number): void {
  const t = Math.floor(ms);
  if (t < 0 || t >= LAST_FOUR_DIGIT_YEAR_MS) {
    w.string(new Date(t).toISOString());
    return;
  }
  const second = Math.floor(t / 1000);
  if (second !== isoSecond) {
    // up to and with the '.', after the opening quote
    isoPrefix = bytes(`"${new Date(second * 1000).toISOString().slice(0, 20)}`);
    isoSecond = second;
  }
  w.bytes(isoPrefix);
  w.bytes(MILLIS_Z[t - second * 1000]!);
}

/** A header's member as last written: reused while the header keeps its value. */
interface Member {
  readonly value: string | readonly string[];
  /** Lower-case. */
  readonly name: string;
  /** `"name":"value"`, redacted and escaped. */
  readonly bytes: Buffer;
}

/** Header names whose last member is kept, per cache: past it, members are made afresh. */
const MEMBER_NAMES = 256;
const COMMA = bytes(',');

/** Members in a run at most: a longer header list is written member by member. */
const RUN_MEMBERS = 64;

/**
 * Header members as JSON, per set of secret names: most headers carry the same value delivery
 * after delivery (content-type, user-agent, the redacted signature), so each name's last member
 * is kept as bytes with the value it was made from, redaction and escaping already applied; and
 * the last run of members (commas between) is kept whole, written in one copy while the same
 * members come in the same order (a receiver's answer headers: until its `date` changes).
 */
class HeaderMembers {
  readonly #secret: ReadonlySet<string>;
  readonly #last = new Map<string, Member>();
  /** The members of the headers being written, in order (reused). */
  readonly #members: Member[] = [];
  /** The last run written and its bytes. */
  #run: readonly Member[] = [];
  #runBytes = bytes('');

  constructor(secret: ReadonlySet<string>) {
    this.#secret = secret;
  }

  /**
   * Writes `headers` as a JSON object's members (no braces), names lower-case, credentials and
   * signatures redacted as `redactHeaders` does (common/history.ts); `skip` is left out. Returns
   * how many it wrote.
   */
  write(
    w: JsonWriter,
    headers: Readonly<Record<string, string | readonly string[] | undefined>>,
    skip?: string,
  ): number {
    const members = this.#members;
    members.length = 0;
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
      if (member.name !== skip) members.push(member);
    }
    const n = members.length;
    const run = this.#run;
    let same = n === run.length;
    for (let i = 0; same && i < n; i++) same = members[i] === run[i];
    if (!same && n <= RUN_MEMBERS) {
      const parts: Buffer[] = [];
      for (const m of members) {
        if (parts.length > 0) parts.push(COMMA);
        parts.push(m.bytes);
      }
      this.#run = [...members];
      this.#runBytes = Buffer.concat(parts);
      same = true;
    }
    if (same) w.bytes(this.#runBytes);
    else
      for (let i = 0; i < n; i++) {
        if (i > 0) w.bytes(COMMA);
        w.bytes(members[i]!.bytes);
      }
    members.length = 0;
    return n;
  }

  #member(rawName: string, raw: string | readonly string[]): Member {
    const name = rawName.toLowerCase();
    const value = redactedValue(name, typeof raw === 'string' ? raw : raw.join(', '), this.#secret);
    return { value: raw, name, bytes: bytes(`${str(name)}:${str(value)}`) };
  }
}

/** The members that say how a body was kept, after its bytes or its count. */
interface BodyKeys {
  /** `,"requestBody":"` (base64 follows). */
  readonly open: Buffer;
  /** `","requestBodyEncoding":"base64","requestBodyTruncated":` */
  readonly close: Buffer;
  /** `,"requestBodyBytes":` (the count follows). */
  readonly count: Buffer;
  /** `,"requestBodyTruncated":true` and `…false`. */
  readonly truncated: { readonly true: Buffer; readonly false: Buffer };
}
const bodyKeys = (prefix: string): BodyKeys => ({
  open: bytes(`,"${prefix}":"`),
  close: bytes(`","${prefix}Encoding":"base64"`),
  count: bytes(`,"${prefix}Bytes":`),
  truncated: {
    true: bytes(`,"${prefix}Truncated":true`),
    false: bytes(`,"${prefix}Truncated":false`),
  },
});
const REQUEST_BODY = bodyKeys('requestBody');
const RESPONSE_BODY = bodyKeys('responseBody');

/**
 * Writes `body` as the policy keeps it, as JSON members (`requestBody`…), or nothing when bodies
 * are `none` or the body is empty: its bytes as base64, or (`raw` given) their count, the bytes
 * themselves pushed on `raw` (written after the JSON).
 */
function writeBody(
  w: JsonWriter,
  keys: BodyKeys,
  body: Buffer,
  plan: HistoryPlan,
  cut: boolean,
  raw: Buffer[] | undefined,
): void {
  if (plan.bodies === 'none' || body.length === 0) return;
  const truncated = plan.bodies === 'truncated' && body.length > plan.maxBodyBytes;
  const kept = truncated ? body.subarray(0, plan.maxBodyBytes) : body;
  if (raw === undefined) {
    w.bytes(keys.open);
    w.latin1(kept.toString('base64'));
    w.bytes(keys.close);
  } else {
    raw.push(kept);
    w.bytes(keys.count);
    w.number(kept.length);
  }
  w.bytes(truncated || cut ? keys.truncated.true : keys.truncated.false);
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
  readonly bytes: Buffer;
}

/** Endpoints whose shape is kept: past it, the cache starts again. */
const SHAPES = 1024;

// The fixed pieces of an attempt's update, in the order they are written.
const DELIVERY_ID = bytes(',"deliveryId":');
const OUTCOME_AT = Object.fromEntries(
  (['delivered', 'retrying', 'failed', 'refused', 'dead'] as const).map((o) => [
    o,
    bytes(`,"outcome":"${o}","at":`),
  ]),
) as Record<Outcome, Buffer>;
const REQUEST_HEADERS = bytes(',"requestHeaders":{');
const WEBHOOK_ID = bytes('"webhook-id":');
const NO_REQUEST_HEADERS = bytes(',"requestHeaders":{}');
const CLOSE = bytes('}');
/** The answer's headers, its attempt and the update closed. */
const CLOSE_ALL = bytes('}}}');
const EVENT_TYPE = bytes(',"eventType":');
const TRACEPARENT = bytes(',"traceparent":');
const PROBLEM = bytes(',"problem":');
const ATTEMPT = bytes(',"attempt":{"attempt":');
const ATTEMPT_AT = bytes(',"at":');
const LATENCY = bytes(',"latencyMs":');
const STATUS = bytes(',"status":');
const ERROR = bytes(',"error":');
const RESPONSE_HEADERS = bytes(',"responseHeaders":{');
const END = bytes('}}');
const NEWLINE = bytes('\n');

/** How the updates are for their store. */
export interface UpdateEncoderOptions {
  /**
   * Bodies as raw bytes after the JSON and a newline (`EncodedUpdate.bytes`), for the disk
   * store: no base64, a quarter fewer bytes written. Off: base64 in the JSON (Redis).
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
  readonly #w = new JsonWriter();
  /** The kept bodies of the update being written, for `rawBodies` (emptied after each). */
  readonly #raw: Buffer[] = [];
  /** Request and response header members per set of secret header names (one per plan). */
  readonly #members = new WeakMap<
    ReadonlySet<string>,
    { readonly request: HeaderMembers; readonly response: HeaderMembers }
  >();

  constructor(source: UpdateSource, options: UpdateEncoderOptions = {}) {
    this.#source = source;
    this.#rawBodies = options.rawBodies ?? false;
    this.#origin = `"namespace":${str(source.namespace)},"pod":${str(source.pod)}`;
  }

  /** `{"namespace":…,"pod":…,"endpoint":…,"direction":…,"mode":…,"url":…,"method":…` */
  #shape(d: Delivery): Buffer {
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
      return known.bytes;
    if (this.#shapes.size >= SHAPES) this.#shapes.clear();
    const shape = bytes(
      `{${this.#origin},"endpoint":${str(d.endpointName)},"direction":${str(direction)},"mode":${str(mode)},"url":${str(historyUrl(d.url))},"method":${str(d.method)}`,
    );
    this.#shapes.set(d.endpointName, { href, method: d.method, mode, direction, bytes: shape });
    return shape;
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
    const reason = resultReason(r);
    const headers = this.#headers(plan.secretHeaders);
    const raw = this.#rawBodies ? this.#raw : undefined;
    const w = this.#w;
    // What an update that threw left behind goes.
    w.begin();
    if (raw !== undefined) raw.length = 0;
    w.bytes(this.#shape(d));
    w.bytes(DELIVERY_ID);
    const idFrom = w.length;
    w.string(d.deliveryId);
    const idTo = w.length;
    w.bytes(OUTCOME_AT[outcome]);
    iso(w, o.startedAt);
    if (o.attempt === 1) {
      w.bytes(REQUEST_HEADERS);
      // The id the receiver got, after the delivery's own headers.
      if (headers.request.write(w, d.headers, 'webhook-id') > 0) w.bytes(COMMA);
      w.bytes(WEBHOOK_ID);
      const shown = redactedValue('webhook-id', d.deliveryId, plan.secretHeaders);
      if (shown === d.deliveryId) w.again(idFrom, idTo);
      else w.string(shown);
      w.bytes(CLOSE);
      writeBody(w, REQUEST_BODY, d.body, plan, false, raw);
    } else w.bytes(NO_REQUEST_HEADERS);
    if (d.eventType !== undefined) {
      w.bytes(EVENT_TYPE);
      w.string(d.eventType);
    }
    const traceparent = d.headers['traceparent'];
    if (traceparent !== undefined) {
      w.bytes(TRACEPARENT);
      w.string(traceparent);
    }
    if (outcome !== 'delivered' && reason !== undefined) {
      w.bytes(PROBLEM);
      w.string(reason);
    }
    w.bytes(ATTEMPT);
    w.number(o.attempt);
    w.bytes(ATTEMPT_AT);
    iso(w, o.startedAt);
    w.bytes(LATENCY);
    w.number(r.kind === 'local' || !Number.isFinite(r.durationMs) ? 0 : r.durationMs);
    if (r.kind === 'response') {
      w.bytes(STATUS);
      w.number(r.status);
    }
    if (reason !== undefined) {
      w.bytes(ERROR);
      w.string(reason);
    }
    if (r.kind === 'response') {
      writeBody(w, RESPONSE_BODY, r.body, plan, r.truncated, raw);
      w.bytes(RESPONSE_HEADERS);
      headers.response.write(w, r.headers);
      w.bytes(CLOSE_ALL);
    } else w.bytes(END);
    const jsonBytes = w.length;
    if (raw !== undefined && raw.length > 0) {
      w.bytes(NEWLINE);
      // Copied, so the request's and the answer's buffers are not held until the write.
      for (const b of raw) w.bytes(b);
      raw.length = 0;
    }
    return {
      deliveryId: d.deliveryId,
      endpoint: d.endpointName,
      at: o.startedAt,
      outcome,
      attempt: o.attempt,
      bytes: w.take(),
      jsonBytes,
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

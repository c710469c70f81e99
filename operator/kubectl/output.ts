// How the plugin prints, the way kubectl does: aligned columns under upper-case headers by
// default, the API's objects as JSON or YAML with -o. Pure functions of their input and a clock.
import { stringify } from 'yaml';
import type { DeliveryRecord } from '../../common/history.ts';
import type { EndpointHealth } from '../console/data.ts';
import type { ListedDelivery } from '../console/sidecars.ts';
import type { OutputFormat } from './args.ts';

/** Rows under headers, columns three spaces apart (kubectl's printer). */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('   ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

/** An object as -o json or -o yaml asks. */
export function document(value: unknown, format: Exclude<OutputFormat, 'table'>): string {
  return format === 'json' ? JSON.stringify(value, null, 2) + '\n' : stringify(value);
}

/** kubectl's AGE: 45s, 12m, 5h, 3d. */
export function age(at: string, now: number): string {
  const s = Math.max(0, Math.floor((now - Date.parse(at)) / 1000));
  if (!Number.isFinite(s)) return '<unknown>';
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172_800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}

/** The status table: one row per endpoint. */
export function statusTable(endpoints: readonly EndpointHealth[], withNamespace: boolean): string {
  const headers = [
    ...(withNamespace ? ['NAMESPACE'] : []),
    'ENDPOINT',
    'DIRECTION',
    'READY',
    'HEALTHY',
    'SUCCESS',
    'CIRCUIT',
    'PENDING',
    'RETRYING',
    'DEAD',
    'LAST FAILURE',
  ];
  const rows = endpoints.map((e) => [
    ...(withNamespace ? [e.namespace] : []),
    e.name,
    e.direction,
    e.ready ?? '-',
    e.healthy === undefined
      ? '-'
      : `${e.healthy.status}${e.healthy.reason === undefined ? '' : ` (${e.healthy.reason})`}`,
    e.successRatio === undefined ? '-' : `${(e.successRatio * 100).toFixed(1)}%`,
    e.circuit,
    String(e.queue.pending),
    String(e.queue.retrying),
    String(e.queue.dead),
    e.lastFailure === undefined ? '-' : `${e.lastFailure.reason} ${e.lastFailure.deliveryId}`,
  ]);
  return table(headers, rows);
}

/** Headers of the deliveries table. */
export function deliveryHeaders(withNamespace: boolean): string[] {
  return [
    ...(withNamespace ? ['NAMESPACE'] : []),
    'ID',
    'ENDPOINT',
    'EVENT TYPE',
    'OUTCOME',
    'ATTEMPTS',
    'LAST STATUS',
    'AGE',
  ];
}

/** One delivery as a table row. */
export function deliveryRow(d: ListedDelivery, withNamespace: boolean, now: number): string[] {
  return [
    ...(withNamespace ? [d.namespace] : []),
    d.deliveryId,
    d.endpoint,
    d.eventType ?? '-',
    d.outcome,
    String(d.attempts),
    d.lastStatus === undefined ? (d.problem ?? '-') : String(d.lastStatus),
    age(d.firstAttemptAt, now),
  ];
}

/** `inspect`: a delivery described, kubectl-describe style, with its attempt timeline. */
export function describeDelivery(r: DeliveryRecord, now: number): string {
  const field = (label: string, value: string | number | undefined): string =>
    value === undefined ? '' : `${`${label}:`.padEnd(14)}${value}\n`;
  let out =
    field('ID', r.deliveryId) +
    field('Namespace', r.namespace) +
    field('Endpoint', r.endpoint) +
    field('Direction', r.direction) +
    field('Event type', r.eventType) +
    field('Mode', r.mode) +
    field('Outcome', r.outcome) +
    field('Problem', r.problem) +
    field('Request', `${r.method} ${r.url}`) +
    field('Accepted', `${r.firstAttemptAt} (${age(r.firstAttemptAt, now)} ago)`) +
    field('Pod', r.pod) +
    field('Traceparent', r.traceparent);
  out += 'Request headers:\n';
  for (const [name, value] of Object.entries(r.requestHeaders)) out += `  ${name}: ${value}\n`;
  if (r.requestBody !== undefined)
    out += `Request body${r.requestBodyEncoding === 'base64' ? ' (base64)' : ''}${r.requestBodyTruncated === true ? ' (truncated)' : ''}:\n  ${r.requestBody}\n`;
  out += 'Attempts:\n';
  out += table(
    ['  #', 'AT', 'LATENCY', 'STATUS', 'ERROR', 'RESPONSE'],
    r.attemptLog.map((a) => [
      `  ${a.attempt}`,
      a.at,
      `${a.latencyMs}ms`,
      a.status === undefined ? '-' : String(a.status),
      a.error ?? '-',
      a.responseBody === undefined ? '-' : JSON.stringify(a.responseBody.slice(0, 80)),
    ]),
  );
  return out;
}

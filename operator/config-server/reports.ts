// Where authenticated health reports go. The channel (this folder) authenticates the sidecar and
// checks the report's shape; what a report means is the health aggregator's business
// (operator/health/), which implements ReportSink and is handed to the config server in main.ts.
import type { SidecarHealthReport } from '../../common/health.ts';
import type { ReportReply } from '../../common/operational.ts';
import type { PodIdentity } from './auth.ts';

/** Receives each authenticated report, with the pod that sent it. */
export interface ReportSink {
  /** May answer with operational webhooks for the pod to queue (ADR 0025). */
  onReport(pod: PodIdentity, report: SidecarHealthReport): ReportReply | undefined | void;
  /** Whether this replica writes what it aggregates (the leader); absent: it does not say. */
  writes?(): boolean;
}

/** The default until an aggregator is wired in: reports are accepted and dropped. */
export const noopReportSink: ReportSink = { onReport: () => undefined };

/** Largest report body accepted (a pod with ~1,000 endpoints sends ~300 KiB). */
export const MAX_REPORT_BYTES = 1024 * 1024;

const isCount = (v: unknown): boolean => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const optionalText = (v: unknown): boolean => v === undefined || typeof v === 'string';

/**
 * The report in `body`, or the problems found (with their paths). Endpoints outside the pod's
 * own namespace are refused: a sidecar reports on what it was given, never on another
 * namespace's endpoints.
 */
export function parseReport(
  body: unknown,
  namespace: string,
): { report: SidecarHealthReport } | { problems: string[] } {
  const problems: string[] = [];
  const r = body as Partial<Record<keyof SidecarHealthReport, unknown>> | null;
  if (typeof r !== 'object' || r === null) return { problems: ['(top level): not an object'] };
  if (typeof r.bootId !== 'string' || r.bootId === '') problems.push('bootId: expected a string');
  if (!isCount(r.generation)) problems.push('generation: expected a count');
  if (typeof r.sentAt !== 'string') problems.push('sentAt: expected an RFC 3339 time');
  if (!Array.isArray(r.endpoints)) problems.push('endpoints: expected a list');
  else {
    (r.endpoints as Record<string, unknown>[]).forEach((e, i) => {
      const at = `endpoints[${i}]`;
      if (typeof e !== 'object' || e === null) return problems.push(`${at}: not an object`);
      if (typeof e['endpoint'] !== 'string' || !e['endpoint'].startsWith(`${namespace}/`)) {
        problems.push(`${at}.endpoint: expected "${namespace}/<name>"`);
      }
      for (const f of ['delivered', 'failed', 'deadLettered', 'queueDepth', 'deadLetters']) {
        if (!isCount(e[f])) problems.push(`${at}.${f}: expected a count`);
      }
      if (!['closed', 'open', 'half-open'].includes(e['circuit'] as string)) {
        problems.push(`${at}.circuit: expected closed, open or half-open`);
      }
      for (const f of ['lastSuccessAt', 'lastFailureAt', 'lastFailureReason', 'queueScope']) {
        if (!optionalText(e[f])) problems.push(`${at}.${f}: expected a string`);
      }
      return undefined;
    });
  }
  const queued = r.operationalQueued;
  if (
    queued !== undefined &&
    (!Array.isArray(queued) ||
      queued.length > 1000 ||
      !queued.every((id) => typeof id === 'string' && /^[A-Za-z0-9_.:-]{1,128}$/.test(id)))
  ) {
    problems.push('operationalQueued: expected at most 1000 delivery ids');
  }
  return problems.length > 0 ? { problems } : { report: r as SidecarHealthReport };
}

// Turns sidecars' health reports into one view per WebhookEndpoint. Reports carry cumulative
// counters (common/health.ts), so what a window holds is the sum of differences between two
// reports of one pod: any subset of a pod's reports gives the right sums, a report that arrives
// twice adds nothing, and a new bootId (or a counter that went down) is a restart, whose counters
// count from zero. Pods silent for `staleMs` are aged out. Time is the operator's (injected clock),
// bucketed so memory per endpoint stays fixed however many pods report it.
import type {
  CircuitState,
  EndpointHealthReport,
  SidecarHealthReport,
} from '../../common/health.ts';
import type { Clock } from '../clock.ts';
import type { PodIdentity } from '../config-server/auth.ts';
import type { ReportSink } from '../config-server/reports.ts';
import type { HealthSettings } from './settings.ts';

/** One endpoint, summed over the pods reporting it now and over the window. */
export interface EndpointAggregate {
  /** Pods whose reports on the endpoint are current. */
  readonly pods: number;
  readonly delivered: number;
  readonly failed: number;
  readonly deadLettered: number;
  /** Reports in the window whose last failure moved: queued attempts failing count too. */
  readonly failuresSeen: number;
  /** Epoch ms of the latest success any current pod reported. */
  readonly lastSuccessAt?: number;
  readonly lastFailure?: { readonly at: number; readonly reason: string };
  /** Worst state across pods: open, then half-open, then closed. */
  readonly circuit: CircuitState;
  /** Pods whose breaker is open. */
  readonly openPods: number;
  readonly queueDepth: number;
  readonly deadLetters: number;
  /** Dead letters each current pod counted since its own last success, added up. */
  readonly deadLetteredInARow: number;
}

/** Counts of one slice of the window. */
interface Bucket {
  slice: number;
  delivered: number;
  failed: number;
  deadLettered: number;
  failuresSeen: number;
}

/** What one report of one endpoint adds to the window. */
type Delta = Omit<Bucket, 'slice'>;

/** One endpoint as one pod last reported it, with its times parsed once. */
interface Reported {
  readonly report: EndpointHealthReport;
  readonly successAt: number | undefined;
  readonly failureAt: number | undefined;
  readonly reason: string;
}

interface PodEntry {
  bootId: string;
  seenAt: number;
  endpoints: Map<string, Reported>;
}

/** Slices of the window: old counts leave one slice at a time. */
const SLICES = 12;
/** Reasons as the contract allows them: a slug, `http-<status>`, a transport error. */
const REASON = /^[a-z0-9][a-z0-9-]{0,62}$/;
const SEVERITY: Readonly<Record<CircuitState, number>> = { closed: 0, 'half-open': 1, open: 2 };

function parseTime(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const ms = Date.parse(text);
  return Number.isFinite(ms) ? ms : undefined;
}

/** The report with its times parsed and its reason held to the contract (never free text). */
function reported(report: EndpointHealthReport): Reported {
  const reason = report.lastFailureReason ?? '';
  const { queueScope: scope, ...perPod } = report;
  return {
    // A scope is a name, bounded; anything else is counted per pod.
    report:
      scope === undefined || (scope.length <= 253 && /^[a-z0-9.-]+\/[A-Za-z0-9_.-]+$/.test(scope))
        ? report
        : perPod,
    successAt: parseTime(report.lastSuccessAt),
    failureAt: parseTime(report.lastFailureAt),
    reason: REASON.test(reason) ? reason : 'unknown',
  };
}

/** Options for {@link HealthAggregator}. */
export interface AggregatorOptions {
  readonly clock: Clock;
  readonly settings: Pick<HealthSettings, 'windowMs' | 'staleMs'>;
  /** Pods tracked at most; reports of further pods are dropped until some age out. */
  readonly maxPods?: number;
}

/** Aggregates reports; the config server hands it every authenticated one. */
export class HealthAggregator implements ReportSink {
  readonly #options: AggregatorOptions;
  readonly #sliceMs: number;
  readonly #pods = new Map<string, PodEntry>();
  /** Endpoint → uids of the pods whose last report names it. */
  readonly #reporters = new Map<string, Set<string>>();
  readonly #buckets = new Map<string, Bucket[]>();
  /** Endpoints whose view may have changed since the last {@link takeChanged}. */
  #changed = new Set<string>();

  constructor(options: AggregatorOptions) {
    this.#options = options;
    this.#sliceMs = Math.max(1, Math.ceil(options.settings.windowMs / SLICES));
  }

  /** Pods tracked now. */
  get pods(): number {
    return this.#pods.size;
  }

  /** How often the window moves: every endpoint's view may change at each slice boundary. */
  get sliceMs(): number {
    return this.#sliceMs;
  }

  /**
   * Endpoints whose reports changed (or whose pods aged out) since the last call: between slice
   * boundaries, nothing else can change a view, so the writer looks at these only.
   */
  takeChanged(): ReadonlySet<string> {
    const changed = this.#changed;
    this.#changed = new Set();
    return changed;
  }

  onReport(pod: PodIdentity, report: SidecarHealthReport): void {
    const now = this.#options.clock.now().getTime();
    let entry = this.#pods.get(pod.uid);
    if (entry === undefined) {
      if (this.#pods.size >= (this.#options.maxPods ?? 100_000)) return;
      entry = { bootId: report.bootId, seenAt: now, endpoints: new Map() };
      this.#pods.set(pod.uid, entry);
      // First report of a pod this replica has not heard from: its counters may span days, so
      // only its recent times count (once each), not its totals.
      for (const e of report.endpoints)
        this.#add(e.endpoint, now, firstSight(reported(e), now, this.#options.settings.windowMs));
    } else {
      const restarted = entry.bootId !== report.bootId;
      for (const e of report.endpoints) {
        const before = restarted ? undefined : entry.endpoints.get(e.endpoint);
        this.#add(e.endpoint, now, difference(before, reported(e)));
      }
    }
    const next = new Map(report.endpoints.map((e) => [e.endpoint, reported(e)]));
    for (const [name, before] of entry.endpoints) {
      if (!next.has(name)) {
        this.#reporters.get(name)?.delete(pod.uid);
        this.#changed.add(name);
      } else if (!sameReport(before.report, next.get(name)!.report)) this.#changed.add(name);
    }
    for (const name of next.keys()) {
      if (!entry.endpoints.has(name)) this.#changed.add(name);
      let set = this.#reporters.get(name);
      if (set === undefined) this.#reporters.set(name, (set = new Set()));
      set.add(pod.uid);
    }
    entry.bootId = report.bootId;
    entry.seenAt = now;
    entry.endpoints = next;
  }

  /** Ages out pods silent past `staleMs` and forgets endpoints nobody reports and nothing counts. */
  prune(now: number): void {
    const cutoff = now - this.#options.settings.staleMs;
    for (const [uid, entry] of this.#pods) {
      if (entry.seenAt >= cutoff) continue;
      this.#pods.delete(uid);
      for (const name of entry.endpoints.keys()) {
        this.#reporters.get(name)?.delete(uid);
        this.#changed.add(name);
      }
    }
    const oldest = this.#slice(now) - SLICES;
    for (const [name, set] of this.#reporters) {
      if (set.size > 0) continue;
      const buckets = this.#buckets.get(name);
      if (buckets === undefined || buckets.every((b) => b.slice <= oldest)) {
        this.#reporters.delete(name);
        this.#buckets.delete(name);
      }
    }
  }

  /** `<namespace>/<name>` of every endpoint some pod reports. */
  endpoints(): IterableIterator<string> {
    return this.#reporters.keys();
  }

  /** The endpoint's view at `now`; undefined when no current pod reports it. */
  aggregate(endpoint: string, now: number): EndpointAggregate | undefined {
    const uids = this.#reporters.get(endpoint);
    const cutoff = now - this.#options.settings.staleMs;
    let pods = 0;
    let openPods = 0;
    let circuit: CircuitState = 'closed';
    let queueDepth = 0;
    let deadLetters = 0;
    let deadLetteredInARow = 0;
    // A queue the workload's pods share (Redis) is reported by each of them: counted once.
    const shared = new Map<string, { queueDepth: number; deadLetters: number }>();
    let lastSuccessAt: number | undefined;
    let lastFailure: { at: number; reason: string } | undefined;
    for (const uid of uids ?? []) {
      const entry = this.#pods.get(uid);
      const r = entry?.endpoints.get(endpoint);
      if (entry === undefined || r === undefined || entry.seenAt < cutoff) continue;
      pods++;
      deadLetteredInARow += inARow(r.report.deadLetteredInARow);
      if (r.report.circuit === 'open') openPods++;
      if (SEVERITY[r.report.circuit] > SEVERITY[circuit]) circuit = r.report.circuit;
      const scope = r.report.queueScope;
      if (scope === undefined) {
        queueDepth += r.report.queueDepth;
        deadLetters += r.report.deadLetters;
      } else {
        const seen = shared.get(scope);
        shared.set(scope, {
          queueDepth: Math.max(seen?.queueDepth ?? 0, r.report.queueDepth),
          deadLetters: Math.max(seen?.deadLetters ?? 0, r.report.deadLetters),
        });
      }
      if (r.successAt !== undefined && (lastSuccessAt ?? -Infinity) < r.successAt)
        lastSuccessAt = r.successAt;
      if (r.failureAt !== undefined && (lastFailure?.at ?? -Infinity) < r.failureAt)
        lastFailure = { at: r.failureAt, reason: r.reason };
    }
    if (pods === 0) return undefined;
    for (const q of shared.values()) {
      queueDepth += q.queueDepth;
      deadLetters += q.deadLetters;
    }
    const sums: Delta = { delivered: 0, failed: 0, deadLettered: 0, failuresSeen: 0 };
    const oldest = this.#slice(now) - SLICES;
    for (const b of this.#buckets.get(endpoint) ?? []) {
      if (b.slice <= oldest) continue;
      sums.delivered += b.delivered;
      sums.failed += b.failed;
      sums.deadLettered += b.deadLettered;
      sums.failuresSeen += b.failuresSeen;
    }
    return {
      pods,
      ...sums,
      ...(lastSuccessAt === undefined ? {} : { lastSuccessAt }),
      ...(lastFailure === undefined ? {} : { lastFailure }),
      circuit,
      openPods,
      queueDepth,
      deadLetters,
      deadLetteredInARow,
    };
  }

  #slice(at: number): number {
    return Math.floor(at / this.#sliceMs);
  }

  #add(endpoint: string, now: number, delta: Delta): void {
    if (delta.delivered + delta.failed + delta.deadLettered + delta.failuresSeen === 0) return;
    const slice = this.#slice(now);
    let buckets = this.#buckets.get(endpoint);
    if (buckets === undefined) this.#buckets.set(endpoint, (buckets = []));
    let bucket = buckets.find((b) => b.slice === slice);
    if (bucket === undefined) {
      // Reuse the oldest slot once the ring is full: memory per endpoint stays SLICES buckets.
      if (buckets.length < SLICES) buckets.push((bucket = { slice, ...zero() }));
      else {
        bucket = buckets.reduce((a, b) => (a.slice <= b.slice ? a : b));
        Object.assign(bucket, { slice, ...zero() });
      }
    }
    bucket.delivered += delta.delivered;
    bucket.failed += delta.failed;
    bucket.deadLettered += delta.deadLettered;
    bucket.failuresSeen += delta.failuresSeen;
  }
}

/** Whether two reports of one endpoint say the same (sentAt aside, which is per report). */
function sameReport(a: EndpointHealthReport, b: EndpointHealthReport): boolean {
  return (
    a.delivered === b.delivered &&
    a.failed === b.failed &&
    a.deadLettered === b.deadLettered &&
    a.deadLetteredInARow === b.deadLetteredInARow &&
    a.circuit === b.circuit &&
    a.queueDepth === b.queueDepth &&
    a.deadLetters === b.deadLetters &&
    a.lastSuccessAt === b.lastSuccessAt &&
    a.lastFailureAt === b.lastFailureAt &&
    a.lastFailureReason === b.lastFailureReason &&
    a.queueScope === b.queueScope
  );
}

/** A pod's run of dead letters as reported; anything but a sane count is none. */
function inARow(value: number | undefined): number {
  return Number.isSafeInteger(value) && value! > 0 ? Math.min(value!, 1_000_000_000) : 0;
}

function zero(): Delta {
  return { delivered: 0, failed: 0, deadLettered: 0, failuresSeen: 0 };
}

/**
 * What a report adds after `before` (the same pod's previous report of the endpoint, same boot).
 * Without one (a restart, or an endpoint new to the pod) the counters started from zero; a counter
 * that went down is a restart the bootId did not show.
 */
function difference(before: Reported | undefined, now: Reported): Delta {
  const a = before?.report;
  const b = now.report;
  const moved = (now.failureAt ?? -Infinity) > (before?.failureAt ?? -Infinity) ? 1 : 0;
  if (
    a === undefined ||
    b.delivered < a.delivered ||
    b.failed < a.failed ||
    b.deadLettered < a.deadLettered
  ) {
    return {
      delivered: b.delivered,
      failed: b.failed,
      deadLettered: b.deadLettered,
      failuresSeen: moved,
    };
  }
  return {
    delivered: b.delivered - a.delivered,
    failed: b.failed - a.failed,
    deadLettered: b.deadLettered - a.deadLettered,
    failuresSeen: moved,
  };
}

/** A pod's first report: a success or failure within the window counts once, totals do not. */
function firstSight(r: Reported, now: number, windowMs: number): Delta {
  const recent = (at: number | undefined): boolean => at !== undefined && now - at <= windowMs;
  const failedLast = recent(r.failureAt) && (r.failureAt ?? 0) > (r.successAt ?? -Infinity);
  return {
    delivered: recent(r.successAt) ? 1 : 0,
    failed: failedLast ? 1 : 0,
    deadLettered: 0,
    failuresSeen: recent(r.failureAt) ? 1 : 0,
  };
}

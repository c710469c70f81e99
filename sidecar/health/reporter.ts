// Sends the collector's report every interval on the config channel (POST /v1/reports). Every
// operator replica aggregates what reaches it, but only the leader writes status: an answer that
// says it did not reach the writer is sent again (a new connection, so the Service picks another
// replica), a few times at most. Reports carry cumulative counters, so a report that reaches two
// replicas, or one that is lost, costs nothing but freshness.
import type { SidecarHealthReport } from '../../common/health.ts';
import type { OperationalDelivery } from '../../common/operational.ts';
import type { Logger } from '../../common/log.ts';
import type { HealthCollector, ReportInput } from './collector.ts';

/** How a report was answered: its HTTP status and whether the writer (the leader) got it. */
export interface ReportAnswer {
  readonly status: number;
  /** False when a replica that does not write status took it; undefined when it did not say. */
  readonly writer?: boolean | undefined;
  /** Operational webhooks the leader hands over to queue (ADR 0025). */
  readonly operational?: readonly OperationalDelivery[] | undefined;
}

/** Options for {@link HealthReporter}. */
export interface ReporterOptions {
  readonly collector: HealthCollector;
  /** The config and queue in force, read per report. */
  readonly input: () => Promise<Omit<ReportInput, 'now'> | undefined>;
  readonly send: (report: SidecarHealthReport) => Promise<ReportAnswer>;
  readonly intervalMs: number;
  readonly now: () => number;
  readonly log: Logger;
  /** Sends of one report while it lands on replicas that do not write (default 3). */
  readonly maxSends?: number;
  /** Queues handed-over operational webhooks; resolves with the ids stored. Absent: none taken. */
  readonly queueOperational?: (deliveries: readonly OperationalDelivery[]) => Promise<string[]>;
}

/** Reports every interval until stopped. */
export class HealthReporter {
  readonly #o: ReporterOptions;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #inFlight: Promise<unknown> = Promise.resolve();
  #failures = 0;
  /** Operational webhooks queued, named in every report until the leader has taken one. */
  #queued: string[] = [];

  constructor(options: ReporterOptions) {
    this.#o = options;
  }

  /** Reports every `intervalMs`, the first one an interval from now. */
  start(): void {
    const loop = (): void => {
      this.#timer = setTimeout(() => {
        this.#inFlight = this.reportOnce().finally(() => {
          if (!this.#stopped) loop();
        });
      }, this.#o.intervalMs);
      this.#timer.unref();
    };
    loop();
  }

  /** Makes and sends one report; resolves with the last answer, undefined when none came. */
  async reportOnce(): Promise<ReportAnswer | undefined> {
    const input = await this.#o.input();
    if (input === undefined) return undefined;
    const made = this.#o.collector.report({ ...input, now: this.#o.now() });
    const acked = this.#queued;
    const report: SidecarHealthReport =
      acked.length === 0 ? made : { ...made, operationalQueued: acked };
    let answer: ReportAnswer | undefined;
    for (let sent = 0; sent < (this.#o.maxSends ?? 3); sent++) {
      try {
        answer = await this.#o.send(report);
      } catch (err) {
        this.#warn('health report not sent', { error: (err as Error).message });
        return undefined;
      }
      if (answer.status >= 300) {
        this.#warn('health report refused', { status: answer.status });
        return answer;
      }
      if (answer.writer !== false) break;
    }
    this.#failures = 0;
    if (answer?.writer !== false) {
      // The leader has them: its outbox lets go of those ids.
      this.#queued = this.#queued.filter((id) => !acked.includes(id));
      await this.#queueHandedOver(answer?.operational);
    }
    return answer;
  }

  async #queueHandedOver(deliveries: readonly OperationalDelivery[] | undefined): Promise<void> {
    if (
      deliveries === undefined ||
      deliveries.length === 0 ||
      this.#o.queueOperational === undefined
    )
      return;
    try {
      const queued = await this.#o.queueOperational(deliveries);
      this.#queued.push(...queued.filter((id) => !this.#queued.includes(id)));
    } catch (err) {
      // Not acknowledged: the operator offers them again.
      this.#warn('operational webhooks not queued', { error: (err as Error).message });
    }
  }

  /** Stops reporting; an in-flight report finishes. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#inFlight;
  }

  /** Logs the first failure of a run and every 60th after it, not one line every few seconds. */
  #warn(message: string, fields: Record<string, unknown>): void {
    if (this.#failures++ % 60 === 0) {
      this.#o.log.warn(message, { ...fields, failures: this.#failures });
    }
  }
}

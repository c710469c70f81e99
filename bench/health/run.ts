// bench/health: what delivery health costs the operator at scale, in one process, no API server:
// 10,000 endpoints in 100 namespaces, each reported by 3 pods every interval.
//   parse     — JSON.parse + parseReport of each report: the config server pays it anyway (baseline);
//   aggregate — HealthAggregator.onReport of the same reports;
//   tick      — HealthStatusWriter passes (compute and compare what may have changed), writes
//               answered by a stub client at once, so the figure is the operator's own CPU.
// Figures are this process's CPU time (process.cpuUsage). Prints per-interval costs, the ratio aggregate/parse, and the writes per pass against the budget.
// Run: node bench/health/run.ts (BENCH_ENDPOINTS, BENCH_PODS, BENCH_ROUNDS to vary).
import type { EndpointHealthReport, SidecarHealthReport } from '../../common/health.ts';
import { createLogger } from '../../common/log.ts';
import type { PodIdentity } from '../../operator/config-server/auth.ts';
import { parseReport } from '../../operator/config-server/reports.ts';
import { HealthAggregator } from '../../operator/health/aggregate.ts';
import { healthSettings } from '../../operator/health/settings.ts';
import { HealthStatusWriter } from '../../operator/health/writer.ts';
import type { KubeClient } from '../../operator/kube/client.ts';
import type { KubeObject } from '../../operator/kube/types.ts';

const endpointCount = Number(process.env['BENCH_ENDPOINTS'] ?? 10_000);
const podsPerNamespace = Number(process.env['BENCH_PODS'] ?? 3);
const rounds = Number(process.env['BENCH_ROUNDS'] ?? 10);
const namespaces = 100;
const perNamespace = endpointCount / namespaces;
const settings = healthSettings();
let at = Date.parse('2026-12-03T12:00:00Z');
const clock = { now: () => new Date(at) };

const objects = new Map<string, KubeObject[]>();
for (let n = 0; n < namespaces; n++) {
  const ns = `ns-${n}`;
  objects.set(
    ns,
    Array.from({ length: perNamespace }, (_, i) => ({
      apiVersion: 'hookgate.io/v1alpha1',
      kind: 'WebhookEndpoint',
      metadata: { name: `e-${i}`, namespace: ns, uid: `${ns}-${i}`, generation: 1 },
    })),
  );
}
const cache = {
  namespaces: () => [...objects.keys()],
  list: (ns: string) => objects.get(ns) ?? [],
  get: (ns: string, name: string) => objects.get(ns)?.find((o) => o.metadata.name === name),
  upsert: (o: KubeObject) => {
    const list = objects.get(o.metadata.namespace ?? '')!;
    list[list.findIndex((x) => x.metadata.uid === o.metadata.uid)] = o;
  },
};
let writes = 0;
const client = {
  apply: (_path: string, manifest: KubeObject) => {
    writes++;
    return Promise.resolve(manifest);
  },
} as unknown as KubeClient;
const log = createLogger({}, 'error', () => undefined);
const aggregator = new HealthAggregator({ clock, settings });
const writer = new HealthStatusWriter({
  client,
  endpoints: cache,
  aggregator,
  events: { record: () => Promise.resolve(true) },
  clock,
  log,
  settings,
  isLeader: () => true,
});

function bodies(round: number): { pod: PodIdentity; text: string }[] {
  const out: { pod: PodIdentity; text: string }[] = [];
  for (let n = 0; n < namespaces; n++) {
    for (let p = 0; p < podsPerNamespace; p++) {
      const endpoints: EndpointHealthReport[] = Array.from({ length: perNamespace }, (_, i) => ({
        endpoint: `ns-${n}/e-${i}`,
        delivered: round * 10 + i,
        failed: i % 7 === 0 ? round : 0,
        deadLettered: 0,
        lastSuccessAt: new Date(at).toISOString(),
        circuit: 'closed',
        queueDepth: i % 3,
        deadLetters: 0,
      }));
      const report: SidecarHealthReport = {
        bootId: `boot-${n}-${p}`,
        generation: 1,
        sentAt: new Date(at).toISOString(),
        endpoints,
      };
      out.push({
        pod: {
          namespace: `ns-${n}`,
          name: `p-${p}`,
          uid: `${n}-${p}`,
          serviceAccount: 'a',
          labels: {},
        },
        text: JSON.stringify(report),
      });
    }
  }
  return out;
}

/** CPU ms of this process since `start` (the machine is shared: wall time would count others). */
const cpuMs = (start: NodeJS.CpuUsage): number => {
  const d = process.cpuUsage(start);
  return (d.user + d.system) / 1000;
};
let parseMs = 0;
let aggregateMs = 0;
let tickMs = 0;
const writesPerTick: number[] = [];
for (let round = 0; round < rounds; round++) {
  at += 5_000;
  const batch = bodies(round);
  let t = process.cpuUsage();
  const parsed = batch.map(({ pod, text }) => {
    const r = parseReport(JSON.parse(text), pod.namespace);
    if (!('report' in r)) throw new Error(r.problems.join('; '));
    return { pod, report: r.report };
  });
  parseMs += cpuMs(t);
  t = process.cpuUsage();
  for (const { pod, report } of parsed) aggregator.onReport(pod, report);
  aggregateMs += cpuMs(t);
  // Five writer passes per report interval (tickMs 1 s).
  for (let tick = 0; tick < 5; tick++) {
    at += tick === 0 ? 0 : 1_000;
    writes = 0;
    t = process.cpuUsage();
    await writer.tick();
    tickMs += cpuMs(t);
    writesPerTick.push(writes);
  }
}
const reports = rounds * namespaces * podsPerNamespace;
const ticks = writesPerTick.length;
console.log(
  `endpoints ${endpointCount}, pods ${namespaces * podsPerNamespace}, reports ${reports}, writer passes ${ticks}`,
);
console.log(`parse      ${(parseMs / rounds).toFixed(1)} ms per interval (baseline)`);
console.log(
  `aggregate  ${(aggregateMs / rounds).toFixed(1)} ms per interval  ratio ${(aggregateMs / parseMs).toFixed(2)}x parse`,
);
console.log(
  `tick       ${(tickMs / ticks).toFixed(1)} ms per writer pass (mean of 5 per interval: one over all ${endpointCount} endpoints, four over the changed)`,
);
console.log(
  `writes     max ${Math.max(...writesPerTick)} per pass (budget ${settings.writesPerSecond}/s), ${writesPerTick.reduce((a, b) => a + b, 0)} in ${ticks} passes`,
);

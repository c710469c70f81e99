// bench/history/versus.ts: two trees' delivery history, recorder over the disk store, in one
// process, taking turns: BENCH_BEFORE_ROOT's (an older checkout with its own sidecar/) and this
// tree's, BENCH_ROUNDS rounds (default 120) of BENCH_ATTEMPTS attempts (default 4,000) each, the
// order swapped every round. Per round the CPU µs per attempt of this process (getrusage: user +
// system, every thread), then each tree's 10th, 25th, 50th and 75th percentile. On a machine whose
// speed drifts between runs, turns of a few milliseconds within one run are what resolves a
// fraction of a microsecond; bench/history/run.ts measures one tree against the no-op and Redis
// stores. The attempts are bench/history/fixture.ts's, as there.
// Run: BENCH_BEFORE_ROOT=/path/to/old/checkout node bench/history/versus.ts
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Registry } from 'prom-client';
import type * as LogModule from '../../common/log.ts';
import type * as DeliveryModule from '../../sidecar/delivery/delivery.ts';
import type * as PlanModule from '../../sidecar/delivery/plan.ts';
import type * as SchemaModule from '../../sidecar/config/schema.ts';
import type * as DiskModule from '../../sidecar/history/disk.ts';
import type * as RecorderModule from '../../sidecar/history/recorder.ts';
import { RECORDER_SETTINGS, benchAttempt } from './fixture.ts';

const beforeRoot = process.env['BENCH_BEFORE_ROOT'];
if (beforeRoot === undefined) {
  console.error('set BENCH_BEFORE_ROOT to the checkout to compare with (its sidecar/ is imported)');
  process.exit(2);
}
const rounds = Number(process.env['BENCH_ROUNDS'] ?? 120);
const attempts = Number(process.env['BENCH_ATTEMPTS'] ?? 4000);
/** The first rounds warm the compiler up and are left out. */
const WARM_UP_ROUNDS = 4;
const limits = { maxDeliveries: 10_000, maxAgeMs: 72 * 3600_000, maxBytes: 64 * 1024 * 1024 };
const dir = mkdtempSync(join(tmpdir(), 'hookgate-bench-history-versus-'));

interface Tree {
  readonly name: string;
  readonly recorder: RecorderModule.HistoryRecorder;
  readonly plan: PlanModule.EndpointPlan;
  readonly cpu: number[];
}

async function load(name: string, root: string): Promise<Tree> {
  const from = <T>(path: string): Promise<T> => import(join(root, path)) as Promise<T>;
  const { HistoryRecorder } = await from<typeof RecorderModule>('sidecar/history/recorder.ts');
  const { DiskHistoryStore } = await from<typeof DiskModule>('sidecar/history/disk.ts');
  const { compileEndpointPlan } = await from<typeof PlanModule>('sidecar/delivery/plan.ts');
  const { Policy } = await from<typeof SchemaModule>('sidecar/config/schema.ts');
  const { createLogger } = await from<typeof LogModule>('common/log.ts');
  const { systemClock } = await from<typeof DeliveryModule>('sidecar/delivery/delivery.ts');
  const store = await DiskHistoryStore.open({
    directory: join(dir, name),
    limits: () => limits,
  });
  const recorder = new HistoryRecorder({
    ...RECORDER_SETTINGS,
    store,
    clock: systemClock,
    registry: new Registry(),
    log: createLogger({}, 'error'),
  });
  return { name, recorder, plan: compileEndpointPlan(Policy.parse({})), cpu: [] };
}

/** CPU µs per attempt of recording `attempts` prepared attempts, 50 per event-loop turn. */
async function round(tree: Tree): Promise<number> {
  const prepared = Array.from({ length: attempts }, () => benchAttempt(tree.plan));
  const start = process.cpuUsage();
  for (let i = 0; i < attempts; i += 50) {
    for (const o of prepared.slice(i, i + 50)) tree.recorder.onAttempt(o);
    await new Promise((r) => setImmediate(r));
  }
  await tree.recorder.flushed();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / attempts;
}

try {
  const trees = [
    await load('before', resolve(beforeRoot)),
    await load('this', resolve(import.meta.dirname, '../..')),
  ];
  console.log(
    `bench/history/versus: before ${resolve(beforeRoot)} and this tree, ${rounds} rounds of ${attempts} attempts, disk store, Node ${process.versions.node}`,
  );
  for (let r = 0; r < rounds; r++) {
    for (const tree of r % 2 === 0 ? trees : [...trees].reverse()) {
      const cpu = await round(tree);
      if (r >= WARM_UP_ROUNDS) tree.cpu.push(cpu);
    }
  }
  const at = (sorted: number[], q: number): string =>
    sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]!.toFixed(2);
  for (const tree of trees) {
    const sorted = [...tree.cpu].sort((a, b) => a - b);
    console.log(
      `${tree.name.padEnd(6)} CPU µs/attempt: p10 ${at(sorted, 0.1)}, p25 ${at(sorted, 0.25)}, median ${at(sorted, 0.5)}, p75 ${at(sorted, 0.75)}`,
    );
  }
  for (const tree of trees) await tree.recorder.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}

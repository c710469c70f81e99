// bench/async/disk-store.ts: the disk queue's hot paths in one run, on a real directory.
// - enqueue/s with group commit (one write + fdatasync for every enqueue that waited on the
//   previous one) against the baseline of one fdatasync per enqueue, same concurrency;
// - claim + settle(delivered)/s from a filled queue, as the background worker drives it;
// - reopening a queue of 100,000 deliveries: recovery time and index heap per delivery.
// Prints ratios against the per-enqueue-fsync baseline. Asserts nothing.
// Run: node bench/async/disk-store.ts  (BENCH_SECONDS=3 BENCH_CONCURRENCY=64 BENCH_DIR=<dir>)
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDiskStore, type DiskQueueStore } from '../../sidecar/queue/disk/index.ts';

const seconds = Number(process.env['BENCH_SECONDS'] ?? 3);
const concurrency = Number(process.env['BENCH_CONCURRENCY'] ?? 64);
const parent = process.env['BENCH_DIR'] ?? tmpdir();
const body = Buffer.alloc(1024, 'x');
const headers = { 'content-type': 'application/json', 'x-request-id': 'bench' };
const limits = { maxPerEndpoint: 10_000_000, maxTotal: 10_000_000, maxBytes: 8 * 2 ** 30 };
let seq = 0;

async function withStore<T>(
  groupCommit: boolean,
  run: (store: DiskQueueStore) => Promise<T>,
): Promise<T> {
  const dir = await mkdtemp(join(parent, 'hookgate-bench-queue-'));
  const store = await openDiskStore({ dir, limits, groupCommit });
  try {
    return await run(store);
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

function enqueueOne(store: DiskQueueStore): Promise<void> {
  const n = seq++;
  return store.enqueue({
    deliveryId: `msg_${n}`,
    endpointName: `ep${n % 16}`,
    url: 'https://receiver.example/hook',
    method: 'POST',
    headers,
    body,
    acceptedAt: Date.now(),
    ordered: false,
  });
}

/** Enqueues from `concurrency` closed loops for `seconds`; returns enqueues/s and p99 ms. */
async function enqueueRate(store: DiskQueueStore): Promise<{ rate: number; p99: number }> {
  const stopAt = performance.now() + seconds * 1000;
  const latencies: number[] = [];
  const loop = async (): Promise<void> => {
    while (performance.now() < stopAt) {
      const start = performance.now();
      await enqueueOne(store);
      latencies.push(performance.now() - start);
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: concurrency }, loop));
  const elapsed = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    rate: latencies.length / elapsed,
    p99: latencies[Math.floor(latencies.length * 0.99)] ?? NaN,
  };
}

/** Fills the queue, then claims 100 at a time and settles each as delivered, for `seconds`. */
async function claimSettleRate(store: DiskQueueStore, fill: number): Promise<number> {
  const batch = 1000;
  for (let i = 0; i < fill; i += batch) {
    await Promise.all(Array.from({ length: Math.min(batch, fill - i) }, () => enqueueOne(store)));
  }
  const stopAt = performance.now() + seconds * 1000;
  let settled = 0;
  const worker = async (): Promise<void> => {
    while (performance.now() < stopAt) {
      const claimed = await store.claim(100, Date.now(), 60_000);
      if (claimed.length === 0) return;
      await Promise.all(
        claimed.map((d) =>
          store.settle(
            d.deliveryId,
            { at: Date.now(), status: 200, durationMs: 1 },
            {
              kind: 'delivered',
            },
          ),
        ),
      );
      settled += claimed.length;
    }
  };
  const start = performance.now();
  await Promise.all(Array.from({ length: 4 }, worker));
  return settled / ((performance.now() - start) / 1000);
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');
console.log(
  `bench/async/disk-store: 1 KiB bodies, ${concurrency} concurrent enqueuers, ${seconds}s per run, ` +
    `dir ${parent}, Node ${process.versions.node}`,
);
const baseline = await withStore(false, enqueueRate);
console.log(
  `  enqueue, one fdatasync per enqueue (baseline): ${fmt(baseline.rate)}/s  p99 ${baseline.p99.toFixed(1)} ms`,
);
const grouped = await withStore(true, enqueueRate);
console.log(
  `  enqueue, group commit:                         ${fmt(grouped.rate)}/s  p99 ${grouped.p99.toFixed(1)} ms` +
    `  = ${(grouped.rate / baseline.rate).toFixed(1)}x baseline`,
);
const fill = Math.min(500_000, Math.max(20_000, Math.round(grouped.rate * seconds * 1.5)));
const drained = await withStore(true, (store) => claimSettleRate(store, fill));
console.log(
  `  claim + settle(delivered), group commit:      ${fmt(drained)}/s` +
    `  = ${(drained / baseline.rate).toFixed(1)}x baseline enqueue  (queue filled with ${fmt(fill)})`,
);

// Recovery: 100,000 deliveries written, the store closed, then reopened and measured.
{
  const count = 100_000;
  const dir = await mkdtemp(join(parent, 'hookgate-bench-queue-'));
  const first = await openDiskStore({ dir, limits, bodyCacheBytes: 1 });
  for (let i = 0; i < count; i += 1000) {
    await Promise.all(Array.from({ length: 1000 }, () => enqueueOne(first)));
  }
  const onDisk = first.diskBytes;
  await first.close();
  globalThis.gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const start = performance.now();
  const reopened = await openDiskStore({ dir, limits, bodyCacheBytes: 1 });
  const ms = performance.now() - start;
  globalThis.gc?.();
  const perDelivery = (process.memoryUsage().heapUsed - heapBefore) / count;
  console.log(
    `  reopen ${fmt(count)} deliveries (${fmt(onDisk / 2 ** 20)} MiB of log): ${fmt(ms)} ms,` +
      ` index heap ~${fmt(perDelivery)} B/delivery${globalThis.gc ? '' : ' (run with --expose-gc for a cleaner figure)'}`,
  );
  await reopened.close();
  await rm(dir, { recursive: true, force: true });
}

// A child process for the disk queue's crash tests (disk.test.ts), killed with SIGKILL mid-work.
// `enqueue <dir> <count>`: enqueues with 64 in flight, claims and delivers some, and prints
//   `A <id>` once an enqueue resolved, `C <id>` when claimed, and `D <id>` once a `delivered`
//   settlement resolved.
// `ordered <dir> <count>`: one ordered endpoint, retries included; prints `S <id>` per attempt.
// `compact <dir> <step>`: compacts the directory and SIGKILLs itself at that compaction step.
import { openDiskStore, type CompactionStep } from './index.ts';

const [mode, dir, arg] = process.argv.slice(2);
const limits = { maxPerEndpoint: 1_000_000, maxTotal: 1_000_000, maxBytes: 1 << 30 };

if (mode === 'enqueue' && dir !== undefined) {
  const store = await openDiskStore({ dir, limits });
  const count = Number(arg);
  let next = 0;
  const body = Buffer.alloc(512, 'b');
  const worker = async (): Promise<void> => {
    while (next < count) {
      const n = next++;
      const id = `msg_${n}`;
      await store.enqueue({
        deliveryId: id,
        endpointName: `ep${n % 7}`,
        url: 'https://receiver.example/hook',
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        acceptedAt: 1_000_000 + n,
        ordered: n % 2 === 0,
      });
      process.stdout.write(`A ${id}\n`);
      // deliver some, so the log holds settlements too
      if (n % 3 === 0) {
        for (const d of await store.claim(4, 2_000_000_000, 60_000)) {
          // its settlement may become durable without the parent hearing of it
          process.stdout.write(`C ${d.deliveryId}\n`);
          await store.settle(
            d.deliveryId,
            { at: 2_000_000_000, status: 200, durationMs: 1 },
            {
              kind: 'delivered',
            },
          );
          process.stdout.write(`D ${d.deliveryId}\n`);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: 64 }, () => worker()));
  process.stdout.write('END\n');
} else if (mode === 'ordered' && dir !== undefined) {
  // one ordered endpoint: every third attempt fails and is retried; prints `S <id>` as it sends
  const store = await openDiskStore({ dir, limits });
  const count = Number(arg);
  await Promise.all(
    Array.from({ length: count }, (_, n) =>
      store.enqueue({
        deliveryId: `msg_${n}`,
        endpointName: 'ordered',
        url: 'https://receiver.example/hook',
        method: 'POST',
        headers: {},
        body: Buffer.from(String(n)),
        acceptedAt: 1_000_000 + n,
        ordered: true,
      }),
    ),
  );
  process.stdout.write('ENQUEUED\n');
  let now = 2_000_000_000;
  for (let attempt = 0; ; attempt++) {
    const [d] = await store.claim(1, now, 60_000);
    if (d === undefined) break;
    process.stdout.write(`S ${d.deliveryId}\n`);
    now += 10;
    if (attempt % 3 === 2) {
      await store.settle(
        d.deliveryId,
        { at: now, status: 503, durationMs: 1 },
        {
          kind: 'retry',
          at: now + 5,
        },
      );
      now += 5;
    } else {
      await store.settle(
        d.deliveryId,
        { at: now, status: 200, durationMs: 1 },
        {
          kind: 'delivered',
        },
      );
    }
  }
  process.stdout.write('END\n');
} else if (mode === 'compact' && dir !== undefined) {
  const killAt = arg as CompactionStep;
  const store = await openDiskStore({
    dir,
    limits,
    onCompactionStep: (step) => {
      if (step === killAt) process.kill(process.pid, 'SIGKILL');
    },
  });
  await store.compact();
  await store.close();
} else {
  process.stderr.write(
    'usage: crash-child.ts enqueue|ordered <dir> <count> | compact <dir> <step>\n',
  );
  process.exit(2);
}

// What the Redis-at-scale tests share: a sidecar config for async delivery to a counting receiver,
// and the loss count of a run.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { LOOPBACK_ALLOWED } from '../egress/harness.ts';
import type { CountingReceiver, Sender } from '../queue/process.ts';

/** A config file: one async endpoint `orders` (signed, so webhook-id is sent) at `receiverUrl`. */
export function asyncConfig(receiverUrl: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'hookgate-redis-ha-'));
  const path = join(dir, 'sidecar.yaml');
  writeFileSync(
    path,
    [
      'listen: { egress: "127.0.0.1:0", ingress: "127.0.0.1:0" }',
      'endpoints:',
      '  - name: orders',
      `    url: ${receiverUrl}/hooks`,
      '    signing: { secrets: [{ source: { env: CRASH_TEST_WHSEC } }] }',
      `    policy: { ${LOOPBACK_ALLOWED}, delivery: { mode: async }, retry: { schedule: ["0s", "100ms", "500ms", "1s", "2s"] } }`,
      // A short lease: work claimed by a call the failover cut off is claimed again within seconds.
      `queue: { lease: 2s, pollInterval: 50ms, directory: ${join(dir, 'queue')} }`,
      '',
    ].join('\n'),
  );
  return path;
}

/** Accepted (202) webhooks the receiver never got. */
export function lost(sender: Sender, receiver: CountingReceiver): string[] {
  return [...sender.accepted].filter((id) => !receiver.counts.has(id));
}

/** Waits until nothing is missing, or until the receiver has made no progress for `quietMs`. */
export async function settle(
  sender: Sender,
  receiver: CountingReceiver,
  quietMs: number,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = -1;
  let since = Date.now();
  while (lost(sender, receiver).length > 0 && Date.now() < deadline) {
    if (receiver.counts.size !== last) {
      last = receiver.counts.size;
      since = Date.now();
    } else if (Date.now() - since > quietMs) return;
    await sleep(100);
  }
}

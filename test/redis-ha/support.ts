// What the Redis-at-scale tests share: the crash tests' async config, and the loss of a run.
import { setTimeout as sleep } from 'node:timers/promises';
import type { CountingReceiver, Sender } from '../queue/process.ts';

export { writeAsyncConfig as asyncConfig } from '../queue/process.ts';

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

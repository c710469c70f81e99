// The recorder never holds a delivery up: with the store stalled, updates past the buffer are
// dropped and counted, the observer call returns at once, and what was buffered is written once
// the store answers.
import { Registry } from 'prom-client';
import { describe, expect, it, vi } from 'vitest';
import type { HistoryUpdate } from '../../common/history.ts';
import { createLogger } from '../../common/log.ts';
import { Policy } from '../config/schema.ts';
import { compileEndpointPlan } from '../delivery/plan.ts';
import type { AttemptObservation } from '../delivery/observe.ts';
import { ManualClock } from '../delivery/testing/manual-clock.ts';
import { HistoryRecorder } from './recorder.ts';
import type { HistoryStore } from './store.ts';

/** A store whose appends wait until `release()`. */
function stalledStore(): HistoryStore & {
  written: HistoryUpdate[];
  calls: number;
  release(): void;
} {
  let release: () => void = () => undefined;
  const gate = new Promise<void>((resolve) => (release = resolve));
  const written: HistoryUpdate[] = [];
  const store = {
    backend: 'disk' as const,
    written,
    calls: 0,
    release: () => release(),
    append: async (updates: readonly HistoryUpdate[]) => {
      store.calls++;
      await gate;
      written.push(...updates);
    },
    list: () => Promise.resolve({ items: [] }),
    get: () => Promise.resolve(undefined),
    usage: () => Promise.resolve({ deliveries: 0, bytes: 0 }),
    close: () => Promise.resolve(),
  };
  return store;
}

const plan = compileEndpointPlan(Policy.parse({}));
const observation = (n: number): AttemptObservation => ({
  delivery: {
    deliveryId: `msg_${n}`,
    endpointName: 'orders',
    url: new URL('https://receiver.example/h'),
    method: 'POST',
    headers: { authorization: 'Bearer t' },
    body: Buffer.from('{}'),
    deadline: 0,
  },
  attempt: 1,
  startedAt: 1_767_225_600_000,
  result: {
    kind: 'response',
    status: 200,
    headers: {},
    body: Buffer.from('ok'),
    truncated: false,
    durationMs: 3,
  },
  plan,
});

describe('HistoryRecorder', () => {
  it('drops and counts past its buffer while the store is stalled, then writes what it kept', async () => {
    const store = stalledStore();
    const registry = new Registry();
    const recorder = new HistoryRecorder({
      store,
      source: { namespace: 'shop', pod: 'p' },
      bufferSize: 16,
      clock: new ManualClock(0),
      registry,
      log: createLogger({}, 'error'),
    });
    const heard: string[] = [];
    recorder.subscribe((u) => heard.push(u.deliveryId));
    // The first batch leaves the buffer for the stalled store; the buffer then fills again.
    recorder.onAttempt(observation(0));
    await vi.waitFor(() => expect(store.calls).toBe(1));
    for (let n = 1; n <= 20; n++) recorder.onAttempt(observation(n));
    const metrics = await registry.getSingleMetricAsString('hookgate_history_updates_total');
    expect(metrics).toMatch(/result="dropped"\} 4/);
    expect(heard).toHaveLength(17);
    store.release();
    await recorder.flushed();
    expect(store.written.map((u) => u.deliveryId)).toEqual(
      Array.from({ length: 17 }, (_, n) => `msg_${n}`),
    );
    expect(store.written[0]!.requestHeaders['authorization']).toBe('[redacted]');
  });
});

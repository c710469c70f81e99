// The recorder never holds a delivery up: with the store stalled, the observer call returns at
// once; past the buffer's count or byte cap the oldest waiting updates are dropped and counted,
// and what was kept is written, in order, once the store answers.
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
import { jsonText, type EncodedUpdate } from './update.ts';

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
    append: async (updates: readonly EncodedUpdate[]) => {
      store.calls++;
      await gate;
      written.push(...updates.map((u) => JSON.parse(jsonText(u)) as HistoryUpdate));
    },
    list: () => Promise.resolve({ items: [] }),
    get: () => Promise.resolve(undefined),
    usage: () => Promise.resolve({ deliveries: 0, bytes: 0 }),
    close: () => Promise.resolve(),
  };
  return store;
}

const plan = compileEndpointPlan(Policy.parse({}));
const observation = (n: number, body = '{}', p = plan): AttemptObservation => ({
  delivery: {
    deliveryId: `msg_${n}`,
    endpointName: 'orders',
    url: new URL('https://receiver.example/h'),
    method: 'POST',
    headers: { authorization: 'Bearer t' },
    body: Buffer.from(body),
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
  plan: p,
});

function recorderOn(
  store: HistoryStore,
  caps: { bufferSize?: number; bufferBytes?: number } = {},
): { recorder: HistoryRecorder; registry: Registry } {
  const registry = new Registry();
  const recorder = new HistoryRecorder({
    store,
    source: { namespace: 'shop', pod: 'p' },
    bufferSize: caps.bufferSize ?? 16,
    bufferBytes: caps.bufferBytes ?? 16 * 1024 * 1024,
    clock: new ManualClock(0),
    registry,
    log: createLogger({}, 'error'),
  });
  return { recorder, registry };
}

const dropped = async (registry: Registry): Promise<string> =>
  /result="dropped"\} (\d+)/.exec(
    await registry.getSingleMetricAsString('hookgate_history_updates_total'),
  )?.[1] ?? '0';

describe('HistoryRecorder', () => {
  it('drops and counts the oldest past its count while the store is stalled, then writes what it kept', async () => {
    const store = stalledStore();
    const { recorder, registry } = recorderOn(store, { bufferSize: 16 });
    const heard: string[] = [];
    recorder.subscribe((u) => heard.push(u.deliveryId));
    // The first batch leaves the buffer for the stalled store; the buffer then fills again.
    recorder.onAttempt(observation(0));
    await vi.waitFor(() => expect(store.calls).toBe(1));
    for (let n = 1; n <= 20; n++) recorder.onAttempt(observation(n));
    expect(await dropped(registry)).toBe('4');
    store.release();
    await recorder.flushed();
    // msg_1..msg_4 made room: the newest sixteen are kept.
    const kept = ['msg_0', ...Array.from({ length: 16 }, (_, n) => `msg_${n + 5}`)];
    expect(store.written.map((u) => u.deliveryId)).toEqual(kept);
    expect(heard).toEqual(kept);
    expect(store.written[0]!.requestHeaders['authorization']).toBe('[redacted]');
  });

  it('drops the oldest past its byte cap: bodies held while the store is stalled are bounded', async () => {
    const store = stalledStore();
    // Room for three 100 KB bodies (a disk store's: held raw, beside their JSON).
    const { recorder, registry } = recorderOn(store, {
      bufferSize: 1000,
      bufferBytes: 350 * 1024,
    });
    recorder.onAttempt(observation(0));
    await vi.waitFor(() => expect(store.calls).toBe(1));
    const big = 'x'.repeat(100 * 1024);
    const whole = compileEndpointPlan(Policy.parse({ history: { bodies: 'full' } }));
    for (let n = 1; n <= 10; n++) recorder.onAttempt(observation(n, big, whole));
    expect(await dropped(registry)).toBe('7');
    store.release();
    await recorder.flushed();
    expect(store.written.map((u) => u.deliveryId)).toEqual(['msg_0', 'msg_8', 'msg_9', 'msg_10']);
  });
});

// What both history benchmarks share: the attempt they record, shaped like bench/egress's (a 1 KB
// JSON body, a 2xx answer with a short body, a fresh delivery id each time), and the recorder's
// settings.
import type { AttemptObservation } from '../../sidecar/delivery/observe.ts';
import type { EndpointPlan } from '../../sidecar/delivery/plan.ts';

const body = Buffer.from(
  JSON.stringify({ type: 'order.created', data: 'x'.repeat(1000) }).slice(0, 1024),
);
const url = new URL('http://127.0.0.1:9999/hook');
let sequence = 0;

/** One observed attempt of endpoint `bench` under `plan` (a tree's own compiled plan). */
export function benchAttempt(plan: EndpointPlan): AttemptObservation {
  return {
    delivery: {
      deliveryId: `msg_2${(sequence++).toString(36).padStart(8, '0')}bench${process.pid}`,
      endpointName: 'bench',
      url,
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'content-length': '1024',
        'user-agent': 'app',
      },
      body,
      deadline: 0,
    },
    attempt: 1,
    startedAt: Date.now(),
    result: {
      kind: 'response',
      status: 200,
      headers: { date: new Date().toUTCString(), connection: 'keep-alive', 'content-length': '11' },
      body: Buffer.from('{"ok":true}'),
      truncated: false,
      durationMs: 1.2,
    },
    plan,
  };
}

/** The recorder's settings besides its store, clock, registry and log (the sidecar's defaults). */
export const RECORDER_SETTINGS = {
  source: { namespace: 'bench', pod: 'bench-0' },
  bufferSize: 10_000,
  bufferBytes: 16 * 1024 * 1024,
} as const;

// spec.paused (planned maintenance): a sync delivery is refused at once with endpoint-paused and
// Retry-After; async ones wait in the queue while other endpoints' deliveries go on; unpausing
// drains them in accept order.
import { afterEach, describe, expect, inject, it } from 'vitest';
import {
  startGuardedReceiver,
  startSidecar,
  type GuardedReceiver,
  type Sidecar,
} from './harness.ts';

const redisUrl = inject('redisUrl');

function config(paused: string, open: string, isPaused: boolean): string {
  const policy = `
    policy:
      destinations: { allowedCIDRs: ["127.0.0.0/8"] }
      delivery: { mode: async, ordering: per-endpoint }`;
  return `
endpoints:
  - name: maintenance
    url: ${paused}/hook
    paused: ${isPaused}${policy}
  - name: open
    url: ${open}/hook${policy}
  - name: maintenance-sync
    url: ${paused}/sync
    paused: ${isPaused}
    eventTypes: [order.*]
    policy: { destinations: { allowedCIDRs: ["127.0.0.0/8"] } }
  - name: open-sync
    url: ${open}/sync
    eventTypes: [order.*]
    policy: { destinations: { allowedCIDRs: ["127.0.0.0/8"] } }
  - name: broken
    url: ${paused}/broken${isPaused ? '\n    disabled: { reason: "failing continuously for 1h (last: http-503)" }' : ''}${policy}
  - name: broken-sync
    url: ${paused}/broken-sync${isPaused ? '\n    disabled: { reason: "failing continuously for 1h (last: http-503)" }' : ''}
    policy: { destinations: { allowedCIDRs: ["127.0.0.0/8"] } }
queue: { pollInterval: 20ms }
`;
}

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 10));

describe('spec.paused', () => {
  let sidecar: Sidecar;
  let paused: GuardedReceiver;
  let open: GuardedReceiver;
  let yaml: (isPaused: boolean) => string;
  afterEach(async () => {
    await sidecar.close();
    await paused.close();
    await open.close();
  });

  const start = async (): Promise<void> => {
    paused = await startGuardedReceiver(() => true);
    open = await startGuardedReceiver(() => true);
    yaml = (isPaused) => config(paused.url, open.url, isPaused);
    sidecar = await startSidecar(() => yaml(true), {}, redisUrl);
  };

  it('refuses a sync delivery at once with endpoint-paused and Retry-After', async () => {
    await start();
    const res = await sidecar.post('/maintenance-sync');
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('60');
    expect(res.headers.get('hookgate-attempts')).toBe('1');
    const problem = (await res.json()) as { type: string; detail: string };
    expect(problem.type).toBe('https://hookgate.io/problems/endpoint-paused');
    expect(problem.detail).toContain('spec.paused');
    expect(paused.seen).toEqual([]);
    // Unpaused, the same delivery goes through.
    await sidecar.reload(yaml(false));
    expect((await sidecar.post('/maintenance-sync')).status).toBe(200);
  });

  it('refuses and holds an endpoint the operator disabled, naming why, until it is enabled', async () => {
    await start();
    const refused = await sidecar.post('/broken-sync');
    expect(refused.status).toBe(503);
    const problem = (await refused.json()) as { type: string; detail: string };
    expect(problem.type).toBe('https://hookgate.io/problems/endpoint-disabled');
    expect(problem.detail).toContain('failing continuously for 1h (last: http-503)');
    for (let n = 0; n < 3; n++)
      expect((await sidecar.post('/broken', JSON.stringify({ n }))).status).toBe(202);
    for (let n = 0; n < 3; n++) await sidecar.post('/open', JSON.stringify({ n }));
    while (open.seen.length < 3) await tick();
    expect(paused.seen).toEqual([]);
    // The resource changed, the operator publishes it enabled: the held deliveries drain in order.
    await sidecar.reload(yaml(false));
    while (paused.seen.length < 3) await tick();
    expect(paused.seen.map((s) => s.body)).toEqual(['{"n":0}', '{"n":1}', '{"n":2}']);
  });

  it('reports endpoint-paused for a paused subscriber of a sync fan-out; the others get it', async () => {
    await start();
    const res = await sidecar.post('/_events', '{"type":"order.created"}', {
      'hookgate-event-type': 'order.created',
    });
    expect(res.status).toBe(200);
    const report = (await res.json()) as {
      deliveries: { endpoint: string; status: number; outcome: string }[];
    };
    const byEndpoint = Object.fromEntries(report.deliveries.map((d) => [d.endpoint, d]));
    expect(byEndpoint['maintenance-sync']).toMatchObject({
      status: 503,
      outcome: 'endpoint_paused',
    });
    expect(byEndpoint['open-sync']).toMatchObject({ status: 200, outcome: 'delivered' });
    expect(paused.seen).toEqual([]);
  });

  it('holds async deliveries while paused and drains them in order once unpaused', async () => {
    await start();
    for (let n = 0; n < 10; n++)
      expect((await sidecar.post('/maintenance', JSON.stringify({ n }))).status).toBe(202);
    // A sync endpoint's delivery with Prefer: respond-async is queued and held the same way.
    const preferred = await sidecar.post('/maintenance-sync', '{"n":"sync"}', {
      prefer: 'respond-async',
    });
    expect(preferred.status).toBe(202);
    // Accepted after the paused ones: once these arrive, the worker has passed the paused line.
    for (let n = 0; n < 3; n++) await sidecar.post('/open', JSON.stringify({ n }));
    while (open.seen.length < 3) await tick();
    expect(paused.seen).toEqual([]);
    await sidecar.reload(yaml(false));
    while (paused.seen.length < 11) await tick();
    const drained = paused.seen.filter((s) => s.body !== '{"n":"sync"}').map((s) => s.body);
    expect(drained).toEqual(Array.from({ length: 10 }, (_, n) => JSON.stringify({ n })));
  });
});

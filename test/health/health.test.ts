// Delivery health end to end, against the real API server: the operator (in process, under its
// shipped RBAC) publishes an endpoint, the config server streams it to a real sidecar process
// authenticated with a TokenRequest token bound to a pod, the sidecar delivers to a real receiver
// and reports on the channel, and the health writer turns the reports into the endpoint's
// Healthy condition and status.deliveries. Asserted on the order of events: the first report
// after the receiver went down, then the condition; never on a timer.
import type { KubeConfig } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { SidecarHealthReport } from '../../common/health.ts';
import type { DeliveryHealth } from '../../operator/health/index.ts';
import type { KubeObject } from '../../operator/kube/types.ts';
import type { SidecarProcess } from '../queue/process.ts';
import {
  apply,
  condition,
  endpointManifest,
  eventsFor,
  hookgatePath,
  policyManifest,
  read,
} from '../operator/support.ts';
import {
  endpointIn,
  startHealthGround,
  switchableReceiver,
  testClock,
  type HealthGround,
  type SwitchableReceiver,
} from './ground.ts';

const poll = { timeout: 30_000, interval: 100 };
/** In the endpoint's URL: it must never reach status or Events. */
const URL_SECRET = 's3cret-capability';
const clock = testClock();

describe('delivery health in WebhookEndpoint status', () => {
  let ground: HealthGround;
  let adminConfig: KubeConfig;
  let ns: string;
  let health: DeliveryHealth;
  let sidecar: SidecarProcess;
  let receiver: SwitchableReceiver;
  let reports: readonly SidecarHealthReport[];
  const nextReport = (match: (r: SidecarHealthReport) => boolean): Promise<void> =>
    ground.nextReport(match);
  const orders = (r: SidecarHealthReport) => endpointIn(r, 'orders');
  const endpoint = (): Promise<KubeObject | undefined> =>
    read(adminConfig, hookgatePath(ns, 'webhookendpoints', 'orders'));
  const send = async (name = 'orders'): Promise<number> =>
    (await fetch(`${sidecar.egress}/${name}`, { method: 'POST', body: '{"id":1}' })).status;
  const reasons = async (name: string): Promise<string[]> =>
    (await eventsFor(adminConfig, ns, name)).map((e) => e.reason);

  beforeAll(async () => {
    ground = await startHealthGround('health', clock);
    ({ adminConfig, ns, health, reports } = ground);
    receiver = await switchableReceiver();
    await apply(
      adminConfig,
      policyManifest(ns, 'loopback', {
        endpointSelector: { matchLabels: { breaker: 'none' } },
        retry: { maxAttempts: 1 },
        destinations: { allowedCIDRs: ['127.0.0.0/8'] },
      }),
    );
    await apply(
      adminConfig,
      endpointManifest(
        ns,
        'orders',
        { direction: 'Egress', url: `${receiver.url}/hooks?token=${URL_SECRET}` },
        { breaker: 'none' },
      ),
    );
    await vi.waitUntil(async () => condition(await endpoint(), 'Ready')?.status === 'True', poll);
    sidecar = await ground.startSidecar();
  });

  afterAll(async () => {
    await ground?.stop();
    await receiver?.down().catch(() => undefined);
  });

  it('turns Healthy False within one report of the receiver going down, and True once it recovers', async () => {
    // Healthy while the receiver answers.
    expect(await send()).toBe(200);
    await nextReport((r) => (orders(r)?.delivered ?? 0) >= 1);
    expect(await health.writer.tick()).toBe(1);
    let object = await endpoint();
    expect(condition(object, 'Healthy')).toMatchObject({ status: 'True', reason: 'Delivering' });
    // The reconciler's Ready stays: each writer owns its own entries.
    expect(condition(object, 'Ready')?.status).toBe('True');
    expect(object?.['status']).toMatchObject({
      deliveries: { pods: 1, delivered: 1, failed: 0, successRate: '100%', circuit: 'closed' },
    });

    // The receiver goes down: the next delivery fails, and the first report after it says so.
    await receiver.down();
    expect(await send()).toBeGreaterThanOrEqual(500);
    await nextReport((r) => (orders(r)?.failed ?? 0) >= 1);
    expect(await health.writer.tick()).toBe(1);
    object = await endpoint();
    expect(condition(object, 'Healthy')).toMatchObject({
      status: 'False',
      reason: 'FailingDeliveries',
    });
    expect(object?.['status']).toMatchObject({
      deliveries: {
        delivered: 1,
        failed: 1,
        successRate: '50%',
        lastFailure: { reason: 'connect-error' },
      },
    });
    await expect.poll(() => reasons('orders'), poll).toContain('FailingDeliveries');

    // It comes back; once the failure has left the window, the next report turns it True again.
    await receiver.up();
    clock.at += 61_000;
    expect(await send()).toBe(200);
    await nextReport((r) => (orders(r)?.delivered ?? 0) >= 2);
    expect(await health.writer.tick()).toBe(1);
    object = await endpoint();
    expect(condition(object, 'Healthy')).toMatchObject({ status: 'True', reason: 'Delivering' });
    expect(object?.['status']).toMatchObject({
      deliveries: { delivered: 1, failed: 0, lastFailure: { reason: 'connect-error' } },
    });
    // Events on each flip: the first Delivering, FailingDeliveries, Delivering again.
    await expect
      .poll(
        async () =>
          (await eventsFor(adminConfig, ns, 'orders')).filter((e) => e.reason === 'Delivering')
            .length,
        poll,
      )
      .toBe(2);

    // Nothing of the endpoint's URL (a capability) in status or Events.
    const events = await eventsFor(adminConfig, ns, 'orders');
    expect(JSON.stringify(object?.['status'])).not.toContain(URL_SECRET);
    expect(JSON.stringify(events)).not.toContain(URL_SECRET);
    expect(JSON.stringify(reports)).not.toContain(URL_SECRET);
  });

  it('writes nothing when nothing changed, and at most once per interval while counts move', async () => {
    // Nothing new since the last write: no write.
    await nextReport(() => true);
    expect(await health.writer.tick()).toBe(0);
    // A success changes the counts but not the condition: held back by the per-endpoint limit…
    expect(await send()).toBe(200);
    await nextReport((r) => (orders(r)?.delivered ?? 0) >= 3);
    expect(await health.writer.tick()).toBe(0);
    // …and written once the interval has passed.
    clock.at += 10_000;
    await nextReport(() => true);
    expect(await health.writer.tick()).toBe(1);
    expect((await endpoint())?.['status']).toMatchObject({ deliveries: { delivered: 2 } });
  });

  it('reports an open circuit as CircuitOpen, with Events when it opens and closes', async () => {
    const backend = await switchableReceiver();
    await apply(
      adminConfig,
      policyManifest(ns, 'breaker', {
        endpointSelector: { matchLabels: { breaker: 'one-failure' } },
        retry: { maxAttempts: 1 },
        destinations: { allowedCIDRs: ['127.0.0.0/8'] },
        circuitBreaker: { consecutiveFailures: 1, openDuration: '1s' },
      }),
    );
    await apply(
      adminConfig,
      endpointManifest(
        ns,
        'invoices',
        { direction: 'Egress', url: `${backend.url}/hooks` },
        { breaker: 'one-failure' },
      ),
    );
    const invoices = (r: SidecarHealthReport) => endpointIn(r, 'invoices');
    // Published, then in force in the sidecar once a report names it.
    await vi.waitUntil(
      async () =>
        condition(
          await read(adminConfig, hookgatePath(ns, 'webhookendpoints', 'invoices')),
          'Ready',
        )?.status === 'True',
      poll,
    );
    await nextReport((r) => invoices(r) !== undefined);
    await backend.down();
    expect(await send('invoices')).toBeGreaterThanOrEqual(500);
    await nextReport((r) => invoices(r)?.circuit === 'open');
    await health.writer.tick();
    let object = await read(adminConfig, hookgatePath(ns, 'webhookendpoints', 'invoices'));
    expect(condition(object, 'Healthy')).toMatchObject({ status: 'False', reason: 'CircuitOpen' });
    expect(object?.['status']).toMatchObject({ deliveries: { circuit: 'open' } });
    await expect.poll(() => reasons('invoices'), poll).toContain('CircuitOpened');

    // Back up: once the open period is over a probe gets through and the breaker closes.
    await backend.up();
    await vi.waitUntil(async () => (await send('invoices')) === 200, poll);
    await nextReport((r) => invoices(r)?.circuit === 'closed');
    await health.writer.tick();
    object = await read(adminConfig, hookgatePath(ns, 'webhookendpoints', 'invoices'));
    expect(object?.['status']).toMatchObject({ deliveries: { circuit: 'closed' } });
    // The failures are still in the window: failing, but no longer for the circuit.
    expect(condition(object, 'Healthy')?.reason).toBe('FailingDeliveries');
    await expect.poll(() => reasons('invoices'), poll).toContain('CircuitClosed');
    await backend.down();
  }, 180_000);
});

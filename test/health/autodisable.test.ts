// Auto-disable end to end, against the real API server: the operator (in process, under its
// shipped RBAC) publishes an endpoint whose policy says autoDisable, a real sidecar process
// delivers to a receiver that is down and reports on the config channel, the health writer (on
// an injected clock) marks the endpoint Disabled with an Event, the reconciler publishes that,
// and the sidecar refuses sync sends with endpoint-disabled and holds async ones; a change to the
// resource enables it again. Asserted on the order of events, never on a timer.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { KubeConfig } from '@kubernetes/client-node';
import { Webhook } from 'standardwebhooks';
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
  secretManifest,
  whsec,
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
/** The platform team's signing secret for operational webhooks. */
const OPS_SECRET = whsec(7);
/** In the endpoint's URL: it must never reach status or Events. */
const URL_SECRET = 's3cret-capability';
const clock = testClock();

/** The platform team's receiver of operational webhooks: keeps each request's headers and body. */
async function opsReceiver(): Promise<{
  url: string;
  received: { headers: Record<string, string>; body: string }[];
  close(): Promise<void>;
}> {
  const received: { headers: Record<string, string>; body: string }[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({
        headers: req.headers as Record<string, string>,
        body: Buffer.concat(chunks).toString(),
      });
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describe('auto-disable of a failing endpoint, and the operational webhooks it sends', () => {
  let ground: HealthGround;
  let adminConfig: KubeConfig;
  let ns: string;
  let health: DeliveryHealth;
  let sidecar: SidecarProcess;
  let receiver: SwitchableReceiver;
  let ops: Awaited<ReturnType<typeof opsReceiver>>;
  let reports: readonly SidecarHealthReport[];
  const nextReport = (match: (r: SidecarHealthReport) => boolean): Promise<void> =>
    ground.nextReport(match);
  const orders = (r: SidecarHealthReport) => endpointIn(r, 'orders');
  const endpoint = (): Promise<KubeObject | undefined> =>
    read(adminConfig, hookgatePath(ns, 'webhookendpoints', 'orders'));
  const send = (body = '{"id":1}', headers: Record<string, string> = {}): Promise<Response> =>
    fetch(`${sidecar.egress}/orders`, { method: 'POST', body, headers });
  const ordersSpec = (path: string): Record<string, unknown> => ({
    direction: 'Egress',
    url: `${receiver.url}${path}?token=${URL_SECRET}`,
  });

  /** The payload of an operational webhook, once the standardwebhooks library verified it. */
  const verified = (r: {
    headers: Record<string, string>;
    body: string;
  }): { type: string; timestamp: string; data: Record<string, unknown> } =>
    new Webhook(OPS_SECRET).verify(r.body, r.headers) as {
      type: string;
      timestamp: string;
      data: Record<string, unknown>;
    };

  beforeAll(async () => {
    ground = await startHealthGround('autodisable', clock);
    ({ adminConfig, ns, health, reports } = ground);
    receiver = await switchableReceiver();
    await apply(
      adminConfig,
      policyManifest(ns, 'auto', {
        endpointSelector: { matchLabels: { team: 'shop' } },
        retry: { maxAttempts: 1, schedule: ['0s', '1h'] },
        destinations: { allowedCIDRs: ['127.0.0.0/8'] },
        autoDisable: { failingFor: '10m' },
      }),
    );
    await apply(
      adminConfig,
      endpointManifest(ns, 'orders', ordersSpec('/hooks'), { team: 'shop' }),
    );
    // The platform team's endpoint: an ordinary egress endpoint subscribed to Hookgate's events.
    ops = await opsReceiver();
    await apply(adminConfig, secretManifest(ns, 'ops-signing', { secret: OPS_SECRET }));
    await apply(
      adminConfig,
      policyManifest(ns, 'ops', {
        endpointSelector: { matchLabels: { team: 'platform' } },
        destinations: { allowedCIDRs: ['127.0.0.0/8'] },
      }),
    );
    await apply(
      adminConfig,
      endpointManifest(
        ns,
        'platform-events',
        {
          direction: 'Egress',
          url: `${ops.url}/hookgate`,
          signing: { secretRef: { name: 'ops-signing' } },
          operationalEvents: [
            'hookgate.endpoint.disabled',
            'hookgate.endpoint.enabled',
            'hookgate.circuit.opened',
            'hookgate.circuit.closed',
            'hookgate.delivery.dead_lettered',
          ],
        },
        { team: 'platform' },
      ),
    );
    await vi.waitUntil(
      async () =>
        condition(
          await read(adminConfig, hookgatePath(ns, 'webhookendpoints', 'platform-events')),
          'Ready',
        )?.status === 'True',
      poll,
    );
    await vi.waitUntil(async () => {
      const object = await endpoint();
      return (
        condition(object, 'Ready')?.status === 'True' &&
        (object?.['status'] as { policy?: string } | undefined)?.policy === 'auto'
      );
    }, poll);

    sidecar = await ground.startSidecar();
    await nextReport(
      (r) =>
        orders(r) !== undefined && r.endpoints.some((e) => e.endpoint.endsWith('/platform-events')),
    );
  }, 120_000);

  afterAll(async () => {
    await ground?.stop();
    await receiver?.down().catch(() => undefined);
    await ops?.close();
  });

  it('disables an endpoint failing for failingFor, refuses and holds its deliveries, and is enabled by editing it', async () => {
    // The receiver is down: failures start a run, written as failingSince.
    await receiver.down();
    expect((await send()).status).toBeGreaterThanOrEqual(500);
    await nextReport((r) => (orders(r)?.failed ?? 0) >= 1);
    await health.writer.tick();
    let object = await endpoint();
    expect(condition(object, 'Healthy')).toMatchObject({ reason: 'FailingDeliveries' });
    const since = (object?.['status'] as { deliveries?: { failingSince?: string } }).deliveries
      ?.failingSince;
    expect(since).toBeDefined();

    // Ten minutes later by the operator's clock, failures still coming and none delivered.
    clock.at += 10 * 60_000;
    expect((await send()).status).toBeGreaterThanOrEqual(500);
    await nextReport((r) => (orders(r)?.failed ?? 0) >= 2);
    await health.writer.tick();
    object = await endpoint();
    const generation = object?.metadata.generation;
    expect(condition(object, 'Healthy')).toMatchObject({
      status: 'False',
      reason: 'Disabled',
      observedGeneration: generation,
    });
    expect(condition(object, 'Healthy')?.message).toContain(
      'disabled by WebhookPolicy auto (autoDisable.failingFor 10m)',
    );
    await expect
      .poll(async () => (await eventsFor(adminConfig, ns, 'orders')).map((e) => e.reason), poll)
      .toContain('Disabled');

    // The platform team hears of it: an operational webhook, queued and signed by the sidecar.
    await vi.waitUntil(() => ops.received.length >= 1, poll);
    const disabled = verified(ops.received[0]!);
    expect(disabled).toMatchObject({
      type: 'hookgate.endpoint.disabled',
      data: {
        namespace: ns,
        endpoint: 'orders',
        generation,
        reason: 'Disabled',
        failingSince: since,
      },
    });
    expect(disabled.data['message']).toContain('autoDisable.failingFor 10m');
    expect(ops.received[0]!.headers['webhook-id']).toMatch(/^hgo_[0-9a-f]{32}$/);
    expect(ops.received[0]!.headers['hookgate-event-type']).toBe('hookgate.endpoint.disabled');
    // Signed with the subscriber's secret, not any other.
    expect(() =>
      new Webhook(whsec(8)).verify(ops.received[0]!.body, ops.received[0]!.headers),
    ).toThrow();

    // The reconciler publishes it; the sidecar refuses sync sends naming the reason…
    let refused: Response | undefined;
    await vi.waitUntil(async () => {
      refused = await send();
      return refused.status === 503;
    }, poll);
    const problem = (await refused!.json()) as { type: string; detail: string };
    expect(problem.type).toBe('https://hookgate.io/problems/endpoint-disabled');
    expect(problem.detail).toContain('autoDisable.failingFor 10m');
    expect(problem.detail).not.toContain(URL_SECRET);
    // …and holds async ones in the queue (accepted, not sent, not dead-lettered).
    const held = await send('{"id":"held"}', { prefer: 'respond-async' });
    expect(held.status).toBe(202);
    // Refusals of a disabled endpoint are no failures of the receiver: the mark stays as it is.
    await nextReport(() => true);
    await health.writer.tick();
    expect(condition(await endpoint(), 'Healthy')).toMatchObject({
      reason: 'Disabled',
      observedGeneration: generation,
    });

    // The receiver is fixed and the resource changed (a GitOps commit): a new generation.
    await receiver.up();
    await apply(
      adminConfig,
      endpointManifest(ns, 'orders', ordersSpec('/hooks/v2'), { team: 'shop' }),
    );
    await vi.waitUntil(async () => (await send('{"id":2}')).status === 200, poll);
    // The held delivery drains once enabled.
    await vi.waitUntil(() => receiver.bodies.includes('{"id":"held"}'), poll);
    // Once the old failures have left the window, a delivery and its report.
    clock.at += 61_000;
    const delivered = orders(reports.at(-1)!)?.delivered ?? 0;
    expect((await send('{"id":3}')).status).toBe(200);
    await nextReport((r) => (orders(r)?.delivered ?? 0) > delivered);
    await health.writer.tick();
    object = await endpoint();
    expect(object?.metadata.generation).toBeGreaterThan(generation ?? 0);
    expect(condition(object, 'Healthy')).toMatchObject({
      status: 'True',
      observedGeneration: object?.metadata.generation,
    });
    expect(
      (object?.['status'] as { deliveries?: { failingSince?: string } }).deliveries?.failingSince,
    ).toBeUndefined();
    // Events in order: failing, disabled, enabled again.
    await expect
      .poll(async () => (await eventsFor(adminConfig, ns, 'orders')).map((e) => e.reason), poll)
      .toEqual(expect.arrayContaining(['FailingDeliveries', 'Disabled', 'Enabled']));
    const reasons = (await eventsFor(adminConfig, ns, 'orders')).map((e) => e.reason);
    expect(reasons.indexOf('FailingDeliveries')).toBeLessThan(reasons.indexOf('Disabled'));
    expect(reasons.indexOf('Disabled')).toBeLessThan(reasons.indexOf('Enabled'));
    const events = await eventsFor(adminConfig, ns, 'orders');
    expect(JSON.stringify([object?.['status'], events])).not.toContain(URL_SECRET);

    // And the platform team hears it was enabled: the second operational webhook, in order.
    await vi.waitUntil(() => ops.received.length >= 2, poll);
    expect(verified(ops.received[1]!)).toMatchObject({
      type: 'hookgate.endpoint.enabled',
      data: { namespace: ns, endpoint: 'orders', generation: object?.metadata.generation },
    });
    expect(ops.received.map((r) => verified(r).type)).toEqual([
      'hookgate.endpoint.disabled',
      'hookgate.endpoint.enabled',
    ]);
    // Nothing of the failing endpoint's URL (a capability) in what the platform team got.
    expect(JSON.stringify(ops.received.map((r) => r.body))).not.toContain(URL_SECRET);
    expect(JSON.stringify(ops.received.map((r) => r.body))).not.toContain(receiver.url);
  }, 180_000);

  it('disables an endpoint after deadLettersInARow dead letters, and tells the platform team in order', async () => {
    await apply(
      adminConfig,
      policyManifest(ns, 'dead-letters', {
        endpointSelector: { matchLabels: { team: 'billing' } },
        // One async attempt: each delivery the receiver refuses is dead-lettered at once.
        retry: { maxAttempts: 1, schedule: ['0s'] },
        destinations: { allowedCIDRs: ['127.0.0.0/8'] },
        autoDisable: { deadLettersInARow: 2 },
      }),
    );
    const down = await switchableReceiver();
    await down.down();
    await apply(
      adminConfig,
      endpointManifest(
        ns,
        'invoices',
        { direction: 'Egress', url: `${down.url}/hooks` },
        { team: 'billing' },
      ),
    );
    const invoices = (r: SidecarHealthReport) => endpointIn(r, 'invoices');
    await vi.waitUntil(async () => {
      const object = await read(adminConfig, hookgatePath(ns, 'webhookendpoints', 'invoices'));
      return (object?.['status'] as { policy?: string } | undefined)?.policy === 'dead-letters';
    }, poll);
    await nextReport((r) => invoices(r) !== undefined);
    const seen = ops.received.length;
    for (const id of [1, 2]) {
      const res = await fetch(`${sidecar.egress}/invoices`, {
        method: 'POST',
        body: `{"invoice":${id}}`,
        headers: { prefer: 'respond-async' },
      });
      expect(res.status).toBe(202);
    }
    // The sidecar counts them in a row; the operator adds pods up and disables at two.
    await nextReport((r) => (invoices(r)?.deadLetteredInARow ?? 0) >= 2);
    await health.writer.tick();
    const object = await read(adminConfig, hookgatePath(ns, 'webhookendpoints', 'invoices'));
    expect(condition(object, 'Healthy')).toMatchObject({ status: 'False', reason: 'Disabled' });
    expect(condition(object, 'Healthy')?.message).toContain(
      'autoDisable.deadLettersInARow 2): 2 deliveries dead-lettered in a row',
    );
    expect(object?.['status']).toMatchObject({ deliveries: { deadLetteredInARow: 2 } });
    // Dead letters arriving, then the endpoint disabled: in that order, each verified.
    await vi.waitUntil(() => ops.received.length >= seen + 2, poll);
    const got = ops.received.slice(seen).map((r) => verified(r));
    expect(got.map((e) => [e.type, e.data['endpoint']])).toEqual([
      ['hookgate.delivery.dead_lettered', 'invoices'],
      ['hookgate.endpoint.disabled', 'invoices'],
    ]);
    expect(got[0]!.data).toMatchObject({
      deadLettered: 2,
      lastFailure: { reason: 'connect-error' },
    });
    expect(got[1]!.data).toMatchObject({ reason: 'Disabled', deadLetteredInARow: 2 });
  }, 180_000);

  it('names each dead-lettered delivery to an endpoint subscribed to attempts_exhausted, from the sidecar that dead-lettered it', async () => {
    // A second platform endpoint, subscribed only to the per-delivery event.
    const exhausted = await opsReceiver();
    await apply(
      adminConfig,
      endpointManifest(
        ns,
        'platform-exhausted',
        {
          direction: 'Egress',
          url: `${exhausted.url}/hookgate`,
          signing: { secretRef: { name: 'ops-signing' } },
          operationalEvents: ['hookgate.delivery.attempts_exhausted'],
        },
        { team: 'platform' },
      ),
    );
    await apply(
      adminConfig,
      policyManifest(ns, 'refunds', {
        endpointSelector: { matchLabels: { team: 'refunds' } },
        retry: { maxAttempts: 1, schedule: ['0s'] },
        destinations: { allowedCIDRs: ['127.0.0.0/8'] },
      }),
    );
    const down = await switchableReceiver();
    await down.down();
    await apply(
      adminConfig,
      endpointManifest(
        ns,
        'refunds',
        { direction: 'Egress', url: `${down.url}/hooks?token=${URL_SECRET}` },
        { team: 'refunds' },
      ),
    );
    // Both in force in the sidecar once a report names them.
    await nextReport(
      (r) =>
        r.endpoints.some((e) => e.endpoint.endsWith('/refunds')) &&
        r.endpoints.some((e) => e.endpoint.endsWith('/platform-exhausted')),
    );
    const ids: string[] = [];
    for (const id of [1, 2]) {
      const res = await fetch(`${sidecar.egress}/refunds`, {
        method: 'POST',
        body: `{"refund":${id}}`,
        headers: { prefer: 'respond-async' },
      });
      expect(res.status).toBe(202);
      ids.push(res.headers.get('hookgate-delivery-id')!);
    }
    await vi.waitUntil(() => exhausted.received.length >= 2, poll);
    const events = exhausted.received.map((r) => verified(r));
    expect(events.map((e) => e.type)).toEqual([
      'hookgate.delivery.attempts_exhausted',
      'hookgate.delivery.attempts_exhausted',
    ]);
    expect(events.map((e) => e.data['deliveryId']).sort()).toEqual([...ids].sort());
    expect(events[0]!.data).toMatchObject({
      namespace: ns,
      endpoint: 'refunds',
      direction: 'egress',
      attempts: 1,
      reason: 'connect-error',
    });
    // The platform endpoint of the other cases is not subscribed to it; nothing leaks.
    expect(
      ops.received.map((r) => verified(r).type).filter((t) => t.endsWith('attempts_exhausted')),
    ).toEqual([]);
    expect(JSON.stringify(exhausted.received.map((r) => r.body))).not.toContain(URL_SECRET);
    await exhausted.close();
  }, 180_000);
});

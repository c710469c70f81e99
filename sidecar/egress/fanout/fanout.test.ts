import { describe, expect, it } from 'vitest';
import type { Delivery } from '../../delivery/delivery.ts';
import type { EndpointRuntime } from '../../delivery/runtime.ts';
import { runDeliveries, type DeliveryReport, type PlannedDelivery } from './fanout.ts';

const endpoint = (name: string): EndpointRuntime => ({ name }) as unknown as EndpointRuntime;
const planned = (name: string, async: boolean): PlannedDelivery => ({
  endpoint: endpoint(name),
  delivery: { deliveryId: `msg_${name}`, endpointName: name } as Delivery,
  async,
});
const syncReport = (e: EndpointRuntime, d: Delivery): DeliveryReport => ({
  deliveryId: d.deliveryId,
  endpoint: e.name,
  status: 200,
  outcome: 'delivered',
  mode: 'sync',
});

describe('runDeliveries: the contract with the dispatchers', () => {
  it('hands async deliveries to acceptAsync and sync ones to dispatchSync, all started at once', async () => {
    const calls: string[] = [];
    let releaseSync: (() => void) | undefined;
    const syncGate = new Promise<void>((resolve) => (releaseSync = resolve));
    const run = runDeliveries([planned('a', false), planned('b', true), planned('c', false)], {
      dispatchSync: async (e, d) => {
        calls.push(`sync:${e.name}`);
        await syncGate;
        return syncReport(e, d);
      },
      acceptAsync: (e, d) => {
        calls.push(`async:${e.name}:${d.deliveryId}`);
        return Promise.resolve({ deliveryId: `queued_${d.deliveryId}` });
      },
    });
    // Every dispatcher was called before any sync delivery finished.
    await Promise.resolve();
    expect(calls).toEqual(['sync:a', 'async:b:msg_b', 'sync:c']);
    releaseSync!();
    const reports = await run;
    expect(reports.map((r) => [r.endpoint, r.status, r.outcome, r.mode])).toEqual([
      ['a', 200, 'delivered', 'sync'],
      ['b', 202, 'queued', 'async'],
      ['c', 200, 'delivered', 'sync'],
    ]);
    // The queue's id is the one reported.
    expect(reports[1]!.deliveryId).toBe('queued_msg_b');
  });

  it('without acceptAsync, async deliveries go synchronously', async () => {
    const reports = await runDeliveries([planned('b', true)], {
      dispatchSync: (e, d) => Promise.resolve(syncReport(e, d)),
    });
    expect(reports[0]).toMatchObject({ outcome: 'delivered', mode: 'sync' });
  });

  it('reports a queue refusal and a dispatcher failure on their own entries only', async () => {
    const reports = await runDeliveries(
      [planned('a', true), planned('b', false), planned('c', false)],
      {
        dispatchSync: (e, d) =>
          e.name === 'b' ? Promise.reject(new Error('boom')) : Promise.resolve(syncReport(e, d)),
        acceptAsync: () => Promise.reject(new Error('queue full')),
      },
    );
    expect(reports.map((r) => [r.endpoint, r.status, r.outcome])).toEqual([
      ['a', 503, 'queue_unavailable'],
      ['b', 500, 'internal_error'],
      ['c', 200, 'delivered'],
    ]);
  });

  it('passes a planned refusal through without dispatching', async () => {
    const refusal: DeliveryReport = {
      deliveryId: 'msg_a',
      endpoint: 'a',
      status: 413,
      outcome: 'too_large',
      mode: 'sync',
    };
    const seen: string[] = [];
    const reports = await runDeliveries(
      [{ ...planned('a', false), refusal }],
      { dispatchSync: () => Promise.reject(new Error('must not be called')) },
      (r) => seen.push(r.outcome),
    );
    expect(reports).toEqual([refusal]);
    expect(seen).toEqual(['too_large']);
  });
});

// Issue 15, item 8, on the egress port: an allowedHosts pattern written with a trailing dot
// matches (the host is normalised, and now the pattern is too), and a delivery with signing
// `none` still carries its delivery id, so the receiver can de-duplicate retries.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProxy, startReceiver, type Proxy, type Receiver } from '../egress/harness.ts';

describe('egress details (issue 15, item 8)', () => {
  let receiver: Receiver;
  let proxy: Proxy;

  beforeAll(async () => {
    receiver = await startReceiver();
    proxy = await startProxy(
      [
        'endpoints:',
        '  - name: plain',
        `    url: ${receiver.url}/plain`,
        '    policy: { destinations: { allowedCIDRs: ["127.0.0.0/8"] } }',
        'dynamic:',
        '  - policy:',
        '      destinations: { allowedHosts: ["localhost."], allowedCIDRs: ["127.0.0.0/8"] }',
        '',
      ].join('\n'),
    );
  });
  afterAll(async () => {
    await proxy.server.close(0);
    await receiver.close();
  });

  it('admits a dynamic destination named by an allowedHosts pattern with a trailing dot', async () => {
    const res = await proxy.post('/', '{}', {
      'hookgate-destination': `http://localhost:${receiver.port}/dynamic`,
    });
    expect(res.status).toBe(200);
    expect(receiver.received.at(-1)?.url).toBe('/dynamic');
  });

  it('sends the delivery id in webhook-id when the endpoint signs with none', async () => {
    const res = await proxy.post('/plain', '{"n":1}');
    expect(res.status).toBe(200);
    const id = res.headers.get('hookgate-delivery-id');
    expect(id).toMatch(/^msg_[0-9a-f]{32}$/);
    const got = receiver.received.at(-1)!;
    expect(got.url).toBe('/plain');
    expect(got.headers['webhook-id']).toBe(id);
    expect(got.headers['webhook-signature']).toBeUndefined();
  });
});

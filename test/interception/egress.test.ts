// The egress server's transparent branch on loopback (no namespaces needed): what happens to
// intercepted requests no endpoint claims, and that explicit requests are untouched. Matching,
// TLS origination and pass-through across a real network are in transparent.test.ts.
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProxy, type Proxy } from '../egress/harness.ts';

/** One request with a chosen Host header (fetch does not let a caller set it). */
function send(
  proxy: Proxy,
  host: string,
  options: { method?: string; path?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${proxy.url}${options.path ?? '/hook'}`,
      { method: options.method ?? 'POST', headers: { host, ...options.headers } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: JSON.parse(Buffer.concat(chunks).toString() || '{}') as Record<string, unknown>,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(options.method === 'GET' ? undefined : '{}');
  });
}

const CONFIG = `
endpoints:
  - name: receiver
    url: https://receiver.example/hook
interception: { unmatched: refuse }
`;

describe('transparent egress on the egress port', () => {
  let proxy: Proxy;
  beforeAll(async () => {
    proxy = await startProxy(CONFIG, 'transparent');
  });
  afterAll(async () => {
    await proxy.server.close(0);
  });

  it.each([
    // A webhook to a host no endpoint names.
    ['POST', 'other.example'],
    // Ordinary traffic (not a webhook method) is unmatched even for an endpoint's host.
    ['GET', 'receiver.example'],
  ])('%s to %s is refused with a problem naming the setting', async (method, host) => {
    const res = await send(proxy, host, { method });
    expect(res.status).toBe(403);
    expect(res.body['code']).toBe('destination_not_allowed');
    expect(String(res.body['detail'])).toContain('interception.unmatched is refuse');
  });

  it('stops a request that already passed through a Hookgate sidecar (loop)', async () => {
    const res = await send(proxy, 'other.example', { headers: { via: '1.1 hookgate' } });
    expect(res.status).toBe(508);
    expect(res.body['code']).toBe('loop_detected');
  });

  it('leaves explicit requests (Host naming the sidecar) as they were', async () => {
    const res = await send(proxy, '127.0.0.1', { path: '/nobody' });
    expect(res.status).toBe(404);
    expect(res.body['code']).toBe('unknown_endpoint');
    const get = await send(proxy, '127.0.0.1', { method: 'GET', path: '/receiver' });
    expect(get.status).toBe(405);
  });

  it('counts what it did with unmatched requests', async () => {
    const text = await proxy.registry.metrics();
    expect(text).toContain('hookgate_egress_intercepted_unmatched_total{action="refused"} 2');
    expect(text).toContain('hookgate_egress_intercepted_unmatched_total{action="loop"} 1');
  });
});

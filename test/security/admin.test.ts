// Issue 15, item 6: the queue admin API on the admin port must not be drivable by a browser in
// the pod (cross-site requests, DNS rebinding), changes need a header no simple request carries,
// and a client trickling its headers does not keep a socket open.
import { connect } from 'node:net';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { ADMIN_MAX_CONNECTIONS } from '../../common/admin.ts';
import { LOOPBACK_ALLOWED } from '../egress/harness.ts';
import { startQueueSidecar, type QueueSidecar } from '../queue/harness.ts';

/** One raw request to the admin port with exactly these headers (fetch forbids Host, Origin…). */
function call(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }),
      );
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('the queue admin API refuses what a browser can send (issue 15, item 6)', () => {
  let s: QueueSidecar;
  let port: number;

  beforeAll(async () => {
    s = await startQueueSidecar(
      `endpoints:\n  - name: orders\n    url: http://127.0.0.1:9/hook\n    policy: { ${LOOPBACK_ALLOWED} }\n`,
      inject('redisUrl'),
    );
    port = Number(new URL(s.admin).port);
  });
  afterAll(async () => {
    await s.close();
  });

  const local = (): string => `127.0.0.1:${port}`;

  it.each([
    // A cross-site form post (text/plain is a "simple" request: no preflight).
    [
      'a text/plain POST from another origin',
      'POST',
      '/queue/replay?endpoint=orders',
      () => ({
        host: local(),
        origin: 'http://evil.example',
        'content-type': 'text/plain',
        'hookgate-admin': 'true',
      }),
    ],
    // The browser's own label for a cross-site request.
    [
      'Sec-Fetch-Site: cross-site',
      'POST',
      '/queue/replay?endpoint=orders',
      () => ({ host: local(), 'sec-fetch-site': 'cross-site', 'hookgate-admin': 'true' }),
    ],
    [
      'Sec-Fetch-Site: same-site',
      'GET',
      '/queue/stats',
      () => ({ host: local(), 'sec-fetch-site': 'same-site' }),
    ],
    // DNS rebinding: a name the attacker points at 127.0.0.1.
    [
      'a rebound name as Host',
      'GET',
      '/queue/stats',
      () => ({ host: `rebind.evil.example:${port}` }),
    ],
    [
      'a rebound name without port',
      'GET',
      '/queue/deliveries',
      () => ({ host: 'rebind.evil.example' }),
    ],
    // "0.0.0.0 day": the unspecified address is not this pod's name either.
    ['Host 0.0.0.0', 'GET', '/queue/stats', () => ({ host: `0.0.0.0:${port}` })],
    // A change without the header no simple request can carry.
    [
      'a POST without hookgate-admin',
      'POST',
      '/queue/replay?endpoint=orders',
      () => ({ host: local() }),
    ],
    [
      'a DELETE without hookgate-admin',
      'DELETE',
      '/queue/deliveries?state=dead',
      () => ({ host: local() }),
    ],
  ])('%s (%s %s) is refused 403', async (_why, method, path, headers) => {
    const res = await call(port, method, path, headers(), method === 'GET' ? undefined : 'x');
    expect(res.status).toBe(403);
    expect(JSON.parse(res.text)).toMatchObject({ code: 'forbidden' });
  });

  it.each([
    // What kubectl port-forward + curl sends.
    ['Host 127.0.0.1', 'GET', '/queue/stats', () => ({ host: local() })],
    ['Host localhost', 'GET', '/queue/stats', () => ({ host: `localhost:${port}` })],
    // A same-origin page (the browser says so) may read.
    [
      'Sec-Fetch-Site: same-origin',
      'GET',
      '/queue/stats',
      () => ({ host: local(), 'sec-fetch-site': 'same-origin' }),
    ],
    // A change with the header.
    [
      'a POST with hookgate-admin',
      'POST',
      '/queue/replay?endpoint=orders',
      () => ({ host: local(), 'hookgate-admin': 'true' }),
    ],
  ])('%s (%s %s) is served', async (_why, method, path, headers) => {
    const res = await call(port, method, path, headers());
    expect(res.status).toBe(200);
  });

  it('still serves metrics and probes to anyone (Prometheus scrapes the pod IP)', async () => {
    const res = await call(port, 'GET', '/metrics', { host: 'rebind.evil.example' });
    expect(res.status).toBe(200);
  });
});

describe('the admin server bounds slow and numerous clients (issue 15, item 6)', () => {
  let s: QueueSidecar;
  let port: number;

  beforeAll(async () => {
    s = await startQueueSidecar(
      `endpoints:\n  - name: orders\n    url: http://127.0.0.1:9/hook\n`,
      inject('redisUrl'),
    );
    port = Number(new URL(s.admin).port);
  });
  afterAll(async () => {
    await s.close();
  });

  it('closes a connection trickling its headers (it stayed open past 80 s)', async () => {
    const socket = connect(port, '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', resolve));
    socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    const trickle = setInterval(() => socket.write('X-Slow: a\r\n'), 500);
    const closedAfterMs = await new Promise<number>((resolve) => {
      const started = Date.now();
      socket.once('close', () => resolve(Date.now() - started));
      socket.on('error', () => undefined);
      socket.resume();
    }).finally(() => clearInterval(trickle));
    // The header bound is 5 s, checked every second; a generous ceiling, not a timing goal.
    expect(closedAfterMs).toBeLessThan(20_000);
  }, 30_000);

  it('refuses connections past ADMIN_MAX_CONNECTIONS at once', async () => {
    const sockets = await Promise.all(
      Array.from(
        { length: ADMIN_MAX_CONNECTIONS },
        () =>
          new Promise<ReturnType<typeof connect>>((resolve) => {
            const socket = connect(port, '127.0.0.1', () => resolve(socket));
            socket.on('error', () => undefined);
          }),
      ),
    );
    try {
      // Give the server a moment to accept them all, then one more is closed at once.
      await new Promise((r) => setTimeout(r, 200));
      const extra = connect(port, '127.0.0.1');
      extra.on('error', () => undefined);
      const answer = await new Promise<string>((resolve) => {
        let data = '';
        extra.on('data', (d: Buffer) => (data += d.toString()));
        extra.once('close', () => resolve(data));
        extra.once('connect', () =>
          extra.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'),
        );
      });
      expect(answer).not.toContain('200 OK');
    } finally {
      for (const socket of sockets) socket.destroy();
    }
  });
});

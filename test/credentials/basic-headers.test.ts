// Basic and API-key receivers: the sidecar adds the credentials the receiver demands, replaces
// any the app sent, rotates them under load without one failed delivery, and no value reaches
// the logs, the problem bodies, the response headers or the metrics.
import { afterEach, describe, expect, it } from 'vitest';
import {
  LOOPBACK_POLICY,
  load,
  startGuardedReceiver,
  startSidecar,
  type GuardedReceiver,
  type Sidecar,
} from './harness.ts';

const basic = (user: string, password: string): string =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

const PASSWORDS = ['first-password-8f3a', 'second-password-c71e'] as const;
const KEYS = ['first-api-key-2b9d', 'second-api-key-e40f'] as const;

function config(url: string, generation: 0 | 1): string {
  return `
generation: ${generation + 1}
endpoints:
  - name: orders
    url: ${url}/hook
    auth:
      basic: { username: { file: user }, password: { file: password-${generation} } }
      headers: [{ name: X-Api-Key, value: { file: key-${generation} } }]
    ${LOOPBACK_POLICY}
`;
}

describe('basic and API-key credentials', () => {
  let sidecar: Sidecar | undefined;
  let receiver: GuardedReceiver | undefined;
  afterEach(async () => {
    await sidecar?.close();
    await receiver?.close();
  });

  /** A receiver accepting these passwords and keys (what a receiver does during a rotation). */
  const accepting = {
    passwords: new Set<string>([PASSWORDS[0]]),
    keys: new Set<string>([KEYS[0]]),
  };
  const start = async (): Promise<void> => {
    accepting.passwords = new Set([PASSWORDS[0]]);
    accepting.keys = new Set([KEYS[0]]);
    receiver = await startGuardedReceiver(
      (h) =>
        [...accepting.passwords].some((p) => h['authorization'] === basic('hookgate', p)) &&
        accepting.keys.has(String(h['x-api-key'])),
    );
    const url = receiver.url;
    sidecar = await startSidecar((_dir) => config(url, 0), {
      user: 'hookgate',
      'password-0': PASSWORDS[0],
      'password-1': PASSWORDS[1],
      'key-0': KEYS[0],
      'key-1': KEYS[1],
    });
  };

  it('sends the credentials, replacing an Authorization or key the app sent', async () => {
    await start();
    const res = await sidecar!.post('/orders', '{"id":1}', {
      authorization: 'Bearer app-own',
      'X-API-KEY': 'app-own',
    });
    expect(res.status).toBe(200);
    const [seen] = receiver!.seen;
    expect(seen!.headers['authorization']).toBe(basic('hookgate', PASSWORDS[0]));
    expect(seen!.headers['x-api-key']).toBe(KEYS[0]);
  });

  it('hands a refusal back as the receiver said it, without retrying a 401', async () => {
    await start();
    accepting.passwords.clear();
    const res = await sidecar!.post('/orders');
    expect(res.status).toBe(401);
    expect(res.headers.get('hookgate-attempts')).toBe('1');
    expect(receiver!.seen).toHaveLength(1);
  });

  it('rotates the password and the key under load with zero failed deliveries', async () => {
    await start();
    const before = load(() => sidecar!.post('/orders'), 200, 16);
    // The receiver takes both for the rotation's overlap, as every receiver must.
    accepting.passwords.add(PASSWORDS[1]);
    accepting.keys.add(KEYS[1]);
    // Halfway through the first wave: the operator publishes the new Secret version.
    while (receiver!.seen.length < 100) await new Promise((r) => setImmediate(r));
    await sidecar!.reload(config(receiver!.url, 1));
    const during = await before;
    // Every delivery that started on the old credential has ended; the receiver drops it.
    accepting.passwords.delete(PASSWORDS[0]);
    accepting.keys.delete(KEYS[0]);
    const after = await load(() => sidecar!.post('/orders'), 100, 16);
    expect([...during, ...after].filter((r) => r.status !== 200)).toEqual([]);
    expect(receiver!.seen.filter((s) => !s.accepted)).toEqual([]);
    const last = receiver!.seen.at(-1)!;
    expect(last.headers['authorization']).toBe(basic('hookgate', PASSWORDS[1]));
    expect(last.headers['x-api-key']).toBe(KEYS[1]);
  });

  it('keeps every value out of logs, problem bodies, response headers and metrics', async () => {
    await start();
    accepting.keys.clear();
    const refused = await sidecar!.post('/orders');
    const bodies = [await refused.text()];
    const headers = [JSON.stringify([...refused.headers])];
    await receiver!.close();
    const unreachable = await sidecar!.post('/orders');
    expect(unreachable.status).toBe(502);
    bodies.push(await unreachable.text());
    headers.push(JSON.stringify([...unreachable.headers]));
    receiver = undefined;
    const metrics = await sidecar!.registry.metrics();
    const seen = [...sidecar!.logs, ...bodies, ...headers, metrics].join('\n');
    expect(sidecar!.logs.length).toBeGreaterThan(0);
    for (const value of [...PASSWORDS, ...KEYS, basic('hookgate', PASSWORDS[0]).slice(6)])
      expect(seen).not.toContain(value);
  });
});

// A receiver behind a real (small) OAuth2 token server: one token shared by concurrent
// deliveries, renewed as it expires mid-run, renewed once after a revocation (401), the token
// endpoint's failures answered as their own problem and retried like connect errors, the client
// secret rotated under load with zero failed deliveries, and no secret or token in the logs.
import { afterEach, describe, expect, it } from 'vitest';
import {
  load,
  startGuardedReceiver,
  startSidecar,
  type GuardedReceiver,
  type Sidecar,
} from './harness.ts';
import { startTokenServer, type TokenServer } from './token-server.ts';

const SECRETS = ['client-secret-one-93ad', 'client-secret-two-5be1'] as const;

function config(receiver: string, tokenURL: string, secret: 0 | 1): string {
  return `
generation: ${secret + 1}
endpoints:
  - name: orders
    url: ${receiver}/hook
    auth:
      oauth2:
        tokenURL: ${tokenURL}
        clientId: { file: client-id }
        clientSecret: { file: client-secret-${secret} }
        scopes: [webhooks:write, orders:read]
        audience: https://hooks.example.com
    policy:
      destinations: { allowedCIDRs: ["127.0.0.0/8"] }
      retry: { maxAttempts: 3, backoff: { initial: 1ms, max: 2ms } }
`;
}

describe('OAuth2 client credentials', () => {
  let sidecar: Sidecar;
  let receiver: GuardedReceiver;
  let tokens: TokenServer;
  afterEach(async () => {
    await sidecar.close();
    await receiver.close();
    await tokens.close();
  });

  const start = async (): Promise<void> => {
    tokens = await startTokenServer([SECRETS[0]]);
    receiver = await startGuardedReceiver((h) => tokens.valid(h['authorization']));
    sidecar = await startSidecar(() => config(receiver.url, tokens.url, 0), {
      'client-id': 'orders',
      'client-secret-0': SECRETS[0],
      'client-secret-1': SECRETS[1],
    });
  };

  it('fetches one token for many concurrent deliveries, with the scopes and audience', async () => {
    await start();
    const results = await Promise.all(
      Array.from({ length: 20 }, () => sidecar.post('/orders').then((r) => r.status)),
    );
    expect(results).toEqual(Array.from({ length: 20 }, () => 200));
    expect(tokens.requests).toBe(1);
    const form = tokens.issued[0]!.form;
    expect(form.get('scope')).toBe('webhooks:write orders:read');
    expect(form.get('audience')).toBe('https://hooks.example.com');
    expect(new Set(receiver.seen.map((s) => s.headers['authorization']))).toEqual(
      new Set([`Bearer ${tokens.issued[0]!.value}`]),
    );
  });

  it('renews tokens that expire mid-run without a failed delivery', async () => {
    await start();
    // One-second tokens: the sidecar renews each halfway through its life.
    tokens.expiresIn = 1;
    const statuses: number[] = [];
    while (tokens.issued.length < 3 && statuses.length < 20_000) {
      const batch = await load(() => sidecar.post('/orders'), 20, 4);
      statuses.push(...batch.map((r) => r.status));
    }
    expect(tokens.issued.length).toBeGreaterThanOrEqual(3);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
  });

  it('renews once after a 401 (token revoked), within the same attempt', async () => {
    await start();
    expect((await sidecar.post('/orders')).status).toBe(200);
    tokens.issued[0]!.revoked = true;
    const res = await sidecar.post('/orders');
    expect(res.status).toBe(200);
    expect(res.headers.get('hookgate-attempts')).toBe('1');
    expect(tokens.requests).toBe(2);
    // The refused send and the one with the new token.
    expect(receiver.seen.map((s) => s.accepted)).toEqual([true, false, true]);
  });

  it('hands back a second 401 as the receiver said it, renewing only once', async () => {
    await start();
    const before = receiver.seen.length;
    // A receiver that refuses every token.
    tokens.valid = () => false;
    const res = await sidecar.post('/orders');
    expect(res.status).toBe(401);
    expect(receiver.seen.length - before).toBe(2);
    expect(tokens.requests).toBe(2);
  });

  it('answers token-endpoint-failed when the token endpoint is down, retried like a connect error', async () => {
    await start();
    tokens.down = true;
    const res = await sidecar.post('/orders');
    expect(res.status).toBe(502);
    expect(res.headers.get('hookgate-attempts')).toBe('3');
    const problem = (await res.json()) as { type: string; detail: string };
    expect(problem.type).toBe('https://hookgate.io/problems/token-endpoint-failed');
    expect(problem.detail).toContain('answered 503 (temporarily_unavailable)');
    // Nothing reached the receiver without a token.
    expect(receiver.seen).toHaveLength(0);
    expect(tokens.requests).toBe(3);
    tokens.down = false;
    expect((await sidecar.post('/orders')).status).toBe(200);
    const metrics = await sidecar.registry.metrics();
    expect(metrics).toContain(
      'hookgate_egress_oauth2_token_requests_total{endpoint="orders",result="error"} 3',
    );
    expect(metrics).toContain(
      'hookgate_egress_oauth2_token_requests_total{endpoint="orders",result="ok"} 1',
    );
    expect(metrics).toContain(
      'hookgate_egress_attempts_total{endpoint="orders",result="token_error"} 3',
    );
  });

  it('answers token-endpoint-failed when the token endpoint does not answer at all', async () => {
    await start();
    await tokens.close();
    const res = await sidecar.post('/orders');
    expect(res.status).toBe(502);
    const problem = (await res.json()) as { type: string };
    expect(problem.type).toBe('https://hookgate.io/problems/token-endpoint-failed');
    tokens = await startTokenServer([]);
  });

  it('rotates the client secret under load with zero failed deliveries', async () => {
    await start();
    const first = load(() => sidecar.post('/orders'), 200, 16);
    tokens.secrets.add(SECRETS[1]);
    while (receiver.seen.length < 100) await new Promise((r) => setImmediate(r));
    await sidecar.reload(config(receiver.url, tokens.url, 1));
    const during = await first;
    tokens.secrets.delete(SECRETS[0]);
    const after = await load(() => sidecar.post('/orders'), 100, 16);
    expect([...during, ...after].filter((r) => r.status !== 200)).toEqual([]);
    expect(tokens.issued.map((t) => t.clientSecret)).toEqual([SECRETS[0], SECRETS[1]]);
  });

  it('keeps the client secret and the tokens out of logs, problems and metrics', async () => {
    await start();
    await sidecar.post('/orders');
    tokens.issued[0]!.revoked = true;
    tokens.down = true;
    const failed = await sidecar.post('/orders');
    expect(failed.status).toBe(502);
    const text = [...sidecar.logs, await failed.text(), await sidecar.registry.metrics()].join(
      '\n',
    );
    expect(sidecar.logs.length).toBeGreaterThan(0);
    for (const value of [...SECRETS, ...tokens.issued.map((t) => t.value)])
      expect(text).not.toContain(value);
  });
});

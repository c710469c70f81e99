// Issue 15, item 3: unauthenticated requests must not spend an ingress endpoint's rate limit.
// An attacker (from 127.0.0.2) floods a GitHub endpoint with unsigned POSTs; the genuine
// provider (from 127.0.0.1) must still get through, and the attacker is slowed by a budget of
// its own before its bodies are read.
import { request } from 'node:http';
import { sign as octokitSign } from '@octokit/webhooks-methods';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  loadConfig,
  startApp,
  startIngress,
  type TestApp,
  type TestIngress,
} from '../ingress/support.ts';

const SECRET = 'gh-webhook-secret-limit';

/** One POST from `localAddress` (a loopback address of its own: another source). */
function post(
  port: number,
  headers: Record<string, string>,
  body: string,
  localAddress: string,
): Promise<{ status: number; retryAfter: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/in/github',
        method: 'POST',
        headers,
        localAddress,
        agent: false,
      },
      (res) => {
        res.resume();
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('the ingress rate limit is charged after verification (issue 15, item 3)', () => {
  let app: TestApp;
  let ingress: TestIngress;

  beforeAll(async () => {
    app = await startApp();
    const config = await loadConfig(
      {
        ingress: [
          {
            name: 'github',
            path: '/in/github',
            verify: { scheme: 'github', secrets: [{ env: 'GH' }] },
            forward: { port: app.port },
            rateLimit: { rate: 5, per: 'minute', burst: 5 },
          },
        ],
      },
      { GH: SECRET },
    );
    ingress = await startIngress(config);
  });
  afterAll(async () => {
    await ingress.close();
    await app.close();
  });

  it('30 unsigned POSTs leave a genuine GitHub webhook its budget; the flood gets 429', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 30; i++) {
      const reply = await post(
        ingress.port,
        { 'x-github-event': 'push' },
        `{"n":${i}}`,
        '127.0.0.2',
      );
      statuses.push(reply.status);
    }
    // The attacker's own budget (the endpoint's rate and burst): 5 refusals, then 429s.
    expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
    expect(new Set(statuses.slice(5))).toEqual(new Set([429]));

    const body = '{"ref":"refs/heads/main"}';
    const genuine = await post(
      ingress.port,
      {
        'x-github-event': 'push',
        'x-github-delivery': 'f3a1c2d0-0000-4000-8000-000000000015',
        'x-hub-signature-256': await octokitSign(SECRET, body),
      },
      body,
      '127.0.0.1',
    );
    expect(genuine.status).toBe(200);
    expect(app.received.map((r) => r.body.toString())).toEqual([body]);
  });

  it('still limits verified webhooks at the endpoint rate', async () => {
    const results: number[] = [];
    for (let i = 0; i < 5; i++) {
      const body = `{"n":${i}}`;
      const reply = await post(
        ingress.port,
        {
          'x-github-event': 'push',
          'x-github-delivery': `f3a1c2d0-0000-4000-8000-00000000010${i}`,
          'x-hub-signature-256': await octokitSign(SECRET, body),
        },
        body,
        '127.0.0.1',
      );
      results.push(reply.status);
    }
    // One token went to the genuine webhook above: four more pass, the fifth is limited.
    expect(results).toEqual([200, 200, 200, 200, 429]);
  });
});

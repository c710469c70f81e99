// Every scheme end to end: a webhook signed by the provider's own library (or its documented
// computation or example) goes through a real ingress server to a real app server. Accepted
// ones arrive byte for byte with what was verified; every refused one never reaches the app.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SCHEMES, schemeEndpoints, schemeEnv, type SchemeUnderTest } from './schemes.ts';
import {
  loadConfig,
  outcomeCount,
  send,
  startApp,
  startIngress,
  type Reply,
  type TestApp,
  type TestIngress,
} from './support.ts';

const NOW_S = 1_700_000_000;
// Mid-second, so the replay window must count whole seconds.
let nowMs = NOW_S * 1000 + 400;

// GitHub's documented example ("Validating webhook deliveries").
const GITHUB_DOC = {
  secret: "It's a Secret to Everybody",
  body: 'Hello, World!',
  signature: 'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17',
};
// Slack's documented example ("Verifying requests from Slack").
const SLACK_DOC = {
  secret: '8f742231b10e8888abcd99yyyzzz85a5',
  timestamp: 1531420618,
  body: 'token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c',
  signature: 'v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503',
};
// The Standard Webhooks specification's test vector.
const SPEC = {
  secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
  id: 'msg_p5jXN8AQM9LWM0D4loKWxJek',
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  signature: 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
};

let app: TestApp;
let ingress: TestIngress;

beforeAll(async () => {
  app = await startApp();
  const config = await loadConfig(
    {
      namespace: `providers-${randomUUID()}`,
      ingress: [
        ...schemeEndpoints(app.port),
        {
          name: 'github-doc',
          path: '/doc/github',
          verify: { scheme: 'github', secrets: [{ env: 'GITHUB_DOC' }] },
          forward: { port: app.port },
        },
        {
          name: 'slack-doc',
          path: '/doc/slack',
          verify: { scheme: 'slack', secrets: [{ env: 'SLACK_DOC' }] },
          forward: { port: app.port },
        },
        {
          name: 'spec-doc',
          path: '/doc/standard-webhooks',
          verify: { scheme: 'standard-webhooks', secrets: [{ env: 'SPEC_DOC' }] },
          forward: { port: app.port },
        },
      ],
    },
    {
      ...schemeEnv(),
      GITHUB_DOC: GITHUB_DOC.secret,
      SLACK_DOC: SLACK_DOC.secret,
      SPEC_DOC: SPEC.secret,
    },
  );
  ingress = await startIngress(config, { now: () => nowMs });
});

afterAll(async () => {
  await ingress.close();
  await app.close();
});

beforeEach(() => {
  app.received.length = 0;
  nowMs = NOW_S * 1000 + 400;
});

/** Asserts `reply` is a problem body that helps the sender and leaks none of `secrets`. */
function expectProblem(
  reply: Reply,
  status: number,
  code: string,
  secrets: readonly string[],
): void {
  expect(reply.status).toBe(status);
  expect(reply.headers['content-type']).toBe('application/problem+json');
  expect(reply.json).toMatchObject({
    type: expect.stringMatching(/^https:\/\/hookgate\.io\/problems\/[a-z-]+$/) as unknown,
    title: expect.any(String) as unknown,
    status,
    detail: expect.any(String) as unknown,
    code,
  });
  for (const secret of secrets) expect(reply.text).not.toContain(secret);
}

/** Flips the low bit of one byte in the middle of `body`. */
function oneByteChanged(body: Buffer): Buffer {
  const copy = Buffer.from(body);
  const i = Math.floor(copy.length / 2);
  copy[i] = copy[i]! ^ 0x01;
  return copy;
}

describe.each(SCHEMES.map((s) => [s.scheme, s] as [string, SchemeUnderTest]))('%s', (_, s) => {
  const path = `/hooks/${s.scheme}`;
  const input = (
    overrides: Partial<{ ts: number; id: string; wrongSecret: boolean; body: Buffer }> = {},
  ): { body: Buffer; ts: number; id: string; wrongSecret?: boolean } => {
    const id = overrides.id ?? `dlv_${randomUUID()}`;
    return { ts: NOW_S, body: s.body(id), ...overrides, id };
  };

  it('accepts a correctly signed webhook and forwards it byte for byte', async () => {
    const signed = input();
    const headers = await s.sign(signed);
    const reply = await send(ingress, `${path}?attempt=1&x=%20`, headers, signed.body);
    expect(reply.status).toBe(200);
    expect(reply.text).toBe('ok');
    expect(app.received).toHaveLength(1);
    const seen = app.received[0]!;
    expect(seen.method).toBe('POST');
    // the arrival path, query string kept
    expect(seen.url).toBe(`${path}?attempt=1&x=%20`);
    expect(seen.body.equals(signed.body)).toBe(true);
    expect(seen.headers['hookgate-verified']).toBe(s.scheme);
    expect(seen.headers['hookgate-endpoint']).toBe(s.scheme);
    const id = s.deliveryId?.(signed);
    expect(seen.headers['hookgate-delivery-id']).toBe(id);
    if (id !== undefined) expect(reply.headers['hookgate-delivery-id']).toBe(id);
    if (s.proofHeader === 'authorization') {
      // a shared credential stops at the sidecar; the app gets Hookgate-Verified instead
      expect(seen.headers['authorization']).toBeUndefined();
    } else {
      // signatures travel on, so an app that still verifies them keeps working
      expect(seen.headers[s.proofHeader]).toBe(headers[s.proofHeader]);
    }
    expect(await outcomeCount(ingress.registry, s.scheme, 'forwarded')).toBeGreaterThan(0);
  });

  if (s.signsBody) {
    it('refuses the same webhook with one byte changed: 401', async () => {
      const signed = input();
      const reply = await send(ingress, path, await s.sign(signed), oneByteChanged(signed.body));
      expectProblem(reply, 401, 'signature_mismatch', s.secrets);
      expect(app.received).toHaveLength(0);
    });
  } else {
    it('refuses the credentials with one byte changed: 401', async () => {
      const signed = input();
      const headers = await s.sign(signed);
      const [authScheme = '', credential = ''] = headers['authorization']!.split(' ');
      const raw =
        authScheme === 'Basic' ? Buffer.from(credential, 'base64') : Buffer.from(credential);
      const changed = oneByteChanged(raw);
      headers['authorization'] =
        `${authScheme} ${authScheme === 'Basic' ? changed.toString('base64') : changed.toString()}`;
      const reply = await send(ingress, path, headers, signed.body);
      expectProblem(reply, 401, 'credentials_invalid', s.secrets);
      expect(app.received).toHaveLength(0);
    });
  }

  it('refuses a webhook signed with a secret the endpoint does not hold: 401', async () => {
    const signed = input({ wrongSecret: true });
    const reply = await send(ingress, path, await s.sign(signed), signed.body);
    const code = s.signsBody ? 'signature_mismatch' : 'credentials_invalid';
    expectProblem(reply, 401, code, s.secrets);
    // the signature the endpoint expected is nowhere in the answer
    const expected = await s.sign({ ...signed, wrongSecret: false });
    expect(reply.text).not.toContain(expected[s.proofHeader]!.slice(-24));
    expect(app.received).toHaveLength(0);
  });

  if (s.timestamped) {
    it('refuses a stale timestamp: 400', async () => {
      // one second past the 5-minute default window
      const signed = input({ ts: NOW_S - 301 });
      const reply = await send(ingress, path, await s.sign(signed), signed.body);
      expectProblem(reply, 400, 'timestamp_stale', s.secrets);
      expect(reply.json?.['detail']).toContain('300s');
      expect(app.received).toHaveLength(0);
      expect(await outcomeCount(ingress.registry, s.scheme, 'stale')).toBeGreaterThan(0);
    });

    it('refuses a timestamp too far ahead: 400', async () => {
      const signed = input({ ts: NOW_S + 301 });
      const reply = await send(ingress, path, await s.sign(signed), signed.body);
      expectProblem(reply, 400, 'timestamp_future', s.secrets);
      expect(app.received).toHaveLength(0);
    });
  }

  it('refuses a webhook without its signature or credentials: 401', async () => {
    const signed = input();
    const headers = await s.sign(signed);
    delete headers[s.proofHeader];
    const reply = await send(ingress, path, headers, signed.body);
    const code = s.signsBody ? 'header_missing' : 'credentials_missing';
    expectProblem(reply, 401, code, s.secrets);
    expect(app.received).toHaveLength(0);
    if (!s.signsBody) expect(reply.headers['www-authenticate']).toBeDefined();
  });

  if (s.deliveryId !== undefined) {
    it('forwards a delivery id once; a provider retry is answered 200 without the app', async () => {
      const first = input();
      expect((await send(ingress, path, await s.sign(first), first.body)).status).toBe(200);
      // the provider's retry, re-signed a minute later as Stripe and Svix do
      const retry = { ...first, ts: first.ts + 60 };
      nowMs += 60_000;
      const reply = await send(ingress, path, await s.sign(retry), retry.body);
      expectProblem(reply, 200, 'duplicate', s.secrets);
      expect(reply.headers['hookgate-duplicate']).toBe('true');
      expect(reply.json?.['detail']).toContain(s.deliveryId!(first));
      expect(app.received).toHaveLength(1);
      expect(await outcomeCount(ingress.registry, s.scheme, 'duplicate')).toBeGreaterThan(0);
    });
  } else {
    it('has no delivery id to de-duplicate on: a repeat inside the window is forwarded again', async () => {
      const signed = input();
      const headers = await s.sign(signed);
      expect((await send(ingress, path, headers, signed.body)).status).toBe(200);
      expect((await send(ingress, path, headers, signed.body)).status).toBe(200);
      expect(app.received).toHaveLength(2);
      expect(app.received[1]?.headers['hookgate-delivery-id']).toBeUndefined();
    });
  }
});

describe("providers' documented examples", () => {
  it("GitHub's example passes, and fails with one byte changed", async () => {
    const headers = { 'x-hub-signature-256': GITHUB_DOC.signature };
    const ok = await send(ingress, '/doc/github', headers, GITHUB_DOC.body);
    expect(ok.status).toBe(200);
    expect(app.received.map((r) => r.body.toString())).toEqual([GITHUB_DOC.body]);
    const bad = await send(ingress, '/doc/github', headers, 'Hello, World?');
    expect(bad.status).toBe(401);
    expect(app.received).toHaveLength(1);
  });

  it("Slack's example passes at its own time, and is stale 301 s later", async () => {
    const headers = {
      'x-slack-signature': SLACK_DOC.signature,
      'x-slack-request-timestamp': String(SLACK_DOC.timestamp),
      'content-type': 'application/x-www-form-urlencoded',
    };
    nowMs = SLACK_DOC.timestamp * 1000;
    const ok = await send(ingress, '/doc/slack', headers, SLACK_DOC.body);
    expect(ok.status).toBe(200);
    expect(app.received[0]?.body.toString()).toBe(SLACK_DOC.body);
    expect(app.received[0]?.headers['content-type']).toBe('application/x-www-form-urlencoded');
    nowMs = (SLACK_DOC.timestamp + 301) * 1000;
    const stale = await send(ingress, '/doc/slack', headers, SLACK_DOC.body);
    expect(stale.status).toBe(400);
    expect(app.received).toHaveLength(1);
  });

  it("the Standard Webhooks specification's vector passes, under the svix-* names too", async () => {
    nowMs = SPEC.timestamp * 1000;
    const headers = (prefix: string): Record<string, string> => ({
      [`${prefix}-id`]: SPEC.id,
      [`${prefix}-timestamp`]: String(SPEC.timestamp),
      [`${prefix}-signature`]: SPEC.signature,
    });
    const ok = await send(ingress, '/doc/standard-webhooks', headers('webhook'), SPEC.body);
    expect(ok.status).toBe(200);
    expect(app.received[0]?.headers['hookgate-delivery-id']).toBe(SPEC.id);
    // the same message under Svix's names is the same delivery: a duplicate
    const again = await send(ingress, '/doc/standard-webhooks', headers('svix'), SPEC.body);
    expect(again.status).toBe(200);
    expect(again.headers['hookgate-duplicate']).toBe('true');
    expect(app.received).toHaveLength(1);
  });
});

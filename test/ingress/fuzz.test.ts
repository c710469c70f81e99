// Malformed input at every scheme: random and mutated signature headers, random bodies, from a
// seeded generator so a failure replays exactly. Every case is built so that it can never be
// valid (the body differs from the one any signature was made for; credentials are never the
// configured ones), so the only right answers are 4xx, and the app must never be called.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCHEMES, schemeEndpoints, schemeEnv, type SchemeUnderTest } from './schemes.ts';
import {
  loadConfig,
  send,
  startApp,
  startIngress,
  type TestApp,
  type TestIngress,
} from './support.ts';
import { prng } from '../support/prng.ts';

const SEED = 0x5eed_1d6e;
const CASES_PER_SCHEME = 60;
const NOW_S = 1_700_000_000;

// Every header any scheme reads, so a case may send another scheme's headers too.
const HEADER_NAMES = [
  'webhook-id',
  'webhook-timestamp',
  'webhook-signature',
  'svix-id',
  'svix-timestamp',
  'svix-signature',
  'x-hub-signature-256',
  'x-github-delivery',
  'stripe-signature',
  'x-shopify-hmac-sha256',
  'x-shopify-webhook-id',
  'x-slack-signature',
  'x-slack-request-timestamp',
  'x-acme-signature',
  'x-acme-timestamp',
  'authorization',
];
// Fragments that reach deeper into each parser than random characters would.
const FRAGMENTS = [
  'v1,',
  'v1a,',
  'v0=',
  't=',
  'v1=',
  'sha256=',
  'sha512=',
  'Basic ',
  'Bearer ',
  'whsec_',
  ',',
  ' ',
  '=',
  ':',
  '==',
  '1700000000',
  '-1',
  '99999999999999999999',
  '0x1f',
  '1e3',
  'null',
  '%00',
  '\t',
];

/** Random generation helpers over one PRNG. */
function generators(random: () => number): {
  int: (n: number) => number;
  pick: <T>(list: readonly T[]) => T;
  headerText: () => string;
  bytes: (max: number) => Buffer;
  mutate: (value: string) => string;
} {
  const int = (n: number): number => Math.floor(random() * n);
  const pick = <T>(list: readonly T[]): T => list[int(list.length)]!;
  // Printable ASCII only: what an HTTP client can put in a header value at all.
  const printable = (): string => String.fromCharCode(0x20 + int(0x5f));
  const headerText = (): string => {
    let out = '';
    const parts = 1 + int(8);
    for (let i = 0; i < parts; i++) {
      out +=
        random() < 0.5 ? pick(FRAGMENTS) : Array.from({ length: 1 + int(20) }, printable).join('');
    }
    return out;
  };
  const bytes = (max: number): Buffer =>
    Buffer.from(Array.from({ length: int(max + 1) }, () => int(256)));
  const mutate = (value: string): string => {
    if (value === '') return headerText();
    const at = int(value.length);
    switch (int(6)) {
      case 0: // one character changed
        return value.slice(0, at) + printable() + value.slice(at + 1);
      case 1: // truncated
        return value.slice(0, at);
      case 2: // doubled, as a repeated header folded into one
        return `${value}, ${value}`;
      case 3: // a fragment spliced in
        return value.slice(0, at) + pick(FRAGMENTS) + value.slice(at);
      case 4: // case flipped
        return value.toUpperCase() === value ? value.toLowerCase() : value.toUpperCase();
      default: // replaced wholesale
        return headerText();
    }
  };
  return { int, pick, headerText, bytes, mutate };
}

describe('fuzz: malformed signatures and bodies at every scheme', () => {
  let app: TestApp;
  let ingress: TestIngress;

  beforeAll(async () => {
    app = await startApp();
    const config = await loadConfig({ ingress: schemeEndpoints(app.port) }, schemeEnv());
    ingress = await startIngress(config, { now: () => NOW_S * 1000 });
  });
  afterAll(async () => {
    await ingress.close();
    await app.close();
  });

  /** Builds one case that cannot be valid for `s`. */
  async function malformed(
    s: SchemeUnderTest,
    g: ReturnType<typeof generators>,
  ): Promise<{ headers: Record<string, string>; body: Buffer }> {
    const id = `fz_${g.int(1e9)}`;
    const signedBody = s.body(id);
    // Body-signing schemes: signed for one body, sent with another. Credential schemes: signed
    // with the wrong credentials, which no mutation below can turn into the right ones.
    const base = await s.sign({ body: signedBody, ts: NOW_S, id, wrongSecret: !s.signsBody });
    let body = g.bytes(2048);
    if (body.equals(signedBody)) body = Buffer.concat([body, Buffer.from('x')]);
    const headers: Record<string, string> = {};
    switch (g.int(3)) {
      case 0: // the provider's headers, each mutated or not
        for (const [name, value] of Object.entries(base)) {
          if (g.int(4) > 0) headers[name] = g.int(2) === 0 ? g.mutate(value) : value;
        }
        break;
      case 1: // random values under the names any scheme reads
        for (const name of HEADER_NAMES) if (g.int(3) === 0) headers[name] = g.headerText();
        break;
      default: // the provider's headers intact, a random body
        Object.assign(headers, base);
    }
    // An empty-credential or wrong-credential case for the credential schemes, now and then.
    if (!s.signsBody && g.int(4) === 0)
      headers['authorization'] = g.mutate(base['authorization'] ?? '');
    return { headers, body };
  }

  it.each(SCHEMES.map((s) => [s.scheme, s] as [string, SchemeUnderTest]))(
    '%s: no crash, no 5xx, nothing forwarded',
    async (_, s) => {
      const g = generators(prng(SEED ^ s.scheme.length ^ s.scheme.charCodeAt(0)));
      const statuses = new Map<number, number>();
      const cases = await Promise.all(
        Array.from({ length: CASES_PER_SCHEME }, () => malformed(s, g)),
      );
      // a few at a time, as a misbehaving sender would
      for (let i = 0; i < cases.length; i += 10) {
        const replies = await Promise.all(
          cases.slice(i, i + 10).map((c) => send(ingress, `/hooks/${s.scheme}`, c.headers, c.body)),
        );
        for (const reply of replies) {
          statuses.set(reply.status, (statuses.get(reply.status) ?? 0) + 1);
          expect(reply.headers['content-type']).toBe('application/problem+json');
          for (const secret of s.secrets) expect(reply.text).not.toContain(secret);
        }
      }
      expect([...statuses.keys()].every((status) => status === 400 || status === 401)).toBe(true);
      expect(app.received).toHaveLength(0);
      // still serving: a valid webhook goes through afterwards
      const id = `after_${randomUUID()}`;
      const body = s.body(id);
      const ok = await send(
        ingress,
        `/hooks/${s.scheme}`,
        await s.sign({ body, ts: NOW_S, id }),
        body,
      );
      expect(ok.status).toBe(200);
      expect(app.received).toHaveLength(1);
      app.received.length = 0;
    },
  );

  it('logged no internal error', () => {
    expect(ingress.logs.filter((l) => l['level'] === 'error')).toEqual([]);
  });
});

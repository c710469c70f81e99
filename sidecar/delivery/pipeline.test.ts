import { MockAgent } from 'undici';
import { describe, expect, it } from 'vitest';
import { createSigner } from '../signing/index.ts';
import { CircuitBreaker } from './circuit-breaker.ts';
import type { Attempt, AttemptResult, Delivery } from './delivery.ts';
import { circuitBreakerLayer } from './layers/circuit-breaker.ts';
import { rateLimitLayer } from './layers/rate-limit.ts';
import { signLayer } from './layers/sign.ts';
import { composeAttempt, type PipelineParts } from './pipeline.ts';
import { ManualClock, response, testDelivery } from './testing/manual-clock.ts';
import { TokenBucket, type RateLimiter } from './token-bucket.ts';

const WHSEC = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const ok: AttemptResult = response(200);

/** A next stage answering `result`, recording what reached it. */
function recorder(result: AttemptResult = ok): Attempt & { seen: Delivery[] } {
  const seen: Delivery[] = [];
  return Object.assign(
    (d: Delivery): Promise<AttemptResult> => {
      seen.push(d);
      return Promise.resolve(result);
    },
    { seen },
  );
}

describe('rate-limit layer', () => {
  const limit = { rate: 1, per: 'second' as const, burst: 1 };

  it('waits for its token while the deadline allows, then goes on', async () => {
    const clock = new ManualClock();
    const next = recorder();
    const attempt = rateLimitLayer(new TokenBucket(limit), clock, () => undefined)(next);
    await attempt(testDelivery(clock), 1);
    await attempt(testDelivery(clock), 1);
    expect(next.seen).toHaveLength(2);
    expect(clock.sleeps).toEqual([1000]);
  });

  it('answers 429 locally with Retry-After when the token comes after the deadline', async () => {
    const clock = new ManualClock();
    const next = recorder();
    let limited = 0;
    const attempt = rateLimitLayer(new TokenBucket(limit), clock, () => limited++)(next);
    await attempt(testDelivery(clock), 1);
    const result = await attempt(testDelivery(clock, 500), 1);
    expect(result).toMatchObject({
      kind: 'local',
      problem: { type: 'rate-limited', status: 429, retryAfterMs: 1000 },
    });
    expect(next.seen).toHaveLength(1);
    expect(limited).toBe(1);
  });
});

describe('circuit-breaker layer', () => {
  it('feeds 5xx to the breaker and, once open, answers 503 without calling the receiver', async () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({ consecutiveFailures: 2, openMs: 30_000 });
    const next = recorder(response(500));
    let refused = 0;
    const attempt = circuitBreakerLayer(breaker, clock, () => refused++)(next);
    await attempt(testDelivery(clock), 1);
    await attempt(testDelivery(clock), 2);
    const result = await attempt(testDelivery(clock), 3);
    expect(result).toMatchObject({
      kind: 'local',
      problem: { type: 'circuit-open', status: 503, retryAfterMs: 30_000 },
    });
    expect(next.seen).toHaveLength(2);
    expect(refused).toBe(1);
  });

  it('counts a 4xx as a healthy answer', async () => {
    const clock = new ManualClock();
    const breaker = new CircuitBreaker({ consecutiveFailures: 1, openMs: 30_000 });
    const attempt = circuitBreakerLayer(breaker, clock, () => undefined)(recorder(response(404)));
    await attempt(testDelivery(clock), 1);
    expect(breaker.state).toBe('closed');
  });
});

describe('sign layer', () => {
  it("signs each attempt at the clock's time with the delivery's stable id", async () => {
    const clock = new ManualClock();
    const signer = createSigner({ scheme: 'standard-webhooks', secrets: [WHSEC] });
    const next = recorder();
    const attempt = signLayer(() => signer, clock)(next);
    await attempt(testDelivery(clock), 1);
    clock.advance(5000);
    await attempt(testDelivery(clock), 2);
    const [first, second] = next.seen.map((d) => d.headers);
    expect(first!['webhook-id']).toBe('msg_1');
    expect(second!['webhook-id']).toBe('msg_1');
    expect(Number(second!['webhook-timestamp']) - Number(first!['webhook-timestamp'])).toBe(5);
    expect(first!['webhook-signature']).toMatch(/^v1,/);
    expect(first!['content-type']).toBe('application/json');
  });

  it('sends unsigned, naming the delivery, when no signer is in force (scheme none)', async () => {
    const clock = new ManualClock();
    const next = recorder();
    await signLayer(() => undefined, clock)(next)(testDelivery(clock), 1);
    expect(next.seen[0]!.headers).toEqual({
      'content-type': 'application/json',
      'webhook-id': 'msg_1',
    });
  });
});

describe('composeAttempt (the pipeline)', () => {
  function receiver(status: number): MockAgent {
    const agent = new MockAgent();
    agent.disableNetConnect();
    agent
      .get('https://hooks.example.com')
      .intercept({ path: '/orders', method: 'POST' })
      .reply(status, 'answer')
      .persist();
    return agent;
  }

  /** The pipeline of `parts` sending through `agent`, counters off. */
  function pipeline(
    clock: ManualClock,
    agent: MockAgent,
    parts: Pick<PipelineParts, 'limiter' | 'breaker' | 'signerAt'>,
  ): Attempt {
    return composeAttempt({
      ...parts,
      dispatcher: agent,
      timeoutMs: 1000,
      clock,
      onRateLimited: () => undefined,
      onCircuitOpen: () => undefined,
    });
  }

  it('limits, guards, signs and sends: the receiver gets a signed request', async () => {
    const clock = new ManualClock();
    const agent = receiver(202);
    let signedWith: string | undefined;
    const signer = createSigner({ scheme: 'standard-webhooks', secrets: [WHSEC] });
    const attempt = pipeline(clock, agent, {
      limiter: new TokenBucket({ rate: 10, per: 'second', burst: 10 }),
      breaker: new CircuitBreaker({ consecutiveFailures: 1, openMs: 1000 }),
      signerAt: () => (input) => {
        const headers = signer(input);
        signedWith = headers['webhook-signature'];
        return headers;
      },
    });
    const result = await attempt(testDelivery(clock), 1);
    expect(result).toMatchObject({ kind: 'response', status: 202 });
    expect((result as { body: Buffer }).body.toString()).toBe('answer');
    expect(signedWith).toMatch(/^v1,/);
    await agent.close();
  });

  it('a refused token holds no breaker probe and signs nothing (limit before breaker)', async () => {
    const clock = new ManualClock();
    const agent = receiver(200);
    const refusing: RateLimiter = { take: () => ({ allowed: false, retryAfterMs: 60_000 }) };
    const breaker = new CircuitBreaker({ consecutiveFailures: 1, openMs: 1000, halfOpenProbes: 1 });
    // Open it, then let it turn half-open with a single probe to give.
    const first = breaker.acquire(clock.now());
    if (first.allowed) first.release('failure', clock.now());
    clock.advance(1000);
    let signed = 0;
    const attempt = pipeline(clock, agent, {
      limiter: refusing,
      breaker,
      signerAt: () => () => {
        signed++;
        return {};
      },
    });
    const result = await attempt(testDelivery(clock), 1);
    expect(result).toMatchObject({ kind: 'local', problem: { type: 'rate-limited' } });
    expect(signed).toBe(0);
    // The breaker was never asked: its one half-open probe is still there, and only one.
    expect(breaker.acquire(clock.now()).allowed).toBe(true);
    expect(breaker.acquire(clock.now()).allowed).toBe(false);
    await agent.close();
  });
});

import { describe, expect, it } from 'vitest';
import { IngressEndpoint } from '../config/schema.ts';
import { compileEventRouter } from './event-routes.ts';

const endpoint = (scheme: string, forward: Record<string, unknown>): IngressEndpoint =>
  IngressEndpoint.parse({
    name: 'e',
    path: '/e',
    verify: { scheme, secrets: [{ env: 'X' }] },
    forward,
  });

const routes = [
  { eventTypes: ['a.*'], port: 9001 },
  { eventTypes: ['b'], path: '/b' },
];

describe('compileEventRouter', () => {
  it('is absent without routes: every webhook goes to the forward target', () => {
    expect(compileEventRouter(endpoint('github', {}))).toBeUndefined();
  });

  // [what the row proves, scheme, forward extras, headers, body, expected decision]
  it.each([
    [
      'GitHub reads X-GitHub-Event',
      'github',
      {},
      { 'x-github-event': 'b' },
      '{}',
      { kind: 'forward', path: '/b', eventType: 'b' },
    ],
    [
      'Shopify reads X-Shopify-Topic',
      'shopify',
      {},
      { 'x-shopify-topic': 'a.x' },
      '{}',
      { kind: 'forward', port: 9001 },
    ],
    [
      'Stripe reads $.type',
      'stripe',
      {},
      {},
      '{"type":"a.paid"}',
      { kind: 'forward', port: 9001, eventType: 'a.paid' },
    ],
    [
      'first matching route wins, in order',
      'standard-webhooks',
      {},
      {},
      '{"type":"a.b"}',
      { kind: 'forward', port: 9001 },
    ],
    [
      'unrouted default goes to the forward target',
      'stripe',
      {},
      {},
      '{"type":"c"}',
      { kind: 'forward', port: undefined, path: undefined, eventType: 'c' },
    ],
    [
      'unrouted refuse: 422',
      'stripe',
      { unrouted: 'refuse' },
      {},
      '{"type":"c"}',
      { kind: 'answer', refusal: { outcome: 'unrouted_refused' } },
    ],
    [
      'unrouted drop: 200',
      'stripe',
      { unrouted: 'drop' },
      {},
      '{"type":"c"}',
      { kind: 'answer', refusal: { outcome: 'unrouted_dropped', problem: { status: 200 } } },
    ],
    [
      'a body that is not JSON has no type',
      'stripe',
      { unrouted: 'refuse' },
      {},
      'not json',
      { kind: 'answer', eventType: undefined },
    ],
    [
      'a type that could not be a header is unrouted',
      'github',
      { unrouted: 'refuse' },
      { 'x-github-event': 'a.\u00e9' },
      '{}',
      { kind: 'answer', eventType: undefined },
    ],
    [
      'a configured JSON path',
      'bearer',
      { eventType: { jsonPath: '$.event["kind"]' } },
      {},
      '{"event":{"kind":"b"}}',
      { kind: 'forward', path: '/b' },
    ],
    [
      'a configured header',
      'slack',
      { eventType: { header: 'X-Kind' } },
      { 'x-kind': 'b' },
      '{}',
      { kind: 'forward', path: '/b' },
    ],
    [
      'a scheme without a default and no source: unrouted',
      'bearer',
      { unrouted: 'drop' },
      {},
      '{"type":"b"}',
      { kind: 'answer' },
    ],
  ] as const)('%s', (_what, scheme, extra, headers, body, expected) => {
    const router = compileEventRouter(endpoint(scheme, { routes, ...extra }))!;
    expect(router(headers, Buffer.from(body))).toMatchObject(expected);
  });
});

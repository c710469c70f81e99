import { describe, expect, it } from 'vitest';
import { SidecarConfig } from '../../config/schema.ts';
import { eventTypeMatcher } from './event-types.ts';
import { parseLabelSelector } from './selector.ts';
import { buildSubscriptionIndex, fanOutCap, selectSubscribers } from './subscriptions.ts';

describe('event type patterns', () => {
  // [what the row proves, patterns, type, expected]
  it.each([
    ['exact', ['order.created'], 'order.created', true],
    ['exact is exact', ['order.created'], 'order.created.v2', false],
    ['prefix wildcard, one level', ['order.*'], 'order.created', true],
    ['prefix wildcard, deeper', ['order.*'], 'order.item.added', true],
    ['the prefix itself is not under it', ['order.*'], 'order', false],
    ['a longer word is not under it', ['order.*'], 'orders.created', false],
    ['star takes everything', ['*'], 'anything.at.all', true],
    ['case-sensitive', ['Order.*'], 'order.created', false],
    ['any of several', ['invoice.paid', 'order.*'], 'invoice.paid', true],
  ] as const)('%s', (_what, patterns, type, expected) => {
    expect(eventTypeMatcher(patterns)(type)).toBe(expected);
  });
});

describe('Hookgate-Endpoint-Selector', () => {
  const labels = { customer: 'acme', tier: 'gold', 'hookgate.io/group': 'eu' };
  // [selector, expected for the labels above]
  it.each([
    ['customer=acme', true],
    ['customer==acme', true],
    ['customer=globex', false],
    ['customer!=globex', true],
    ['missing!=x', true],
    ['tier in (gold, silver)', true],
    ['tier notin (gold)', false],
    ['missing notin (x)', true],
    ['customer', true],
    ['!customer', false],
    ['!missing', true],
    ['hookgate.io/group=eu,tier=gold', true],
    ['customer=acme,tier=silver', false],
  ])('%s → %s', (selector, expected) => {
    const predicate = parseLabelSelector(selector);
    if ('error' in predicate) throw new Error(predicate.error);
    expect(predicate(labels)).toBe(expected);
  });

  it.each(['a in b', 'a=b,', '=x', 'a=b c', 'a in (b', 'a===b'])('refuses %j', (selector) => {
    expect(parseLabelSelector(selector)).toHaveProperty('error');
  });
});

describe('subscription index', () => {
  const config = SidecarConfig.parse({
    fanout: { maxEndpoints: 10 },
    endpoints: [
      { name: 'a', url: 'https://a.example', eventTypes: ['order.*'] },
      {
        name: 'b',
        url: 'https://b.example',
        eventTypes: ['*'],
        filter: '$.n > 1',
        labels: { t: 'x' },
      },
      {
        name: 'c',
        url: 'https://c.example',
        eventTypes: ['order.created'],
        policy: { name: 'narrow', fanOut: { maxEndpoints: 2 } },
      },
      { name: 'named-only', url: 'https://d.example' },
    ],
  });
  const index = buildSubscriptionIndex(config);

  it('leaves endpoints without eventTypes out', () => {
    expect(index.subscribers.map((s) => s.name)).toEqual(['a', 'b', 'c']);
  });

  it('selects by type, then selector, then filter, and parses the payload only when a filter needs it', () => {
    let parses = 0;
    const payload = (): unknown => (parses++, { n: 5 });
    const all = selectSubscribers(index, 'order.created', undefined, payload);
    expect(all.matched.map((s) => s.name)).toEqual(['a', 'b', 'c']);
    expect(parses).toBe(1);
    const invoice = selectSubscribers(index, 'invoice.paid', undefined, () => ({ n: 0 }));
    expect(invoice.matched).toEqual([]);
    expect(invoice.filtered.map((s) => s.name)).toEqual(['b']);
    parses = 0;
    const selected = selectSubscribers(index, 'order.created', (l) => l['t'] !== 'x', payload);
    expect(selected.matched.map((s) => s.name)).toEqual(['a', 'c']);
    expect(parses).toBe(0);
  });

  it('caps the width by the narrowest policy among the matched', () => {
    expect(fanOutCap(index, index.subscribers.slice(0, 2)).limit).toBe(10);
    const cap = fanOutCap(index, index.subscribers);
    expect(cap.limit).toBe(2);
    expect(cap.setBy).toContain('"narrow"');
  });

  it('refuses a config with a malformed filter, naming the field', () => {
    const result = SidecarConfig.safeParse({
      endpoints: [{ name: 'a', url: 'https://a.example', eventTypes: ['*'], filter: '$.a = 1' }],
    });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.path).toEqual(['endpoints', 0, 'filter']);
  });
});

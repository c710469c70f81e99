import { describe, expect, it } from 'vitest';
import {
  DELIVERY_ID_PATTERN,
  fanOutDeliveryId,
  newDeliveryId,
  prefersAsync,
  requestedDeliveryId,
} from './request.ts';

describe('prefersAsync', () => {
  it.each([
    // the plain preference
    ['respond-async', true],
    // case-insensitive token, with parameters and other preferences around it
    ['wait=10, Respond-Async; foo', true],
    // several header lines
    [['return=minimal', 'respond-async'], true],
    // a token that merely contains the word is not the preference
    ['respond-asyncx', false],
    ['x-respond-async', false],
    // a value of another preference is not the token
    ['handling=respond-async', false],
    [undefined, false],
  ])('%o → %s', (prefer, want) => {
    expect(prefersAsync({ prefer })).toBe(want);
  });
});

describe('delivery ids', () => {
  it('mints msg_ ids that pass the pattern, all different', () => {
    const ids = new Set(Array.from({ length: 100 }, newDeliveryId));
    expect(ids.size).toBe(100);
    for (const id of ids) expect(id).toMatch(/^msg_[0-9a-f]{32}$/);
  });

  it.each([
    // a valid id the app chose is kept
    ['order-42.attempt:1', 'order-42.attempt:1'],
    // an id with a space or over 128 characters is ignored
    ['bad id', undefined],
    ['x'.repeat(129), undefined],
  ])('takes Hookgate-Delivery-Id %s → %s', (value, want) => {
    expect(requestedDeliveryId({ 'hookgate-delivery-id': value })).toBe(want);
  });

  it('derives fan-out ids from the event id, stable per endpoint', () => {
    expect(fanOutDeliveryId('evt_1', 'orders')).toBe('evt_1.orders');
    const long = fanOutDeliveryId('e'.repeat(120), 'a-long-endpoint-name');
    expect(long).toMatch(/^msg_[0-9a-f]{32}$/);
    expect(fanOutDeliveryId('e'.repeat(120), 'a-long-endpoint-name')).toBe(long);
    expect(DELIVERY_ID_PATTERN.test(fanOutDeliveryId(undefined, 'orders'))).toBe(true);
  });
});

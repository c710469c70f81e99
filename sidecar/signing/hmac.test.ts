import { describe, expect, it } from 'vitest';
import { credentialDigest, credentialEquals, signatureEquals } from './hmac.ts';

describe('signatureEquals', () => {
  it.each([
    // identical
    ['abc123', 'abc123', true],
    // same length, one byte differs
    ['abc124', 'abc123', false],
    // different lengths never throw (timingSafeEqual would)
    ['abc12', 'abc123', false],
    ['', 'abc123', false],
    // multi-byte characters compare as bytes
    ['caf\u00e9', 'cafe\u0301', false],
  ])('%s vs %s → %s', (received, expected, equal) => {
    expect(signatureEquals(received, expected)).toBe(equal);
  });
});

describe('credentialEquals', () => {
  it.each([
    // identical
    ['s3cret', 's3cret', true],
    // a prefix, a longer value and the empty string are all unequal
    ['s3cre', 's3cret', false],
    ['s3cret!', 's3cret', false],
    ['', 's3cret', false],
  ])('%s vs %s → %s', (received, configured, equal) => {
    expect(credentialEquals(received, credentialDigest(configured))).toBe(equal);
  });
});

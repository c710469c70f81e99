import type { IncomingHttpHeaders } from 'node:http';
import { describe, expect, it } from 'vitest';
import { checkTimestamp, parseUnixSeconds, readHeader } from './verification.ts';

describe('readHeader', () => {
  it.each([
    // Node's shape: lower-case key, string value
    [{ 'x-a': 'v' }, 'v'],
    // a hand-built header bag with mixed case is still found
    [{ 'X-A': 'v' }, 'v'],
    // a one-element array
    [{ 'x-a': ['v'] }, 'v'],
    // repeated headers are joined the way Node joins them
    [{ 'x-a': ['v1', 'v2'] }, 'v1, v2'],
    // empty counts as absent
    [{ 'x-a': '' }, undefined],
    [{ 'x-a': [] }, undefined],
    // absent
    [{ 'x-b': 'v' }, undefined],
  ])('%o → %s', (headers, expected) => {
    expect(readHeader(headers, 'x-a')).toBe(expected);
  });

  it("accepts Node's IncomingHttpHeaders as they are", () => {
    const headers: IncomingHttpHeaders = { authorization: 'Bearer t', 'set-cookie': ['a', 'b'] };
    expect(readHeader(headers, 'authorization')).toBe('Bearer t');
    expect(readHeader(headers, 'set-cookie')).toBe('a, b');
  });
});

describe('parseUnixSeconds', () => {
  it.each([
    // plain seconds
    ['1700000000', 1700000000],
    // zero is a valid (if stale) time
    ['0', 0],
    // signs, fractions, spaces, exponents and hex are all refused
    ['-1', undefined],
    ['1.5', undefined],
    [' 1', undefined],
    ['1e9', undefined],
    ['0x10', undefined],
    // more digits than a safe integer holds
    ['1234567890123456', undefined],
  ])('%s → %s', (value, expected) => {
    expect(parseUnixSeconds(value)).toBe(expected);
  });
});

describe('checkTimestamp', () => {
  const now = 1_700_000_000_999; // the last millisecond of a second: seconds are floored
  it.each([
    // within the window, both edges included
    [1_700_000_000, undefined],
    [1_700_000_000 - 300, undefined],
    [1_700_000_000 + 300, undefined],
    // one second past either edge
    [1_700_000_000 - 301, 'timestamp_stale'],
    [1_700_000_000 + 301, 'timestamp_future'],
  ])('%s → %s', (timestamp, code) => {
    expect(checkTimestamp('hmac', 'x-ts', timestamp, now, 300)?.code).toBe(code);
  });

  it('maps both directions to 400 and names the header', () => {
    expect(checkTimestamp('slack', 'X-Slack-Request-Timestamp', 0, now, 300)).toEqual({
      ok: false,
      scheme: 'slack',
      code: 'timestamp_stale',
      statusCode: 400,
      reason: 'X-Slack-Request-Timestamp is more than 300s in the past',
    });
  });
});

import { describe, expect, it } from 'vitest';
import { parseRetryAfter } from './retry-after.ts';

describe('parseRetryAfter', () => {
  // Fri, 02 Jan 2026 03:04:05 GMT
  const now = Date.UTC(2026, 0, 2, 3, 4, 5);
  const maxMs = 600_000;

  it.each([
    // delta-seconds
    ['120', 120_000],
    // zero means retry at once
    ['0', 0],
    // optional whitespace around the field value is not part of it
    ['  5 ', 5000],
    // a wait longer than the policy allows is clamped
    ['3600', maxMs],
    // an absurd number is clamped, not Infinity
    ['99999999999999999999999999', maxMs],
    // IMF-fixdate, the preferred form
    ['Fri, 02 Jan 2026 03:04:35 GMT', 30_000],
    // obsolete RFC 850 form, two-digit year within the next 50 years
    ['Friday, 02-Jan-26 03:04:35 GMT', 30_000],
    // obsolete asctime form with a space-padded day
    ['Fri Jan  2 03:04:35 2026', 30_000],
    // a date in the past means now
    ['Thu, 01 Jan 2026 00:00:00 GMT', 0],
    // RFC 850 year 94 is 1994 (2094 is more than 50 years ahead): the past, so now
    ['Sunday, 06-Nov-94 08:49:37 GMT', 0],
    // a date beyond the maximum is clamped
    ['Sat, 03 Jan 2026 03:04:05 GMT', maxMs],
    // a leap second is a valid second value
    ['Fri, 02 Jan 2026 03:04:60 GMT', 55_000],
  ])('%j → %i ms', (value, expected) => {
    expect(parseRetryAfter(value, now, maxMs)).toBe(expected);
  });

  it.each([
    // absent header
    [undefined],
    [null],
    // empty value
    [''],
    // delta-seconds is digits only: no sign, fraction, exponent or hex
    ['-1'],
    ['1.5'],
    ['1e3'],
    ['0x10'],
    // words
    ['soon'],
    // ISO 8601 is not an HTTP-date (Date.parse would accept it)
    ['2026-01-02T03:04:35Z'],
    // a date that does not exist
    ['Mon, 30 Feb 2026 00:00:00 GMT'],
    // hour out of range
    ['Fri, 02 Jan 2026 25:00:00 GMT'],
    // HTTP-dates are always GMT
    ['Fri, 02 Jan 2026 03:04:35 UTC'],
    // single-digit day is not IMF-fixdate
    ['Fri, 2 Jan 2026 03:04:35 GMT'],
  ])('%j is ignored', (value) => {
    expect(parseRetryAfter(value, now, maxMs)).toBeUndefined();
  });
});

import { describe, expect, it } from 'vitest';
import { DURATION_PATTERN } from '../api/v1alpha1/common.ts';
import { isDuration, parseDuration } from './duration.ts';

describe('parseDuration', () => {
  it.each([
    // each unit
    ['250ms', 250],
    ['30s', 30_000],
    ['5m', 300_000],
    ['2h', 7_200_000],
    // compound, as Go writes them
    ['1h30m', 5_400_000],
    ['1m30s500ms', 90_500],
    // fractions round to the millisecond
    ['1.5s', 1500],
    ['0.0005s', 1],
    // zero is a duration (an immediate first attempt in a schedule)
    ['0s', 0],
  ])('%s = %d ms', (value, ms) => {
    expect(parseDuration(value)).toBe(ms);
  });

  it.each([['1d'], ['5 minutes'], ['-5m'], [''], ['10'], ['s']])(
    'refuses %j with an example',
    (value) => {
      expect(() => parseDuration(value)).toThrow(
        `"${value}" is not a duration: write it like 500ms`,
      );
    },
  );

  it('agrees with the CRD pattern the API server enforces', () => {
    for (const value of ['250ms', '1h30m', '1.5s', '1d', '5 minutes', '-5m', '10']) {
      expect(isDuration(value)).toBe(DURATION_PATTERN.test(value));
    }
  });
});

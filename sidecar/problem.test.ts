import { describe, expect, it } from 'vitest';
import { PROBLEMS, problem, problemCode, type ProblemSlug } from './problem.ts';

describe('the problem catalog', () => {
  // DESIGN.md's list of gateway-side problems: every path answers with these slugs.
  it.each<ProblemSlug>([
    'rate-limited',
    'circuit-open',
    'destination-not-allowed',
    'payload-too-large',
    'unknown-endpoint',
    'queue-full',
    'overloaded',
    'endpoint-paused',
    'endpoint-disabled',
  ])('has %s with a status, a title and a hint', (slug) => {
    const entry = PROBLEMS[slug];
    expect(entry.status).toBeGreaterThanOrEqual(200);
    expect(entry.status).toBeLessThan(600);
    expect(entry.title).not.toBe('');
    expect(entry.hint).not.toBe('');
  });

  it('builds a problem from the entry, with extensions and the stable code', () => {
    const p = problem('rate-limited', 'orders is over its limit', { retryAfterMs: 1500 });
    expect(p).toEqual({
      type: 'rate-limited',
      title: 'Rate limited',
      status: 429,
      detail: 'orders is over its limit',
      hint: PROBLEMS['rate-limited'].hint,
      code: 'rate_limited',
      retryAfterMs: 1500,
    });
    expect(problemCode(p)).toBe('rate_limited');
  });

  it('lets a caller override the status and code, never the slug or title', () => {
    const p = problem(
      'signature-mismatch',
      'x',
      { type: 'other', title: 'other' },
      {
        status: 400,
        code: 'signature_mismatch',
      },
    );
    expect(p).toMatchObject({ type: 'signature-mismatch', title: 'Signature does not match' });
    expect(p.status).toBe(400);
  });
});

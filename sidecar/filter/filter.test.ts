import { describe, expect, it } from 'vitest';
import { compileFilter, FILTER_PATTERN, MAX_FILTER_LENGTH, parseFilter } from './index.ts';

const order = {
  type: 'order.created',
  data: {
    id: 'ord_1',
    amount: 250,
    currency: 'EUR',
    express: true,
    coupon: null,
    customer: { tier: 'gold', 'odd key': 'x' },
    items: [{ sku: 'A-1', qty: 2 }],
    tags: ['b2b'],
  },
};

// [what the row proves, expression, payload, expected]
const cases: [string, string, unknown, boolean][] = [
  ['string equality', '$.data.currency == "EUR"', order, true],
  ['string inequality', '$.data.currency != "EUR"', order, false],
  ['equality is strict on type', '$.data.amount == "250"', order, false],
  ['number equality', '$.data.amount == 250', order, true],
  ['boolean literal', '$.data.express == true', order, true],
  ['null literal matches a null field', '$.data.coupon == null', order, true],
  ['a missing field is not null', '$.data.missing == null', order, false],
  ['!= holds for a missing field', '$.data.missing != "x"', order, true],
  ['greater than', '$.data.amount > 100', order, true],
  ['at most', '$.data.amount <= 249.5', order, false],
  ['negative and exponent numbers', '$.data.amount >= -1e3', order, true],
  ['numeric compare on a string is false', '$.data.currency > 1', order, false],
  ['numeric compare on a missing field is false', '$.data.nope < 1', order, false],
  ['in a list of strings', '$.data.currency in ["USD", "EUR"]', order, true],
  ['not in the list', '$.data.currency in ["USD","GBP"]', order, false],
  ['in with mixed literals', '$.data.amount in [1, "250", 250]', order, true],
  ['exists on a present field', 'exists($.data.customer.tier)', order, true],
  ['exists holds for a null value', 'exists($.data.coupon)', order, true],
  ['exists on a missing field', 'exists($.data.refund)', order, false],
  ['negated exists', '!exists($.data.refund)', order, true],
  ['array index', '$.data.items[0].sku == "A-1"', order, true],
  ['index past the end is missing', 'exists($.data.items[1])', order, false],
  ['quoted key', '$.data.customer["odd key"] == "x"', order, true],
  ['no prototype walk', 'exists($.data.constructor)', order, false],
  ['no __proto__ walk', 'exists($.data["__proto__"])', order, false],
  ['objects equal no literal', '$.data.customer == "[object Object]"', order, false],
  ['and', '$.data.amount > 100 && $.data.currency == "EUR"', order, true],
  ['and short of one', '$.data.amount > 1000 && $.data.currency == "EUR"', order, false],
  ['or', '$.data.amount > 1000 || $.data.express == true', order, true],
  [
    '&& binds tighter than ||',
    '$.type == "x" && $.data.amount > 1 || $.data.express == true',
    order,
    true,
  ],
  [
    'parentheses group',
    '$.type == "x" && ($.data.amount > 1 || $.data.express == true)',
    order,
    false,
  ],
  ['negated group', '!($.data.amount < 10 || $.data.currency == "USD")', order, true],
  ['two levels of parentheses', '(($.data.amount > 1))', order, true],
  ['unicode escapes in strings', '$.data.id == "ord\\u005f1"', order, true],
  ['whitespace and newlines', '  $.data.amount\n  >= 250\t', order, true],
  ['a non-object payload matches no path', '$.a == 1', 'text', false],
];

describe('filter expressions', () => {
  it.each(cases)('%s', (_what, expression, payload, expected) => {
    const filter = compileFilter(expression);
    if ('error' in filter) throw new Error(filter.error);
    expect(filter.matches(payload)).toBe(expected);
  });
});

// [what the row proves, expression, words the refusal contains]
const malformed: [string, string, string][] = [
  ['empty', '', 'expected a path'],
  ['a bare word', 'amount > 5', 'expected a path'],
  ['no operator', '$.data.amount', 'after the path'],
  ['numeric compare with a string', '$.a > "5"', 'a number after >'],
  ['unterminated string', '$.a == "x', 'a string'],
  ['single quotes', "$.a == 'x'", 'character'],
  ['dangling &&', '$.a == 1 &&', 'expected a path'],
  ['single &', '$.a == 1 & $.b == 2', 'character'],
  ['unbalanced (', '($.a == 1', 'expected ")"'],
  ['unbalanced )', '$.a == 1)', 'the end'],
  ['three levels of parentheses', '((($.a == 1)))', 'nest at most 2'],
  ['double negation', '!!$.a == 1', 'expected a path'],
  ['in without a space', '$.ain[1]', 'after the path'],
  ['empty in-list', '$.a in []', 'a value'],
  ['trailing comma', '$.a in [1,]', 'a value'],
  ['path without a segment', '$ == 1', 'a path'],
  ['leading zero', '$.a == 01', 'the end'],
  ['function calls are not a thing', 'eval("1")', 'expected a path'],
  ['unknown keyword', '$.a == yes', 'a value'],
  ['= instead of ==', '$.a = 1', 'character'],
];

describe('malformed filter expressions', () => {
  it.each(malformed)('%s', (_what, expression, words) => {
    const parsed = parseFilter(expression);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.message).toContain(words);
  });

  it('refuses an expression over the length limit', () => {
    const long = `$.a in [${Array.from({ length: 400 }, (_, i) => i).join(',')}]`;
    expect(long.length).toBeGreaterThan(MAX_FILTER_LENGTH);
    expect(parseFilter(long).ok).toBe(false);
  });
});

describe('FILTER_PATTERN (the CRD check) and the parser agree', () => {
  const pattern = new RegExp(FILTER_PATTERN);
  it.each([
    ...cases.map(([w, e]) => [w, e] as const),
    ...malformed.map(([w, e]) => [w, e] as const),
  ])('%s', (_what, expression) => {
    expect(pattern.test(expression)).toBe(parseFilter(expression).ok);
  });

  it('on random expressions and mutations of them', () => {
    // Random well-formed expressions, half of them then broken by one random edit: whatever the
    // parser decides, the regular expression must decide the same.
    let seed = 42;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const pick = <T>(xs: readonly T[]): T => xs[random(xs.length)]!;
    const paths = ['$.a', '$.b.c', '$.x[0]', '$["k y"]', '$.d-e'];
    const literals = ['1', '-2.5e3', '"s"', '"q\\"x"', 'true', 'false', 'null'];
    const atom = (): string =>
      pick([
        () => `exists(${pick(paths)})`,
        () => `${pick(paths)} ${pick(['==', '!='])} ${pick(literals)}`,
        () => `${pick(paths)}${pick(['<', '<=', '>', '>='])}${pick(['0', '3.5', '-1'])}`,
        () => `${pick(paths)} in [${pick(literals)}${random(2) ? `, ${pick(literals)}` : ''}]`,
      ])();
    const expr = (depth: number): string => {
      const term = (): string =>
        (random(4) === 0 ? '!' : '') +
        (depth < 3 && random(3) === 0 ? `(${expr(depth + 1)})` : atom());
      let text = term();
      for (let n = random(3); n > 0; n--) text += ` ${pick(['&&', '||'])} ${term()}`;
      return text;
    };
    const junk = ['(', ')', '!', '&', '=', ' in ', ',', '"', '$', '.', '[', ']', '1', 'x', ' '];
    let accepted = 0;
    for (let i = 0; i < 5_000; i++) {
      let text = expr(0);
      if (random(2) === 0) {
        const at = random(text.length + 1);
        text =
          random(2) === 0
            ? text.slice(0, at) + text.slice(at + 1)
            : text.slice(0, at) + pick(junk) + text.slice(at);
      }
      const ok = parseFilter(text).ok;
      if (ok) accepted++;
      expect(pattern.test(text), text).toBe(ok);
    }
    // Both sides of the question were asked many times.
    expect(accepted).toBeGreaterThan(1_000);
    expect(accepted).toBeLessThan(4_500);
  });
});

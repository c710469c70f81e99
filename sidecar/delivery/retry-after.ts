// A receiver's `Retry-After` (RFC 9110 §10.2.3) as a wait in milliseconds. Both forms are
// accepted: delta-seconds (`120`) and an HTTP-date in any of the three formats a recipient must
// read (§5.6.7: IMF-fixdate, obsolete RFC 850, asctime). Anything else is ignored rather than
// guessed at: `Date.parse` would read `"1"` as the year 2001, so dates are matched strictly.

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const MONTH = `(${MONTHS.join('|')})`;
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})';

// Sun, 06 Nov 1994 08:49:37 GMT
const IMF_FIXDATE = new RegExp(
  `^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\\d{2}) ${MONTH} (\\d{4}) ${TIME} GMT$`,
);
// Sunday, 06-Nov-94 08:49:37 GMT
const RFC_850 = new RegExp(
  `^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\\d{2})-${MONTH}-(\\d{2}) ${TIME} GMT$`,
);
// Sun Nov  6 08:49:37 1994
const ASCTIME = new RegExp(
  `^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ${MONTH} ( \\d|\\d{2}) ${TIME} (\\d{4})$`,
);

/** Milliseconds since the epoch of a UTC calendar time, or undefined when it does not exist. */
function utc(
  year: number,
  month: string,
  day: string,
  hh: string,
  mm: string,
  ss: string,
): number | undefined {
  const m = MONTHS.indexOf(month);
  const [d, h, min, s] = [Number(day), Number(hh), Number(mm), Number(ss)];
  const ms = Date.UTC(year, m, d, h, min, s);
  // Date.UTC rolls 31 Feb into March; a date that does not round-trip is not a date.
  const back = new Date(ms);
  return back.getUTCDate() === d && back.getUTCHours() === h && min < 60 && s < 61 ? ms : undefined;
}

/** Parses an HTTP-date into epoch milliseconds, or undefined. */
function parseHttpDate(value: string, now: number): number | undefined {
  let m = IMF_FIXDATE.exec(value);
  if (m !== null) return utc(Number(m[3]), m[2]!, m[1]!, m[4]!, m[5]!, m[6]!);
  m = RFC_850.exec(value);
  if (m !== null) {
    // §5.6.7: a two-digit year more than 50 years in the future means the previous century.
    const thisYear = new Date(now).getUTCFullYear();
    let year = Math.floor(thisYear / 100) * 100 + Number(m[3]);
    if (year > thisYear + 50) year -= 100;
    return utc(year, m[2]!, m[1]!, m[4]!, m[5]!, m[6]!);
  }
  m = ASCTIME.exec(value);
  if (m !== null) return utc(Number(m[6]), m[1]!, m[2]!.trim(), m[3]!, m[4]!, m[5]!);
  return undefined;
}

/**
 * The wait a `Retry-After` value asks for, in milliseconds from `now` (epoch ms), clamped to
 * [0, `maxMs`]; undefined when the header is absent or not a valid value. A date in the past
 * means "now" (0).
 */
export function parseRetryAfter(
  value: string | null | undefined,
  now: number,
  maxMs: number,
): number | undefined {
  if (value === undefined || value === null) return undefined;
  const trimmed = value.trim();
  let waitMs: number | undefined;
  if (/^\d+$/.test(trimmed)) {
    // Huge values parse to large floats or Infinity; the clamp below bounds them.
    waitMs = Number(trimmed) * 1000;
  } else {
    const at = parseHttpDate(trimmed, now);
    if (at !== undefined) waitMs = at - now;
  }
  if (waitMs === undefined) return undefined;
  return Math.min(maxMs, Math.max(0, waitMs));
}

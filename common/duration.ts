// Go-style durations ("500ms", "30s", "1h30m"), the one format every Hookgate duration uses: in
// the CRDs (where the API server's CEL compares them) and in the sidecar's config file.

const PART = /([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)/g;
const WHOLE = /^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Milliseconds in a duration string; throws (naming the value and an example) when malformed. */
export function parseDuration(value: string): number {
  if (!WHOLE.test(value)) {
    throw new Error(`"${value}" is not a duration: write it like 500ms, 30s, 5m or 1h30m`);
  }
  let ms = 0;
  for (const [, amount, unit] of value.matchAll(PART)) ms += Number(amount) * UNIT_MS[unit!]!;
  return Math.round(ms);
}

/** Whether `value` is a well-formed duration string. */
export function isDuration(value: string): boolean {
  return WHOLE.test(value);
}

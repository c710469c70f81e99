// The lexical pieces of the payload filter language, as regular-expression sources written in the
// subset JavaScript and RE2 (Go, CEL) read alike, and the whole grammar built from them as one
// regular expression. The grammar is regular on purpose: with parentheses nested at most
// MAX_DEPTH deep it is, so the API server can check an expression at apply time with a CEL
// `matches()` rule, and the parser (parse.ts), built from the same pieces, agrees with it exactly.

/** Longest expression accepted, in characters. */
export const MAX_FILTER_LENGTH = 1024;
/** Deepest nesting of parentheses accepted: `((a || b) && c) || d` is depth 2. */
export const MAX_FILTER_DEPTH = 2;

/** Whitespace between tokens (RE2's `\s` and JavaScript's differ; this is written out). */
export const WS = '[ \\t\\n\\r]';
/** A field name after `.` in a path. */
export const NAME = '[A-Za-z_][A-Za-z0-9_-]*';
/** A JSON string literal. */
export const STRING = '"(?:[^"\\\\\\x00-\\x1f]|\\\\(?:["\\\\/bfnrt]|u[0-9A-Fa-f]{4}))*"';
/** A JSON number literal. */
export const NUMBER = '-?(?:0|[1-9][0-9]*)(?:\\.[0-9]+)?(?:[eE][+-]?[0-9]+)?';
/** An array index in a path. */
export const INDEX = '[0-9]{1,9}';
/** A path into the JSON payload: `$.data.amount`, `$.items[0].sku`, `$["odd key"]`. */
export const PATH = `\\$(?:\\.${NAME}|\\[(?:${INDEX}|${STRING})\\])+`;
function grammar(): string {
  const ws = `${WS}*`;
  const literal = `(?:${STRING}|${NUMBER}|true|false|null)`;
  // `in` needs whitespace before it: `$.ain[1]` is a path, not `$.a in [1]`.
  const comparison =
    `${PATH}${ws}(?:(?:==|!=)${ws}${literal}|(?:<=|>=|<|>)${ws}${NUMBER}` +
    `|${WS}+in${ws}\\[${ws}${literal}(?:${ws},${ws}${literal})*${ws}\\])`;
  const atom = `(?:exists${ws}\\(${ws}${PATH}${ws}\\)|${comparison})`;
  const join = `${ws}(?:&&|\\|\\|)${ws}`;
  let term = `(?:!${ws})?${atom}`;
  let expr = `${term}(?:${join}${term})*`;
  for (let depth = 1; depth <= MAX_FILTER_DEPTH; depth++) {
    term = `(?:!${ws})?(?:${atom}|\\(${ws}${expr}${ws}\\))`;
    expr = `${term}(?:${join}${term})*`;
  }
  return `^${ws}${expr}${ws}$`;
}

/**
 * The whole filter grammar as one regular expression (JavaScript and RE2). The CRD's CEL rule
 * is `self.matches(<this>)`; `parseFilter` accepts exactly the strings it matches.
 */
export const FILTER_PATTERN: string = grammar();

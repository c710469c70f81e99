// The payload filter language in one import: compile once (at config load), match per event.
// Used by the sidecar's fan-out and by the operator's validation, so both refuse the same text.
import { evaluateFilter } from './evaluate.ts';
import { describeSyntaxError, parseFilter, type FilterNode } from './parse.ts';

export { FILTER_PATTERN, MAX_FILTER_DEPTH, MAX_FILTER_LENGTH } from './syntax.ts';
export {
  parseFilter,
  parsePath,
  describeSyntaxError,
  type FilterNode,
  type PathSegment,
} from './parse.ts';
export { evaluateFilter, resolve, MISSING } from './evaluate.ts';

/** A compiled filter: call `matches` with the parsed JSON payload. */
export interface Filter {
  readonly source: string;
  readonly ast: FilterNode;
  matches(payload: unknown): boolean;
}

/** Compiles `source`, or returns the one-line reason it is refused. */
export function compileFilter(source: string): Filter | { readonly error: string } {
  const parsed = parseFilter(source);
  if (!parsed.ok) return { error: describeSyntaxError(parsed) };
  const ast = parsed.ast;
  return { source, ast, matches: (payload) => evaluateFilter(ast, payload) };
}

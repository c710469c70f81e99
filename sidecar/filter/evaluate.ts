// Evaluating a parsed filter against a JSON payload: a walk over the AST, no code generation, no
// `eval`. Semantics, documented in ADR 0011:
// - a path reads own properties only (never the prototype chain) and array elements by index;
// - `==` is strict (1 and "1" differ, objects and arrays equal no literal); `!=` is its negation,
//   so a missing field is `!=` anything;
// - `<`, `<=`, `>`, `>=` hold only for numbers; a missing field or another type makes them false;
// - `in` is `==` against any listed value; `exists` holds when the path resolves (null included).
import type { FilterNode, Literal, PathSegment } from './parse.ts';

/** What a path resolves to when the payload has nothing there. */
export const MISSING: unique symbol = Symbol('missing');

/** The value at `path` in `value`, or MISSING. */
export function resolve(value: unknown, path: readonly PathSegment[]): unknown {
  let current: unknown = value;
  for (const segment of path) {
    if (typeof segment === 'number') {
      if (!Array.isArray(current) || segment >= current.length) return MISSING;
      current = current[segment];
    } else {
      if (current === null || typeof current !== 'object' || Array.isArray(current)) return MISSING;
      if (!Object.hasOwn(current, segment)) return MISSING;
      current = (current as Record<string, unknown>)[segment];
    }
  }
  return current;
}

const equals = (actual: unknown, literal: Literal): boolean => actual === literal;

/** True when `payload` (a parsed JSON value) satisfies `node`. */
export function evaluateFilter(node: FilterNode, payload: unknown): boolean {
  switch (node.kind) {
    case 'and':
      return evaluateFilter(node.left, payload) && evaluateFilter(node.right, payload);
    case 'or':
      return evaluateFilter(node.left, payload) || evaluateFilter(node.right, payload);
    case 'not':
      return !evaluateFilter(node.operand, payload);
    case 'exists':
      return resolve(payload, node.path) !== MISSING;
    case 'in': {
      const actual = resolve(payload, node.path);
      return node.values.some((v) => equals(actual, v));
    }
    case 'compare': {
      const actual = resolve(payload, node.path);
      switch (node.op) {
        case '==':
          return equals(actual, node.value);
        case '!=':
          return !equals(actual, node.value);
      }
      if (typeof actual !== 'number' || typeof node.value !== 'number') return false;
      switch (node.op) {
        case '<':
          return actual < node.value;
        case '<=':
          return actual <= node.value;
        case '>':
          return actual > node.value;
        case '>=':
          return actual >= node.value;
      }
    }
  }
}

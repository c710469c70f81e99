// The payload filter language: text → AST, by a tokenizer and a recursive-descent parser built
// from the same lexical pieces as FILTER_PATTERN (syntax.ts), so the API server's CEL check and
// this parser accept the same strings. Nothing here evaluates code: the AST is data.
//
//   expr    := term (('&&' | '||') term)*        && binds tighter than ||
//   term    := '!'? (atom | '(' expr ')')         parentheses at most MAX_FILTER_DEPTH deep
//   atom    := 'exists' '(' path ')'
//            | path ('==' | '!=') literal
//            | path ('<' | '<=' | '>' | '>=') number
//            | path 'in' '[' literal (',' literal)* ']'
//   path    := '$' ('.' name | '[' index ']' | '[' string ']')+
//   literal := string | number | true | false | null   (JSON syntax)
import {
  INDEX,
  MAX_FILTER_DEPTH,
  MAX_FILTER_LENGTH,
  NAME,
  NUMBER,
  PATH,
  STRING,
} from './syntax.ts';

/** A JSON scalar a filter compares with. */
export type Literal = string | number | boolean | null;
/** One step of a path: an object key or an array index. */
export type PathSegment = string | number;

/** A parsed filter expression. */
export type FilterNode =
  | { readonly kind: 'and' | 'or'; readonly left: FilterNode; readonly right: FilterNode }
  | { readonly kind: 'not'; readonly operand: FilterNode }
  | { readonly kind: 'exists'; readonly path: readonly PathSegment[] }
  | {
      readonly kind: 'compare';
      readonly path: readonly PathSegment[];
      readonly op: '==' | '!=' | '<' | '<=' | '>' | '>=';
      readonly value: Literal;
    }
  | { readonly kind: 'in'; readonly path: readonly PathSegment[]; readonly values: Literal[] };

/** Why an expression was refused, and where (0-based character offset). */
export interface FilterSyntaxError {
  readonly message: string;
  readonly position: number;
}

/** The result of parsing. */
export type ParseResult =
  { readonly ok: true; readonly ast: FilterNode } | ({ readonly ok: false } & FilterSyntaxError);

type Token =
  | { kind: 'path'; text: string; at: number }
  | { kind: 'string' | 'number' | 'ident' | 'punct'; text: string; at: number }
  | { kind: 'end'; text: ''; at: number };

const sticky = (source: string): RegExp => new RegExp(source, 'y');
const WS_RE = /[ \t\n\r]+/y;
const PATH_RE = sticky(PATH);
const STRING_RE = sticky(STRING);
const NUMBER_RE = sticky(NUMBER);
const IDENT_RE = /[A-Za-z_][A-Za-z0-9_-]*/y;
const PUNCT_RE = /&&|\|\||==|!=|<=|>=|[<>!()[\],]/y;
const SEGMENT_RE = sticky(`\\.(${NAME})|\\[(${INDEX})\\]|\\[(${STRING})\\]`);

class SyntaxFailure extends Error {
  readonly position: number;
  constructor(message: string, position: number) {
    super(message);
    this.position = position;
  }
}

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let at = 0;
  const take = (re: RegExp): string | undefined => {
    re.lastIndex = at;
    const m = re.exec(text);
    return m === null ? undefined : m[0];
  };
  while (at < text.length) {
    const ws = take(WS_RE);
    if (ws !== undefined) {
      at += ws.length;
      continue;
    }
    const ch = text[at];
    let kind: Token['kind'];
    let match: string | undefined;
    if (ch === '$') [kind, match] = ['path', take(PATH_RE)];
    else if (ch === '"') [kind, match] = ['string', take(STRING_RE)];
    else if (ch === '-' || (ch !== undefined && ch >= '0' && ch <= '9'))
      [kind, match] = ['number', take(NUMBER_RE)];
    else if (ch !== undefined && /[A-Za-z_]/.test(ch)) [kind, match] = ['ident', take(IDENT_RE)];
    else [kind, match] = ['punct', take(PUNCT_RE)];
    if (match === undefined) {
      const what =
        kind === 'path'
          ? 'a path: write $.field, $.list[0] or $["key"]'
          : kind === 'string'
            ? 'a string: close it with " and escape " and \\ inside'
            : kind === 'number'
              ? 'a number'
              : `character ${JSON.stringify(ch)}`;
      throw new SyntaxFailure(`unexpected ${what}`, at);
    }
    tokens.push({ kind, text: match, at });
    at += match.length;
  }
  tokens.push({ kind: 'end', text: '', at });
  return tokens;
}

function pathSegments(token: Token): PathSegment[] {
  const segments: PathSegment[] = [];
  let at = 1;
  while (at < token.text.length) {
    SEGMENT_RE.lastIndex = at;
    const m = SEGMENT_RE.exec(token.text)!;
    if (m[1] !== undefined) segments.push(m[1]);
    else if (m[2] !== undefined) segments.push(Number(m[2]));
    else segments.push(JSON.parse(m[3]!) as string);
    at += m[0].length;
  }
  return segments;
}

class Parser {
  readonly #tokens: Token[];
  #i = 0;

  constructor(tokens: Token[]) {
    this.#tokens = tokens;
  }

  get #peek(): Token {
    return this.#tokens[this.#i]!;
  }

  #next(): Token {
    return this.#tokens[this.#i++]!;
  }

  #fail(expected: string, token = this.#peek): never {
    const found = token.kind === 'end' ? 'the end' : JSON.stringify(token.text);
    throw new SyntaxFailure(`expected ${expected}, found ${found}`, token.at);
  }

  #expect(text: string, expected = `"${text}"`): Token {
    const token = this.#peek;
    if ((token.kind === 'punct' || token.kind === 'ident') && token.text === text)
      return this.#next();
    return this.#fail(expected);
  }

  parse(): FilterNode {
    const ast = this.#expr(0);
    if (this.#peek.kind !== 'end') this.#fail('&&, || or the end');
    return ast;
  }

  #expr(depth: number): FilterNode {
    // && binds tighter than ||: collect and-groups, then or them together.
    let or: FilterNode | undefined;
    let and = this.#term(depth);
    for (;;) {
      const token = this.#peek;
      if (token.kind === 'punct' && token.text === '&&') {
        this.#next();
        and = { kind: 'and', left: and, right: this.#term(depth) };
      } else if (token.kind === 'punct' && token.text === '||') {
        this.#next();
        or = or === undefined ? and : { kind: 'or', left: or, right: and };
        and = this.#term(depth);
      } else break;
    }
    return or === undefined ? and : { kind: 'or', left: or, right: and };
  }

  #term(depth: number): FilterNode {
    const token = this.#peek;
    if (token.kind === 'punct' && token.text === '!') {
      this.#next();
      return { kind: 'not', operand: this.#primary(depth) };
    }
    return this.#primary(depth);
  }

  #primary(depth: number): FilterNode {
    const token = this.#peek;
    if (token.kind === 'punct' && token.text === '(') {
      if (depth >= MAX_FILTER_DEPTH) {
        throw new SyntaxFailure(
          `parentheses nest at most ${MAX_FILTER_DEPTH} deep: flatten the expression`,
          token.at,
        );
      }
      this.#next();
      const inner = this.#expr(depth + 1);
      this.#expect(')');
      return inner;
    }
    if (token.kind === 'ident' && token.text === 'exists') {
      this.#next();
      this.#expect('(');
      const path = this.#path();
      this.#expect(')');
      return { kind: 'exists', path };
    }
    if (token.kind !== 'path') this.#fail('a path ($.field), exists(...), ! or (');
    const path = this.#path();
    const op = this.#peek;
    if (op.kind === 'punct' && (op.text === '==' || op.text === '!=')) {
      this.#next();
      return { kind: 'compare', path, op: op.text, value: this.#literal() };
    }
    if (op.kind === 'punct' && ['<', '<=', '>', '>='].includes(op.text)) {
      this.#next();
      const value = this.#peek;
      if (value.kind !== 'number') this.#fail(`a number after ${op.text}`);
      this.#next();
      return {
        kind: 'compare',
        path,
        op: op.text as '<' | '<=' | '>' | '>=',
        value: Number(value.text),
      };
    }
    if (op.kind === 'ident' && op.text === 'in') {
      const before = this.#tokens[this.#i - 1]!;
      // `in` needs whitespace before it, as FILTER_PATTERN says.
      if (before.at + before.text.length === op.at) this.#fail('a space before in', op);
      this.#next();
      this.#expect('[');
      const values = [this.#literal()];
      while (this.#peek.kind === 'punct' && this.#peek.text === ',') {
        this.#next();
        values.push(this.#literal());
      }
      this.#expect(']', '"," or "]"');
      return { kind: 'in', path, values };
    }
    return this.#fail('==, !=, <, <=, >, >= or in after the path');
  }

  #path(): PathSegment[] {
    const token = this.#peek;
    if (token.kind !== 'path') this.#fail('a path ($.field)');
    this.#next();
    return pathSegments(token);
  }

  #literal(): Literal {
    const token = this.#next();
    switch (token.kind) {
      case 'string':
        return JSON.parse(token.text) as string;
      case 'number':
        return Number(token.text);
      case 'ident':
        if (token.text === 'true') return true;
        if (token.text === 'false') return false;
        if (token.text === 'null') return null;
    }
    return this.#fail('a value: "text", a number, true, false or null', token);
  }
}

/** Parses a filter expression; refusals say what was expected and where. */
export function parseFilter(text: string): ParseResult {
  if (text.length > MAX_FILTER_LENGTH) {
    return {
      ok: false,
      message: `longer than ${MAX_FILTER_LENGTH} characters`,
      position: MAX_FILTER_LENGTH,
    };
  }
  try {
    return { ok: true, ast: new Parser(tokenize(text)).parse() };
  } catch (err) {
    if (err instanceof SyntaxFailure)
      return { ok: false, message: err.message, position: err.position };
    throw err;
  }
}

const WHOLE_PATH_RE = new RegExp(`^${PATH}$`);

/** Parses a lone JSON path (`$.type`, `$.event["kind"]`); undefined when it is not one. */
export function parsePath(text: string): PathSegment[] | undefined {
  if (!WHOLE_PATH_RE.test(text)) return undefined;
  return pathSegments({ kind: 'path', text, at: 0 });
}

/** A refusal as one line: `at character 12: expected …`. */
export function describeSyntaxError(error: FilterSyntaxError): string {
  return `at character ${error.position + 1}: ${error.message}`;
}

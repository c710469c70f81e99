// The `Hookgate-Endpoint-Selector` header: a Kubernetes label selector in its string form
// (`customer=acme,tier in (gold,silver),!legacy`), as `kubectl get -l` takes it, parsed into a
// predicate over an endpoint's labels.

/** A predicate over labels. */
export type LabelPredicate = (labels: Readonly<Record<string, string>>) => boolean;

const KEY =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const SET = /^([^\s!=(),]+)\s+(in|notin)\s+\(([^()]*)\)$/;
const EQUALITY = /^([^\s!=(),]+)\s*(==|=|!=)\s*([^\s!=(),]*)$/;

/** Splits on commas outside parentheses. */
function requirements(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '(') depth++;
    else if (text[i] === ')') depth--;
    else if (text[i] === ',' && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  parts.push(text.slice(start));
  return parts.map((p) => p.trim());
}

/** Parses a selector; an error message names the requirement at fault. */
export function parseLabelSelector(text: string): LabelPredicate | { readonly error: string } {
  if (text.length > 1024) return { error: 'longer than 1024 characters' };
  const checks: LabelPredicate[] = [];
  for (const requirement of requirements(text)) {
    const bad = {
      error: `"${requirement}" is not a requirement: write key=value, key!=value, key in (a,b), key notin (a,b), key or !key`,
    };
    if (requirement === '') return { error: 'empty requirement: remove the extra comma' };
    let m: RegExpExecArray | null;
    if ((m = SET.exec(requirement)) !== null) {
      const [, key = '', op, list = ''] = m;
      const values = list.split(',').map((v) => v.trim());
      if (!KEY.test(key) || values.some((v) => !VALUE.test(v))) return bad;
      const set = new Set(values);
      checks.push(
        op === 'in'
          ? (labels) => Object.hasOwn(labels, key) && set.has(labels[key]!)
          : (labels) => !Object.hasOwn(labels, key) || !set.has(labels[key]!),
      );
    } else if ((m = EQUALITY.exec(requirement)) !== null) {
      const [, key = '', op, value = ''] = m;
      if (!KEY.test(key) || !VALUE.test(value)) return bad;
      checks.push(
        op === '!='
          ? (labels) => !Object.hasOwn(labels, key) || labels[key] !== value
          : (labels) => Object.hasOwn(labels, key) && labels[key] === value,
      );
    } else if (requirement.startsWith('!') && KEY.test(requirement.slice(1).trim())) {
      const key = requirement.slice(1).trim();
      checks.push((labels) => !Object.hasOwn(labels, key));
    } else if (KEY.test(requirement)) {
      checks.push((labels) => Object.hasOwn(labels, requirement));
    } else return bad;
  }
  return (labels) => checks.every((check) => check(labels));
}

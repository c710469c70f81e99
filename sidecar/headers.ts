// Which headers cross the sidecar. Hop-by-hop headers (RFC 9110 section 7.6.1) describe one
// connection and never cross a proxy; `Hookgate-*` headers arriving from outside are dropped
// so that the ones the sidecar adds are the only ones the app ever sees: an app may trust
// `Hookgate-Verified` exactly because no sender can set it.

/** Header values as Node and undici hand them over. */
export type HeaderMap = Readonly<Record<string, string | readonly string[] | undefined>>;

/** Headers that belong to one connection (RFC 9110 section 7.6.1, plus the legacy ones). */
const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  // Node answers `Expect: 100-continue` itself; the body is already read when we forward.
  'expect',
]);

/** Prefix of the headers only the sidecar may set. */
export const HOOKGATE_HEADER_PREFIX = 'hookgate-';

const NO_OPTIONS: ReadonlySet<string> = new Set();

/** Header names the `Connection` header lists as hop-by-hop for this message. */
function connectionOptions(headers: HeaderMap): ReadonlySet<string> {
  const value = headers['connection'];
  // The common value names only a hop-by-hop header, dropped anyway: nothing to parse.
  if (value === undefined || value === 'keep-alive') return NO_OPTIONS;
  const joined = typeof value === 'string' ? value : value.join(',');
  return new Set(
    joined
      .split(',')
      .map((name) => name.trim().toLowerCase())
      .filter((name) => name !== ''),
  );
}

/**
 * The end-to-end headers of `headers`, lower-cased: hop-by-hop ones, those named by `Connection`,
 * `Hookgate-*` ones and the names in `drop` are left out.
 */
export function endToEndHeaders(
  headers: HeaderMap,
  drop: ReadonlySet<string> = NO_OPTIONS,
): Record<string, string | string[]> {
  const named = connectionOptions(headers);
  const kept: Record<string, string | string[]> = {};
  for (const rawName in headers) {
    const value = headers[rawName];
    if (value === undefined || !Object.hasOwn(headers, rawName)) continue;
    const name = rawName.toLowerCase();
    if (HOP_BY_HOP.has(name) || named.has(name) || drop.has(name)) continue;
    if (name.startsWith(HOOKGATE_HEADER_PREFIX)) continue;
    kept[name] = typeof value === 'string' ? value : [...value];
  }
  return kept;
}

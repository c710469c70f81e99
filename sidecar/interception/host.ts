// One reading of a request's authority (a Host header, or an absolute-form target's host) for
// the egress port. Hosts are read the way an HTTP client connects to them — through the WHATWG
// URL parser and the SSRF guard's address table — so `0`, `0.0.0.0`, `0x7f.1`, `[::ffff:7f00:1]`
// and `LOCALHOST.` are all recognised as this pod, not as strings that slip past a prefix check.
import { classifyAddress } from '../delivery/ssrf/address-ranges.ts';
import { normaliseHost, type NormalisedHost } from '../delivery/ssrf/ip-address.ts';

/** An authority split into a normalised host and its port. */
export interface Authority {
  readonly host: NormalisedHost;
  /** The port; undefined when the authority names none or names 80, plain HTTP's default. */
  readonly port: number | undefined;
}

/** Longest authority read: a DNS name (253) plus a bracketed IPv6 literal's margin and a port. */
const MAX_AUTHORITY = 300;
// Anything that would make the URL parser read userinfo, a path, a query or a fragment.
const NOT_AUTHORITY = /[\s/\\?#@]/;

/**
 * Parses `host[:port]` as a Host header carries it. Undefined for anything that is not exactly an
 * authority (userinfo, a path, control characters, an empty or oversized value), so callers never
 * treat a malformed Host as a destination.
 */
export function parseAuthority(authority: string): Authority | undefined {
  if (authority === '' || authority.length > MAX_AUTHORITY || NOT_AUTHORITY.test(authority))
    return undefined;
  let url: URL;
  try {
    url = new URL(`http://${authority}`);
  } catch {
    return undefined;
  }
  const host = normaliseHost(url.hostname);
  if (host === undefined) return undefined;
  return { host, port: url.port === '' ? undefined : Number(url.port) };
}

/**
 * Whether `host` is this pod itself: a loopback or unspecified address in any spelling (IPv4,
 * IPv6, IPv4-mapped or -compatible IPv6), `localhost`, or a `*.localhost` name (RFC 6761).
 */
export function isThisPod(host: NormalisedHost): boolean {
  if (host.kind === 'name') {
    const name = host.name.replace(/\.$/, '');
    return name === 'localhost' || name.endsWith('.localhost');
  }
  const range = classifyAddress(host.ip)?.range;
  return range === 'loopback' || range === 'unspecified';
}

/** The host as it is written in a URL: IPv6 literals in brackets. */
export function hostText(host: NormalisedHost): string {
  if (host.kind === 'name') return host.name;
  return host.ip.family === 6 ? `[${host.ip.text}]` : host.ip.text;
}

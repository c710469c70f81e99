// IP address literals and CIDR ranges as numbers, for the SSRF guard. Every literal is read the
// way an HTTP client reads a URL host — through the WHATWG URL parser — so `0x7f000001`,
// `2130706433`, `0177.0.0.1`, `127.1` and `[::ffff:127.0.0.1]` are the 127.0.0.1 they connect to,
// not strings that slip past a range check. Ranges are compared as BigInt prefixes: simple, and
// (unlike net.BlockList, which answers only yes or no) it lets the guard name the range it hit.

/** A parsed IP address. */
export interface IpAddress {
  readonly family: 4 | 6;
  /** The address as a 32- or 128-bit number. */
  readonly value: bigint;
  /** Canonical text: dotted quad, or RFC 5952 IPv6 without brackets. */
  readonly text: string;
}

/** A parsed CIDR range. */
export interface Cidr {
  readonly family: 4 | 6;
  readonly network: bigint;
  readonly prefix: number;
  /** As written in configuration or in the range table. */
  readonly text: string;
}

/** A host as an HTTP client would use it: an address literal, or a name to resolve. */
export type NormalisedHost =
  | { readonly kind: 'ip'; readonly ip: IpAddress }
  | { readonly kind: 'name'; readonly name: string };

const BITS = { 4: 32, 6: 128 } as const;

/**
 * Normalises a bare host (`example.com`, `127.1`, `[::1]`, `::1`, `fe80::1%eth0`) with the WHATWG
 * URL parser: lower-case punycode names, canonical addresses. Anything else — a port, userinfo,
 * a path, an unparseable host — is undefined, so callers refuse it.
 */
export function normaliseHost(host: string): NormalisedHost | undefined {
  let input = host;
  // Resolvers and net.connect hand over IPv6 without brackets, sometimes with a zone id; the
  // zone only picks an interface and does not change what range the address is in.
  if (!input.startsWith('[') && input.includes(':')) input = `[${input.replace(/%.*$/, '')}]`;
  // `[::1]:80` would parse with port '' (80 is http's default): only a bare bracketed address.
  if (input.startsWith('[') && !input.endsWith(']')) return undefined;
  let url: URL;
  try {
    url = new URL(`http://${input}`);
  } catch {
    return undefined;
  }
  if (url.username !== '' || url.password !== '' || url.port !== '' || url.pathname !== '/')
    return undefined;
  if (url.search !== '' || url.hash !== '' || url.hostname === '') return undefined;
  const { hostname } = url;
  if (hostname.startsWith('[')) {
    const text = hostname.slice(1, -1);
    return { kind: 'ip', ip: { family: 6, value: ipv6Value(text), text } };
  }
  // The URL parser turns every IPv4 spelling into a dotted quad; anything else is a name.
  const quad = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(hostname);
  if (quad === null) return { kind: 'name', name: hostname };
  const value = quad.slice(1).reduce((acc, octet) => (acc << 8n) | BigInt(octet), 0n);
  return { kind: 'ip', ip: { family: 4, value, text: hostname } };
}

/** Parses an address literal in any form {@link normaliseHost} accepts, or undefined. */
export function parseIp(text: string): IpAddress | undefined {
  const host = normaliseHost(text);
  return host?.kind === 'ip' ? host.ip : undefined;
}

/** The value of a canonical (URL-serialised, hex-only) IPv6 address. */
function ipv6Value(text: string): bigint {
  const [head = '', tail] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = tail === undefined ? [] : Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...zeros, ...right].reduce((acc, g) => (acc << 16n) | BigInt(`0x${g}`), 0n);
}

/** An IPv4 address from its 32-bit value. */
export function ipv4FromValue(value: bigint): IpAddress {
  const v = value & 0xffffffffn;
  const text = [24n, 16n, 8n, 0n].map((shift) => String((v >> shift) & 255n)).join('.');
  return { family: 4, value: v, text };
}

/**
 * Parses `address/prefix` (a bare address is a single-address range). Host bits set below the
 * prefix are an error: `10.1.2.3/8` is more likely a typo than a wish for all of 10/8.
 */
export function parseCidr(text: string): Cidr {
  const slash = text.lastIndexOf('/');
  const addressText = slash === -1 ? text : text.slice(0, slash);
  const ip = parseIp(addressText);
  if (ip === undefined)
    throw new RangeError(`"${text}" is not a CIDR range (no IP address before /)`);
  const bits = BITS[ip.family];
  const prefixText = slash === -1 ? String(bits) : text.slice(slash + 1);
  const prefix = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
  if (!(prefix >= 0 && prefix <= bits))
    throw new RangeError(`"${text}" has a prefix length outside 0..${bits}`);
  const hostBits = BigInt(bits - prefix);
  if ((ip.value >> hostBits) << hostBits !== ip.value)
    throw new RangeError(`"${text}" has host bits set below /${prefix}`);
  return { family: ip.family, network: ip.value, prefix, text };
}

/** Whether `cidr` contains `ip` (families must match; no IPv4-in-IPv6 mapping here). */
export function cidrContains(cidr: Cidr, ip: IpAddress): boolean {
  if (cidr.family !== ip.family) return false;
  const hostBits = BigInt(BITS[ip.family] - cidr.prefix);
  return ip.value >> hostBits === cidr.network >> hostBits;
}

// Which addresses the SSRF guard refuses: the special-purpose ranges of the IANA IPv4 and IPv6
// registries (RFC 6890 and successors), each named so a refusal says why. IPv6 forms that carry
// an IPv4 address (mapped, NAT64, 6to4, Teredo…) are judged by the IPv4 address they reach.
import { cidrContains, ipv4FromValue, parseCidr, type Cidr, type IpAddress } from './ip-address.ts';

/** The kind of special-purpose range an address is in. */
export type RefusedRange =
  | 'unspecified'
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'cloud-metadata'
  | 'cgnat'
  | 'multicast'
  | 'broadcast'
  | 'benchmarking'
  | 'documentation'
  | 'reserved'
  | 'unique-local'
  | 'site-local';

/** A refused address's range; `via` names the IPv6 form when an embedded IPv4 was refused. */
export interface RangeRefusal {
  readonly range: RefusedRange;
  readonly cidr: string;
  readonly via?: string;
}

/** An address is public (`undefined`) or refused with its range. */
export type AddressClass = RangeRefusal | undefined;

type Embedded = (value: bigint) => bigint[];

interface RangeEntry {
  readonly cidr: Cidr;
  readonly range: RefusedRange | undefined;
  /** For IPv6 forms that carry IPv4 addresses: the embedded addresses, classified instead. */
  readonly embedded: Embedded | undefined;
}

const last32: Embedded = (v) => [v & 0xffffffffn];
// Teredo: server IPv4 in bits 64–95, client IPv4 inverted in the last 32; both must pass.
const teredo: Embedded = (v) => [(v >> 64n) & 0xffffffffn, ~v & 0xffffffffn];
const sixToFour: Embedded = (v) => [(v >> 80n) & 0xffffffffn];

// First match wins, so narrower ranges precede the ranges containing them.
const TABLE: readonly (readonly [string, RefusedRange | undefined, Embedded?])[] = [
  ['0.0.0.0/8', 'unspecified'], // "this network"; Linux connects 0.0.0.0 to the local host
  ['10.0.0.0/8', 'private'],
  ['100.64.0.0/10', 'cgnat'],
  ['127.0.0.0/8', 'loopback'],
  ['169.254.169.254/32', 'cloud-metadata'], // AWS, GCP, Azure, OpenStack instance metadata
  ['169.254.0.0/16', 'link-local'],
  ['172.16.0.0/12', 'private'],
  ['192.0.0.0/24', 'reserved'], // IETF protocol assignments
  ['192.0.2.0/24', 'documentation'],
  ['192.88.99.0/24', 'reserved'], // deprecated 6to4 relay anycast
  ['192.168.0.0/16', 'private'],
  ['198.18.0.0/15', 'benchmarking'],
  ['198.51.100.0/24', 'documentation'],
  ['203.0.113.0/24', 'documentation'],
  ['224.0.0.0/4', 'multicast'],
  ['255.255.255.255/32', 'broadcast'],
  ['240.0.0.0/4', 'reserved'],
  ['::/128', 'unspecified'],
  ['::1/128', 'loopback'],
  ['::ffff:0:0/96', undefined, last32], // IPv4-mapped
  ['::ffff:0:0:0/96', undefined, last32], // IPv4-translated (SIIT)
  ['::/96', undefined, last32], // IPv4-compatible (deprecated)
  ['64:ff9b::/96', undefined, last32], // NAT64 well-known prefix
  ['64:ff9b:1::/48', 'reserved'], // local-use NAT64: where the IPv4 sits is site-specific
  ['100::/64', 'reserved'], // discard-only
  ['2001::/32', undefined, teredo],
  ['2001:2::/48', 'benchmarking'],
  ['2001:db8::/32', 'documentation'],
  ['2001::/23', 'reserved'], // IETF protocol assignments (ORCHID and others)
  ['2002::/16', undefined, sixToFour],
  ['3fff::/20', 'documentation'],
  ['5f00::/16', 'reserved'], // SRv6 SIDs
  ['fc00::/7', 'unique-local'],
  ['fe80::/10', 'link-local'],
  ['fec0::/10', 'site-local'],
  ['ff00::/8', 'multicast'],
];
const RANGES: readonly RangeEntry[] = TABLE.map(([cidr, range, embedded]) => ({
  cidr: parseCidr(cidr),
  range,
  embedded,
}));
const GLOBAL_UNICAST = parseCidr('2000::/3');

/** Classifies an address: undefined when public, else the refused range it is in. */
export function classifyAddress(ip: IpAddress): AddressClass {
  const entry = RANGES.find((e) => cidrContains(e.cidr, ip));
  if (entry?.embedded !== undefined) {
    for (const v4 of entry.embedded(ip.value)) {
      const inner = classifyAddress(ipv4FromValue(v4));
      if (inner !== undefined) return { ...inner, via: entry.cidr.text };
    }
    return undefined;
  }
  if (entry?.range !== undefined) return { range: entry.range, cidr: entry.cidr.text };
  // Outside 2000::/3 nothing is allocated for unicast today.
  if (ip.family === 6 && !cidrContains(GLOBAL_UNICAST, ip))
    return { range: 'reserved', cidr: 'outside 2000::/3' };
  return undefined;
}

/** The IPv4 addresses an IPv6 address embeds (mapped, NAT64, 6to4, Teredo…); empty otherwise. */
export function embeddedIpv4(ip: IpAddress): IpAddress[] {
  const entry = RANGES.find((e) => cidrContains(e.cidr, ip));
  return entry?.embedded?.(ip.value).map(ipv4FromValue) ?? [];
}

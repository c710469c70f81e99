// The SSRF guard: an app may ask the sidecar to POST to any URL (`Hookgate-Destination`), so the
// sidecar must not become a way into the pod network, the node or the cloud metadata service.
//
// The check is made on the address the socket connects to, not on the URL: the guard's `lookup`
// replaces DNS resolution inside net.connect, checks EVERY address a name resolves to, and hands
// the connector only checked addresses — there is no second lookup for a rebinding DNS server to
// answer differently. net.connect skips `lookup` for literal IPs (and undici turns
// `http://0x7f000001/` into the literal 127.0.0.1), which is why `createGuardedConnector` checks
// literals itself; the pipeline should use it rather than `connect: { lookup }` alone.
import { promises as dns, type LookupAddress } from 'node:dns';
import type { LookupFunction } from 'node:net';
import { buildConnector, type Connector, type ConnectorOptions } from '../../http-client.ts';
import { classifyAddress, embeddedIpv4, type RangeRefusal } from './address-ranges.ts';
import {
  cidrContains,
  normaliseHost,
  parseCidr,
  parseIp,
  type Cidr,
  type IpAddress,
} from './ip-address.ts';

/** A policy's `destinations`: explicit exceptions to the refused ranges. */
export interface DestinationRules {
  /** Ranges admitted although special (`10.20.0.0/16`, `fd00::/8`). */
  readonly allowedCidrs?: readonly string[];
  /**
   * Names admitted whatever they resolve to: `hooks.internal` exactly, `*.svc.cluster.local` for
   * any subdomain at any depth (not the domain itself), as Istio reads host wildcards.
   */
  readonly allowedHosts?: readonly string[];
}

/** Resolves a name to all its addresses; the default is `dns.lookup` with `all: true`. */
export type Resolver = (hostname: string) => Promise<readonly LookupAddress[]>;

/** The guard's answer for one address. */
export type DestinationVerdict =
  | {
      readonly allowed: true;
      readonly address: string;
      /** Public, or special but inside one of the policy's allowed CIDRs. */
      readonly because: 'public' | 'allowed-cidr';
    }
  | ({ readonly allowed: false; readonly address: string } & RangeRefusal);

/** The guard refused a destination. Carries no secrets: a host name, an address and a range. */
export class DestinationNotAllowedError extends Error {
  /** Stable code for problem bodies, metrics and tests. */
  readonly code = 'destination_not_allowed';
  /** The gateway's HTTP answer to the app. */
  readonly status = 403;
  readonly hostname: string | undefined;
  /** The refused address; undefined when the host was not a valid name or address at all. */
  readonly address: string | undefined;
  readonly range: RangeRefusal['range'] | 'invalid-host';
  readonly cidr: string | undefined;

  /**
   * `refusal` undefined means the host was neither a name nor an address; it is then not echoed,
   * since a malformed host may carry userinfo.
   */
  constructor(
    hostname: string | undefined,
    refusal: (RangeRefusal & { address: string }) | undefined,
  ) {
    super(refusalMessage(hostname, refusal));
    this.name = 'DestinationNotAllowedError';
    this.hostname = hostname;
    this.address = refusal?.address;
    this.range = refusal?.range ?? 'invalid-host';
    this.cidr = refusal?.cidr;
  }
}

function refusalMessage(
  hostname: string | undefined,
  refusal: (RangeRefusal & { address: string }) | undefined,
): string {
  if (refusal === undefined) return 'destination not allowed: not a valid host name or address';
  const { address, range, cidr, via } = refusal;
  const subject = hostname === undefined ? address : `${hostname} resolves to ${address}, which`;
  const where = via === undefined ? cidr : `${cidr} via ${via}`;
  return `destination not allowed: ${subject} is in a ${range} range (${where})`;
}

const defaultResolver: Resolver = (hostname) => dns.lookup(hostname, { all: true });

/** Checks destinations against the refused ranges and one policy's exceptions. */
export class SsrfGuard {
  readonly #allowedCidrs: readonly Cidr[];
  readonly #exactHosts: ReadonlySet<string>;
  readonly #hostSuffixes: readonly string[];
  readonly #resolve: Resolver;

  /** Throws a RangeError listing every invalid rule. */
  constructor(rules: DestinationRules = {}, resolver: Resolver = defaultResolver) {
    const problems: string[] = [];
    const cidrs: Cidr[] = [];
    for (const text of rules.allowedCidrs ?? []) {
      try {
        cidrs.push(parseCidr(text));
      } catch (err) {
        problems.push(`allowedCidrs: ${(err as Error).message}`);
      }
    }
    const exact = new Set<string>();
    const suffixes: string[] = [];
    for (const pattern of rules.allowedHosts ?? []) {
      const wildcard = pattern.startsWith('*.');
      const host = normaliseHost(wildcard ? pattern.slice(2) : pattern);
      if (host?.kind !== 'name' || host.name.includes('*'))
        problems.push(
          `allowedHosts: "${pattern}" is not a host name or *.domain (addresses go in allowedCidrs)`,
        );
      else if (wildcard) suffixes.push(`.${trimDot(host.name)}`);
      else exact.add(trimDot(host.name));
    }
    if (problems.length > 0)
      throw new RangeError(`invalid destination rules: ${problems.join('; ')}`);
    this.#allowedCidrs = cidrs;
    this.#exactHosts = exact;
    this.#hostSuffixes = suffixes;
    this.#resolve = resolver;
  }

  /** Checks one address (parse literals with `parseIp` from ip-address.ts). */
  checkAddress(ip: IpAddress): DestinationVerdict {
    const refusal = classifyAddress(ip);
    if (refusal === undefined) return { allowed: true, address: ip.text, because: 'public' };
    // An exception for 127.0.0.0/8 also admits ::ffff:127.0.0.1: the socket reaches the same host.
    const candidates = [ip, ...embeddedIpv4(ip)];
    if (this.#allowedCidrs.some((cidr) => candidates.some((c) => cidrContains(cidr, c))))
      return { allowed: true, address: ip.text, because: 'allowed-cidr' };
    return { allowed: false, address: ip.text, ...refusal };
  }

  /** Whether an allowed-host rule names `name` (a normalised host name). */
  hostAllowed(name: string): boolean {
    const bare = trimDot(name);
    return this.#exactHosts.has(bare) || this.#hostSuffixes.some((s) => bare.endsWith(s));
  }

  /**
   * Resolves `host` (a name or a literal) and checks every address. Resolves to all of them when
   * all are admitted, else rejects with {@link DestinationNotAllowedError} naming a refused one.
   * Resolver errors (ENOTFOUND…) pass through unchanged.
   */
  async resolveChecked(host: string): Promise<LookupAddress[]> {
    const parsed = normaliseHost(host);
    if (parsed === undefined) throw new DestinationNotAllowedError(undefined, undefined);
    if (parsed.kind === 'ip') {
      const verdict = this.checkAddress(parsed.ip);
      if (!verdict.allowed) throw new DestinationNotAllowedError(undefined, verdict);
      return [{ address: parsed.ip.text, family: parsed.ip.family }];
    }
    const named = this.hostAllowed(parsed.name);
    const resolved = await this.#resolve(parsed.name);
    if (resolved.length === 0)
      throw Object.assign(new Error(`no address for ${parsed.name}`), { code: 'ENOTFOUND' });
    return resolved.map(({ address }): LookupAddress => {
      const ip = parseIp(address);
      // A resolver answering with a non-address is broken or hostile; never connect to it.
      if (ip === undefined) throw new DestinationNotAllowedError(undefined, undefined);
      const verdict = this.checkAddress(ip);
      if (!verdict.allowed && !named) throw new DestinationNotAllowedError(parsed.name, verdict);
      return { address: ip.text, family: ip.family };
    });
  }

  /**
   * A drop-in for net.connect's (and undici's `connect.lookup`) DNS lookup: resolves once, checks
   * every address, answers with the checked addresses only, filtered by the requested family.
   */
  readonly lookup: LookupFunction = (hostname, options, callback) => {
    const family = options.family === 'IPv4' ? 4 : options.family === 'IPv6' ? 6 : options.family;
    this.resolveChecked(hostname).then(
      (all) => {
        const addresses =
          family === 4 || family === 6 ? all.filter((a) => a.family === family) : all;
        const first = addresses[0];
        if (first === undefined)
          callback(
            Object.assign(new Error(`no IPv${family} address for ${hostname}`), {
              code: 'ENOTFOUND',
            }),
            '',
          );
        else if (options.all === true) callback(null, addresses);
        else callback(null, first.address, first.family);
      },
      (err: NodeJS.ErrnoException) => callback(err, ''),
    );
  };
}

function trimDot(name: string): string {
  return name.endsWith('.') ? name.slice(0, -1) : name;
}

/**
 * An undici connector — `new Agent({ connect: createGuardedConnector(guard) })` — that checks
 * literal-IP hosts itself and resolves names through `guard.lookup`. `options` are undici's usual
 * connect options (timeout, TLS); their own `lookup`, if any, is replaced.
 */
export function createGuardedConnector(
  guard: SsrfGuard,
  options: ConnectorOptions = {},
): Connector {
  const connect = buildConnector({ ...options, lookup: guard.lookup });
  return (opts, callback) => {
    const host = normaliseHost(opts.hostname);
    if (host === undefined) {
      callback(new DestinationNotAllowedError(undefined, undefined), null);
      return;
    }
    if (host.kind === 'ip') {
      const verdict = guard.checkAddress(host.ip);
      if (!verdict.allowed) {
        callback(new DestinationNotAllowedError(undefined, verdict), null);
        return;
      }
    }
    connect(opts, callback);
  };
}

import type { LookupAddress } from 'node:dns';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseIp } from './ip-address.ts';
import {
  DestinationNotAllowedError,
  SsrfGuard,
  createGuardedConnector,
  type Resolver,
} from './ssrf.ts';

/** A resolver answering from a table; unknown names fail like DNS does. */
function fakeDns(table: Record<string, string[]>): Resolver & { calls: string[] } {
  const calls: string[] = [];
  const resolve = (hostname: string): Promise<LookupAddress[]> => {
    calls.push(hostname);
    const addresses = table[hostname];
    if (addresses === undefined)
      return Promise.reject(
        Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }),
      );
    return Promise.resolve(
      addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })),
    );
  };
  return Object.assign(resolve, { calls });
}

const dnsTable = {
  'internal.example': ['10.0.0.5'],
  'rebind.example': ['93.184.216.34', '127.0.0.1'],
  'metadata.example': ['fd00:ec2::254'],
  'public.example': ['93.184.216.34', '2606:4700::1111'],
  'orders.default.svc.cluster.local': ['10.96.0.10'],
  'hooks.internal': ['10.0.0.1'],
  'hooks.internal.': ['10.0.0.1'],
  'svc.cluster.local': ['10.96.0.1'],
  'evilsvc.cluster.local': ['10.96.0.2'],
};

describe('SsrfGuard: refused destinations', () => {
  const guard = new SsrfGuard({}, fakeDns(dnsTable));

  it.each([
    // cloud metadata, named as such
    ['169.254.169.254', 'cloud-metadata', '169.254.169.254/32', undefined],
    // IPv4-mapped loopback in URL brackets
    ['[::ffff:127.0.0.1]', 'loopback', '127.0.0.0/8', '::ffff:0:0/96'],
    // hexadecimal, decimal, octal and short IPv4 spellings of loopback
    ['0x7f000001', 'loopback', '127.0.0.0/8', undefined],
    ['2130706433', 'loopback', '127.0.0.0/8', undefined],
    ['0177.0.0.1', 'loopback', '127.0.0.0/8', undefined],
    ['127.1', 'loopback', '127.0.0.0/8', undefined],
    // carrier-grade NAT
    ['100.64.0.1', 'cgnat', '100.64.0.0/10', undefined],
    // IPv6 unique-local, unbracketed
    ['fd00::1', 'unique-local', 'fc00::/7', undefined],
    // metadata behind IPv4-mapped hex and behind the NAT64 prefix
    ['[::ffff:a9fe:a9fe]', 'cloud-metadata', '169.254.169.254/32', '::ffff:0:0/96'],
    ['64:ff9b::a9fe:a9fe', 'cloud-metadata', '169.254.169.254/32', '64:ff9b::/96'],
    // unspecified addresses reach the local host on Linux
    ['0.0.0.0', 'unspecified', '0.0.0.0/8', undefined],
    ['[::]', 'unspecified', '::/128', undefined],
    ['[::1]', 'loopback', '::1/128', undefined],
    // the three RFC 1918 blocks, at their edges
    ['10.1.2.3', 'private', '10.0.0.0/8', undefined],
    ['172.31.255.255', 'private', '172.16.0.0/12', undefined],
    ['192.168.1.1', 'private', '192.168.0.0/16', undefined],
    // link-local, v4 and v6 (with a zone id)
    ['169.254.1.1', 'link-local', '169.254.0.0/16', undefined],
    ['fe80::1%eth0', 'link-local', 'fe80::/10', undefined],
    // multicast and broadcast
    ['224.0.0.1', 'multicast', '224.0.0.0/4', undefined],
    ['[ff02::1]', 'multicast', 'ff00::/8', undefined],
    ['255.255.255.255', 'broadcast', '255.255.255.255/32', undefined],
    // future use, benchmarking, documentation
    ['240.0.0.1', 'reserved', '240.0.0.0/4', undefined],
    ['198.19.255.1', 'benchmarking', '198.18.0.0/15', undefined],
    ['203.0.113.9', 'documentation', '203.0.113.0/24', undefined],
    ['[2001:db8::1]', 'documentation', '2001:db8::/32', undefined],
    // deprecated site-local
    ['[fec0::1]', 'site-local', 'fec0::/10', undefined],
    // 6to4 and Teredo (client 127.0.0.1 stored inverted) carrying loopback
    ['[2002:7f00:1::]', 'loopback', '127.0.0.0/8', '2002::/16'],
    ['[2001:0:4136:e378:8000:63bf:80ff:fffe]', 'loopback', '127.0.0.0/8', '2001::/32'],
    // deprecated IPv4-compatible and SIIT IPv4-translated forms
    ['[::127.0.0.1]', 'loopback', '127.0.0.0/8', '::/96'],
    ['[::ffff:0:a00:1]', 'private', '10.0.0.0/8', '::ffff:0:0:0/96'],
    // local-use NAT64, discard-only and unallocated IPv6
    ['[64:ff9b:1::a00:1]', 'reserved', '64:ff9b:1::/48', undefined],
    ['[100::1]', 'reserved', '100::/64', undefined],
    ['[4000::1]', 'reserved', 'outside 2000::/3', undefined],
  ])('%s is refused as %s (%s via %s)', async (host, range, cidr, via) => {
    const refusal = await guard.resolveChecked(host).catch((err: unknown) => err);
    expect(refusal).toBeInstanceOf(DestinationNotAllowedError);
    expect(refusal).toMatchObject({ code: 'destination_not_allowed', status: 403, range, cidr });
    expect((refusal as DestinationNotAllowedError).message).toContain(via ?? cidr);
  });

  it.each([
    // a name resolving to a private address: the error names host, address and range
    ['internal.example', '10.0.0.5', 'private'],
    // a name with one public and one private address: any refused address refuses the name
    ['rebind.example', '127.0.0.1', 'loopback'],
    // AWS's IPv6 metadata address sits in the unique-local range
    ['metadata.example', 'fd00:ec2::254', 'unique-local'],
  ])('%s (resolving to %s) is refused as %s', async (host, address, range) => {
    await expect(guard.resolveChecked(host)).rejects.toMatchObject({
      code: 'destination_not_allowed',
      hostname: host,
      address,
      range,
      message: expect.stringContaining(`${host} resolves to ${address}`) as unknown,
    });
  });

  it.each([
    // userinfo hides the real host; the refusal does not echo the input
    ['user:secret@93.184.216.34'],
    // a port is not part of a host
    ['example.com:8080'],
  ])('%s is refused as an invalid host without echoing it', async (host) => {
    const err = (await guard.resolveChecked(host).catch((e: unknown) => e)) as Error;
    expect(err).toMatchObject({ code: 'destination_not_allowed', range: 'invalid-host' });
    expect(err.message).not.toContain('secret');
  });

  it('passes resolver failures through unchanged', async () => {
    await expect(guard.resolveChecked('nowhere.example')).rejects.toMatchObject({
      code: 'ENOTFOUND',
    });
  });
});

describe('SsrfGuard: admitted destinations (classification only, nothing is contacted)', () => {
  const guard = new SsrfGuard({}, fakeDns(dnsTable));

  it.each([
    // ordinary public addresses
    ['93.184.216.34', '93.184.216.34'],
    ['8.8.8.8', '8.8.8.8'],
    ['2606:4700::1111', '2606:4700::1111'],
    // just outside the CGNAT and 172.16/12 blocks
    ['100.128.0.1', '100.128.0.1'],
    ['172.32.0.1', '172.32.0.1'],
    // IPv6 forms embedding a public IPv4 reach that public address
    ['[::ffff:93.184.216.34]', '::ffff:5db8:d822'],
    ['[64:ff9b::5db8:d822]', '64:ff9b::5db8:d822'],
    ['[2002:5db8:d822::1]', '2002:5db8:d822::1'],
  ])('%s is public', async (host, address) => {
    expect(await guard.resolveChecked(host)).toEqual([
      { address, family: address.includes(':') ? 6 : 4 },
    ]);
    expect(guard.checkAddress(parseIp(host)!)).toEqual({
      allowed: true,
      address,
      because: 'public',
    });
  });

  it('admits a name whose every address is public', async () => {
    expect(await guard.resolveChecked('public.example')).toEqual([
      { address: '93.184.216.34', family: 4 },
      { address: '2606:4700::1111', family: 6 },
    ]);
  });
});

describe('SsrfGuard: policy exceptions', () => {
  const guard = new SsrfGuard(
    {
      allowedCidrs: ['127.0.0.0/8', 'fd00::/8'],
      allowedHosts: ['*.svc.cluster.local', 'HOOKS.internal'],
    },
    fakeDns(dnsTable),
  );

  it.each([
    // an allowed range admits its addresses in any spelling, IPv4-mapped included
    ['127.0.0.1', 'allowed-cidr'],
    ['0x7f000001', 'allowed-cidr'],
    ['[::ffff:127.0.0.1]', 'allowed-cidr'],
    ['fd00::1', 'allowed-cidr'],
    // other special ranges stay refused
    ['10.0.0.1', 'private'],
    ['169.254.169.254', 'cloud-metadata'],
  ])('%s → %s', (address, expected) => {
    const verdict = guard.checkAddress(parseIp(address)!);
    expect(verdict.allowed ? verdict.because : verdict.range).toBe(expected);
  });

  it.each([
    // a wildcard admits subdomains at any depth, whatever they resolve to
    ['orders.default.svc.cluster.local', true],
    // exact names match case-insensitively and with a trailing dot
    ['hooks.internal', true],
    ['Hooks.Internal.', true],
    // the wildcard's own domain is not one of its subdomains
    ['svc.cluster.local', false],
    // a suffix match must start at a label boundary
    ['evilsvc.cluster.local', false],
    // a name whose addresses are all public or in an allowed range needs no name rule
    ['rebind.example', true],
    // a name matching no rule, resolving to a range not allowed
    ['internal.example', false],
  ])('%s admitted: %s', async (host, admitted) => {
    const result = await guard.resolveChecked(host).then(
      () => true,
      (err: unknown) => (err instanceof DestinationNotAllowedError ? false : err),
    );
    expect(result).toBe(admitted);
  });

  it('names every invalid rule at once', () => {
    expect(
      () =>
        new SsrfGuard({
          allowedCidrs: ['10.1.0.0/8', 'nope/33'],
          allowedHosts: ['*', '10.0.0.1', 'a*.example.com'],
        }),
    ).toThrow(
      'invalid destination rules: allowedCidrs: "10.1.0.0/8" has host bits set below /8; ' +
        'allowedCidrs: "nope/33" is not a CIDR range (no IP address before /); ' +
        'allowedHosts: "*" is not a host name or *.domain (addresses go in allowedCidrs); ' +
        'allowedHosts: "10.0.0.1" is not a host name or *.domain (addresses go in allowedCidrs); ' +
        'allowedHosts: "a*.example.com" is not a host name or *.domain (addresses go in allowedCidrs)',
    );
  });
});

describe('SsrfGuard.lookup', () => {
  /** Calls the guard's lookup like net.connect does. */
  function lookup(
    guard: SsrfGuard,
    hostname: string,
    options: { all?: boolean; family?: number },
  ): Promise<{ err: NodeJS.ErrnoException | null; address: unknown; family: unknown }> {
    return new Promise((resolve) => {
      guard.lookup(hostname, options, (err, address, family) => resolve({ err, address, family }));
    });
  }

  it.each([
    // all: every checked address, in resolver order
    [
      { all: true },
      null,
      [
        { address: '93.184.216.34', family: 4 },
        { address: '2606:4700::1111', family: 6 },
      ],
      undefined,
    ],
    // all with a family: only that family
    [{ all: true, family: 6 }, null, [{ address: '2606:4700::1111', family: 6 }], undefined],
    // one address: the first checked one, with its family
    [{}, null, '93.184.216.34', 4],
    [{ family: 6 }, null, '2606:4700::1111', 6],
  ])('public.example with %j', async (options, err, address, family) => {
    const dns = fakeDns(dnsTable);
    expect(await lookup(new SsrfGuard({}, dns), 'public.example', options)).toEqual({
      err,
      address,
      family,
    });
    // one resolution per connection, checked and used as is: nothing left to rebind
    expect(dns.calls).toEqual(['public.example']);
  });

  it('fails the connection with the refusal when any address is refused', async () => {
    const { err } = await lookup(new SsrfGuard({}, fakeDns(dnsTable)), 'rebind.example', {
      all: true,
    });
    expect(err).toMatchObject({ code: 'destination_not_allowed', address: '127.0.0.1' });
  });

  it('checks odd numeric names net.connect hands over (glibc would resolve them)', async () => {
    const dns = fakeDns({});
    const { err } = await lookup(new SsrfGuard({}, dns), '0x7f000001', {});
    expect(err).toMatchObject({ code: 'destination_not_allowed', range: 'loopback' });
    expect(dns.calls).toEqual([]);
  });

  it('gives each connection the address it checked, so a rebinding answer is caught', async () => {
    // A rebinding DNS server answers public first, loopback next.
    const answers = [['93.184.216.34'], ['127.0.0.1']];
    const rebinding: Resolver = () =>
      Promise.resolve((answers.shift() ?? []).map((address) => ({ address, family: 4 })));
    const guard = new SsrfGuard({}, rebinding);
    expect(await lookup(guard, 'rebind.example', {})).toMatchObject({
      err: null,
      address: '93.184.216.34',
    });
    expect((await lookup(guard, 'rebind.example', {})).err).toMatchObject({ range: 'loopback' });
  });

  it('reports a name without addresses of the requested family as ENOTFOUND', async () => {
    const guard = new SsrfGuard({}, fakeDns({ 'v4.example': ['93.184.216.34'] }));
    expect((await lookup(guard, 'v4.example', { family: 6 })).err).toMatchObject({
      code: 'ENOTFOUND',
    });
  });
});

describe('SsrfGuard with undici, against a real server on 127.0.0.1', () => {
  let server: Server;
  let port: number;
  const seen: string[] = [];
  const agents: Agent[] = [];
  const agent = (connect: ConstructorParameters<typeof Agent>[0]): Agent => {
    const a = new Agent(connect);
    agents.push(a);
    return a;
  };
  const get = async (url: string, dispatcher: Agent): Promise<number> => {
    const res = await request(url, { dispatcher });
    await res.body.dump();
    return res.statusCode;
  };
  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push(req.url ?? '');
      res.end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await Promise.all(agents.map((a) => a.close()));
    await new Promise((resolve) => server.close(resolve));
  });

  it('refuses http://localhost by default (system resolver) and admits it when 127.0.0.0/8 is allowed', async () => {
    const refused = agent({ connect: { lookup: new SsrfGuard().lookup } });
    await expect(get(`http://localhost:${port}/refused`, refused)).rejects.toMatchObject({
      code: 'destination_not_allowed',
      hostname: 'localhost',
      range: 'loopback',
    });
    const resolver = fakeDns({ localhost: ['127.0.0.1'] });
    const allowed = agent({
      connect: { lookup: new SsrfGuard({ allowedCidrs: ['127.0.0.0/8'] }, resolver).lookup },
    });
    expect(await get(`http://localhost:${port}/admitted`, allowed)).toBe(200);
    expect(seen).toEqual(['/admitted']);
    expect(resolver.calls).toEqual(['localhost']);
  });

  it('needs the guarded connector for literal IPs: net.connect never calls lookup for them', async () => {
    const lookupOnly = agent({ connect: { lookup: new SsrfGuard().lookup } });
    expect(await get(`http://127.0.0.1:${port}/literal-bypass`, lookupOnly)).toBe(200);
    const guarded = agent({ connect: createGuardedConnector(new SsrfGuard()) });
    for (const host of ['127.0.0.1', '0x7f000001', '[::ffff:127.0.0.1]', '127.1'])
      await expect(get(`http://${host}:${port}/literal`, guarded)).rejects.toMatchObject({
        code: 'destination_not_allowed',
        range: 'loopback',
      });
    expect(seen).not.toContain('/literal');
  });

  it('admits literals and names through the guarded connector when the range is allowed', async () => {
    const guard = new SsrfGuard(
      { allowedCidrs: ['127.0.0.0/8'] },
      fakeDns({ localhost: ['127.0.0.1'] }),
    );
    const guarded = agent({ connect: createGuardedConnector(guard, { timeout: 5000 }) });
    expect(await get(`http://0x7f000001:${port}/via-literal`, guarded)).toBe(200);
    expect(await get(`http://localhost:${port}/via-name`, guarded)).toBe(200);
    expect(seen).toEqual(expect.arrayContaining(['/via-literal', '/via-name']));
  });
});

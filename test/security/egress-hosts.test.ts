// Issue 15, item 1: the egress port must not be a forward proxy into the pod. Every spelling of
// "this pod" in a Host header or an absolute-form target, sent to the egress port of a sidecar in
// explicit and in transparent mode, must reach neither a trap listening on loopback nor the admin
// port. A positive control proves the trap would notice: a policy that admits the loopback range
// lets a pass-through reach it.
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAdminServer, type AdminServer } from '../../common/admin.ts';
import { createLogger } from '../../common/log.ts';
import { parseConfig } from '../../sidecar/config/load.ts';
import { startEgressServer, type EgressServer } from '../../sidecar/egress/server.ts';
import type { Resolver } from '../../sidecar/delivery/ssrf/ssrf.ts';
import { Registry } from 'prom-client';

/** A listener on every loopback address (dual stack) that counts what reaches it. */
async function listen(onHit: () => void): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    onHit();
    req.resume();
    res.end('trap');
  });
  await new Promise<void>((resolve) => server.listen(0, '::', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

/** One raw request: `target` is sent as written (origin- or absolute-form), `host` as written. */
function send(
  port: number,
  method: string,
  target: string,
  headers: Record<string, string>,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, method, path: target, headers, agent: false },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(method === 'GET' ? undefined : '{"for":"checkout"}');
  });
}

// Names resolve only here: `pod-alias.test` is a name for loopback the Host check cannot know.
const ALIASES: Readonly<Record<string, { address: string; family: 4 | 6 }>> = {
  'pod-alias.test': { address: '127.0.0.1', family: 4 },
  'pod-alias6.test': { address: '::1', family: 6 },
};
const resolver: Resolver = (name) => {
  const alias = ALIASES[name];
  if (alias === undefined)
    return Promise.reject(
      Object.assign(new Error(`no address for ${name}`), { code: 'ENOTFOUND' }),
    );
  return Promise.resolve([alias]);
};

const CONFIG = `
endpoints:
  - name: receiver
    url: https://hooks.example.com/in
dynamic:
  - policy:
      destinations: { allowedHosts: [hooks.example.com] }
`;

// The positive control: a policy admitting the loopback ranges for dynamic destinations.
const ADMITTING = `
dynamic:
  - policy:
      destinations: { allowedHosts: [partner.example], allowedCIDRs: [127.0.0.0/8, '::1/128'] }
`;

describe('the egress port is no forward proxy into the pod (issue 15, item 1)', () => {
  let trapHits = 0;
  let adminHits = 0;
  let trap: { server: Server; port: number };
  let admin: AdminServer;
  const proxies: Record<'explicit' | 'transparent' | 'admitting', EgressServer> = {} as never;

  beforeAll(async () => {
    trap = await listen(() => trapHits++);
    admin = await startAdminServer('::', 0, {
      registry: new Registry(),
      readiness: [],
      handler: () => {
        adminHits++;
        return false;
      },
    });
    for (const [mode, yaml] of [
      ['explicit', CONFIG],
      ['transparent', CONFIG],
      ['admitting', ADMITTING],
    ] as const) {
      const loaded = await parseConfig(yaml, 'test.yaml', '/nonexistent', {});
      proxies[mode] = await startEgressServer('127.0.0.1', 0, {
        config: () => loaded,
        registry: new Registry(),
        log: createLogger({ test: 'egress-hosts' }, 'error'),
        interception: mode === 'explicit' ? 'explicit' : 'transparent',
        resolver,
      });
    }
  });
  afterAll(async () => {
    await Promise.all(Object.values(proxies).map((p) => p.close(0)));
    await admin.close();
    await new Promise((resolve) => trap.server.close(resolve));
  });

  // [what the row proves, method, request target, Host header, extra headers]; `T` is the trap's
  // port, `A` the admin port. The first five are the spellings the review reproduced.
  const rows: readonly (readonly [string, string, string, string, Record<string, string>?])[] = [
    [
      'Hookgate-Destination beside an unspecified Host',
      'POST',
      '/',
      '0.0.0.0:T',
      { 'hookgate-destination': 'https://hooks.example.com/in' },
    ],
    ['IPv4-mapped loopback', 'POST', '/', '[::ffff:127.0.0.1]:T'],
    ['"0", the short unspecified address', 'POST', '/', '0:T'],
    ['IPv4-mapped loopback in hex groups', 'POST', '/', '[::ffff:7f00:1]:T'],
    ['the admin port by its unspecified address', 'POST', '/queue/replay', '0.0.0.0:A'],
    ['absolute-form to the metadata path', 'GET', 'http://0.0.0.0:T/latest/meta-data/', 'x'],
    ['absolute-form POST, mapped loopback', 'POST', 'http://[::ffff:127.0.0.1]:T/', 'x'],
    ['absolute-form POST to the admin port', 'POST', 'http://0:A/queue/replay', 'x'],
    ['plain loopback', 'POST', '/', '127.0.0.1:T'],
    ['another 127/8 address', 'POST', '/', '127.0.0.2:T'],
    ['short dotted form', 'POST', '/', '127.1:T'],
    ['one hex number', 'POST', '/', '0x7f000001:T'],
    ['one decimal number', 'POST', '/', '2130706433:T'],
    ['octal first octet', 'POST', '/', '0177.0.0.1:T'],
    ['hex first octet, short form', 'POST', '/', '0x7f.1:T'],
    ['localhost', 'POST', '/', 'localhost:T'],
    ['LOCALHOST with a trailing dot', 'POST', '/', 'LOCALHOST.:T'],
    ['a *.localhost name', 'POST', '/', 'api.localhost:T'],
    ['IPv6 loopback', 'POST', '/', '[::1]:T'],
    ['IPv6 loopback written out', 'POST', '/', '[0:0:0:0:0:0:0:1]:T'],
    ['IPv6 unspecified', 'POST', '/', '[::]:T'],
    ['IPv4-compatible loopback', 'POST', '/', '[::127.0.0.1]:T'],
    ['IPv4-mapped unspecified', 'POST', '/', '[::ffff:0.0.0.0]:T'],
    ['a name that resolves to loopback', 'POST', '/', 'pod-alias.test:T'],
    ['a name that resolves to IPv6 loopback', 'GET', '/', 'pod-alias6.test:T'],
    ['the metadata address, GET', 'GET', '/latest/meta-data/', '169.254.169.254'],
    ['absolute-form with userinfo', 'POST', 'http://u:p@127.0.0.1:T/', 'x'],
    ['Host with userinfo', 'POST', '/', 'evil@127.0.0.1:T'],
  ];

  const cases = rows.flatMap(([why, method, target, host, extra]) =>
    (['explicit', 'transparent'] as const).map((mode) => ({
      mode,
      why,
      method,
      target,
      host,
      extra,
    })),
  );

  it.each(cases)(
    '$mode mode: $why reaches neither the trap nor the admin port',
    async ({ mode, method, target, host, extra }) => {
      const fill = (text: string): string =>
        text.replaceAll(':T', `:${trap.port}`).replaceAll(':A', `:${admin.port}`);
      const before = { trapHits, adminHits };
      const status = await send(proxies[mode].port, method, fill(target), {
        host: fill(host),
        ...extra,
      });
      expect({ trapHits, adminHits }).toEqual(before);
      // A refusal of some kind: never the trap's 200.
      expect(status).toBeGreaterThanOrEqual(400);
    },
  );

  it('refuses a pass-through to a private or metadata address with a problem naming the fix', async () => {
    const status = await send(proxies.transparent.port, 'POST', '/', { host: '10.0.0.7' });
    expect(status).toBe(403);
    expect(await send(proxies.transparent.port, 'GET', '/', { host: '169.254.169.254' })).toBe(403);
  });

  it('positive control: a policy admitting loopback lets the pass-through reach the trap', async () => {
    const before = trapHits;
    const status = await send(proxies.admitting.port, 'POST', '/', {
      host: `pod-alias.test:${trap.port}`,
    });
    expect(status).toBe(200);
    expect(trapHits).toBe(before + 1);
  });
});

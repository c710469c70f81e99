// Property tests of the egress port's Host reading (issue 15, item 1), from a seeded generator so
// a failure replays exactly: an address written in any spelling an HTTP client accepts is read as
// the address it connects to, loopback and unspecified ones are always "this pod", and no input
// makes the parser throw or read userinfo or a path as a host.
import { describe, expect, it } from 'vitest';
import { classifyEgressRequest } from './egress.ts';
import { hostText, isThisPod, parseAuthority } from './host.ts';
import { prng } from '../../test/support/prng.ts';

const SEED = 0x15_0b57;
const CASES = 2000;

const random = prng(SEED);
const int = (n: number): number => Math.floor(random() * n);
const pick = <T>(items: readonly T[]): T => items[int(items.length)]!;

/** A 32-bit value in a range: `base` with its low `bits` random. */
const inRange = (base: number, bits: number): number =>
  (base + (bits === 0 ? 0 : int(2 ** bits))) >>> 0;

const octets = (v: number): number[] => [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];
const dotted = (v: number): string => octets(v).join('.');

/** One IPv4 value written the way some client would: every form the WHATWG parser reads. */
function spellIpv4(v: number): string {
  const o = octets(v);
  const part = (n: number): string =>
    pick([
      () => String(n),
      () => `0x${n.toString(16)}`,
      () => `0X${n.toString(16).toUpperCase()}`,
      () => `0${n.toString(8)}`,
    ])();
  return pick([
    () => o.map(part).join('.'),
    // a.b.c with c the low 16 bits; a.b with b the low 24 bits; one number for all 32.
    () => `${part(o[0]!)}.${part(o[1]!)}.${part((v & 0xffff) >>> 0)}`,
    () => `${part(o[0]!)}.${part((v & 0xffffff) >>> 0)}`,
    () => part(v),
    // IPv4-mapped and -compatible IPv6, dotted or in hex groups.
    () => `[::ffff:${dotted(v)}]`,
    () => `[::FFFF:${(v >>> 16).toString(16)}:${(v & 0xffff).toString(16)}]`,
    () => `[0:0:0:0:0:ffff:${dotted(v)}]`,
    () => `[::${dotted(v)}]`,
  ])();
}

const withPort = (host: string): string => (random() < 0.5 ? host : `${host}:${1 + int(65535)}`);

describe('parseAuthority and isThisPod (seeded properties)', () => {
  it('reads every spelling of a loopback or unspecified IPv4 address as this pod', () => {
    for (let i = 0; i < CASES; i++) {
      const v = pick([() => inRange(0x7f000000, 24), () => inRange(0, 24)])();
      const spelled = withPort(spellIpv4(v));
      const authority = parseAuthority(spelled);
      expect(authority, spelled).toBeDefined();
      expect(isThisPod(authority!.host), spelled).toBe(true);
    }
  });

  it('never makes a destination of this pod on the egress port, as Host or absolute-form', () => {
    const endpoints = [{ name: 'receiver', url: 'https://hooks.example.com/in' }];
    for (let i = 0; i < CASES; i++) {
      const v = pick([() => inRange(0x7f000000, 24), () => inRange(0, 24)])();
      const authority = withPort(spellIpv4(v));
      const line = pick([
        { method: 'POST', url: '/', headers: { host: authority } },
        { method: 'GET', url: `http://${authority}/latest/meta-data/`, headers: { host: 'x' } },
      ]);
      expect(classifyEgressRequest(line, endpoints), authority).toBeUndefined();
    }
  });

  it('reads public IPv4 addresses, in any spelling, as the address they are', () => {
    for (let i = 0; i < CASES; i++) {
      // 8.0.0.0/7 and 44.0.0.0/8: public, nowhere near a special range.
      const v = pick([() => inRange(0x08000000, 25), () => inRange(0x2c000000, 24)])();
      const spelled = spellIpv4(v);
      const authority = parseAuthority(spelled);
      expect(isThisPod(authority!.host), spelled).toBe(false);
      // Mapped forms are the IPv6 address that carries it; the rest are the dotted quad.
      const text = hostText(authority!.host);
      if (spelled.startsWith('[')) expect(text, spelled).toMatch(/^\[::(ffff:)?[0-9a-f:]+\]$/);
      else expect(text, spelled).toBe(dotted(v));
    }
  });

  it('reads IPv6 loopback and unspecified, in any case and zero padding, as this pod', () => {
    for (let i = 0; i < CASES; i++) {
      const last = pick(['0', '1']);
      const groups = Array.from({ length: 7 }, () => '0'.repeat(1 + int(4)));
      const full = [...groups, '0'.repeat(int(4)) + last].join(':');
      const spelled = withPort(pick([`[${full}]`, `[::${last === '0' ? '' : '1'}]`]));
      const authority = parseAuthority(random() < 0.5 ? spelled : spelled.toUpperCase());
      expect(isThisPod(authority!.host), spelled).toBe(true);
    }
  });

  it('reads localhost names in any case, with or without the trailing dot, as this pod', () => {
    for (let i = 0; i < CASES / 4; i++) {
      const label = Array.from({ length: int(3) }, () => `a${int(1000)}.`).join('');
      let name = `${label}localhost${random() < 0.5 ? '.' : ''}`;
      name = [...name].map((c) => (random() < 0.5 ? c.toUpperCase() : c)).join('');
      expect(isThisPod(parseAuthority(withPort(name))!.host), name).toBe(true);
    }
  });

  it('never throws, and never reads userinfo, a path or whitespace as part of a host', () => {
    const alphabet = 'ab0:1.[]@/\\?#% \t\r\nx%2f%40'.split('');
    for (let i = 0; i < CASES * 2; i++) {
      const text = Array.from({ length: 1 + int(24) }, () => pick(alphabet)).join('');
      const authority = parseAuthority(text);
      if (/[\s/\\?#@]/.test(text)) expect(authority, JSON.stringify(text)).toBeUndefined();
      if (authority !== undefined) {
        // What was read is a host a URL can carry as its whole authority, and reads back the same.
        const again = parseAuthority(hostText(authority.host));
        expect(again?.host, JSON.stringify(text)).toEqual(authority.host);
      }
    }
  });

  it('refuses an oversized authority', () => {
    expect(parseAuthority(`${'a'.repeat(400)}.example`)).toBeUndefined();
  });
});

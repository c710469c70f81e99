import { describe, expect, it } from 'vitest';
import { cidrContains, normaliseHost, parseCidr, parseIp } from './ip-address.ts';

describe('normaliseHost', () => {
  it.each([
    // hexadecimal, decimal, octal and shortened IPv4 are the dotted quad a client connects to
    ['0x7f000001', '127.0.0.1'],
    ['2130706433', '127.0.0.1'],
    ['0177.0.0.1', '127.0.0.1'],
    ['127.1', '127.0.0.1'],
    ['0', '0.0.0.0'],
    // percent-encoded and full-width digits are decoded by the URL parser
    ['%31%32%37.0.0.1', '127.0.0.1'],
    ['１２７.0.0.1', '127.0.0.1'],
    // IPv6 with or without brackets, embedded dotted quads turned into hex
    ['[::ffff:127.0.0.1]', '::ffff:7f00:1'],
    ['::1', '::1'],
    ['[2001:DB8:0:0:0:0:0:1]', '2001:db8::1'],
    // a zone id picks an interface and is dropped
    ['fe80::1%eth0', 'fe80::1'],
  ])('%s is the address %s', (input, text) => {
    expect(normaliseHost(input)).toMatchObject({ kind: 'ip', ip: { text } });
  });

  it.each([
    // names are lower-cased; a trailing dot is kept (the guard trims it when matching)
    ['Example.COM', 'example.com'],
    ['example.com.', 'example.com.'],
    // internationalised names become punycode, as they go to DNS
    ['bücher.example', 'xn--bcher-kva.example'],
  ])('%s is the name %s', (input, name) => {
    expect(normaliseHost(input)).toEqual({ kind: 'name', name });
  });

  it.each([
    // userinfo would smuggle a second host into the string
    ['evil.example@127.0.0.1'],
    // a port, path, query or fragment is not part of a host
    ['localhost:80'],
    ['[::1]:80'],
    ['host/path'],
    ['host?q'],
    ['host#f'],
    // not parseable at all
    [''],
    ['a b'],
    ['1.2.3.4.5'],
    ['256.0.0.1'],
  ])('%j is not a host', (input) => {
    expect(normaliseHost(input)).toBeUndefined();
  });
});

describe('parseCidr and cidrContains', () => {
  it.each([
    // inside and at both ends of an IPv4 range
    ['10.0.0.0/8', '10.255.255.255', true],
    ['10.0.0.0/8', '11.0.0.0', false],
    // /0 contains its whole family and nothing of the other
    ['0.0.0.0/0', '1.2.3.4', true],
    ['0.0.0.0/0', '::1', false],
    // a bare address is a /32 or /128
    ['192.0.2.1', '192.0.2.1', true],
    ['192.0.2.1', '192.0.2.2', false],
    // IPv6 prefixes that do not fall on a group boundary
    ['fc00::/7', 'fdff::1', true],
    ['fc00::/7', 'fe00::1', false],
    // families are never mixed: the guard unwraps IPv4-mapped addresses itself
    ['127.0.0.0/8', '::ffff:127.0.0.1', false],
  ])('%s contains %s: %s', (cidr, address, expected) => {
    expect(cidrContains(parseCidr(cidr), parseIp(address)!)).toBe(expected);
  });

  it.each([
    // host bits below the prefix are probably a typo
    ['10.1.2.3/8', 'has host bits set below /8'],
    ['10.0.0.0/33', 'has a prefix length outside 0..32'],
    ['::/129', 'has a prefix length outside 0..128'],
    ['10.0.0.0/-1', 'has a prefix length outside 0..32'],
    ['example.com/8', 'is not a CIDR range'],
  ])('%s is refused: %s', (text, message) => {
    expect(() => parseCidr(text)).toThrow(message);
  });
});

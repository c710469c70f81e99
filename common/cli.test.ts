import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseFlags, parseListenAddress } from './cli.ts';
import { VERSION } from './version.ts';

describe('parseListenAddress', () => {
  it.each([
    // the sidecar's default admin address
    ['0.0.0.0:15020', { host: '0.0.0.0', port: 15020 }],
    // port 0 asks the kernel for a free port (tests)
    ['127.0.0.1:0', { host: '127.0.0.1', port: 0 }],
    // IPv6 literals are bracketed and unbracketed for listen()
    ['[::1]:8080', { host: '::1', port: 8080 }],
  ])('%s', (value, expected) => {
    expect(parseListenAddress('HOOKGATE_ADMIN_ADDR', value)).toEqual(expected);
  });

  it.each([
    // no port
    ['localhost'],
    // port out of range
    ['0.0.0.0:70000'],
    // unbracketed IPv6
    ['::1:80'],
  ])('rejects %s naming the variable and an example', (value) => {
    expect(() => parseListenAddress('HOOKGATE_ADMIN_ADDR', value)).toThrow(
      `HOOKGATE_ADMIN_ADDR="${value}" is not host:port (for example 0.0.0.0:15020)`,
    );
  });
});

describe('VERSION', () => {
  it('equals the version in package.json', () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
      version: string;
    };
    expect(VERSION).toBe(pkg.version);
  });
});

describe('parseFlags', () => {
  it.each([
    // both spellings, as people type them
    [['--config', 'a.yaml'], { config: 'a.yaml' }],
    [['--config=a.yaml'], { config: 'a.yaml' }],
    // nothing given
    [[], {}],
  ])('%j', (argv, expected) => {
    expect(parseFlags(argv, ['config'])).toEqual(expected);
  });

  it.each([
    [['--confg', 'a.yaml'], 'unknown argument "--confg" (see --help)'],
    [['serve'], 'unknown argument "serve" (see --help)'],
    [['--config'], '--config needs a value'],
  ])('refuses %j', (argv, message) => {
    expect(() => parseFlags(argv, ['config'])).toThrow(message);
  });
});

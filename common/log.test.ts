import { describe, expect, it } from 'vitest';
import { createLogger, parseLogLevel } from './log.ts';

describe('createLogger', () => {
  const fixed = (): Date => new Date('2026-01-02T03:04:05.000Z');

  it('writes one JSON object per line with base, child and call fields', () => {
    const lines: string[] = [];
    const log = createLogger({ program: 'p' }, 'info', (l) => lines.push(l), fixed);
    log.child({ endpointName: 'orders' }).info('delivered', { attempts: 2 });
    expect(lines.map((l) => JSON.parse(l) as unknown)).toEqual([
      {
        time: '2026-01-02T03:04:05.000Z',
        level: 'info',
        msg: 'delivered',
        program: 'p',
        endpointName: 'orders',
        attempts: 2,
      },
    ]);
  });

  it('drops lines below the level', () => {
    const lines: string[] = [];
    const log = createLogger({}, 'warn', (l) => lines.push(l), fixed);
    log.debug('a');
    log.info('b');
    log.warn('c');
    log.error('d');
    expect(lines.map((l) => (JSON.parse(l) as { msg: string }).msg)).toEqual(['c', 'd']);
  });
});

describe('parseLogLevel', () => {
  it.each([
    // unset and empty fall back to the default
    [undefined, 'info'],
    ['', 'info'],
    // every known level is accepted as written
    ['debug', 'debug'],
    ['error', 'error'],
  ])('%s → %s', (input, expected) => {
    expect(parseLogLevel(input)).toBe(expected);
  });

  it('names the accepted values for an unknown level', () => {
    expect(() => parseLogLevel('verbose')).toThrow(
      '"verbose" is not one of debug, info, warn, error',
    );
  });
});

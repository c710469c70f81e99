import { describe, expect, it } from 'vitest';
import { endToEndHeaders } from './headers.ts';

describe('endToEndHeaders', () => {
  it('keeps end-to-end headers, lower-cased, arrays included', () => {
    expect(
      endToEndHeaders({
        'Content-Type': 'application/json',
        'x-github-event': 'push',
        'set-cookie': ['a=1', 'b=2'],
        skipped: undefined,
      }),
    ).toEqual({
      'content-type': 'application/json',
      'x-github-event': 'push',
      'set-cookie': ['a=1', 'b=2'],
    });
  });

  it.each([
    // RFC 9110 hop-by-hop headers
    'connection',
    'keep-alive',
    'proxy-authorization',
    'proxy-authenticate',
    'te',
    'trailer',
    'transfer-encoding',
    'upgrade',
    // legacy, still sent by some clients
    'proxy-connection',
    // answered by Node itself before the body was read
    'expect',
  ])('drops %s', (name) => {
    expect(endToEndHeaders({ [name]: 'x', 'x-kept': 'y' })).toEqual({ 'x-kept': 'y' });
  });

  it('drops the headers the Connection header names, whatever their case', () => {
    expect(
      endToEndHeaders({
        connection: 'close, X-Session , x-Trace',
        'x-session': '1',
        'x-trace': '2',
        'x-kept': '3',
      }),
    ).toEqual({ 'x-kept': '3' });
  });

  it('drops every Hookgate-* header, so only the sidecar can set them', () => {
    expect(
      endToEndHeaders({
        'Hookgate-Verified': 'github',
        'hookgate-delivery-id': 'forged',
        accept: '*/*',
      }),
    ).toEqual({ accept: '*/*' });
  });

  it('drops the names it is told to (credentials that stop at the sidecar)', () => {
    expect(
      endToEndHeaders(
        { authorization: 'Bearer x', 'content-length': '2', accept: '*/*' },
        new Set(['authorization', 'content-length']),
      ),
    ).toEqual({ accept: '*/*' });
  });
});

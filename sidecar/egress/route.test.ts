import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import type { EgressRuntime, EndpointRuntime } from '../delivery/runtime.ts';
import { isProblem, routeRequest } from './route.ts';

const bench = {
  name: 'bench',
  url: new URL('http://receiver.example/hook'),
} as unknown as EndpointRuntime;
const rt: EgressRuntime = { generation: 3, endpoints: new Map([['bench', bench]]), dynamic: [] };

function route(target: string): string {
  const routed = routeRequest({ url: target, headers: {} } as IncomingMessage, rt);
  return isProblem(routed) ? routed.type : `${routed.label} ${routed.url.href}`;
}

describe('routeRequest', () => {
  it.each([
    // The plain name (no URL parsing) and what the parser normalises must agree.
    ['/bench', 'bench http://receiver.example/hook'],
    ['/%62ench', 'bench http://receiver.example/hook'],
    ['/./bench', 'bench http://receiver.example/hook'],
    ['/bench/a/b', 'bench http://receiver.example/hook/a/b'],
    ['/bench?x=1', 'bench http://receiver.example/hook?x=1'],
    ['/bench/a?x=1', 'bench http://receiver.example/hook/a?x=1'],
    // Unknown names and the bare root are problems, never a route.
    ['/other', 'unknown-endpoint'],
    ['/..', 'unknown-endpoint'],
    ['/', 'unknown-endpoint'],
  ])('%s → %s', (target, expected) => {
    expect(route(target)).toBe(expected);
  });

  it("shares the endpoint's URL while a request adds nothing to it, and never changes it", () => {
    const url = new URL('http://receiver.example/hook');
    const own: EgressRuntime = {
      generation: 1,
      endpoints: new Map([['bench', { name: 'bench', url } as unknown as EndpointRuntime]]),
      dynamic: [],
    };
    const routed = (target: string): Readonly<URL> => {
      const r = routeRequest({ url: target, headers: {} } as IncomingMessage, own);
      if (isProblem(r)) throw new Error(r.type);
      return r.url;
    };
    expect(routed('/bench')).toBe(url);
    // A path or a query gets a URL of its own; the endpoint's stays as it was.
    expect(routed('/bench/a/b?x=1').href).toBe('http://receiver.example/hook/a/b?x=1');
    expect(routed('/bench/a/b?x=1')).not.toBe(url);
    expect(url.href).toBe('http://receiver.example/hook');
    expect(routed('/bench').href).toBe('http://receiver.example/hook');
  });
});

import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import type { EgressRuntime, EndpointRuntime } from '../delivery/runtime.ts';
import { isProblem, routeRequest } from './route.ts';

const bench = { name: 'bench', url: 'http://receiver.example/hook' } as unknown as EndpointRuntime;
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

  it('gives each request its own URL', () => {
    const a = routeRequest({ url: '/bench', headers: {} } as IncomingMessage, rt);
    const b = routeRequest({ url: '/bench', headers: {} } as IncomingMessage, rt);
    expect(isProblem(a) || isProblem(b) || a.url !== b.url).toBe(true);
  });
});

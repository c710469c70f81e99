import { describe, expect, it } from 'vitest';
import { classifyEgressRequest, type RequestLine } from './egress.ts';

const endpoints = [
  { name: 'receiver', url: 'https://receiver.example/hook' },
  { name: 'receiver-v2', url: 'https://receiver.example/v2/hook' },
  { name: 'plain', url: 'http://plain.example:8080/in' },
  { name: 'tls-port', url: 'https://tls.example:8443/' },
];

const req = (host: string | undefined, url = '/hook', method = 'POST'): RequestLine => ({
  method,
  url,
  headers: host === undefined ? {} : { host },
});

describe('classifyEgressRequest', () => {
  it.each([
    // The sidecar's own address: explicit mode, handled as before.
    [req('127.0.0.1:15001', '/receiver')],
    [req('localhost:15001', '/receiver')],
    [req('[::1]:15001', '/receiver')],
    // No Host at all (HTTP/1.0): explicit.
    [req(undefined, '/receiver')],
    // A broken absolute-form target is left to the explicit path (which refuses it).
    [req('receiver.example', 'http://')],
  ])('%j is explicit', (line) => {
    expect(classifyEgressRequest(line, endpoints)).toBeUndefined();
  });

  it.each([
    // http:// to an https:// endpoint's host on port 80: that endpoint, TLS-originated, app's path.
    [req('receiver.example', '/hook?x=1'), 'receiver', 'https://receiver.example/hook?x=1'],
    // Host names compare without case and trailing dot.
    [req('Receiver.Example.', '/other'), 'receiver', 'https://receiver.example/other'],
    // The longest URL path prefix wins among endpoints on one host.
    [
      req('receiver.example', '/v2/hook/sub'),
      'receiver-v2',
      'https://receiver.example/v2/hook/sub',
    ],
    // An explicit port must be the same on both sides.
    [req('plain.example:8080', '/in'), 'plain', 'http://plain.example:8080/in'],
    [req('tls.example:8443', '/x'), 'tls-port', 'https://tls.example:8443/x'],
    // Absolute-form targets (an app using HTTP_PROXY) are read the same way.
    [req('ignored', 'http://receiver.example/hook'), 'receiver', 'https://receiver.example/hook'],
  ])('%j goes to endpoint %s at %s', (line, name, url) => {
    const got = classifyEgressRequest(line, endpoints);
    expect(got).toMatchObject({ kind: 'endpoint', endpointName: name });
    expect(got?.kind === 'endpoint' && got.url.href).toBe(url);
  });

  it.each([
    // Another host.
    [req('other.example'), 'no egress endpoint for other.example:80'],
    // The endpoint's host on another port.
    [req('receiver.example:8080'), 'no egress endpoint for receiver.example:8080'],
    [req('plain.example'), 'no egress endpoint for plain.example:80'],
    // Not a webhook method: ordinary traffic, even to an endpoint's host.
    [req('receiver.example', '/hook', 'GET'), 'GET is not a webhook method'],
  ])('%j is unmatched: %s', (line, reason) => {
    const got = classifyEgressRequest(line, endpoints);
    expect(got).toMatchObject({ kind: 'unmatched', reason });
  });

  it('keeps where the app was going for a pass-through', () => {
    const got = classifyEgressRequest(req('other.example:81', '/a?b=c', 'GET'), endpoints);
    expect(got?.kind === 'unmatched' && got.target.href).toBe('http://other.example:81/a?b=c');
  });
});

import * as undici from 'undici';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { Agent, buildConnector, errors } from './http-client.ts';

describe('http-client (undici by its own files)', () => {
  it('exports the very objects undici’s index exports', () => {
    // Both load through one CommonJS module cache: identity proves the deep paths are undici's own.
    expect(Agent).toBe(undici.Agent);
    expect(buildConnector).toBe(undici.buildConnector);
    expect(errors).toBe(undici.errors);
  });

  it('gives an Agent the request API, and a request goes through', async () => {
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.end(`${req.method} ${req.url}`));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const agent = new Agent();
    try {
      const { port } = server.address() as AddressInfo;
      const res = await agent.request({
        origin: `http://127.0.0.1:${port}`,
        path: '/hook',
        method: 'POST',
        body: 'x',
      });
      expect(res.statusCode).toBe(200);
      expect(await res.body.text()).toBe('POST /hook');
    } finally {
      await agent.close();
      server.close();
    }
  });
});

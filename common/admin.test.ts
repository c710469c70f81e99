import { Counter, Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { startAdminServer, type AdminServer } from './admin.ts';
import { createRegistry } from './metrics.ts';

describe('admin server', () => {
  let server: AdminServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });
  const get = async (path: string, method = 'GET'): Promise<{ status: number; body: string }> => {
    const res = await fetch(`http://127.0.0.1:${server!.port}${path}`, { method });
    return { status: res.status, body: await res.text() };
  };

  it('reports the first failing readiness check by name, and 200 once all pass', async () => {
    let configLoaded = false;
    const calls: string[] = [];
    server = await startAdminServer('127.0.0.1', 0, {
      registry: new Registry(),
      readiness: [
        { name: 'kubernetes', check: () => (calls.push('kubernetes'), Promise.resolve(undefined)) },
        {
          name: 'config',
          check: () => Promise.resolve(configLoaded ? undefined : 'no configuration loaded'),
        },
        { name: 'last', check: () => (calls.push('last'), Promise.resolve('never reached')) },
      ],
    });
    expect(await get('/healthz')).toEqual({ status: 200, body: 'ok\n' });
    expect(await get('/readyz')).toEqual({
      status: 503,
      body: 'not ready: config: no configuration loaded\n',
    });
    expect(calls).toEqual(['kubernetes']);
    configLoaded = true;
    expect((await get('/readyz')).body).toBe('not ready: last: never reached\n');
  });

  it('adds the readiness detail line to the answer, ready or not', async () => {
    let ready = false;
    let generation = 3;
    server = await startAdminServer('127.0.0.1', 0, {
      registry: new Registry(),
      readiness: [
        { name: 'config', check: () => Promise.resolve(ready ? undefined : 'not loaded yet') },
      ],
      readinessDetail: () => `config generation ${generation} from the stream`,
    });
    expect(await get('/readyz')).toEqual({
      status: 503,
      body: 'not ready: config: not loaded yet\nconfig generation 3 from the stream\n',
    });
    ready = true;
    generation = 4;
    expect(await get('/readyz')).toEqual({
      status: 200,
      body: 'ok\nconfig generation 4 from the stream\n',
    });
  });

  it('serves Prometheus text with the build info and registered metrics', async () => {
    const registry = createRegistry('sidecar');
    new Counter({ name: 'hookgate_test_total', help: 'test', registers: [registry] }).inc(3);
    server = await startAdminServer('127.0.0.1', 0, { registry, readiness: [] });
    const res = await fetch(`http://127.0.0.1:${server.port}/metrics`);
    expect(res.headers.get('content-type')).toContain('text/plain');
    const text = await res.text();
    expect(text).toMatch(
      /^hookgate_build_info\{program="sidecar",version="[^"]+",node="[^"]+"\} 1$/m,
    );
    expect(text).toMatch(/^hookgate_test_total 3$/m);
    expect(text).toMatch(/^process_cpu_seconds_total /m);
  });

  it('serves extra JSON routes, 404 for unknown paths and 405 for writes', async () => {
    server = await startAdminServer('127.0.0.1', 0, {
      registry: new Registry(),
      readiness: [],
      routes: { '/config': () => ({ generation: 7 }) },
    });
    expect(await get('/config')).toEqual({ status: 200, body: '{"generation":7}\n' });
    expect((await get('/nope')).status).toBe(404);
    expect((await get('/healthz', 'POST')).status).toBe(405);
  });
});

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { Agent } from '../../http-client.ts';
import { systemClock, type AttemptResult, type Delivery } from '../delivery.ts';
import { MAX_RESPONSE_BYTES, sendStage } from './send.ts';

const open: { server: Server; agent: InstanceType<typeof Agent> }[] = [];

/** A receiver on port 0 answering with `handler`, and an Agent of `connections` sockets. */
async function receiver(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
  connections = 8,
): Promise<{ url: string; agent: InstanceType<typeof Agent> }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const agent = new Agent({ connections });
  open.push({ server, agent });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, agent };
}

function delivery(url: string, deadlineMs = 30_000): Delivery {
  return {
    deliveryId: 'msg_1',
    endpointName: 'orders',
    url: new URL(`${url}/hook?x=1`),
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-app': 'a' },
    body: Buffer.from('{"type":"order.created"}'),
    deadline: Date.now() + deadlineMs,
  };
}

afterEach(async () => {
  for (const { server, agent } of open.splice(0)) {
    server.closeAllConnections();
    server.close();
    await agent.destroy();
  }
});

describe('send stage', () => {
  it('sends method, path, headers and body, and returns status, headers and body', async () => {
    let seen: Record<string, string | undefined> = {};
    const { url, agent } = await receiver((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen = {
          method: req.method,
          url: req.url,
          app: req.headers['x-app'] as string,
          host: req.headers.host,
          body: Buffer.concat(chunks).toString(),
        };
        res.writeHead(201, { 'x-receiver': 'r', 'set-cookie': ['a=1', 'b=2'] });
        res.write('hello ');
        setTimeout(() => res.end('world'), 5);
      });
    });
    const result = await sendStage(agent, 1000, systemClock)(delivery(url), 1);
    expect(seen).toEqual({
      method: 'POST',
      url: '/hook?x=1',
      app: 'a',
      host: new URL(url).host,
      body: '{"type":"order.created"}',
    });
    expect(result).toMatchObject({ kind: 'response', status: 201, truncated: false });
    const r = result as Extract<AttemptResult, { kind: 'response' }>;
    expect(r.body.toString()).toBe('hello world');
    expect(r.headers['x-receiver']).toBe('r');
    expect(r.headers['set-cookie']).toEqual(['a=1', 'b=2']);
  });

  it('cuts a body over the cap and says so', async () => {
    const { url, agent } = await receiver((req, res) => {
      req.resume();
      res.writeHead(200);
      res.write(Buffer.alloc(MAX_RESPONSE_BYTES - 10, 'a'));
      res.end(Buffer.alloc(1000, 'b'));
    });
    const result = await sendStage(agent, 5000, systemClock)(delivery(url), 1);
    expect(result).toMatchObject({ kind: 'response', status: 200, truncated: true });
    const body = (result as Extract<AttemptResult, { kind: 'response' }>).body;
    expect(body.length).toBeLessThanOrEqual(MAX_RESPONSE_BYTES);
  });

  it.each([
    // No headers ever: the headers wait is bounded by the attempt's budget.
    ['no answer', (_req: IncomingMessage, _res: ServerResponse) => undefined],
    // Headers, then a body that never ends: the whole attempt is bounded, not each chunk.
    [
      'a body that trickles',
      (_req: IncomingMessage, res: ServerResponse) => {
        res.writeHead(200);
        const tick = setInterval(() => res.write('x'), 20);
        res.on('close', () => clearInterval(tick));
      },
    ],
  ])('times out on %s within the budget', async (_name, handler) => {
    const { url, agent } = await receiver(handler);
    const started = Date.now();
    const result = await sendStage(agent, 150, systemClock)(delivery(url), 1);
    expect(result).toMatchObject({
      kind: 'error',
      error: 'timeout',
      message: 'no response within 150 ms',
    });
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('gives up at the deadline while the request still waits for a connection', async () => {
    const { url, agent } = await receiver(() => undefined, 1);
    const send = sendStage(agent, 60_000, systemClock);
    // The only socket is held by a request that never gets an answer.
    const holding = send(delivery(url, 1500), 1);
    const started = Date.now();
    const queued = await send(delivery(url, 100), 1);
    expect(queued).toMatchObject({ kind: 'error', error: 'timeout' });
    expect(Date.now() - started).toBeLessThan(1000);
    expect(await holding).toMatchObject({ kind: 'error', error: 'timeout' });
  });

  it('reports a refused connection as connect-error', async () => {
    const { url, agent } = await receiver(() => undefined);
    const closed = open.pop()!;
    await new Promise<void>((resolve) => closed.server.close(() => resolve()));
    const result = await sendStage(agent, 1000, systemClock)(delivery(url), 1);
    await agent.destroy();
    expect(result).toMatchObject({ kind: 'error', error: 'connect-error' });
  });
});

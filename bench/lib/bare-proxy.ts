// The Node ceiling for a proxy hop: an `http` server that reads the body and hands it to undici,
// answering with the upstream's status and body — no routing, signing, limits, retries, metrics.
// With a Standard Webhooks secret (`whsec_…`) as third argument it also signs each request the
// way the sidecar does (webhook-id, webhook-timestamp, webhook-signature: HMAC-SHA256 over
// `id.timestamp.body`), and nothing more: the price of the one piece of work a signing proxy
// cannot skip, measured beside the ceiling.
// Run as its own process: node bench/lib/bare-proxy.ts <port> <upstream origin> [whsec_…]
import { createHmac, randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import { Agent } from 'undici';

const [port, upstream, secret] = process.argv.slice(2);
const agent = new Agent({ connections: 128 });
const key = secret === undefined ? undefined : Buffer.from(secret.replace(/^whsec_/, ''), 'base64');

function headers(contentType: string, body: Buffer): Record<string, string> {
  if (key === undefined) return { 'content-type': contentType };
  const id = `msg_${randomUUID()}`;
  const timestamp = String(Math.floor(Date.now() / 1000));
  const signature = createHmac('sha256', key)
    .update(`${id}.${timestamp}.`)
    .update(body)
    .digest('base64');
  return {
    'content-type': contentType,
    'webhook-id': id,
    'webhook-timestamp': timestamp,
    'webhook-signature': `v1,${signature}`,
  };
}

createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    agent
      .request({
        origin: upstream!,
        path: req.url ?? '/',
        method: req.method ?? 'POST',
        headers: headers(req.headers['content-type'] ?? 'application/json', body),
        body,
      })
      .then(
        async (upstreamRes) => {
          const answer = Buffer.from(await upstreamRes.body.arrayBuffer());
          res.writeHead(upstreamRes.statusCode, { 'content-length': answer.length });
          res.end(answer);
        },
        () => res.writeHead(502).end(),
      );
  });
}).listen(Number(port), '127.0.0.1');

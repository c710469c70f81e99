// The Node ceiling for a proxy hop: an `http` server that reads the body and hands it to undici,
// answering with the upstream's status and body — no routing, signing, limits, retries, metrics.
// Run as its own process: node bench/lib/bare-proxy.ts <port> <upstream origin>
import { createServer } from 'node:http';
import { Agent } from 'undici';

const [port, upstream] = process.argv.slice(2);
const agent = new Agent({ connections: 128 });

createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => {
    agent
      .request({
        origin: upstream!,
        path: req.url ?? '/',
        method: req.method ?? 'POST',
        headers: { 'content-type': req.headers['content-type'] ?? 'application/json' },
        body: Buffer.concat(chunks),
      })
      .then(
        async (upstreamRes) => {
          const body = Buffer.from(await upstreamRes.body.arrayBuffer());
          res.writeHead(upstreamRes.statusCode, { 'content-length': body.length });
          res.end(body);
        },
        () => res.writeHead(502).end(),
      );
  });
}).listen(Number(port), '127.0.0.1');

// An HTTPS receiver that demands a client certificate from one CA: the sidecar presents the
// endpoint's certificate, trusts the endpoint's CA bundle instead of the public roots, sends the
// configured SNI name and holds to the minimum TLS version; a certificate from another CA is
// refused by the receiver; a rotated certificate is taken up under load with no failed delivery.
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { afterEach, describe, expect, it } from 'vitest';
import { createCertificate, type KeyPair } from '../../operator/certs/x509.ts';
import { load, startSidecar, type Sidecar } from './harness.ts';

const notBefore = new Date(Date.now() - 60_000);
const notAfter = new Date(Date.now() + 86_400_000);
const ca = (commonName: string): KeyPair =>
  createCertificate({ commonName, notBefore, notAfter, isCA: true });
const clientCa = ca('client-ca');
const otherCa = ca('other-ca');
const serverCa = ca('server-ca');
const clientCert = (commonName: string, issuer: KeyPair): KeyPair =>
  createCertificate({
    commonName,
    notBefore,
    notAfter,
    isCA: false,
    client: true,
    hosts: [`${commonName}.example`],
    issuer,
  });
// The receiver's certificate names receiver.test only: reaching it at 127.0.0.1 needs the SNI name.
const serving = createCertificate({
  commonName: 'receiver.test',
  notBefore,
  notAfter,
  isCA: false,
  hosts: ['receiver.test'],
  issuer: serverCa,
});

interface Receiver {
  readonly url: string;
  /** Client certificate CN and SNI name of each request. */
  readonly seen: { cn: string; servername: string | false | null }[];
  close(): Promise<void>;
}

async function startReceiver(maxVersion: 'TLSv1.2' | 'TLSv1.3' = 'TLSv1.3'): Promise<Receiver> {
  const seen: Receiver['seen'] = [];
  const server: Server = createServer(
    {
      key: serving.keyPem,
      cert: serving.certPem,
      ca: clientCa.certPem,
      requestCert: true,
      rejectUnauthorized: true,
      maxVersion,
    },
    (req, res) => {
      req.resume();
      req.on('end', () => {
        const socket = req.socket as TLSSocket;
        const peer = socket.getPeerCertificate();
        seen.push({ cn: String(peer.subject?.CN), servername: socket.servername });
        res.end('{"ok":true}');
      });
    },
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    seen,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

function config(
  url: string,
  cert: string,
  options: { ca?: boolean; serverName?: string; minVersion?: string } = {},
): string {
  const lines = [
    `clientCertificate: { certificate: { file: ${cert}.crt }, key: { file: ${cert}.key } }`,
    ...(options.ca === false ? [] : ['ca: { file: server-ca.crt }']),
    `serverName: ${options.serverName ?? 'receiver.test'}`,
    ...(options.minVersion ? [`minVersion: ${options.minVersion}`] : []),
  ];
  return `
endpoints:
  - name: orders
    url: ${url}/hook
    tls:
${lines.map((l) => `      ${l}`).join('\n')}
    policy:
      destinations: { allowedCIDRs: ["127.0.0.0/8"] }
      retry: { maxAttempts: 1 }
`;
}

describe('mTLS towards the receiver', () => {
  let sidecar: Sidecar | undefined;
  let receiver: Receiver | undefined;
  afterEach(async () => {
    await sidecar?.close();
    await receiver?.close();
    sidecar = undefined;
  });

  const certs = {
    'server-ca.crt': serverCa.certPem,
    ...pem('current', clientCert('orders-current', clientCa)),
    ...pem('next', clientCert('orders-next', clientCa)),
    ...pem('foreign', clientCert('orders-foreign', otherCa)),
  };
  function pem(name: string, pair: KeyPair): Record<string, string> {
    return { [`${name}.crt`]: pair.certPem, [`${name}.key`]: pair.keyPem };
  }

  it('presents the client certificate and names the receiver by its SNI name', async () => {
    receiver = await startReceiver();
    const url = receiver.url;
    sidecar = await startSidecar(() => config(url, 'current'), certs);
    const res = await sidecar.post('/orders');
    expect(res.status).toBe(200);
    expect(receiver.seen).toEqual([{ cn: 'orders-current', servername: 'receiver.test' }]);
  });

  // Each row: one TLS setting wrong, and the delivery fails before the receiver's handler runs.
  it.each([
    ['a client certificate from another CA is refused by the receiver', 'foreign', {}],
    ["without the CA bundle the receiver's certificate is not trusted", 'current', { ca: false }],
    [
      'a serverName the certificate does not name is refused',
      'current',
      { serverName: 'other.test' },
    ],
    ['minVersion TLSv1.3 refuses a TLSv1.2 receiver', 'current', { minVersion: 'TLSv1.3' }],
  ] as const)('%s', async (_what, cert, options) => {
    receiver = await startReceiver('minVersion' in options ? 'TLSv1.2' : 'TLSv1.3');
    const url = receiver.url;
    sidecar = await startSidecar(() => config(url, cert, options), certs);
    const res = await sidecar.post('/orders');
    expect(res.status).toBe(502);
    const problem = (await res.json()) as { type: string };
    expect(problem.type).toBe('https://hookgate.io/problems/receiver-unreachable');
    expect(receiver.seen).toEqual([]);
  });

  it('takes up a rotated certificate under load with zero failed deliveries', async () => {
    receiver = await startReceiver();
    const url = receiver.url;
    sidecar = await startSidecar(() => config(url, 'current'), certs);
    const first = load(() => sidecar!.post('/orders'), 200, 16);
    while (receiver.seen.length < 100) await new Promise((r) => setImmediate(r));
    await sidecar.reload(config(url, 'next'));
    const during = await first;
    const after = await load(() => sidecar!.post('/orders'), 50, 8);
    expect([...during, ...after].filter((r) => r.status !== 200)).toEqual([]);
    // Every delivery after the reload went out on a connection with the new certificate.
    expect(receiver.seen.slice(-50).map((s) => s.cn)).toEqual(
      Array.from({ length: 50 }, () => 'orders-next'),
    );
    expect(sidecar.logs.join('\n')).not.toContain('PRIVATE KEY');
  });
});

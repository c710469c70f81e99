import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { connect, createServer } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { createCertificate, keyMatches, parseBundle } from './x509.ts';

const now = new Date('2026-11-29T17:00:00Z');
const later = (days: number): Date => new Date(now.getTime() + days * 86_400_000);

describe('createCertificate', () => {
  const ca = createCertificate({
    commonName: 'hookgate-webhook-ca',
    isCA: true,
    notBefore: now,
    notAfter: later(3650),
  });
  const leaf = createCertificate({
    commonName: 'hookgate-operator-webhook.hookgate-system.svc',
    isCA: false,
    notBefore: now,
    notAfter: later(90),
    hosts: ['hookgate-operator-webhook.hookgate-system.svc', '127.0.0.1', '::1'],
    issuer: ca,
  });

  it('makes a self-signed CA that Node parses as one', () => {
    const cert = new X509Certificate(ca.certPem);
    expect(cert.ca).toBe(true);
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(cert.subject).toContain('CN=hookgate-webhook-ca');
    expect(new Date(cert.validTo).getTime()).toBe(later(3650).getTime());
    expect(keyMatches(cert, ca.keyPem)).toBe(true);
  });

  it('makes a serving certificate signed by the CA, for every host', () => {
    const cert = new X509Certificate(leaf.certPem);
    const caCert = new X509Certificate(ca.certPem);
    expect(cert.ca).toBe(false);
    expect(cert.verify(caCert.publicKey)).toBe(true);
    expect(cert.checkIssued(caCert)).toBe(true);
    expect(cert.checkHost('hookgate-operator-webhook.hookgate-system.svc')).toBeDefined();
    expect(cert.checkHost('other.example')).toBeUndefined();
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(cert.checkIP('::1')).toBeDefined();
    expect(keyMatches(cert, ca.keyPem)).toBe(false);
  });

  it('serves TLS that a client trusting only the CA accepts', async () => {
    const server = createServer({ cert: leaf.certPem, key: leaf.keyPem }, (s) => s.end('ok'));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    const socket = connect({
      host: '127.0.0.1',
      port,
      ca: ca.certPem,
      servername: 'hookgate-operator-webhook.hookgate-system.svc',
    });
    await once(socket, 'secureConnect');
    expect(socket.authorized).toBe(true);
    socket.destroy();
    server.close();
  });

  it('parses bundles and drops damaged blocks', () => {
    const bundle = `${ca.certPem}${leaf.certPem}-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n`;
    expect(parseBundle(bundle).map((c) => c.ca)).toEqual([true, false]);
  });
});

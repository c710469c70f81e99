// X.509 certificates for the admission webhook: one CA profile and one serving profile, ECDSA
// P-256, written as DER by hand. node:crypto makes keys, signs and parses certificates but cannot
// build one; the two profiles need ~150 lines of DER, where a library (@peculiar/x509) would bring
// a dozen packages and a dependency-injection container. Node's X509Certificate and Go's
// crypto/x509 (the API server) judge the output in the tests.
import {
  X509Certificate,
  createHash,
  createPrivateKey,
  generateKeyPairSync,
  randomBytes,
  sign,
  type KeyObject,
} from 'node:crypto';
import { isIP } from 'node:net';

/** A certificate and its private key, both PEM. */
export interface KeyPair {
  readonly certPem: string;
  readonly keyPem: string;
}

/** What to put into a certificate. */
export interface CertificateRequest {
  /** Subject common name. */
  readonly commonName: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** True: a CA that signs serving certificates (path length 0). */
  readonly isCA: boolean;
  /** DNS names and IP addresses (serving certificates). */
  readonly hosts?: readonly string[];
  /** The signer; undefined: self-signed. */
  readonly issuer?: KeyPair | undefined;
  /** True: a client certificate (extended key usage clientAuth) instead of a serving one. */
  readonly client?: boolean;
}

// --- DER ------------------------------------------------------------------------------------

function tlv(tag: number, content: Buffer): Buffer {
  const length = content.length;
  if (length < 0x80) return Buffer.concat([Buffer.from([tag, length]), content]);
  const bytes: number[] = [];
  for (let n = length; n > 0; n = Math.floor(n / 256)) bytes.unshift(n & 0xff);
  return Buffer.concat([Buffer.from([tag, 0x80 | bytes.length, ...bytes]), content]);
}
const sequence = (...items: Buffer[]): Buffer => tlv(0x30, Buffer.concat(items));
const set = (...items: Buffer[]): Buffer => tlv(0x31, Buffer.concat(items));
const octetString = (b: Buffer): Buffer => tlv(0x04, b);
const bitString = (b: Buffer, unusedBits = 0): Buffer =>
  tlv(0x03, Buffer.concat([Buffer.from([unusedBits]), b]));
const utf8String = (s: string): Buffer => tlv(0x0c, Buffer.from(s, 'utf8'));
const TRUE = Buffer.from([0x01, 0x01, 0xff]);

function integer(value: Buffer): Buffer {
  let i = 0;
  while (i < value.length - 1 && value[i] === 0) i++;
  const trimmed = value.subarray(i);
  // A set high bit would read as negative: prefix a zero byte.
  return tlv(0x02, trimmed[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed);
}

function oid(dotted: string): Buffer {
  const parts = dotted.split('.').map(Number);
  const bytes = [40 * parts[0]! + parts[1]!];
  for (const part of parts.slice(2)) {
    const base128 = [part & 0x7f];
    for (let n = Math.floor(part / 128); n > 0; n = Math.floor(n / 128))
      base128.unshift((n & 0x7f) | 0x80);
    bytes.push(...base128);
  }
  return tlv(0x06, Buffer.from(bytes));
}

/** UTCTime until 2049, GeneralizedTime after (RFC 5280 4.1.2.5), in whole seconds. */
function time(date: Date): Buffer {
  const iso = date.toISOString(); // 2026-11-29T17:05:00.000Z
  const digits = iso.slice(0, 19).replace(/[-T:]/g, '');
  return date.getUTCFullYear() < 2050
    ? tlv(0x17, Buffer.from(`${digits.slice(2)}Z`, 'ascii'))
    : tlv(0x18, Buffer.from(`${digits}Z`, 'ascii'));
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  return critical
    ? sequence(oid(id), TRUE, octetString(value))
    : sequence(oid(id), octetString(value));
}

function ipBytes(ip: string): Buffer {
  if (isIP(ip) === 4) return Buffer.from(ip.split('.').map(Number));
  // IPv6: expand "::" then write eight 16-bit groups.
  const [head = '', tail = ''] = ip.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === '' ? [] : tail.split(':');
  const groups = ip.includes('::')
    ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t]
    : h;
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

const OID = {
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  ecPublicKey: '1.2.840.10045.2.1',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

function name(commonName: string): Buffer {
  return sequence(
    set(sequence(oid(OID.organization), utf8String('hookgate'))),
    set(sequence(oid(OID.commonName), utf8String(commonName))),
  );
}

/** RFC 5280 method (1)-like key identifier: SHA-1 of the public key info. */
function keyId(publicKey: KeyObject): Buffer {
  return createHash('sha1')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest();
}

// --- certificates ---------------------------------------------------------------------------

/** Issues a certificate for a fresh P-256 key. */
export function createCertificate(request: CertificateRequest): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const issuerCert =
    request.issuer === undefined ? undefined : new X509Certificate(request.issuer.certPem);
  const signingKey =
    request.issuer === undefined ? privateKey : createPrivateKey(request.issuer.keyPem);
  const issuerName = issuerCert === undefined ? name(request.commonName) : issuerName_(issuerCert);
  const authorityKey = issuerCert === undefined ? publicKey : issuerCert.publicKey;

  const serial = randomBytes(16);
  serial[0]! &= 0x7f;
  const algorithm = sequence(oid(OID.ecdsaWithSha256));
  const hosts = request.hosts ?? [];
  const extensions = [
    request.isCA
      ? // CA, path length 0: it signs serving certificates only.
        extension(OID.basicConstraints, true, sequence(TRUE, integer(Buffer.from([0]))))
      : extension(OID.basicConstraints, true, sequence()),
    request.isCA
      ? // digitalSignature, keyCertSign, cRLSign
        extension(OID.keyUsage, true, bitString(Buffer.from([0x86]), 1))
      : // digitalSignature
        extension(OID.keyUsage, true, bitString(Buffer.from([0x80]), 7)),
    extension(OID.subjectKeyIdentifier, false, octetString(keyId(publicKey))),
    extension(OID.authorityKeyIdentifier, false, sequence(tlv(0x80, keyId(authorityKey)))),
  ];
  if (!request.isCA) {
    const usage = request.client === true ? OID.clientAuth : OID.serverAuth;
    extensions.push(extension(OID.extKeyUsage, false, sequence(oid(usage))));
    extensions.push(
      extension(
        OID.subjectAltName,
        false,
        sequence(
          ...hosts.map((h) =>
            isIP(h) === 0 ? tlv(0x82, Buffer.from(h, 'ascii')) : tlv(0x87, ipBytes(h)),
          ),
        ),
      ),
    );
  }
  const tbs = sequence(
    tlv(0xa0, integer(Buffer.from([2]))), // v3
    integer(serial),
    algorithm,
    issuerName,
    sequence(time(request.notBefore), time(request.notAfter)),
    name(request.commonName),
    publicKey.export({ type: 'spki', format: 'der' }),
    tlv(0xa3, sequence(...extensions)),
  );
  const signature = sign('sha256', tbs, signingKey);
  const der = sequence(tbs, algorithm, bitString(signature));
  return {
    certPem: toPem('CERTIFICATE', der),
    keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
  };
}

/** The issuer's subject exactly as encoded in its certificate (chains match on bytes). */
function issuerName_(issuer: X509Certificate): Buffer {
  // Certificate ::= SEQUENCE { tbs SEQUENCE { [0] version, serial, sigAlg, issuer, validity, subject … } }
  const certificate = readTlv(issuer.raw, 0);
  const tbs = readTlv(certificate.value, 0);
  let at = 0;
  let field = readTlv(tbs.value, at);
  for (let i = 0; i < 5; i++) {
    at = field.next;
    field = readTlv(tbs.value, at);
  }
  return field.whole;
}

/** One DER value at `at`: the whole encoding, its content, and where the next one starts. */
function readTlv(der: Buffer, at: number): { whole: Buffer; value: Buffer; next: number } {
  const first = der[at + 1]!;
  const header = first < 0x80 ? 2 : 2 + (first & 0x7f);
  let length = first;
  if (first >= 0x80) {
    length = 0;
    for (let i = 0; i < (first & 0x7f); i++) length = length * 256 + der[at + 2 + i]!;
  }
  const next = at + header + length;
  return { whole: der.subarray(at, next), value: der.subarray(at + header, next), next };
}

function toPem(label: string, der: Buffer): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/** Splits a PEM bundle into its certificates; unparseable blocks are dropped. */
export function parseBundle(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  const certs: X509Certificate[] = [];
  for (const block of blocks) {
    try {
      certs.push(new X509Certificate(block));
    } catch {
      // A damaged block is as good as absent: the caller re-issues.
    }
  }
  return certs;
}

/** True when `keyPem` is the private key of `cert`. */
export function keyMatches(cert: X509Certificate, keyPem: string): boolean {
  try {
    return cert.checkPrivateKey(createPrivateKey(keyPem));
  } catch {
    return false;
  }
}

// What the webhook's TLS Secret should hold next, decided purely from what it holds now, the time
// and the webhook configuration's caBundle. Rotation never leaves a moment in which the API server
// distrusts the certificate a replica serves:
//   1. a new CA is added to `ca.crt` in front of the old one (caBundle then trusts both), while
//      the serving certificate from the old CA stays;
//   2. only once the caBundle holds the new CA, and a propagation time has passed, a serving
//      certificate from the new CA replaces the old one;
//   3. the old CA leaves the bundle when it expires.
// A serving certificate from the current CA is renewed on its own, at two thirds of its life.
import { createHash, type X509Certificate } from 'node:crypto';
import { createCertificate, keyMatches, parseBundle, type KeyPair } from './x509.ts';

/** The Secret's data, decoded. `ca.key` is held only in self-managed mode. */
export interface TlsData {
  readonly 'ca.crt'?: string | undefined;
  readonly 'ca.key'?: string | undefined;
  readonly 'tls.crt'?: string | undefined;
  readonly 'tls.key'?: string | undefined;
}

/** How certificates are issued. */
export interface CertPolicy {
  readonly caValidityMs: number;
  readonly certValidityMs: number;
  /** Names (and IPs) the serving certificate covers; the first is its common name. */
  readonly hosts: readonly string[];
  /** After a new CA enters the caBundle, how long before serving certificates move to it. */
  readonly caPropagationMs: number;
}

/** The Secret's data as the operator writes it. */
export interface TlsFiles {
  readonly 'ca.crt': string;
  readonly 'ca.key': string;
  readonly 'tls.crt': string;
  readonly 'tls.key': string;
}

/** A change to write, and why. */
export interface TlsPlan {
  readonly data: TlsFiles;
  readonly reasons: readonly string[];
}

/** Certificates start this long before they were issued, for clocks that lag. */
export const BACKDATE_MS = 60_000;
/** Most CAs kept in the bundle (the current one and those still trusted for overlap). */
const MAX_CAS = 3;

const ms = (text: string): number => new Date(text).getTime();

/** When a certificate should be replaced: two thirds into its intended life. */
function renewAt(cert: X509Certificate, validityMs: number): number {
  const end = ms(cert.validTo);
  const life = Math.min(validityMs, end - ms(cert.validFrom) - BACKDATE_MS);
  return end - life / 3;
}

/** SHA-256 fingerprints of the certificates in a PEM bundle. */
export function fingerprints(pem: string | undefined): Set<string> {
  return new Set(parseBundle(pem ?? '').map((c) => c.fingerprint256));
}

function covers(cert: X509Certificate, hosts: readonly string[]): boolean {
  return hosts.every((h) =>
    /^[\d.]+$|:/.test(h) ? cert.checkIP(h) !== undefined : cert.checkHost(h) !== undefined,
  );
}

/** Parsed state of the Secret. */
interface State {
  readonly cas: X509Certificate[];
  readonly ca: { cert: X509Certificate; pair: KeyPair } | undefined;
  readonly leaf: X509Certificate | undefined;
}

function read(data: TlsData | undefined, now: number): State {
  const cas = parseBundle(data?.['ca.crt'] ?? '').filter((c) => c.ca && ms(c.validTo) > now);
  const first = cas[0];
  const caKey = data?.['ca.key'];
  const ca =
    first !== undefined && caKey !== undefined && keyMatches(first, caKey)
      ? { cert: first, pair: { certPem: first.toString(), keyPem: caKey } }
      : undefined;
  const leaf = parseBundle(data?.['tls.crt'] ?? '')[0];
  const leafKey = data?.['tls.key'];
  const usable =
    leaf !== undefined &&
    leafKey !== undefined &&
    keyMatches(leaf, leafKey) &&
    ms(leaf.validTo) > now &&
    cas.some((c) => leaf.checkIssued(c) && leaf.verify(c.publicKey));
  return { cas, ca, leaf: usable ? leaf : undefined };
}

function newCA(now: number, policy: CertPolicy): KeyPair {
  return createCertificate({
    commonName: `hookgate-webhook-ca-${now.toString(36)}`,
    isCA: true,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + policy.caValidityMs),
  });
}

function newLeaf(now: number, policy: CertPolicy, issuer: KeyPair): KeyPair {
  return createCertificate({
    commonName: policy.hosts[0] ?? 'hookgate-webhook',
    isCA: false,
    hosts: policy.hosts,
    notBefore: new Date(now - BACKDATE_MS),
    notAfter: new Date(now + policy.certValidityMs),
    issuer,
  });
}

/**
 * The Secret data to write, or undefined when it is fine as it is. `caBundle` is the webhook
 * configuration's current caBundle (PEM); undefined when there is no configuration to protect.
 */
export function planTls(
  current: TlsData | undefined,
  nowDate: Date,
  policy: CertPolicy,
  caBundle: string | undefined,
): TlsPlan | undefined {
  const now = nowDate.getTime();
  const state = read(current, now);
  const reasons: string[] = [];
  let cas = state.cas;
  let ca = state.ca?.pair;
  let caCert = state.ca?.cert;

  // The CA: present, ours (its key is here), not due for rotation.
  if (ca === undefined || caCert === undefined) {
    reasons.push(state.cas.length === 0 ? 'no CA' : 'CA key missing or not matching');
    ca = newCA(now, policy);
    cas = [...parseBundle(ca.certPem), ...cas];
  } else if (now >= renewAt(caCert, policy.caValidityMs)) {
    reasons.push('CA due for rotation');
    ca = newCA(now, policy);
    cas = [...parseBundle(ca.certPem), ...cas];
  }
  caCert = cas[0]!;

  // The serving certificate. A new one is signed by the current CA, so it waits (while the old
  // one is still valid) until the API server trusts that CA: the caBundle holds it and a
  // propagation time has passed since it was issued.
  const caReady =
    (caBundle === undefined || fingerprints(caBundle).has(caCert.fingerprint256)) &&
    now >= ms(caCert.validFrom) + BACKDATE_MS + policy.caPropagationMs;
  let leaf: KeyPair | undefined;
  const leafCert = state.leaf;
  if (leafCert === undefined) {
    reasons.push('no valid serving certificate');
    leaf = newLeaf(now, policy, ca);
  } else {
    const why = !covers(leafCert, policy.hosts)
      ? 'serving certificate does not cover every host'
      : now >= renewAt(leafCert, policy.certValidityMs)
        ? 'serving certificate due for renewal'
        : !leafCert.checkIssued(caCert)
          ? 'serving certificate moves to the new CA'
          : undefined;
    if (why !== undefined && caReady) {
      reasons.push(why);
      leaf = newLeaf(now, policy, ca);
    } else leaf = { certPem: leafCert.toString(), keyPem: current!['tls.key']! };
  }

  cas = cas.slice(0, MAX_CAS);
  const data: TlsFiles = {
    'ca.crt': cas.map((c) => c.toString()).join(''),
    'ca.key': ca.keyPem,
    'tls.crt': leaf.certPem,
    'tls.key': leaf.keyPem,
  };
  const same =
    data['ca.crt'] === (current?.['ca.crt'] ?? '') &&
    data['ca.key'] === current?.['ca.key'] &&
    data['tls.crt'] === current?.['tls.crt'] &&
    data['tls.key'] === current?.['tls.key'];
  if (same) return undefined;
  if (reasons.length === 0) reasons.push('expired CA left the bundle');
  return { data, reasons };
}

/** When {@link planTls} may next have something to do (a renewal, a move, an expiry), after `now`. */
export function nextCheck(data: TlsData, policy: CertPolicy, now: Date): Date {
  const times: number[] = [];
  const cas = parseBundle(data['ca.crt'] ?? '');
  const leaf = parseBundle(data['tls.crt'] ?? '')[0];
  if (cas[0] !== undefined) {
    times.push(renewAt(cas[0], policy.caValidityMs));
    times.push(ms(cas[0].validFrom) + BACKDATE_MS + policy.caPropagationMs);
  }
  for (const c of cas.slice(1)) times.push(ms(c.validTo));
  if (leaf !== undefined) times.push(renewAt(leaf, policy.certValidityMs), ms(leaf.validTo));
  const future = times.filter((t) => t > now.getTime());
  return new Date(future.length === 0 ? now.getTime() + 3_600_000 : Math.min(...future));
}

/** The caBundle value for a webhook configuration: base64 of the PEM bundle. */
export function caBundleValue(caPem: string): string {
  return Buffer.from(caPem).toString('base64');
}

/** A short identity of a certificate for logs. */
export function shortFingerprint(pem: string): string {
  return createHash('sha256').update(pem).digest('hex').slice(0, 12);
}

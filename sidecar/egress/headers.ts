// Which of the app's headers go to the receiver, and which of the receiver's come back. Hop-by-hop
// headers belong to one connection (RFC 9110 §7.6.1); signature headers belong to the sidecar, so
// an app (or an attacker inside it) cannot pass off its own signature as ours.

/** Connection-scoped headers never forwarded in either direction. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'host',
  'content-length',
]);

/** Headers the sidecar writes when signing, whatever the endpoint's scheme. */
const SIGNATURE_HEADERS = new Set([
  'webhook-id',
  'webhook-timestamp',
  'webhook-signature',
  'svix-id',
  'svix-timestamp',
  'svix-signature',
  'x-hub-signature-256',
  'x-hub-signature',
]);

/** Incoming header values as node:http gives them. */
export type IncomingHeaders = Readonly<Record<string, string | string[] | undefined>>;

/**
 * The app's headers as they may go to the receiver: without hop-by-hop headers, headers named in
 * `Connection`, our control headers (`hookgate-*`), and any signature header — including
 * `extraReserved` (a generic HMAC scheme's own header names, lower-case).
 */
export function outboundHeaders(
  incoming: IncomingHeaders,
  extraReserved: readonly string[] = [],
): Record<string, string> {
  const named = new Set(
    String(incoming['connection'] ?? '')
      .split(',')
      .map((h) => h.trim().toLowerCase())
      .filter((h) => h !== ''),
  );
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined) continue;
    const lower = name.toLowerCase();
    if (
      HOP_BY_HOP.has(lower) ||
      named.has(lower) ||
      SIGNATURE_HEADERS.has(lower) ||
      extraReserved.includes(lower) ||
      lower.startsWith('hookgate-')
    ) {
      continue;
    }
    out[lower] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/** The receiver's response headers as the app may see them (hop-by-hop removed). */
export function inboundHeaders(
  incoming: Readonly<Record<string, string | string[] | undefined>>,
): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || HOP_BY_HOP.has(name.toLowerCase())) continue;
    out[name.toLowerCase()] = value;
  }
  return out;
}

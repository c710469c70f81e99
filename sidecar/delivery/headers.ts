// Which of the app's headers go to the receiver, and which of the receiver's come back: the
// end-to-end headers (../headers.ts), minus what the sidecar itself writes. Signature headers
// belong to the sidecar, so an app (or an attacker inside it) cannot pass off its own signature
// as ours.
import { endToEndHeaders, type HeaderMap } from '../headers.ts';

/** Headers the sidecar writes when signing, whatever the endpoint's scheme, and framing. */
const SIDECAR_OWNED = [
  'webhook-id',
  'webhook-timestamp',
  'webhook-signature',
  'svix-id',
  'svix-timestamp',
  'svix-signature',
  'x-hub-signature-256',
  'x-hub-signature',
  'host',
  'content-length',
];

/** Incoming header values as node:http gives them. */
export type IncomingHeaders = HeaderMap;

const NONE_EXTRA: readonly string[] = [];
const SIDECAR_OWNED_SET: ReadonlySet<string> = new Set(SIDECAR_OWNED);
// The drop set of each endpoint's reserved names, built once (they are frozen per plan).
const dropSets = new WeakMap<readonly string[], ReadonlySet<string>>();

function dropSet(extraReserved: readonly string[]): ReadonlySet<string> {
  if (extraReserved.length === 0) return SIDECAR_OWNED_SET;
  let set = dropSets.get(extraReserved);
  if (set === undefined)
    dropSets.set(extraReserved, (set = new Set([...SIDECAR_OWNED, ...extraReserved])));
  return set;
}

/**
 * The app's headers as they may go to the receiver: end-to-end headers without the sidecar's
 * own, including `extraReserved` (a generic HMAC scheme's header names, lower-case).
 */
export function outboundHeaders(
  incoming: IncomingHeaders,
  extraReserved: readonly string[] = NONE_EXTRA,
): Record<string, string> {
  const out = endToEndHeaders(incoming, dropSet(extraReserved));
  for (const name in out) {
    const value = out[name]!;
    if (typeof value !== 'string') out[name] = value.join(', ');
  }
  return out as Record<string, string>;
}

const RESPONSE_FRAMING = new Set(['content-length']);

/** The receiver's response headers as the app may see them. */
export function inboundHeaders(incoming: HeaderMap): Record<string, string | string[]> {
  return endToEndHeaders(incoming, RESPONSE_FRAMING);
}

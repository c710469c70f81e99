// Who may drive the queue admin API (issue 15, item 6). The admin port binds 0.0.0.0 and
// deliveries carry payloads, so a request passes an ordered chain of checks, the first refusal
// winning. Loopback alone is not enough: a browser in the pod (or one port-forwarded to it) is on
// loopback too, and a page it loads can send simple cross-site requests or rebind a DNS name to
// 127.0.0.1. So the browser's own signals are refused, the Host must name this pod, and every
// change needs a header no page can add without a CORS preflight this server never grants.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { classifyAddress } from '../delivery/ssrf/address-ranges.ts';
import { ipv4FromValue, normaliseHost } from '../delivery/ssrf/ip-address.ts';
import { parseAuthority } from '../interception/host.ts';
import { problem, type Problem } from '../problem.ts';

/** The header a change (POST, DELETE) must carry; its value is not read. */
export const ADMIN_CHANGE_HEADER = 'hookgate-admin';

const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD']);
// Compared as HMACs under a key drawn at start: equal lengths whatever the token's, so the
// comparison's time says nothing about the token's length.
const COMPARE_KEY = randomBytes(32);

const forbidden = (detail: string): Problem => problem('forbidden', detail);

/** The address as one canonical string, IPv4-mapped IPv6 as its IPv4; undefined when none. */
function canonical(address: string | undefined): string | undefined {
  const host = address === undefined ? undefined : normaliseHost(address);
  if (host?.kind !== 'ip') return undefined;
  const { ip } = host;
  return ip.family === 6 && ip.value >> 32n === 0xffffn ? ipv4FromValue(ip.value).text : ip.text;
}

function isLoopbackAddress(address: string | undefined): boolean {
  const ip = address === undefined ? undefined : normaliseHost(address);
  return ip?.kind === 'ip' && classifyAddress(ip.ip)?.range === 'loopback';
}

function tokenMatches(given: string, wanted: string): boolean {
  const digest = (text: string): Buffer => createHmac('sha256', COMPARE_KEY).update(text).digest();
  return timingSafeEqual(digest(given), digest(wanted));
}

type Check = (req: IncomingMessage, token: string | undefined) => Problem | undefined;

const CHECKS: readonly Check[] = [
  // A browser says when a request is cross-site; a page must not drive the queue.
  (req) => {
    const site = req.headers['sec-fetch-site'];
    return site === undefined || site === 'same-origin' || site === 'none'
      ? undefined
      : forbidden(`a ${String(site)} browser request may not use the queue admin API`);
  },
  // An Origin other than the admin server's own is another site's page.
  (req) => {
    const origin = req.headers.origin;
    if (origin === undefined) return undefined;
    const host = URL.parse(origin)?.host;
    return host !== undefined && host === req.headers.host
      ? undefined
      : forbidden('a request from another origin may not use the queue admin API');
  },
  // DNS rebinding: the Host must be this pod's address (loopback or the pod IP it arrived on).
  (req) => {
    const authority = parseAuthority(req.headers.host ?? '');
    const host = authority?.host;
    const ok =
      host?.kind === 'name'
        ? host.name === 'localhost'
        : host !== undefined &&
          (classifyAddress(host.ip)?.range === 'loopback' ||
            canonical(host.ip.text) === canonical(req.socket.localAddress));
    return ok
      ? undefined
      : forbidden(
          'the queue admin API answers only requests whose Host is localhost, a loopback address or the pod IP; use kubectl port-forward and http://127.0.0.1:15020',
        );
  },
  // Loopback (kubectl port-forward, kubectl exec), or the bearer token when one is set.
  (req, token) => {
    if (isLoopbackAddress(req.socket.remoteAddress)) return undefined;
    const header = req.headers.authorization ?? '';
    if (token !== undefined && token !== '' && header.startsWith('Bearer '))
      if (tokenMatches(header.slice(7), token)) return undefined;
    return forbidden(
      'the queue admin API answers loopback clients (kubectl port-forward) or, when HOOKGATE_ADMIN_TOKEN is set, requests with Authorization: Bearer <token>',
    );
  },
  // A change needs a header a cross-site form or simple request cannot carry.
  (req) =>
    SAFE_METHODS.has(req.method ?? 'GET') || req.headers[ADMIN_CHANGE_HEADER] !== undefined
      ? undefined
      : forbidden(
          `changes to the queue need the header ${ADMIN_CHANGE_HEADER}: true (e.g. curl -X POST -H '${ADMIN_CHANGE_HEADER}: true' …)`,
        ),
];

/** The first refusal of `req` by the chain above, or undefined when it may go on. */
export function adminRefusal(req: IncomingMessage, token: string | undefined): Problem | undefined {
  for (const check of CHECKS) {
    const refusal = check(req, token);
    if (refusal !== undefined) return refusal;
  }
  return undefined;
}

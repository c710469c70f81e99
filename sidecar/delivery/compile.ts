// Compiling a loaded configuration's egress side into frozen plans, in the reload path: each
// endpoint's policy becomes an EndpointPlan, its signing a checked signer choice. Every problem is
// returned with its path (a malformed `whsec_` secret, a backoff that cannot be built), so the
// config loader refuses the file whole and the last good configuration stays in force.
import type {
  DynamicRoute,
  EgressEndpoint,
  Policy,
  SecretSource,
  Signing,
} from '../config/schema.ts';
import { createSigner, type Signer } from '../signing/index.ts';
import {
  compileCredentials,
  compileTls,
  type CredentialPlan,
  type TlsPlan,
} from './credentials/plan.ts';
import { compileEndpointPlan, type EndpointPlan } from './plan.ts';
import { SsrfGuard } from './ssrf/ssrf.ts';

/** One named endpoint (or dynamic route) compiled: everything stateless about delivering to it. */
export interface EgressPlan {
  readonly name: string;
  /** Absent for dynamic routes: the app names the URL. */
  readonly url: URL | undefined;
  readonly plan: EndpointPlan;
  readonly headers: Readonly<Record<string, string>>;
  /** Lower-case header names the signer writes (refused from the app). */
  readonly reservedHeaders: readonly string[];
  /** The signer in force at a time; undefined: unsigned (scheme none). */
  readonly signerAt: (now: number) => Signer | undefined;
  /** Dynamic routes: whether a destination host is admitted. */
  readonly admitsHost: (host: string) => boolean;
  /** What the credential layer adds to each attempt; undefined: nothing. */
  readonly credentials: CredentialPlan | undefined;
  /** TLS towards the receiver; undefined: Node's defaults. */
  readonly tls: TlsPlan | undefined;
  /** spec.paused: sync deliveries refused, async ones held. */
  readonly paused: boolean;
  /** Why the operator disabled the endpoint; undefined: enabled. Refused and held as paused. */
  readonly disabled: string | undefined;
}

/** The credential, TLS and pause settings of a named endpoint (dynamic routes have none). */
interface EndpointExtras {
  readonly auth: EgressEndpoint['auth'];
  readonly tls: EgressEndpoint['tls'];
  readonly paused: boolean;
  readonly disabled: string | undefined;
}

const NO_EXTRAS: EndpointExtras = {
  auth: undefined,
  tls: undefined,
  paused: false,
  disabled: undefined,
};

/** The compiled egress side of one configuration. */
export interface EgressPlans {
  readonly endpoints: ReadonlyMap<string, EgressPlan>;
  readonly dynamic: readonly EgressPlan[];
}

/** Builds the per-attempt signer choice; expired rotation secrets stop signing at `expiresAt`. */
function signerAt(
  signing: Signing,
  secret: (source: SecretSource) => string,
): (now: number) => Signer | undefined {
  if (signing.scheme === 'none') return () => undefined;
  const secrets = signing.secrets.map((s) => ({
    value: secret(s.source),
    expiresAt: s.expiresAt === undefined ? Infinity : Date.parse(s.expiresAt),
  }));
  const cache = new Map<number, Signer>();
  const build = (active: string[]): Signer => {
    switch (signing.scheme) {
      case 'standard-webhooks':
        return createSigner({ scheme: 'standard-webhooks', secrets: active });
      case 'github':
        return createSigner({ scheme: 'github', secret: active[0]! });
      case 'hmac':
        return createSigner({ scheme: 'hmac', secret: active[0]!, ...signing.hmac! });
      case 'none':
        throw new Error('scheme none has no signer');
    }
  };
  // Fail at load, not on the first request, when a secret is malformed.
  build(secrets.map((s) => s.value));
  return (now) => {
    // The current secret (first) always signs; rotated-out ones only until they expire.
    const active = secrets.filter((s, i) => i === 0 || s.expiresAt > now);
    let signer = cache.get(active.length);
    if (signer === undefined) {
      signer = build(active.map((s) => s.value));
      cache.set(active.length, signer);
    }
    return signer;
  };
}

function reservedHeaders(signing: Signing): string[] {
  if (signing.scheme !== 'hmac' || signing.hmac === undefined) return [];
  return [signing.hmac.header, signing.hmac.timestampHeader]
    .filter((h): h is string => h !== undefined)
    .map((h) => h.toLowerCase());
}

/** Host-pattern matcher for a dynamic route: exact names and `*.domain` for its subdomains. */
function hostMatcher(patterns: readonly string[]): (host: string) => boolean {
  // Patterns are normalised like hosts: `hooks.example.com.` names hooks.example.com.
  const normal = patterns.map((p) => p.toLowerCase().replace(/\.$/, ''));
  const exact = new Set(normal.filter((p) => !p.startsWith('*.')));
  const suffixes = normal.filter((p) => p.startsWith('*.')).map((p) => p.slice(1));
  return (host) => {
    const h = host.toLowerCase().replace(/\.$/, '');
    return exact.has(h) || suffixes.some((s) => h.endsWith(s));
  };
}

/** One endpoint's plan, or its problems prefixed with `path`. */
function compileOne(
  path: string,
  name: string,
  url: URL | undefined,
  signing: Signing,
  headers: Readonly<Record<string, string>>,
  policy: Policy,
  extras: EndpointExtras,
  secret: (source: SecretSource) => string,
): EgressPlan | string[] {
  const problems: string[] = [];
  let plan: EndpointPlan | undefined;
  let signer: ((now: number) => Signer | undefined) | undefined;
  let tls: TlsPlan | undefined;
  try {
    tls = compileTls(extras.tls, secret);
  } catch (err) {
    problems.push(`${path}.tls: ${(err as Error).message}`);
  }
  try {
    plan = compileEndpointPlan(policy);
    // The guard is built per pool at run time; a CIDR it cannot read is refused here instead.
    new SsrfGuard({ allowedCidrs: plan.allowedCIDRs });
  } catch (err) {
    problems.push(`${path}.policy: ${(err as Error).message}`);
  }
  try {
    signer = signerAt(signing, secret);
  } catch (err) {
    // Signing errors name the secret by index (secrets[1]), never by value.
    problems.push(`${path}.signing: ${(err as Error).message}`);
  }
  if (plan === undefined || signer === undefined || problems.length > 0) return problems;
  return Object.freeze({
    name,
    url,
    plan,
    // Lower-case, as the app's headers are by then: a static header replaces the app's of the
    // same name whatever either's case (X-Tenant over x-tenant), never goes beside it.
    headers: Object.freeze(
      Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v])),
    ),
    reservedHeaders: Object.freeze(reservedHeaders(signing)),
    signerAt: signer,
    admitsHost: hostMatcher(plan.allowedHosts),
    credentials: compileCredentials(extras.auth, secret),
    tls,
    paused: extras.paused,
    disabled: extras.disabled,
  });
}

/** Compiles every egress endpoint and dynamic route; `problems` lists what could not be built. */
export function compileEgressPlans(
  endpoints: readonly EgressEndpoint[],
  dynamic: readonly DynamicRoute[],
  secret: (source: SecretSource) => string,
): { plans: EgressPlans; problems: string[] } {
  const problems: string[] = [];
  const named = new Map<string, EgressPlan>();
  endpoints.forEach((e, i) => {
    const built = compileOne(
      `endpoints[${i}]`,
      e.name,
      new URL(e.url),
      e.signing,
      e.headers,
      e.policy,
      { auth: e.auth, tls: e.tls, paused: e.paused, disabled: e.disabled?.reason },
      secret,
    );
    if (Array.isArray(built)) problems.push(...built);
    else named.set(e.name, built);
  });
  const routes: EgressPlan[] = [];
  dynamic.forEach((d, i) => {
    const built = compileOne(
      `dynamic[${i}]`,
      `dynamic-${i}`,
      undefined,
      d.signing,
      {},
      d.policy,
      NO_EXTRAS,
      secret,
    );
    if (Array.isArray(built)) problems.push(...built);
    else routes.push(built);
  });
  return { plans: Object.freeze({ endpoints: named, dynamic: Object.freeze(routes) }), problems };
}

// From the configuration in force to what a request needs: one route per ingress path, its
// verifier built once (secrets decoded, keys made) and everything else read from the config
// already parsed. Compiling is pure; the server caches the result per LoadedConfig, so a hot
// reload costs one compile and a request costs a map lookup.
import { parseDuration } from '../../common/duration.ts';
import type { LoadedConfig } from '../config/load.ts';
import type { IngressEndpoint, SecretSource, Verify } from '../config/schema.ts';
import { createVerifier, type Verifier, type VerifyOptions } from '../signing/index.ts';
import { compileEventRouter, type EventRouter } from './event-routes.ts';

/** A verification scheme as the config file names it (`basic`, `bearer`, ...). */
export type ConfigScheme = Verify['scheme'];

/** Everything the pipeline needs to serve one ingress path. */
export interface IngressRoute {
  readonly endpointName: string;
  readonly scheme: ConfigScheme;
  /** Absent when the endpoint's secrets cannot verify anything; see `misconfigured`. */
  readonly verifier: Verifier | undefined;
  /** Why `verifier` is absent (names the option, never the secret). */
  readonly misconfigured: string | undefined;
  readonly maxPayloadBytes: number;
  /** The endpoint's rate limit, if its policy sets one. */
  readonly rateLimit: IngressEndpoint['rateLimit'];
  readonly forwardPort: number;
  /** The app path; undefined forwards to the path the webhook arrived on. */
  readonly forwardPath: string | undefined;
  readonly buffered: boolean;
  /** De-duplication window in ms; 0 turns de-duplication off for this endpoint. */
  readonly dedupWindowMs: number;
  /** The same window as the config writes it (`24h`), for messages. */
  readonly dedupWindow: string;
  /** What de-duplication keys are scoped by: `<namespace>/<endpoint>` or `<endpoint>`. */
  readonly dedupScope: string;
  /**
   * For schemes whose delivery id is not signed (GitHub, Shopify): the signature header whose
   * hash joins the id in the de-duplication key, so a captured body replayed under someone
   * else's id cannot make the sidecar drop that genuine delivery.
   */
  readonly idBindingHeader: string | undefined;
  /** Request headers that are credentials for the sidecar only, dropped before the app. */
  readonly credentialHeaders: ReadonlySet<string>;
  /** Routing by event type (forward.routes); undefined: everything goes to the forward target. */
  readonly eventRouter: EventRouter | undefined;
}

/** The signature header of each scheme that reports an unsigned delivery id. */
const UNSIGNED_ID_BINDING: Partial<Record<ConfigScheme, string>> = {
  github: 'x-hub-signature-256',
  shopify: 'x-shopify-hmac-sha256',
};

/** Seconds in a tolerance duration, rounded up so `1500ms` does not become a 1 s window. */
function toleranceSeconds(tolerance: string): number {
  return Math.ceil(parseDuration(tolerance) / 1000);
}

/**
 * The signing library's options for a config `verify` block: config scheme names map to the
 * library's (`basic` → `basic-auth`, `bearer` → `bearer-token`) and secret sources to their text.
 */
export function verifyOptions(verify: Verify, secret: (s: SecretSource) => string): VerifyOptions {
  const secrets = verify.secrets.map(secret);
  const tolerance = toleranceSeconds(verify.tolerance);
  switch (verify.scheme) {
    case 'standard-webhooks':
    case 'stripe':
    case 'slack':
      return { scheme: verify.scheme, secrets, toleranceSeconds: tolerance };
    case 'github':
    case 'shopify':
      // Neither signs a timestamp: the tolerance has nothing to apply to.
      return { scheme: verify.scheme, secrets };
    case 'hmac': {
      // The schema requires `hmac` with this scheme; a missing block is refused by the library.
      const settings = verify.hmac;
      return {
        scheme: 'hmac',
        secrets,
        header: settings?.header ?? '',
        algorithm: settings?.algorithm,
        encoding: settings?.encoding,
        prefix: settings?.prefix,
        timestampHeader: settings?.timestampHeader,
        toleranceSeconds: tolerance,
      };
    }
    case 'basic': {
      const { username, password } = verify;
      const credentials =
        username === undefined || password === undefined
          ? []
          : [{ username: secret(username), password: secret(password) }];
      return { scheme: 'basic-auth', credentials };
    }
    case 'bearer':
      return { scheme: 'bearer-token', tokens: secrets };
  }
}

/** Builds the verifier, or the reason it cannot be built (a `SigningError` message). */
function buildVerifier(
  endpoint: IngressEndpoint,
  loaded: LoadedConfig,
): { verifier: Verifier | undefined; misconfigured: string | undefined } {
  try {
    const verifier = createVerifier(verifyOptions(endpoint.verify, (s) => loaded.secret(s)));
    return { verifier, misconfigured: undefined };
  } catch (err) {
    return { verifier: undefined, misconfigured: (err as Error).message };
  }
}

/** Compiles every ingress endpoint of `loaded`, keyed by its exact path. */
export function compileRoutes(loaded: LoadedConfig): ReadonlyMap<string, IngressRoute> {
  const { namespace, ingress } = loaded.config;
  const routes = new Map<string, IngressRoute>();
  for (const endpoint of ingress) {
    const { verifier, misconfigured } = buildVerifier(endpoint, loaded);
    const scheme = endpoint.verify.scheme;
    routes.set(endpoint.path, {
      endpointName: endpoint.name,
      scheme,
      verifier,
      misconfigured,
      maxPayloadBytes: endpoint.maxPayloadBytes,
      rateLimit: endpoint.rateLimit,
      forwardPort: endpoint.forward.port,
      forwardPath: endpoint.forward.path,
      buffered: endpoint.forward.buffered,
      dedupWindowMs: parseDuration(endpoint.deduplication.window),
      dedupWindow: endpoint.deduplication.window,
      dedupScope: namespace === undefined ? endpoint.name : `${namespace}/${endpoint.name}`,
      idBindingHeader: UNSIGNED_ID_BINDING[scheme],
      // The app gets the proof of who sent it (Hookgate-Verified), not the shared credential.
      credentialHeaders: new Set(
        scheme === 'basic' || scheme === 'bearer' ? ['authorization'] : [],
      ),
      eventRouter: compileEventRouter(endpoint),
    });
  }
  return routes;
}

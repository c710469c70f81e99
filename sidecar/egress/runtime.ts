// Turns one loaded configuration into ready-to-run endpoints: signer, limiter, breaker, retry
// policy and a pipeline per endpoint. Stateful parts (breakers, limiters, connection pools) are
// kept in a store keyed by their settings, so a config reload that leaves an endpoint's policy
// alone keeps its breaker state and warm connections; in-flight deliveries finish on the objects
// they started with.
import type { Redis } from 'ioredis';
import { Agent, type Dispatcher } from 'undici';
import type { Logger } from '../../common/log.ts';
import { parseDuration } from '../../common/duration.ts';
import type { LoadedConfig } from '../config/load.ts';
import type { DynamicRoute, EgressEndpoint, Policy, Signing } from '../config/schema.ts';
import { createSigner, type Signer } from '../signing/index.ts';
import { createBackoff } from './backoff.ts';
import { CircuitBreaker } from './circuit-breaker.ts';
import type { Attempt, Clock } from './delivery.ts';
import { GlobalRateLimiter } from './global-limiter.ts';
import { CIRCUIT_STATE_VALUE, type EgressMetrics } from './metrics.ts';
import { composeAttempt } from './pipeline.ts';
import type { RetryPolicy } from './retry.ts';
import { createRetryClassifier } from './retry-classifier.ts';
import { SsrfGuard, createGuardedConnector } from './ssrf.ts';
import { TokenBucket, type RateLimiter } from './token-bucket.ts';

/** Everything needed to deliver to one endpoint (or one dynamic route). */
export interface EndpointRuntime {
  readonly name: string;
  /** Absent for dynamic routes: the app names the URL. */
  readonly url: URL | undefined;
  readonly policy: Policy;
  readonly headers: Readonly<Record<string, string>>;
  /** Lower-case header names the signer writes (refused from the app). */
  readonly reservedHeaders: readonly string[];
  readonly attempt: Attempt;
  readonly retry: RetryPolicy;
  readonly syncDeadlineMs: number;
  /** Dynamic routes: whether a destination host is admitted. */
  readonly admitsHost: (host: string) => boolean;
}

/** The runtime of one configuration. */
export interface EgressRuntime {
  readonly generation: number;
  readonly endpoints: ReadonlyMap<string, EndpointRuntime>;
  readonly dynamic: readonly EndpointRuntime[];
}

/** What the runtime builder needs from the process. */
export interface RuntimeDeps {
  clock: Clock;
  metrics: EgressMetrics;
  log: Logger;
  redis?: Redis | undefined;
  /** Names global rate-limit keys, so two namespaces' "orders" never share a budget. */
  scope: string;
}

/** Stateful parts shared across configurations, keyed by the settings that shape them. */
export class RuntimeStore {
  #breakers = new Map<string, CircuitBreaker>();
  #limiters = new Map<string, RateLimiter>();
  #agents = new Map<string, Agent>();
  #warned = new Set<string>();

  /** One breaker per endpoint and breaker settings. */
  breaker(endpoint: string, policy: Policy, deps: RuntimeDeps): CircuitBreaker | undefined {
    const settings = policy.circuitBreaker;
    if (settings === undefined) return undefined;
    const key = `${endpoint}|${JSON.stringify(settings)}`;
    let breaker = this.#breakers.get(key);
    if (breaker === undefined) {
      breaker = new CircuitBreaker({
        ...(settings.consecutiveFailures !== undefined
          ? { consecutiveFailures: settings.consecutiveFailures }
          : {}),
        ...(settings.failureRatePercent !== undefined
          ? {
              failureRatio: {
                threshold: settings.failureRatePercent / 100,
                windowMs: parseDuration(settings.window),
                minRequests: settings.minimumRequests,
              },
            }
          : {}),
        openMs: parseDuration(settings.openDuration),
        halfOpenProbes: settings.halfOpenProbes,
        onTransition: (t) => {
          deps.metrics.circuitState.set({ endpoint }, CIRCUIT_STATE_VALUE[t.to]);
          deps.log.warn('circuit breaker transition', {
            endpoint,
            from: t.from,
            to: t.to,
            reason: t.reason,
          });
        },
      });
      deps.metrics.circuitState.set({ endpoint }, CIRCUIT_STATE_VALUE.closed);
      this.#breakers.set(key, breaker);
    }
    return breaker;
  }

  /** One limiter per endpoint and limit settings; `global` needs Redis, else falls back to `pod`. */
  limiter(endpoint: string, policy: Policy, deps: RuntimeDeps): RateLimiter | undefined {
    const settings = policy.rateLimit;
    if (settings === undefined) return undefined;
    const global = settings.scope === 'global' && deps.redis !== undefined;
    const key = `${endpoint}|${global}|${JSON.stringify(settings)}`;
    let limiter = this.#limiters.get(key);
    if (limiter === undefined) {
      const limit = {
        rate: settings.rate,
        per: settings.per,
        burst: settings.burst ?? settings.rate,
      };
      if (settings.scope === 'global' && deps.redis === undefined && !this.#warned.has(endpoint)) {
        this.#warned.add(endpoint);
        deps.log.warn('global rate limit without HOOKGATE_REDIS_URL: limiting per pod', {
          endpoint,
        });
      }
      limiter = global
        ? new GlobalRateLimiter({
            redis: deps.redis!,
            scopeKey: `${deps.scope}/${endpoint}`,
            limit,
            onRedisError: (err) =>
              deps.log.warn('global rate limiter: Redis unavailable, limiting per pod', {
                endpoint,
                error: err.message,
              }),
          })
        : new TokenBucket(limit);
      this.#limiters.set(key, limiter);
    }
    return limiter;
  }

  /** One connection pool set per SSRF rule set: destinations share warm connections. */
  dispatcher(policy: Policy): Dispatcher {
    const allowedCidrs = policy.destinations?.allowedCIDRs ?? [];
    const key = JSON.stringify(allowedCidrs);
    let agent = this.#agents.get(key);
    if (agent === undefined) {
      const guard = new SsrfGuard({ allowedCidrs });
      agent = new Agent({
        connect: createGuardedConnector(guard, { timeout: 5000 }),
        // Bounded concurrency per receiver: a slow receiver cannot take every socket we have.
        connections: 128,
        keepAliveTimeout: 30_000,
        pipelining: 1,
      });
      this.#agents.set(key, agent);
    }
    return agent;
  }

  /** Closes every pool (graceful shutdown, after in-flight deliveries ended). */
  async close(): Promise<void> {
    await Promise.all([...this.#agents.values()].map((a) => a.close()));
  }
}

/** Builds the per-attempt signer choice; expired rotation secrets stop signing at `expiresAt`. */
function signerAt(signing: Signing, config: LoadedConfig): (now: number) => Signer | undefined {
  if (signing.scheme === 'none') return () => undefined;
  const secrets = signing.secrets.map((s) => ({
    value: config.secret(s.source),
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

function endpointRuntime(
  name: string,
  url: URL | undefined,
  signing: Signing,
  headers: Readonly<Record<string, string>>,
  policy: Policy,
  config: LoadedConfig,
  store: RuntimeStore,
  deps: RuntimeDeps,
): EndpointRuntime {
  const retry = policy.retry;
  return {
    name,
    url,
    policy,
    headers,
    reservedHeaders: reservedHeaders(signing),
    attempt: composeAttempt({
      limiter: store.limiter(name, policy, deps),
      breaker: store.breaker(name, policy, deps),
      signerAt: signerAt(signing, config),
      dispatcher: store.dispatcher(policy),
      timeoutMs: parseDuration(policy.timeout),
      clock: deps.clock,
      onRateLimited: () => deps.metrics.rateLimited.inc({ endpoint: name }),
      onCircuitOpen: () => undefined,
    }),
    retry: {
      maxAttempts: retry.maxAttempts,
      backoff: createBackoff({
        initialMs: parseDuration(retry.backoff.initial),
        maxMs: parseDuration(retry.backoff.max),
        multiplier: retry.backoff.multiplier,
        jitter: retry.backoff.jitter === 'full',
      }),
      classifier: createRetryClassifier(retry.retryOn),
      honorRetryAfter: retry.honorRetryAfter,
      maxRetryAfterMs: parseDuration(retry.maxRetryAfter),
    },
    syncDeadlineMs: parseDuration(retry.syncDeadline),
    admitsHost: hostMatcher(policy.destinations?.allowedHosts ?? []),
  };
}

/** Builds the runtime of `config`, reusing stateful parts from `store`. */
export function buildEgressRuntime(
  config: LoadedConfig,
  store: RuntimeStore,
  deps: RuntimeDeps,
): EgressRuntime {
  const endpoints = new Map(
    config.config.endpoints.map((e: EgressEndpoint) => [
      e.name,
      endpointRuntime(e.name, new URL(e.url), e.signing, e.headers, e.policy, config, store, deps),
    ]),
  );
  const dynamic = config.config.dynamic.map((d: DynamicRoute, i) =>
    endpointRuntime(`dynamic-${i}`, undefined, d.signing, {}, d.policy, config, store, deps),
  );
  return { generation: config.config.generation, endpoints, dynamic };
}

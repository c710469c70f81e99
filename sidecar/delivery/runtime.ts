// Turns one configuration's compiled plans (compile.ts, built at load) into ready-to-run
// endpoints: the plan plus the stateful parts — limiter, breaker, connection pool — composed
// into a pipeline. Stateful parts are kept in a store keyed by their settings, so a config reload
// that leaves an endpoint's policy alone keeps its breaker state and warm connections; in-flight
// deliveries finish on the objects they started with.
import type { RedisClient } from '../redis-connect.ts';
import { Agent } from '../http-client.ts';
import type { Logger } from '../../common/log.ts';
import { CircuitBreaker } from './circuit-breaker.ts';
import type { EgressPlan, EgressPlans } from './compile.ts';
import { DispatcherPool } from './credentials/dispatcher-pool.ts';
import type { OAuth2Plan, TlsPlan } from './credentials/plan.ts';
import { TokenSource } from './credentials/token-source.ts';
import type { Attempt, Clock } from './delivery.ts';
import { LimiterFactory } from './limiters.ts';
import { CIRCUIT_STATE_VALUE, type EgressMetrics } from './metrics.ts';
import type { DeliveryObservers } from './observe.ts';
import { composeAttempt } from './pipeline.ts';
import type { EndpointPlan } from './plan.ts';
import { SsrfGuard, createGuardedConnector } from './ssrf/ssrf.ts';
import type { RateLimiter } from './token-bucket.ts';

/** Everything needed to deliver to one endpoint (or one dynamic route): its plan and pipeline. */
export interface EndpointRuntime extends Omit<EgressPlan, 'signerAt' | 'credentials' | 'tls'> {
  /** One attempt through the composed pipeline (limit → breaker → sign → credentials → send). */
  readonly attempt: Attempt;
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
  redis?: RedisClient | undefined;
  /** Names global rate-limit keys, so two namespaces' "orders" never share a budget. */
  scope: string;
  /** Who watches attempts (history, health); absent: no one. */
  observers?: DeliveryObservers | undefined;
}

/** Stateful parts shared across configurations, keyed by the settings that shape them. */
export class RuntimeStore {
  #breakers = new Map<string, CircuitBreaker>();
  #limiters: LimiterFactory | undefined;
  #pools = new Map<string, DispatcherPool>();
  #tokens = new Map<string, TokenSource>();

  /** One breaker per endpoint and breaker settings. */
  breaker(endpoint: string, plan: EndpointPlan, deps: RuntimeDeps): CircuitBreaker | undefined {
    const settings = plan.breaker;
    if (settings === undefined) return undefined;
    const key = `${endpoint}|${JSON.stringify(settings)}`;
    let breaker = this.#breakers.get(key);
    if (breaker === undefined) {
      breaker = new CircuitBreaker({
        ...settings,
        onTransition: (t) => {
          deps.metrics.circuitState.set({ endpoint }, CIRCUIT_STATE_VALUE[t.to]);
          deps.metrics.events.emit({ kind: 'circuit', endpoint, state: t.to });
          deps.log.warn('circuit breaker transition', {
            endpoint,
            from: t.from,
            to: t.to,
            reason: t.reason,
          });
        },
      });
      deps.metrics.circuitState.set({ endpoint }, CIRCUIT_STATE_VALUE.closed);
      deps.metrics.events.emit({ kind: 'circuit', endpoint, state: 'closed' });
      this.#breakers.set(key, breaker);
    }
    return breaker;
  }

  /** One limiter per endpoint and limit settings; `global` needs Redis, else falls back to `pod`. */
  limiter(endpoint: string, plan: EndpointPlan, deps: RuntimeDeps): RateLimiter | undefined {
    this.#limiters ??= new LimiterFactory(deps.redis, deps.log);
    return this.#limiters.limiter(endpoint, `${deps.scope}/${endpoint}`, plan.rateLimit);
  }

  /**
   * One connection pool set per SSRF rule set and TLS settings: destinations share warm
   * connections; a rotated client certificate or CA gets a pool of its own. `used` collects the
   * keys one configuration needs (see {@link sweep}).
   */
  dispatcher(plan: EndpointPlan, tls: TlsPlan | undefined, used: Set<string>): DispatcherPool {
    const allowedCidrs = plan.allowedCIDRs;
    const key = `${JSON.stringify(allowedCidrs)}|${tls?.digest ?? ''}`;
    used.add(key);
    let pool = this.#pools.get(key);
    if (pool === undefined) {
      pool = new DispatcherPool(() => {
        const guard = new SsrfGuard({ allowedCidrs });
        return new Agent({
          connect: createGuardedConnector(guard, {
            timeout: 5000,
            ...(tls === undefined
              ? {}
              : {
                  ...(tls.cert === undefined ? {} : { cert: tls.cert, key: tls.key }),
                  ...(tls.ca === undefined ? {} : { ca: tls.ca }),
                  ...(tls.servername === undefined ? {} : { servername: tls.servername }),
                  minVersion: tls.minVersion,
                }),
          }),
          // Bounded concurrency per receiver: a slow receiver cannot take every socket we have.
          connections: 128,
          keepAliveTimeout: 30_000,
          pipelining: 1,
        });
      });
      this.#pools.set(key, pool);
    }
    return pool;
  }

  /**
   * One token cache per endpoint and OAuth2 settings (client secret included, by digest): a
   * reload that changes nothing keeps the cached token; a rotated secret starts a new cache.
   */
  tokens(
    endpoint: string,
    oauth2: OAuth2Plan,
    plan: EndpointPlan,
    deps: RuntimeDeps,
    used: Set<string>,
  ): TokenSource {
    const key = `${endpoint}|${oauth2.digest}`;
    used.add(key);
    let source = this.#tokens.get(key);
    if (source === undefined) {
      // The token endpoint is dialled through the endpoint's SSRF rules, with Node's public CAs.
      const pool = this.dispatcher(plan, undefined, used);
      source = new TokenSource(oauth2, pool, deps.clock, plan.timeoutMs, (result) =>
        deps.metrics.tokenRequests.inc({ endpoint, result }),
      );
      this.#tokens.set(key, source);
    }
    return source;
  }

  /**
   * After a configuration is built: pools it does not use are retired (closed once their
   * requests end) and token caches it does not use are forgotten.
   */
  sweep(used: ReadonlySet<string>): void {
    for (const [key, pool] of this.#pools) {
      if (used.has(key)) continue;
      pool.retire();
      this.#pools.delete(key);
    }
    for (const key of this.#tokens.keys()) if (!used.has(key)) this.#tokens.delete(key);
  }

  /** Closes every pool (graceful shutdown, after in-flight deliveries ended). */
  async close(): Promise<void> {
    await Promise.all([...this.#pools.values()].map((p) => p.close()));
  }
}

/**
 * The plan observers see: its history's secret headers grown by the endpoint's own — a generic
 * HMAC scheme's header and every static header (they come from configuration, often a Secret,
 * never from the app), so the history redacts them whatever their names.
 */
function observedPlan(
  plan: EndpointPlan,
  endpoint: Pick<EgressPlan, 'reservedHeaders' | 'headers'>,
): EndpointPlan {
  const secretHeaders = new Set([
    ...plan.history.secretHeaders,
    ...endpoint.reservedHeaders,
    ...Object.keys(endpoint.headers).map((h) => h.toLowerCase()),
  ]);
  return Object.freeze({ ...plan, history: Object.freeze({ ...plan.history, secretHeaders }) });
}

function endpointRuntime(
  compiled: EgressPlan,
  store: RuntimeStore,
  deps: RuntimeDeps,
  used: Set<string>,
): EndpointRuntime {
  const { name, plan, signerAt, credentials, tls, ...rest } = compiled;
  const oauth2 = credentials?.oauth2;
  return {
    ...rest,
    name,
    plan,
    attempt: composeAttempt({
      limiter: store.limiter(name, plan, deps),
      breaker: store.breaker(name, plan, deps),
      signerAt,
      credentials,
      tokens: oauth2 === undefined ? undefined : store.tokens(name, oauth2, plan, deps, used),
      dispatcher: store.dispatcher(plan, tls, used),
      timeoutMs: plan.timeoutMs,
      clock: deps.clock,
      paused: compiled.paused,
      disabled: compiled.disabled,
      onRateLimited: () => deps.metrics.rateLimited.inc({ endpoint: name }),
      onCircuitOpen: () => undefined,
      observe:
        deps.observers === undefined
          ? undefined
          : { observers: deps.observers, plan: observedPlan(plan, rest) },
    }),
  };
}

/** Builds the runtime of one configuration's plans, reusing stateful parts from `store`. */
export function buildEgressRuntime(
  generation: number,
  plans: EgressPlans,
  store: RuntimeStore,
  deps: RuntimeDeps,
): EgressRuntime {
  const used = new Set<string>();
  const endpoints = new Map(
    [...plans.endpoints].map(([name, p]) => [name, endpointRuntime(p, store, deps, used)]),
  );
  const dynamic = plans.dynamic.map((p) => endpointRuntime(p, store, deps, used));
  store.sweep(used);
  return { generation, endpoints, dynamic };
}

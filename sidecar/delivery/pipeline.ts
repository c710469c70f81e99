// The egress pipeline for one attempt, outermost layer first. Each layer is one concern in its own
// file; this is the one place that decides their order.
import type { Dispatcher } from 'undici';
import type { Signer } from '../signing/index.ts';
import type { CircuitBreaker } from './circuit-breaker.ts';
import type { CredentialPlan } from './credentials/plan.ts';
import type { TokenSource } from './credentials/token-source.ts';
import type { Attempt, Clock, Layer } from './delivery.ts';
import { circuitBreakerLayer } from './layers/circuit-breaker.ts';
import { observeLayer, type DeliveryObservers } from './observe.ts';
import type { EndpointPlan } from './plan.ts';
import { credentialLayer } from './layers/credentials.ts';
import { pauseLayer } from './layers/pause.ts';
import { rateLimitLayer } from './layers/rate-limit.ts';
import { sendStage, type LentDispatcher } from './layers/send.ts';
import { signLayer } from './layers/sign.ts';
import type { RateLimiter } from './token-bucket.ts';

/** The parts one endpoint's pipeline is made of. */
export interface PipelineParts {
  limiter: RateLimiter | undefined;
  breaker: CircuitBreaker | undefined;
  signerAt: (now: number) => Signer | undefined;
  /** Receiver credentials and, for OAuth2, the endpoint's token cache. */
  credentials?: CredentialPlan | undefined;
  tokens?: TokenSource | undefined;
  dispatcher: Dispatcher | LentDispatcher;
  timeoutMs: number;
  clock: Clock;
  onRateLimited: () => void;
  onCircuitOpen: () => void;
  /** Who watches this endpoint's attempts (observers added later than this are not called). */
  observe?: { readonly observers: DeliveryObservers; readonly plan: EndpointPlan } | undefined;
  /** spec.paused: every attempt is refused locally. */
  paused?: boolean;
  /** Why the operator disabled the endpoint: every attempt is refused locally. */
  disabled?: string | undefined;
}

/** Composes the per-attempt pipeline. */
export function composeAttempt(parts: PipelineParts): Attempt {
  const observe = parts.observe;
  const layers: Layer[] = [
    // 0. Observe outermost: every attempt, a local answer (limited, circuit open) included.
    ...(observe !== undefined && !observe.observers.empty
      ? [observeLayer(observe.observers, observe.plan, parts.clock)]
      : []),
    // 0b. Pause next: a paused (or disabled) endpoint answers at once, holding no token and no probe.
    ...(parts.paused === true || parts.disabled !== undefined ? [pauseLayer(parts.disabled)] : []),
    // 1. Rate limit first: a waiting attempt holds no breaker probe and no connection.
    ...(parts.limiter ? [rateLimitLayer(parts.limiter, parts.clock, parts.onRateLimited)] : []),
    // 2. Breaker next: it sees the attempt only once it may really go out.
    ...(parts.breaker
      ? [circuitBreakerLayer(parts.breaker, parts.clock, parts.onCircuitOpen)]
      : []),
    // 3. Sign last before sending, so the timestamp is the attempt's own.
    signLayer(parts.signerAt, parts.clock),
    // 4. Credentials right before sending: never stored with the delivery, fresh on every
    //    attempt (rotations apply to retries), a token fetched only for an attempt that goes out.
    ...(parts.credentials ? [credentialLayer(parts.credentials, parts.tokens, parts.clock)] : []),
  ];
  // 5. The upstream call ends the chain.
  return layers.reduceRight<Attempt>(
    (next, layer) => layer(next),
    sendStage(parts.dispatcher, parts.timeoutMs, parts.clock),
  );
}

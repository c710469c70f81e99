// Circuit breaker layer: while the endpoint's breaker is open the app gets 503 at once and the
// receiver is left alone; otherwise the attempt's outcome feeds the breaker. Only what says the
// receiver is unwell counts as a failure: transport errors and 5xx. A 4xx is a healthy "no".
import { problem } from '../../problem.ts';
import type { AttemptResult, Clock, Layer } from '../delivery.ts';
import type { BreakerOutcome, CircuitBreaker } from '../circuit-breaker.ts';

function breakerOutcome(result: AttemptResult): BreakerOutcome {
  if (result.kind === 'local') return 'ignored';
  if (result.kind === 'error')
    return result.error === 'destination-not-allowed' ? 'ignored' : 'failure';
  return result.status >= 500 ? 'failure' : 'success';
}

/** Guards attempts with `breaker`; `onOpen` counts refusals for metrics. */
export function circuitBreakerLayer(
  breaker: CircuitBreaker,
  clock: Clock,
  onOpen: () => void,
): Layer {
  return (next) => async (delivery, attempt) => {
    const permit = breaker.acquire(clock.now());
    if (!permit.allowed) {
      onOpen();
      return {
        kind: 'local',
        problem: problem(
          'circuit-open',
          `endpoint ${delivery.endpointName} failed repeatedly; the sidecar stops sending to it for a while (breaker ${permit.state})`,
          { retryAfterMs: permit.retryAfterMs },
        ),
      };
    }
    const result = await next(delivery, attempt);
    permit.release(breakerOutcome(result), clock.now());
    return result;
  };
}

// Rate limit layer: every attempt spends a token (each one reaches the receiver). A limited attempt
// waits for its token while the delivery's deadline allows; otherwise the app gets 429 at once.
import { problem } from '../../problem.ts';
import type { Clock, Layer } from '../delivery.ts';
import type { RateLimiter } from '../token-bucket.ts';

/** Limits attempts with `limiter`; `onLimited` counts refusals for metrics. */
export function rateLimitLayer(limiter: RateLimiter, clock: Clock, onLimited: () => void): Layer {
  return (next) => async (delivery, attempt) => {
    for (;;) {
      const decision = await limiter.take(clock.now());
      if (decision.allowed) return next(delivery, attempt);
      if (clock.now() + decision.retryAfterMs >= delivery.deadline) {
        onLimited();
        return {
          kind: 'local',
          problem: problem(
            'rate-limited',
            `endpoint ${delivery.endpointName} is over its rate limit and the next slot is beyond this delivery's deadline`,
            { retryAfterMs: decision.retryAfterMs },
          ),
        };
      }
      await clock.sleep(decision.retryAfterMs);
    }
  };
}

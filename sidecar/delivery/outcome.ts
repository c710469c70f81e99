// How a delivery's final attempt ends for the app: the metrics outcome label and, when the gateway
// answers for the receiver, the problem. The named route turns it into a response, fan-out into
// a DeliveryReport; one mapping serves both.
import { problem, problemCode, type Problem } from '../problem.ts';
import type { AttemptResult } from './delivery.ts';

/** The metrics outcome and, for gateway-side answers, the problem for a final result. */
export function finalAnswer(
  result: AttemptResult,
  endpoint: string,
): { outcome: string; problem?: Problem } {
  if (result.kind === 'local') {
    return { outcome: problemCode(result.problem), problem: result.problem };
  }
  if (result.kind === 'response') {
    if (result.status >= 300 && result.status < 400) {
      const location = result.headers['location'];
      return {
        outcome: 'redirect',
        problem: problem(
          'redirect-not-followed',
          `the receiver of ${endpoint} answered ${result.status}${location ? ` to ${String(location)}` : ''}; webhooks are never redirected: point the endpoint at the final URL`,
        ),
      };
    }
    return { outcome: result.status < 300 ? 'delivered' : 'failed' };
  }
  switch (result.error) {
    case 'destination-not-allowed':
      return {
        outcome: 'destination_not_allowed',
        problem: problem('destination-not-allowed', result.message),
      };
    case 'token-error':
      return {
        outcome: 'token_endpoint_failed',
        problem: problem('token-endpoint-failed', `${endpoint}: ${result.message}`),
      };
    case 'timeout':
      return {
        outcome: 'timeout',
        problem: problem('receiver-timeout', `${endpoint}: ${result.message}`),
      };
    default:
      return {
        outcome: 'unreachable',
        problem: problem('receiver-unreachable', `${endpoint}: ${result.message}`),
      };
  }
}

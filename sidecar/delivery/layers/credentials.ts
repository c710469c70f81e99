// Credential layer: the headers a receiver demands (Basic, API keys, an OAuth2 bearer token) are
// added to each attempt here, just before it is sent, and to nothing stored: the queue, the
// history and the logs only ever see the delivery without them, and a rotated Secret or a renewed
// token applies to the very next attempt, queued deliveries included. A 401 with a bearer token
// renews the token once and sends again within the same attempt; a second 401 is the receiver's.
import type { CredentialPlan } from '../credentials/plan.ts';
import { TokenError, type TokenSource } from '../credentials/token-source.ts';
import type { AttemptResult, Clock, Delivery, Layer } from '../delivery.ts';

/** `delivery` with `headers` set, replacing any header of the same name in any case. */
function withHeaders(delivery: Delivery, headers: Readonly<Record<string, string>>): Delivery {
  const names = new Set(Object.keys(headers));
  if (names.size === 0) return delivery;
  const kept = Object.entries(delivery.headers).filter(([k]) => !names.has(k.toLowerCase()));
  return { ...delivery, headers: { ...Object.fromEntries(kept), ...headers } };
}

function tokenFailure(err: unknown, durationMs: number): AttemptResult {
  if (!(err instanceof TokenError)) throw err;
  return { kind: 'error', error: 'token-error', message: err.message, durationMs };
}

/** Adds `plan`'s headers and, with `tokens`, a bearer token to every attempt. */
export function credentialLayer(
  plan: CredentialPlan,
  tokens: TokenSource | undefined,
  clock: Clock,
): Layer {
  return (next) => async (delivery, attempt) => {
    const base = withHeaders(delivery, plan.headers);
    if (tokens === undefined) return next(base, attempt);
    const started = clock.now();
    const send = async (): Promise<{ result: AttemptResult; token?: string }> => {
      let token: string;
      try {
        token = await tokens.token();
      } catch (err) {
        return { result: tokenFailure(err, clock.now() - started) };
      }
      const bearer = withHeaders(base, { authorization: `Bearer ${token}` });
      return { result: await next(bearer, attempt), token };
    };
    const first = await send();
    const refused = first.result.kind === 'response' && first.result.status === 401;
    if (!refused || first.token === undefined) return first.result;
    // Revoked or expired early: one new token, one more send.
    tokens.invalidate(first.token);
    return (await send()).result;
  };
}

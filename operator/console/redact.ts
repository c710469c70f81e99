// A second line of defence: the history is redacted when it is written (common/history.ts), but
// the queue's admin API returns the headers the app sent, and an app may put its own credentials
// there. Nothing that looks like a secret or a signature reaches a page or the plugin's output.
import { REDACTED } from '../../common/history.ts';

/** Header names whose values are credentials or signatures. */
const SECRET_HEADER =
  /^(authorization|proxy-authorization|cookie|set-cookie|x-api-key|api-key|x-auth-token|webhook-signature|svix-signature|x-hub-signature(-256)?|stripe-signature|x-shopify-hmac-sha256|x-slack-signature|x-signature|.*-signature|.*-token|.*-secret|.*-api-key)$/i;

/** True when a header named `name` must not be shown. */
export function isSecretHeader(name: string): boolean {
  return SECRET_HEADER.test(name);
}

/** `headers` with every credential or signature value replaced by `[redacted]`. */
export function redactHeaders(
  headers: Readonly<Record<string, string>>,
): Readonly<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers))
    out[name] = isSecretHeader(name) ? REDACTED : value;
  return out;
}

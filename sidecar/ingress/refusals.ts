// Every answer the ingress gives without the app: its problem body, its outcome label and any
// header it needs. One place, so the wording a sender reads and the metric an operator graphs
// cannot drift apart. Details come from the verifier's `reason` (which names headers, never a
// secret or a signature) plus a hint on what the sender can do about it.
import type { VerifyFailure, VerifyFailureCode } from '../signing/index.ts';
import type { IngressOutcome } from './metrics.ts';
import { problem, type Problem, type ProblemSlug } from '../problem.ts';

/** A local answer: what the sender reads, what the metrics count. */
export interface Refusal {
  readonly problem: Problem;
  readonly outcome: IngressOutcome;
  readonly headers?: Readonly<Record<string, string>>;
}

/** Per verification failure code: problem slug, title, outcome and a hint for the sender. */
const VERIFY_REFUSALS: Readonly<
  Record<VerifyFailureCode, { slug: ProblemSlug; outcome: IngressOutcome; hint: string }>
> = {
  header_missing: {
    slug: 'signature-missing',
    outcome: 'missing_signature',
    hint: 'Send the signature headers this endpoint verifies.',
  },
  header_malformed: {
    slug: 'signature-malformed',
    outcome: 'malformed',
    hint: "Send the header exactly as the scheme's documentation describes it.",
  },
  signature_mismatch: {
    slug: 'signature-mismatch',
    outcome: 'bad_signature',
    hint: "Sign the exact body bytes with the endpoint's current secret; re-serialising the body or a rotated secret breaks the signature.",
  },
  timestamp_stale: {
    slug: 'timestamp-outside-tolerance',
    outcome: 'stale',
    hint: "Check the sender's clock, and sign each attempt with a fresh timestamp; old deliveries are refused as replays.",
  },
  timestamp_future: {
    slug: 'timestamp-outside-tolerance',
    outcome: 'stale',
    hint: "Check the sender's clock: it is ahead of this receiver's.",
  },
  credentials_missing: {
    slug: 'credentials-missing',
    outcome: 'missing_signature',
    hint: 'Send the Authorization header this endpoint requires.',
  },
  credentials_invalid: {
    slug: 'credentials-invalid',
    outcome: 'bad_signature',
    hint: 'Send the credentials configured for this endpoint.',
  },
};

/** The refusal of a webhook that failed verification (401 or 400, as the library decided). */
export function verificationRefusal(failure: VerifyFailure): Refusal {
  const { slug, outcome, hint } = VERIFY_REFUSALS[failure.code];
  const detail = `${failure.reason}. ${hint}`;
  const headers: Record<string, string> =
    failure.statusCode === 401 &&
    (failure.code === 'credentials_missing' || failure.code === 'credentials_invalid')
      ? // RFC 9110 section 11.6.1: a 401 for HTTP authentication names the scheme to use.
        {
          'www-authenticate': failure.scheme === 'basic-auth' ? 'Basic realm="hookgate"' : 'Bearer',
        }
      : {};
  return {
    problem: problem(slug, detail, {}, { status: failure.statusCode, code: failure.code }),
    outcome,
    headers,
  };
}

/** No endpoint at this path; the configured paths are not listed (they are not the sender's). */
export function unknownEndpoint(): Refusal {
  return {
    problem: problem(
      'unknown-endpoint',
      'No webhook endpoint is configured at this path. Check the URL registered with the provider.',
    ),
    outcome: 'unknown_endpoint',
  };
}

/** Webhooks are POSTs. */
export function methodNotAllowed(method: string | undefined): Refusal {
  return {
    problem: problem(
      'method-not-allowed',
      `This endpoint receives webhooks with POST, not ${method ?? 'this method'}.`,
    ),
    outcome: 'method_not_allowed',
    headers: { allow: 'POST' },
  };
}

/** The body is over the endpoint's cap. */
export function payloadTooLarge(limitBytes: number): Refusal {
  return {
    problem: problem(
      'payload-too-large',
      `The body is larger than this endpoint accepts (${limitBytes} bytes). Send a smaller payload, or raise the endpoint's maxPayloadBytes.`,
    ),
    outcome: 'too_large',
  };
}

/** The provider sends faster than the endpoint's rate limit: 429, and when to come back. */
export function rateLimited(retryAfterMs: number): Refusal {
  return {
    problem: {
      ...problem(
        'rate-limited',
        'This endpoint receives more webhooks than its rate limit allows. Retry after the time in Retry-After.',
      ),
      retryAfterMs,
    },
    outcome: 'rate_limited',
  };
}

/**
 * The endpoint exists but its secrets cannot verify anything. 503, not 401: the sender did
 * nothing wrong, and a 5xx makes every provider retry once the secret is fixed.
 */
export function endpointMisconfigured(): Refusal {
  return {
    problem: problem(
      'endpoint-misconfigured',
      'This endpoint cannot verify webhooks yet because of its configuration. Retry later; the receiver has been told.',
    ),
    outcome: 'misconfigured',
    headers: { 'retry-after': '60' },
  };
}

/**
 * A copy of a delivery the app already accepted. 200: the provider's goal (the app has the
 * event) is met, and any non-2xx would make it retry again and count a failure against the
 * endpoint, which providers punish by disabling it (ADR 0004).
 */
export function duplicateDelivery(deliveryId: string, window: string): Refusal {
  return {
    problem: problem(
      'duplicate-delivery',
      `Delivery ${deliveryId} was already accepted by the application within the de-duplication window (${window}); this copy was not forwarded again.`,
      {},
      { code: 'duplicate' },
    ),
    outcome: 'duplicate',
    headers: { 'hookgate-duplicate': 'true' },
  };
}

/**
 * A copy of a delivery that is with the app right now. 409 with Retry-After: whether the first
 * copy succeeds is not known yet, so the provider should ask again, as with Stripe's idempotency
 * keys.
 */
export function deliveryInFlight(deliveryId: string): Refusal {
  return {
    problem: problem(
      'delivery-in-progress',
      `Another copy of delivery ${deliveryId} is being delivered to the application right now. Retry later: it will be answered as a duplicate if that copy succeeds, and forwarded if it fails.`,
      {},
      { code: 'in_flight' },
    ),
    outcome: 'in_flight',
    headers: { 'retry-after': '5' },
  };
}

/** The app could not be reached, or broke the connection. */
export function appUnreachable(): Refusal {
  return {
    problem: problem(
      'app-unreachable',
      'The webhook was verified but the application behind this endpoint could not take it. Retry later; it was not recorded as delivered.',
    ),
    outcome: 'app_unreachable',
  };
}

/** The app did not answer in time. */
export function appTimeout(timeoutMs: number): Refusal {
  return {
    problem: problem(
      'app-timeout',
      `The webhook was verified but the application did not answer within ${timeoutMs} ms. Retry later; it was not recorded as delivered.`,
    ),
    outcome: 'app_timeout',
  };
}

/** A fault of the sidecar itself. */
export function internalError(): Refusal {
  return {
    problem: problem(
      'internal-error',
      'The gateway failed while handling this webhook. Retry later.',
    ),
    outcome: 'internal_error',
  };
}

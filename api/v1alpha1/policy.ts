// WebhookPolicy: how the endpoints it selects are treated — retries, limits, breaker, allowed
// dynamic destinations, payload size, delivery mode. The oldest selecting policy wins.
import { z } from 'zod';
import { ObjectMeta, cel, duration, labelSelector, statusBase } from './common.ts';
import { Signing } from './endpoint.ts';

/** Failure classes a policy may retry. */
export const RETRY_ON = ['connect-error', 'timeout', '5xx', '429', '408'] as const;

const Backoff = cel(
  z
    .object({
      initial: duration('Delay before the first retry. Default: 200ms.').optional(),
      max: duration('Longest delay between two attempts. Default: 10s.').optional(),
      multiplier: z
        .number()
        .min(1)
        .max(10)
        .optional()
        .describe('Each delay is the previous one times this, up to max. Default: 2.'),
      jitter: z
        .enum(['full', 'none'])
        .optional()
        .describe(
          'full (default): each delay is random between 0 and the computed delay, so retries from many pods do not arrive together. none: exact delays.',
        ),
    })
    .describe('Exponential backoff between synchronous attempts.'),
  [
    {
      rule: '!has(self.initial) || !has(self.max) || duration(self.max) >= duration(self.initial)',
      message: 'backoff.max must be at least backoff.initial: raise max or lower initial',
      fieldPath: '.max',
      reason: 'FieldValueInvalid',
    },
  ],
);

const Retry = z
  .object({
    maxAttempts: z
      .number()
      .int()
      .min(1)
      .max(50)
      .optional()
      .describe(
        'Attempts for a synchronous delivery, the first included; 1 means no retry. Default: 3.',
      ),
    backoff: Backoff.optional(),
    retryOn: z
      .array(z.enum(RETRY_ON).describe('A failure class: connect-error, timeout, 5xx, 429 or 408.'))
      .max(RETRY_ON.length)
      .meta({ 'x-kubernetes-list-type': 'set' })
      .optional()
      .describe(
        'Which failures are retried: connect-error, timeout, 5xx, 429, 408. Default: all five. Other 4xx and 3xx (redirects are never followed) are final.',
      ),
    honorRetryAfter: z
      .boolean()
      .optional()
      .describe(
        "Wait as long as a 429 or 503 response's Retry-After says (capped by maxRetryAfter). Default: true.",
      ),
    maxRetryAfter: duration(
      'Longest Retry-After honoured; longer values are clamped. Default: 1m.',
    ).optional(),
    syncDeadline: duration(
      'Total time a synchronous delivery may take, retries included; the app gets the last response when it runs out. Default: 30s.',
    ).optional(),
    schedule: z
      .array(duration('Delay before this attempt.'))
      .min(1)
      .max(30)
      .optional()
      .describe(
        'Asynchronous deliveries: the delay before each attempt, measured from the previous one; its length is the number of attempts. Default: 0s, 5s, 5m, 30m, 2h, 5h, 10h, 10h (about 27h, with jitter).',
      ),
  })
  .describe('When and how often failed deliveries are tried again.');

const RateLimit = z
  .object({
    rate: z.number().int().min(1).max(1_000_000).describe('Deliveries allowed per unit, e.g. 50.'),
    per: z
      .enum(['second', 'minute'])
      .optional()
      .describe('The unit of rate: second (default) or minute.'),
    burst: z
      .number()
      .int()
      .min(1)
      .max(1_000_000)
      .optional()
      .describe('Deliveries allowed at once above the steady rate. Default: equal to rate.'),
    scope: z
      .enum(['pod', 'global'])
      .optional()
      .describe(
        'pod (default): each pod counts on its own. global: all pods share one budget in Redis (HOOKGATE_REDIS_URL); without Redis the sidecar falls back to pod.',
      ),
  })
  .describe(
    'How fast each endpoint may receive. A limited delivery waits while its deadline allows, else the app gets 429 with Retry-After.',
  );

const CircuitBreaker = cel(
  z
    .object({
      consecutiveFailures: z
        .number()
        .int()
        .min(1)
        .max(1000)
        .optional()
        .describe('Open after this many failures in a row, e.g. 5.'),
      failureRatePercent: z
        .number()
        .int()
        .min(1)
        .max(100)
        .optional()
        .describe('Open when at least this percentage of deliveries in window failed, e.g. 50.'),
      window: duration('Sliding window for failureRatePercent. Default: 30s.').optional(),
      minimumRequests: z
        .number()
        .int()
        .min(1)
        .max(100000)
        .optional()
        .describe(
          'Deliveries needed in window before failureRatePercent can open the breaker. Default: 20.',
        ),
      openDuration: duration(
        'How long the breaker stays open before probing. Default: 30s.',
      ).optional(),
      halfOpenProbes: z
        .number()
        .int()
        .min(1)
        .max(100)
        .optional()
        .describe('Deliveries let through while half-open; all must succeed to close. Default: 1.'),
    })
    .describe(
      'Stops sending to a receiver that keeps failing: while open, deliveries fail at once with 503 (sync) or wait in the queue (async).',
    ),
  [
    {
      rule: 'has(self.consecutiveFailures) || has(self.failureRatePercent)',
      message:
        'set consecutiveFailures, failureRatePercent or both: otherwise the breaker never opens',
      reason: 'FieldValueRequired',
    },
  ],
);

const Destinations = z
  .object({
    allowedHosts: z
      .array(
        z
          .string()
          .min(1)
          .max(253)
          .regex(/^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/)
          .describe('A host name, or *. followed by a domain for any of its subdomains.'),
      )
      .max(256)
      .optional()
      .describe(
        'Host names dynamic destinations may use: exact (hooks.example.com) or a wildcard for subdomains (*.example.com).',
      ),
    allowedCIDRs: z
      .array(
        cel(z.string().max(64).describe('An IPv4 or IPv6 CIDR.'), [
          {
            rule: 'isCIDR(self)',
            message: 'must be a CIDR such as 203.0.113.0/24 or 2001:db8::/32',
          },
        ]),
      )
      .max(256)
      .optional()
      .describe(
        'Address ranges a destination may resolve to even though the SSRF guard refuses them by default (private, loopback, link-local…), e.g. 10.20.0.0/16 for an internal receiver.',
      ),

    signing: Signing.optional().describe(
      "How deliveries to destinations this policy admits are signed (same fields as a WebhookEndpoint's signing). Unset: they are sent unsigned.",
    ),
  })
  .describe(
    'Dynamic destinations (the Hookgate-Destination header): refused unless a host matches allowedHosts; the resolved address must be public or inside allowedCIDRs.',
  );

const Delivery = cel(
  z
    .object({
      mode: z
        .enum(['sync', 'async'])
        .optional()
        .describe(
          "sync (default): the app waits for the receiver's final response. async: the app gets 202 once the webhook is durably queued (also per request with Prefer: respond-async).",
        ),
      ordering: z
        .enum(['none', 'per-endpoint'])
        .optional()
        .describe(
          'none (default): deliveries may overtake each other. per-endpoint: deliveries to one endpoint leave in the order accepted; a failing one holds back that endpoint only.',
        ),
    })
    .describe('How the app hands webhooks over.'),
  [
    {
      rule: "!has(self.ordering) || self.ordering == 'none' || (has(self.mode) && self.mode == 'async')",
      message:
        'ordering per-endpoint needs mode async: ordered delivery runs from the durable queue',
      fieldPath: '.ordering',
      reason: 'FieldValueInvalid',
    },
  ],
);

/** The spec of a WebhookPolicy. */
export const WebhookPolicySpec = cel(
  z
    .object({
      endpointSelector: labelSelector(
        'Which WebhookEndpoints in this namespace the policy applies to, by their labels.',
      ),
      retry: Retry.optional(),
      rateLimit: RateLimit.optional(),
      circuitBreaker: CircuitBreaker.optional(),
      timeout: duration(
        'Time limit for one attempt (connect to last response byte). Default: 10s.',
      ).optional(),
      destinations: Destinations.optional(),
      maxPayloadBytes: z
        .number()
        .int()
        .min(1)
        .max(26_214_400)
        .optional()
        .describe(
          'Largest body accepted, in bytes; larger gets 413. Default: 1048576 (1 MiB). At most 25 MiB.',
        ),
      delivery: Delivery.optional(),
      fanOut: z
        .object({
          maxEndpoints: z
            .number()
            .int()
            .min(1)
            .max(10_000)
            .describe(
              'Most endpoints one event may fan out to when it reaches any endpoint this policy is in effect for; a wider event is refused whole (422, nothing delivered).',
            ),
        })
        .optional()
        .describe(
          'Caps fan-out (POST /_events) width, so a missing selector cannot broadcast to every customer at once. The smallest cap among the matched endpoints applies.',
        ),
      interception: z
        .object({
          unmatched: z
            .enum(['passthrough', 'refuse'])
            .describe(
              'What a transparent-mode sidecar does with captured plain-HTTP requests no endpoint claims. passthrough (the default without any policy saying): send them on, through the SSRF guard (private, loopback, link-local and metadata addresses refused unless destinations.allowedCIDRs admits them). refuse: answer 403.',
            ),
        })
        .optional()
        .describe(
          'Transparent interception, for the whole namespace (not only the selected endpoints): the oldest policy that sets it decides, as for endpoints.',
        ),
    })
    .describe('How the selected endpoints are treated.'),
  [
    {
      rule: '!has(self.timeout) || !has(self.retry) || !has(self.retry.syncDeadline) || duration(self.retry.syncDeadline) >= duration(self.timeout)',
      message:
        'retry.syncDeadline must be at least timeout, or no attempt could finish: raise syncDeadline or lower timeout',
      fieldPath: '.retry.syncDeadline',
      reason: 'FieldValueInvalid',
    },
  ],
);

/** The status of a WebhookPolicy, written by the operator. */
export const WebhookPolicyStatus = z
  .object({
    ...statusBase,
    selectedEndpoints: z
      .number()
      .int()
      .min(0)
      .optional()
      .describe(
        'How many endpoints this policy is in effect for (an endpoint selected by an older policy is not counted: see the Conflicted condition).',
      ),
  })
  .describe('What the operator observed and published.');

/** A whole WebhookPolicy object. */
export const WebhookPolicy = z.object({
  apiVersion: z.literal('hookgate.io/v1alpha1'),
  kind: z.literal('WebhookPolicy'),
  metadata: ObjectMeta,
  spec: WebhookPolicySpec,
  status: WebhookPolicyStatus.optional(),
});

/** A WebhookPolicy as TypeScript sees it. */
export type WebhookPolicy = z.infer<typeof WebhookPolicy>;
/** The spec of a WebhookPolicy. */
export type WebhookPolicySpec = z.infer<typeof WebhookPolicySpec>;

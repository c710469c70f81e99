// WebhookPolicy: how the endpoints it selects are treated — retries, limits, breaker, allowed
// dynamic destinations, payload size, delivery mode. The oldest selecting policy wins.
import { z } from 'zod';
import { ObjectMeta, cel, duration, labelSelector, statusBase } from './common.ts';
import {
  DELIVERY_MODE,
  DELIVERY_ORDERING,
  HISTORY_BODIES,
  JITTER,
  POLICY_BOUNDS as B,
  POLICY_DEFAULTS as D,
  RATE_PER,
  RATE_SCOPE,
  RETRY_ON,
  boundedInt,
  boundedNumber,
  documentedDefault as dflt,
} from './defaults.ts';
import { Signing } from './endpoint.ts';

export { RETRY_ON } from './defaults.ts';

const Backoff = cel(
  z
    .object({
      initial: duration(
        `Delay before the first retry. ${dflt(D.retry.backoff.initial)}`,
      ).optional(),
      max: duration(`Longest delay between two attempts. ${dflt(D.retry.backoff.max)}`).optional(),
      multiplier: boundedNumber(B.multiplier)
        .optional()
        .describe(
          `Each delay is the previous one times this, up to max. ${dflt(D.retry.backoff.multiplier)}`,
        ),
      jitter: z
        .enum(JITTER)
        .optional()
        .describe(
          `full: each synchronous delay is random between 0 and the computed delay, so retries from many pods do not arrive together; each async schedule entry is spread by ±10% (a full spread would turn 5m into anything from 0s to 5m). none: exact delays and an exact schedule. ${dflt(D.retry.backoff.jitter)}`,
        ),
    })
    .describe('Exponential backoff between synchronous attempts.'),
  [
    {
      // An unset side is its default, so `max: 100ms` alone is refused too (initial defaults higher).
      rule: `duration(has(self.max) ? self.max : '${D.retry.backoff.max}') >= duration(has(self.initial) ? self.initial : '${D.retry.backoff.initial}')`,
      message: `backoff.max must be at least backoff.initial (defaults: max ${D.retry.backoff.max}, initial ${D.retry.backoff.initial}): raise max or lower initial`,
      fieldPath: '.max',
      reason: 'FieldValueInvalid',
    },
  ],
);

const Retry = z
  .object({
    maxAttempts: boundedInt(B.maxAttempts)
      .optional()
      .describe(
        `Attempts for a synchronous delivery, the first included; 1 means no retry. ${dflt(D.retry.maxAttempts)}`,
      ),
    backoff: Backoff.optional(),
    retryOn: z
      .array(z.enum(RETRY_ON).describe('A failure class: connect-error, timeout, 5xx, 429 or 408.'))
      .max(RETRY_ON.length)
      .meta({ 'x-kubernetes-list-type': 'set' })
      .optional()
      .describe(
        `Which failures are retried, sync and async: connect-error, timeout, 5xx, 429, 408. Other 4xx and 3xx (redirects are never followed) are final. ${dflt(D.retry.retryOn)}`,
      ),
    honorRetryAfter: z
      .boolean()
      .optional()
      .describe(
        `Retry-After on a 429 or 503 response (the statuses that give it a meaning for a retry; on others it is ignored) sets the least wait before the next attempt, synchronous or async: the wait is the larger of the planned delay and Retry-After capped at maxRetryAfter. A synchronous delivery whose wait would pass syncDeadline ends with that response. ${dflt(D.retry.honorRetryAfter)}`,
      ),
    maxRetryAfter: duration(
      `Longest Retry-After honoured, sync and async alike; longer values are clamped to it. ${dflt(D.retry.maxRetryAfter)}`,
    ).optional(),
    syncDeadline: duration(
      `Total time a synchronous delivery may take, retries included; the app gets the last response when it runs out. ${dflt(D.retry.syncDeadline)}`,
    ).optional(),
    schedule: z
      .array(duration('Delay before this attempt.'))
      .min(B.scheduleEntries.min)
      .max(B.scheduleEntries.max)
      .optional()
      .describe(
        `Asynchronous deliveries: the delay before each attempt, measured from the previous one; its length is the number of attempts (about 27h by default, jittered as backoff.jitter says). ${dflt(D.retry.schedule)}`,
      ),
  })
  .describe('When and how often failed deliveries are tried again.');

const RateLimit = z
  .object({
    rate: boundedInt(B.rate).describe('Deliveries allowed per unit, e.g. 50.'),
    per: z
      .enum(RATE_PER)
      .optional()
      .describe(`The unit of rate: second or minute. ${dflt(D.rateLimit.per)}`),
    burst: boundedInt(B.burst)
      .optional()
      .describe('Deliveries allowed at once above the steady rate. Default: equal to rate.'),
    scope: z
      .enum(RATE_SCOPE)
      .optional()
      .describe(
        `pod: each pod counts on its own. global: all pods share one budget in Redis (HOOKGATE_REDIS_URL); without Redis the sidecar falls back to pod. ${dflt(D.rateLimit.scope)}`,
      ),
  })
  .describe(
    'How fast each endpoint may receive. A limited delivery waits while its deadline allows, else the app gets 429 with Retry-After.',
  );

const CircuitBreaker = cel(
  z
    .object({
      consecutiveFailures: boundedInt(B.consecutiveFailures)
        .optional()
        .describe('Open after this many failures in a row, e.g. 5.'),
      failureRatePercent: boundedInt(B.failureRatePercent)
        .optional()
        .describe('Open when at least this percentage of deliveries in window failed, e.g. 50.'),
      window: duration(
        `Sliding window for failureRatePercent. ${dflt(D.circuitBreaker.window)}`,
      ).optional(),
      minimumRequests: boundedInt(B.minimumRequests)
        .optional()
        .describe(
          `Deliveries needed in window before failureRatePercent can open the breaker. ${dflt(D.circuitBreaker.minimumRequests)}`,
        ),
      openDuration: duration(
        `How long the breaker stays open before probing. ${dflt(D.circuitBreaker.openDuration)}`,
      ).optional(),
      halfOpenProbes: boundedInt(B.halfOpenProbes)
        .optional()
        .describe(
          `Deliveries let through while half-open; all must succeed to close. ${dflt(D.circuitBreaker.halfOpenProbes)}`,
        ),
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
        .enum(DELIVERY_MODE)
        .optional()
        .describe(
          `sync: the app waits for the receiver's final response. async: the app gets 202 once the webhook is durably queued (also per request with Prefer: respond-async). ${dflt(D.delivery.mode)}`,
        ),
      ordering: z
        .enum(DELIVERY_ORDERING)
        .optional()
        .describe(
          `none: deliveries may overtake each other. per-endpoint: deliveries to one endpoint leave in the order accepted; a failing one holds back that endpoint only. ${dflt(D.delivery.ordering)}`,
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

const History = z
  .object({
    maxDeliveries: boundedInt(B.historyMaxDeliveries)
      .optional()
      .describe(
        `Deliveries kept in the history; past it the oldest are forgotten. The namespace's sidecars keep the largest any policy asks for. ${dflt(D.history.maxDeliveries)}`,
      ),
    maxAge: duration(
      `Deliveries older than this are forgotten. ${dflt(D.history.maxAge)}`,
    ).optional(),
    maxBytes: boundedInt(B.historyMaxBytes)
      .optional()
      .describe(
        `Bytes the history may hold (Redis, or each pod's disk); past it the oldest deliveries are forgotten. From 64 KiB to 4 GiB. ${dflt(D.history.maxBytes)}`,
      ),
    bodies: z
      .enum(HISTORY_BODIES)
      .optional()
      .describe(
        `Which request and response bodies the history keeps: none, truncated (the first maxBodyBytes), or full. Headers are kept either way, credentials and signatures redacted. ${dflt(D.history.bodies)}`,
      ),
    maxBodyBytes: boundedInt(B.historyMaxBodyBytes)
      .optional()
      .describe(
        `Bytes of each body kept when bodies is truncated; at most 1 MiB. ${dflt(D.history.maxBodyBytes)}`,
      ),
    secretHeaders: z
      .array(
        z
          .string()
          .min(1)
          .max(128)
          .regex(/^[A-Za-z0-9-]+$/)
          .describe('A header name, e.g. X-Partner-Key (any case).'),
      )
      .max(B.historySecretHeaders.max)
      .optional()
      .describe(
        'More header names whose values the history redacts, on top of Authorization, Cookie, every *-Signature, *-Token, *-Secret and *-Api-Key header and the endpoint headers from configuration.',
      ),
  })
  .describe(
    "What the delivery history (console, admin API, kubectl hookgate) keeps of these endpoints' deliveries: every attempt, with the receiver's answer.",
  );

/** Shortest `autoDisable.failingFor`: below a few report windows one bad minute would disable. */
export const AUTO_DISABLE_MIN_FAILING_FOR = '5m';

const AutoDisable = cel(
  z
    .object({
      failingFor: duration(
        `Disable an endpoint that failed continuously this long: deliveries (or queued attempts) kept failing, across all pods, and none succeeded since the first failure of the run, e.g. 24h (Svix disables after 5 days). At least ${AUTO_DISABLE_MIN_FAILING_FOR}.`,
      ).optional(),
      deadLettersInARow: boundedInt(B.deadLettersInARow)
        .optional()
        .describe(
          'Disable an endpoint after this many deliveries were dead-lettered in a row: the dead letters every pod counted since its own last success, added up, with no delivery succeeding in the recent window, e.g. 100.',
        ),
    })
    .describe(
      'Auto-disable (off unless set): the operator marks a receiver that keeps failing Healthy=False with reason Disabled. A disabled endpoint refuses sync deliveries (503 endpoint-disabled naming the reason) and holds async ones in the queue, nothing dead-lettered for it, until the WebhookEndpoint is changed (kubectl edit, a GitOps commit: a new metadata.generation enables it again).',
    ),
  [
    {
      rule: 'has(self.failingFor) || has(self.deadLettersInARow)',
      message:
        'set failingFor, deadLettersInARow or both: otherwise nothing ever disables an endpoint',
      reason: 'FieldValueRequired',
    },
    {
      rule: `!has(self.failingFor) || duration(self.failingFor) >= duration('${AUTO_DISABLE_MIN_FAILING_FOR}')`,
      message: `failingFor must be at least ${AUTO_DISABLE_MIN_FAILING_FOR}: shorter runs of failures are what retries and the circuit breaker are for`,
      fieldPath: '.failingFor',
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
        `Time limit for one attempt (connect to last response byte). ${dflt(D.timeout)}`,
      ).optional(),
      destinations: Destinations.optional(),
      maxPayloadBytes: boundedInt(B.maxPayloadBytes)
        .optional()
        .describe(
          `Largest body accepted, in bytes; larger gets 413. At most 25 MiB. ${dflt(D.maxPayloadBytes)}`,
        ),
      delivery: Delivery.optional(),
      history: History.optional(),
      fanOut: z
        .object({
          maxEndpoints: boundedInt(B.fanOutMaxEndpoints).describe(
            'Most endpoints one event may fan out to when it reaches any endpoint this policy is in effect for; a wider event is refused whole (422, nothing delivered).',
          ),
        })
        .optional()
        .describe(
          'Caps fan-out (POST /_events) width, so a missing selector cannot broadcast to every customer at once. The smallest cap among the matched endpoints applies.',
        ),
      autoDisable: AutoDisable.optional(),
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

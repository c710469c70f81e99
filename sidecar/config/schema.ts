// The sidecar's configuration file: the compiled form the operator publishes (one ConfigMap per
// namespace, secrets in a Secret mounted beside it) and what `hookgate-sidecar --config FILE`
// reads standalone. Policies arrive resolved: each endpoint carries the policy in effect, so the
// sidecar never evaluates selectors. Defaults live here, so a hand-written file stays short.
import { z } from 'zod';
import { DURATION_PATTERN, EVENT_TYPE_MATCH_PATTERN } from '../../api/v1alpha1/common.ts';
import {
  JSON_PATH_PATTERN,
  RESERVED_HEADERS,
  SIDECAR_OWN_PORTS,
} from '../../api/v1alpha1/endpoint.ts';
import {
  DELIVERY_MODE,
  ENDPOINT_DEFAULTS as E,
  DELIVERY_ORDERING,
  HMAC_ALGORITHM,
  HISTORY_BODIES,
  HMAC_ENCODING,
  JITTER,
  POLICY_BOUNDS as B,
  POLICY_DEFAULTS as D,
  RATE_PER,
  RATE_SCOPE,
  RETRY_ON,
  SIDECAR_OPERATIONAL_EVENT_TYPES,
  SIGNING_SCHEMES,
  TLS_VERSIONS,
  UNROUTED,
  VERIFY_SCHEMES,
  boundedInt,
  boundedNumber,
} from '../../api/v1alpha1/defaults.ts';
import { isDuration, parseDuration } from '../../common/duration.ts';
import { compileFilter } from '../filter/index.ts';

const duration = z
  .string()
  .regex(DURATION_PATTERN, 'write a duration like 500ms, 30s, 5m or 1h30m');
const name = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'use lower-case letters, digits, - and .');
const headerName = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9-]+$/, 'use letters, digits and -');
/** Event type patterns: exact, `prefix.*` or `*` (fan-out subscriptions, ingress routes). */
const eventTypes = z
  .array(
    z
      .string()
      .max(128)
      .regex(EVENT_TYPE_MATCH_PATTERN, 'write an event type, a prefix wildcard like order.* or *'),
  )
  .max(64);
const jsonPath = z
  .string()
  .max(256)
  .regex(JSON_PATH_PATTERN, 'write a JSON path like $.type or $.event["type"]');
/** A payload filter expression (sidecar/filter), checked by the same parser that runs it. */
const filterExpression = z.string().superRefine((text, ctx) => {
  const compiled = compileFilter(text);
  if ('error' in compiled) ctx.addIssue({ code: 'custom', message: compiled.error });
});

/**
 * Where a secret's bytes come from: a file (the operator's mounted Secret; a relative path is
 * resolved against the config file's folder) or an environment variable. Never inline.
 */
export const SecretSource = z.union([
  z.object({ file: z.string().min(1) }).strict(),
  z
    .object({
      env: z
        .string()
        .min(1)
        .regex(/^[A-Za-z_][A-Za-z0-9_]*$/),
    })
    .strict(),
]);
/** Where a secret's bytes come from. */
export type SecretSource = z.infer<typeof SecretSource>;

const HmacSettings = z
  .object({
    header: headerName,
    algorithm: z.enum(HMAC_ALGORITHM).default('sha256'),
    encoding: z.enum(HMAC_ENCODING).default('hex'),
    prefix: z.string().max(32).optional(),
    timestampHeader: headerName.optional(),
  })
  .strict();

/** How outgoing webhooks are signed. `none` exists for receivers that verify nothing. */
export const Signing = z
  .object({
    scheme: z.enum([...SIGNING_SCHEMES, 'none']).default('standard-webhooks'),
    /** Current secret first; rotated-out ones carry `expiresAt` and stop signing after it. */
    secrets: z
      .array(z.object({ source: SecretSource, expiresAt: z.iso.datetime().optional() }).strict())
      .max(5)
      .default([]),
    hmac: HmacSettings.optional(),
  })
  .strict()
  .superRefine((s, ctx) => {
    if (s.scheme !== 'none' && s.secrets.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['secrets'],
        message: `scheme ${s.scheme} needs at least one secret`,
      });
    }
    if ((s.scheme === 'hmac') !== (s.hmac !== undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['hmac'],
        message: 'set hmac exactly when scheme is hmac',
      });
    }
    if (s.scheme !== 'standard-webhooks' && s.secrets.length > 1) {
      ctx.addIssue({
        code: 'custom',
        path: ['secrets'],
        message: `scheme ${s.scheme} signs with one secret only`,
      });
    }
  });

/** A rate limit: egress per endpoint, ingress per receiving endpoint. */
export const RateLimit = z
  .object({
    rate: boundedInt(B.rate).describe('Deliveries allowed per unit.'),
    per: z.enum(RATE_PER).default(D.rateLimit.per).describe('The unit of rate.'),
    burst: boundedInt(B.burst)
      .optional()
      .describe('Deliveries at once above the rate; absent: rate.'),
    scope: z
      .enum(RATE_SCOPE)
      .default(D.rateLimit.scope)
      .describe('pod: this sidecar counts alone; global: shared in Redis.'),
  })
  .strict();

const Backoff = z
  .object({
    initial: duration
      .default(D.retry.backoff.initial)
      .describe('Ceiling of the first retry delay.'),
    max: duration.default(D.retry.backoff.max).describe('No delay exceeds this.'),
    multiplier: boundedNumber(B.multiplier)
      .default(D.retry.backoff.multiplier)
      .describe('Growth factor per attempt.'),
    jitter: z
      .enum(JITTER)
      .default(D.retry.backoff.jitter)
      .describe('full: sync delays in [0, delay], async entries ±10%; none: exact.'),
  })
  .strict()
  .superRefine((b, ctx) => {
    if (
      isDuration(b.initial) &&
      isDuration(b.max) &&
      parseDuration(b.max) < parseDuration(b.initial)
    )
      ctx.addIssue({
        code: 'custom',
        path: ['max'],
        message: `must be at least backoff.initial (${b.max} < ${b.initial}): raise max or lower initial`,
      });
  });

const Retry = z
  .object({
    maxAttempts: boundedInt(B.maxAttempts)
      .default(D.retry.maxAttempts)
      .describe('Sync attempts, the first included.'),
    backoff: Backoff.prefault({}),
    retryOn: z
      .array(z.enum(RETRY_ON))
      .max(RETRY_ON.length)
      .default([...D.retry.retryOn])
      .describe('Failure classes retried, sync and async.'),
    honorRetryAfter: z
      .boolean()
      .default(D.retry.honorRetryAfter)
      .describe('Retry-After on 429/503 sets the least wait (ADR 0015).'),
    maxRetryAfter: duration
      .default(D.retry.maxRetryAfter)
      .describe('Longest Retry-After honoured, sync and async.'),
    syncDeadline: duration
      .default(D.retry.syncDeadline)
      .describe('Total time of a sync delivery, retries included.'),
    schedule: z
      .array(duration)
      .min(B.scheduleEntries.min)
      .max(B.scheduleEntries.max)
      .default([...D.retry.schedule])
      .describe('Async: delay before each attempt; its length is the attempt budget.'),
  })
  .strict();

const CircuitBreaker = z
  .object({
    consecutiveFailures: boundedInt(B.consecutiveFailures)
      .optional()
      .describe('Open after this many failures in a row.'),
    failureRatePercent: boundedInt(B.failureRatePercent)
      .optional()
      .describe('Open at this failure percentage in window.'),
    window: duration.default(D.circuitBreaker.window).describe('Window of failureRatePercent.'),
    minimumRequests: boundedInt(B.minimumRequests)
      .default(D.circuitBreaker.minimumRequests)
      .describe('Deliveries in window before the rate may open the breaker.'),
    openDuration: duration
      .default(D.circuitBreaker.openDuration)
      .describe('How long it stays open before probing.'),
    halfOpenProbes: boundedInt(B.halfOpenProbes)
      .default(D.circuitBreaker.halfOpenProbes)
      .describe('Probes let through while half-open.'),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.consecutiveFailures === undefined && c.failureRatePercent === undefined)
      ctx.addIssue({
        code: 'custom',
        path: [],
        message:
          'set consecutiveFailures, failureRatePercent or both: otherwise the breaker never opens',
      });
  });

/** What the delivery history keeps of an endpoint's deliveries (ADR 0022). */
export const HistoryPolicy = z
  .object({
    maxDeliveries: boundedInt(B.historyMaxDeliveries)
      .default(D.history.maxDeliveries)
      .describe('Deliveries kept; the oldest go first.'),
    maxAge: duration
      .default(D.history.maxAge)
      .describe('Deliveries older than this are forgotten.'),
    maxBytes: boundedInt(B.historyMaxBytes)
      .default(D.history.maxBytes)
      .describe('Bytes the history may hold; the oldest go first.'),
    bodies: z
      .enum(HISTORY_BODIES)
      .default(D.history.bodies)
      .describe('Request and response bodies: none, truncated to maxBodyBytes, or full.'),
    maxBodyBytes: boundedInt(B.historyMaxBodyBytes)
      .default(D.history.maxBodyBytes)
      .describe('Bytes of each body kept when bodies is truncated.'),
    secretHeaders: z
      .array(headerName)
      .max(B.historySecretHeaders.max)
      .default([])
      .describe('More header names whose values are redacted.'),
  })
  .strict();

/** The policy in effect for an endpoint, defaults (api/v1alpha1/defaults.ts) filled in. */
export const Policy = z
  .object({
    /** The WebhookPolicy this came from, for logs and metrics; absent: built-in defaults. */
    name: z.string().max(253).optional(),
    timeout: duration.default(D.timeout).describe('Time limit of one attempt.'),
    retry: Retry.prefault({}),
    rateLimit: RateLimit.optional(),
    circuitBreaker: CircuitBreaker.optional(),
    destinations: z
      .object({
        allowedHosts: z.array(z.string().min(1).max(253)).max(256).default([]),
        allowedCIDRs: z.array(z.string().min(1).max(64)).max(256).default([]),
      })
      .strict()
      .optional()
      .describe('Dynamic destinations admitted, and address ranges exempt from the SSRF guard.'),
    maxPayloadBytes: boundedInt(B.maxPayloadBytes)
      .default(D.maxPayloadBytes)
      .describe('Largest body accepted, in bytes.'),
    delivery: z
      .object({
        mode: z.enum(DELIVERY_MODE).default(D.delivery.mode),
        ordering: z.enum(DELIVERY_ORDERING).default(D.delivery.ordering),
      })
      .strict()
      .prefault({}),
    history: HistoryPolicy.prefault({}),
    /** Fan-out width cap for events reaching endpoints under this policy. */
    fanOut: z
      .object({ maxEndpoints: boundedInt(B.fanOutMaxEndpoints) })
      .strict()
      .optional(),
  })
  .strict();

/**
 * Credentials the receiver demands (ADR 0021), added to each attempt just before it is sent;
 * their values come from secret sources like signing secrets, so they rotate with a reload.
 */
export const Credentials = z
  .object({
    /** HTTP Basic: `Authorization: Basic base64(username:password)`. */
    basic: z.object({ username: SecretSource, password: SecretSource }).strict().optional(),
    /** OAuth2 client credentials: a cached, shared bearer token. */
    oauth2: z
      .object({
        // The CRD requires https://; a hand-written file may name a local http:// token server.
        tokenURL: z.url({ protocol: /^https?$/, error: 'use an absolute https:// URL' }),
        clientId: SecretSource,
        clientSecret: SecretSource,
        scopes: z.array(z.string().min(1).max(256)).max(32).default([]),
        audience: z.string().min(1).max(2048).optional(),
        refreshBefore: duration
          .default(E.oauth2.refreshBefore)
          .describe('A cached token is renewed this long before it expires.'),
        defaultLifetime: duration
          .default(E.oauth2.defaultLifetime)
          .describe('Lifetime assumed when the token endpoint sends no expires_in.'),
      })
      .strict()
      .optional(),
    /** Headers whose values are secrets (API keys). */
    headers: z
      .array(z.object({ name: headerName, value: SecretSource }).strict())
      .max(16)
      .default([]),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.basic !== undefined && c.oauth2 !== undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['oauth2'],
        message: 'set basic or oauth2, not both: each writes Authorization',
      });
  });

/** TLS towards an https:// receiver: a client certificate, a private CA, SNI, a version floor. */
export const TlsSettings = z
  .object({
    clientCertificate: z
      .object({ certificate: SecretSource, key: SecretSource })
      .strict()
      .optional(),
    /** PEM CAs trusted instead of Node's public roots. */
    ca: SecretSource.optional(),
    serverName: z.string().min(1).max(253).optional(),
    minVersion: z
      .enum(TLS_VERSIONS)
      .default(E.tls.minVersion)
      .describe('Oldest TLS version accepted.'),
  })
  .strict();

/** One named egress destination. */
export const EgressEndpoint = z
  .object({
    name,
    url: z
      .url({ protocol: /^https?$/, error: 'use an absolute http:// or https:// URL' })
      .refine((u) => !/^[a-z]+:\/\/[^/?#]*@/i.test(u), {
        error:
          'remove user:pass@ from the URL: it is not sent; put the credential in headers instead',
      }),
    /** The WebhookEndpoint's labels: what fan-out selectors match. */
    labels: z.record(z.string(), z.string()).default({}),
    signing: Signing.prefault({ scheme: 'none' }),
    // The API's rule (spec.headers), for hand-written configs too: a static Host or framing header
    // would clash with the ones the sidecar writes and fail every attempt.
    headers: z
      .record(headerName, z.string())
      .refine(
        (h) =>
          !Object.keys(h).some((k) =>
            (RESERVED_HEADERS as readonly string[]).includes(k.toLowerCase()),
          ),
        `headers may not set ${RESERVED_HEADERS.join(', ')}: the sidecar writes them; remove it`,
      )
      .default({}),
    auth: Credentials.optional(),
    tls: TlsSettings.optional(),
    /** Planned maintenance: sync deliveries refused at once, async ones held in the queue. */
    paused: z.boolean().default(E.paused),
    /**
     * Disabled by the operator after failing for too long (its status says why): refused and held
     * like a paused endpoint until the WebhookEndpoint is changed.
     */
    disabled: z
      .object({ reason: z.string().min(1).max(1024) })
      .strict()
      .optional(),
    policy: Policy.prefault({}),
    /** Fan-out subscriptions; empty: reached by name only. */
    eventTypes: eventTypes.default([]),
    /** Payload condition for subscribed events. */
    filter: filterExpression.optional(),
    /**
     * Hookgate's own events this sidecar sends this endpoint itself (ADR 0025): one per delivery
     * it dead-letters. The operator sends the others through its outbox.
     */
    operationalEvents: z.array(z.enum(SIDECAR_OPERATIONAL_EVENT_TYPES)).max(8).default([]),
  })
  .strict();

/**
 * Dynamic destinations (`Hookgate-Destination`), compiled from policies with `destinations`:
 * tried in order, the first whose allowedHosts admit the host handles the delivery.
 */
export const DynamicRoute = z
  .object({
    signing: Signing.prefault({ scheme: 'none' }),
    policy: Policy.refine((p) => p.destinations !== undefined, {
      message: 'a dynamic route needs policy.destinations',
      path: ['destinations'],
    }),
  })
  .strict();

/** How incoming webhooks are verified. */
export const Verify = z
  .object({
    scheme: z.enum(VERIFY_SCHEMES),
    /** Accepted secrets (any verifies); for basic: `username` and `password` sources instead. */
    secrets: z.array(SecretSource).max(5).default([]),
    username: SecretSource.optional(),
    password: SecretSource.optional(),
    tolerance: duration.default('5m'),
    hmac: HmacSettings.optional(),
  })
  .strict()
  .superRefine((v, ctx) => {
    if (v.scheme === 'basic' && (v.username === undefined || v.password === undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['username'],
        message: 'scheme basic needs username and password sources',
      });
    }
    if (v.scheme !== 'basic' && v.secrets.length === 0) {
      ctx.addIssue({
        code: 'custom',
        path: ['secrets'],
        message: `scheme ${v.scheme} needs at least one secret`,
      });
    }
    if ((v.scheme === 'hmac') !== (v.hmac !== undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['hmac'],
        message: 'set hmac exactly when scheme is hmac',
      });
    }
  });

/** One ingress receiver. */
/** An app port on loopback, never one of the sidecar's own (a webhook would loop through it). */
const appPort = z
  .number()
  .int()
  .min(1)
  .max(65535)
  .refine((p) => !(SIDECAR_OWN_PORTS as readonly number[]).includes(p), {
    error: `${SIDECAR_OWN_PORTS.join(', ')} are the sidecar's own ports: forward to the app's port`,
  });

export const IngressEndpoint = z
  .object({
    name,
    path: z.string().regex(/^\//, 'start the path with /'),
    verify: Verify,
    forward: z
      .object({
        port: appPort.default(8080),
        /** App path; absent: the path the webhook arrived on. */
        path: z.string().regex(/^\//, 'start the path with /').optional(),
        buffered: z.boolean().default(false),
        /** Where the event type is read; absent: the verify scheme's default (ingress/event-routes.ts). */
        eventType: z
          .union([z.object({ header: headerName }).strict(), z.object({ jsonPath }).strict()])
          .optional(),
        /** De-multiplexing by event type, first match wins. */
        routes: z
          .array(
            z
              .object({
                eventTypes: eventTypes.min(1),
                port: appPort.optional(),
                path: z.string().regex(/^\//, 'start the path with /').optional(),
              })
              .strict(),
          )
          .max(32)
          .default([]),
        /** What happens to a webhook no route takes. */
        unrouted: z.enum(UNROUTED).default('default'),
      })
      .strict()
      .prefault({}),
    deduplication: z
      .object({ window: duration.default('24h') })
      .strict()
      .prefault({}),
    maxPayloadBytes: boundedInt(B.maxPayloadBytes).default(D.maxPayloadBytes),
    /** Providers sending faster get 429 with Retry-After (the policy's rateLimit). */
    rateLimit: RateLimit.optional(),
  })
  .strict();

/**
 * The durable delivery queue (async mode): its bounds and the background worker. Read at start;
 * a change takes effect on restart.
 */
export const QueueSettings = z
  .object({
    /** Embedded backend (no HOOKGATE_REDIS_URL): the folder of the on-disk queue. */
    directory: z.string().min(1).default('/var/lib/hookgate/queue'),
    /** Pending + retrying deliveries per endpoint before 503. */
    maxPerEndpoint: z.number().int().min(1).default(10_000),
    /** Pending + retrying deliveries in all before 503. */
    maxTotal: z.number().int().min(1).default(100_000),
    /** Stored bytes (bodies and headers, dead letters included) before 503. */
    maxBytes: z.number().int().min(1024).default(268_435_456),
    /** Background attempts in flight, all endpoints together. */
    concurrency: z.number().int().min(1).max(4096).default(256),
    /** Background attempts in flight to one endpoint. */
    endpointConcurrency: z.number().int().min(1).max(4096).default(32),
    /** How long a claimed delivery stays leased; past it another replica may attempt it. */
    lease: duration.default('60s'),
    /** How often an idle worker looks for due retries and other replicas' work. */
    pollInterval: duration.default('200ms'),
  })
  .strict();
/** Queue settings, defaults applied. */
export type QueueSettings = z.infer<typeof QueueSettings>;

/**
 * Where and how this sidecar records delivery history (what is kept is the policies' `history`).
 * Read at start; a change takes effect on restart.
 */
export const HistorySettings = z
  .object({
    /** Off: nothing is recorded (the admin history routes answer 404). */
    enabled: z.boolean().default(true),
    /**
     * Embedded backend (no HOOKGATE_REDIS_URL): the folder of the segment files; absent: `history`
     * beside the queue's folder (/var/lib/hookgate/history in the emptyDir).
     */
    directory: z.string().min(1).optional(),
    /** Updates waiting to be written; past it the oldest is dropped and counted, never waited for. */
    bufferSize: z.number().int().min(16).max(1_000_000).default(10_000),
    /**
     * Bytes the waiting updates may hold (their encoded text); past it, as past bufferSize,
     * the oldest waiting update is dropped and counted.
     */
    bufferBytes: z
      .number()
      .int()
      .min(64 * 1024)
      .max(1024 * 1024 * 1024)
      .default(16 * 1024 * 1024),
  })
  .strict();
/** History settings, defaults applied. */
export type HistorySettings = z.infer<typeof HistorySettings>;

const listen = z
  .string()
  .regex(/^(\[[^\]]+\]|[^:]+):\d{1,5}$/, 'write host:port, e.g. 127.0.0.1:15001');

/**
 * Transparent interception: plain-HTTP egress captured by the pod's iptables rules reaches the
 * egress port with the receiver's name in its Host header. Requests for an endpoint's host are
 * delivered as that endpoint (signed, retried, TLS-originated for https:// URLs); the rest are
 * `unmatched`.
 */
export const Interception = z
  .object({
    /** `passthrough`: forwarded unchanged (with a Via header); `refuse`: 403 problem to the app. */
    unmatched: z.enum(['passthrough', 'refuse']).default('passthrough'),
  })
  .strict();

/** The whole sidecar configuration file. */
export const SidecarConfig = z
  .object({
    /** Increases with every change the operator publishes; shown on /config and in metrics. */
    generation: z.number().int().min(0).default(0),
    namespace: z.string().optional(),
    listen: z
      .object({
        egress: listen.default('127.0.0.1:15001'),
        ingress: listen.default('0.0.0.0:15006'),
      })
      .strict()
      .prefault({}),
    endpoints: z.array(EgressEndpoint).default([]),
    /** POST /_events: where the event type is read when the header is absent, and a width cap. */
    fanout: z
      .object({
        eventTypeField: jsonPath.default('$.type'),
        maxEndpoints: z.number().int().min(1).max(10_000).default(1000),
      })
      .strict()
      .prefault({}),
    dynamic: z.array(DynamicRoute).default([]),
    ingress: z.array(IngressEndpoint).default([]),
    /** Transparent interception (ADR 0009): what happens to captured traffic. */
    interception: Interception.prefault({}),
    queue: QueueSettings.prefault({}),
    history: HistorySettings.prefault({}),
  })
  .strict()
  .superRefine((c, ctx) => {
    const seen = new Map<string, number>();
    c.endpoints.forEach((e, i) => {
      if (seen.has(e.name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['endpoints', i, 'name'],
          message: `duplicate endpoint name "${e.name}" (also endpoints[${seen.get(e.name)}])`,
        });
      }
      seen.set(e.name, i);
    });
    const paths = new Map<string, number>();
    c.ingress.forEach((e, i) => {
      if (paths.has(e.path)) {
        ctx.addIssue({
          code: 'custom',
          path: ['ingress', i, 'path'],
          message: `duplicate ingress path "${e.path}" (also ingress[${paths.get(e.path)}])`,
        });
      }
      paths.set(e.path, i);
    });
  });

/** The sidecar configuration as the file states it, defaults applied. */
export type SidecarConfig = z.infer<typeof SidecarConfig>;
/** One egress endpoint, defaults applied. */
export type EgressEndpoint = z.infer<typeof EgressEndpoint>;
/** One ingress endpoint, defaults applied. */
export type IngressEndpoint = z.infer<typeof IngressEndpoint>;
/** One dynamic route. */
export type DynamicRoute = z.infer<typeof DynamicRoute>;
/** Transparent-interception settings. */
export type Interception = z.infer<typeof Interception>;
/** A resolved policy. */
export type Policy = z.infer<typeof Policy>;
/** Egress signing settings. */
export type Signing = z.infer<typeof Signing>;
/** Ingress verification settings. */
export type Verify = z.infer<typeof Verify>;
/** An egress endpoint's credentials. */
export type Credentials = z.infer<typeof Credentials>;
/** An egress endpoint's TLS settings. */
export type TlsSettings = z.infer<typeof TlsSettings>;

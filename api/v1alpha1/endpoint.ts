// WebhookEndpoint: one destination the app sends to (Egress) or one receiver providers send to
// (Ingress). Cross-field rules are CEL, so the API server refuses a bad manifest at apply time.
import { z } from 'zod';
import {
  ENDPOINT_DEFAULTS,
  OPERATIONAL_EVENT_TYPES,
  HMAC_ALGORITHM,
  HMAC_ENCODING,
  SIGNING_SCHEMES,
  TLS_VERSIONS,
  UNROUTED,
  VERIFY_SCHEMES,
  documentedDefault,
} from './defaults.ts';
import type { Condition } from './common.ts';
import {
  ObjectMeta,
  cel,
  configMapKeySelector,
  duration,
  eventTypeList,
  labelSelector,
  secretKeySelector,
  secretName,
  secretNameRef,
  statusBase,
} from './common.ts';
import {
  FILTER_PATTERN,
  MAX_FILTER_DEPTH,
  MAX_FILTER_LENGTH,
} from '../../sidecar/filter/syntax.ts';

/** Headers the sidecar owns: an endpoint may not set them as static headers. */
export const RESERVED_HEADERS = [
  'webhook-id',
  'webhook-timestamp',
  'webhook-signature',
  'x-hub-signature-256',
  'host',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
  'te',
  'trailer',
  'proxy-authorization',
  'proxy-connection',
] as const;

const hmacAlgorithm = z
  .enum(HMAC_ALGORITHM)
  .describe('HMAC hash: sha256 or sha512. Default: sha256.');
const hmacEncoding = z
  .enum(HMAC_ENCODING)
  .describe('Signature encoding: hex or base64. Default: hex.');
const headerName = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9-]+$/);

/** Generic HMAC settings, shared by signing and verification. */
const hmacSettings = z
  .object({
    header: headerName.describe('Header carrying the signature, e.g. X-Signature.'),
    algorithm: hmacAlgorithm.optional(),
    encoding: hmacEncoding.optional(),
    prefix: z
      .string()
      .max(32)
      .optional()
      .describe('Text before the signature in the header value, e.g. "sha256=". Default: none.'),
    timestampHeader: headerName
      .optional()
      .describe(
        'Header carrying a unix timestamp. When set, the signed content is "<timestamp>.<body>" and old timestamps are refused; when unset, only the body is signed.',
      ),
  })
  .describe(
    'Generic HMAC: for receivers or providers with a scheme of their own. Required when scheme is hmac.',
  );

/** How webhooks are signed; shared by endpoints and a policy's dynamic destinations. */
export const Signing = cel(
  z
    .object({
      scheme: z
        .enum(SIGNING_SCHEMES)
        .optional()
        .describe(
          'How outgoing webhooks are signed. standard-webhooks (default): webhook-id, webhook-timestamp, webhook-signature: v1,<base64>. github: X-Hub-Signature-256: sha256=<hex>. hmac: see hmac.',
        ),
      secretRef: secretKeySelector(
        'secret',
        'The signing secret. For standard-webhooks a whsec_<base64> value of 24 to 64 bytes once decoded; for github and hmac any non-empty string.',
      ),
      previousSecrets: z
        .array(
          z
            .object({
              secretRef: secretKeySelector('secret', 'A secret being rotated out.'),
              expiresAt: z.iso
                .datetime()
                .describe(
                  'When to stop signing with this secret (RFC 3339), e.g. 2026-12-01T00:00:00Z.',
                ),
            })
            .describe('A secret still signed with until expiresAt.'),
        )
        .max(4)
        .optional()
        .describe(
          'Key rotation: every webhook is also signed with these secrets until they expire, so receivers can move to the new secret at their own pace (one signature per secret). standard-webhooks only.',
        ),
      hmac: hmacSettings.optional(),
    })
    .describe('How the sidecar signs webhooks sent to this endpoint.'),
  [
    {
      rule: "(has(self.scheme) && self.scheme == 'hmac') == has(self.hmac)",
      message: 'set signing.hmac (header, algorithm, encoding) exactly when signing.scheme is hmac',
      fieldPath: '.hmac',
      reason: 'FieldValueRequired',
    },
    {
      rule: "!has(self.previousSecrets) || !has(self.scheme) || self.scheme == 'standard-webhooks'",
      message:
        'previousSecrets needs scheme standard-webhooks: github and hmac carry a single signature, so rotate by switching secretRef',
      fieldPath: '.previousSecrets',
      reason: 'FieldValueForbidden',
    },
  ],
);

const Verify = cel(
  z
    .object({
      scheme: z
        .enum(VERIFY_SCHEMES)
        .describe(
          'How incoming webhooks are verified. standard-webhooks (also accepts svix-* headers), github (X-Hub-Signature-256), stripe (Stripe-Signature), shopify (X-Shopify-Hmac-Sha256), slack (X-Slack-Signature), hmac (see hmac), basic (Authorization: Basic), bearer (Authorization: Bearer).',
        ),
      secretRef: secretKeySelector(
        'secret',
        'The verification secret. basic reads the keys username and password (a kubernetes.io/basic-auth Secret); bearer reads key (default "secret") as the token.',
      ),
      additionalSecretRefs: z
        .array(secretKeySelector('secret', 'Another accepted secret.'))
        .max(4)
        .optional()
        .describe(
          'More secrets accepted at the same time, for rotation: a webhook passes if any secret verifies it.',
        ),
      tolerance: duration(
        'How far a signed timestamp may be from now, in either direction, before the webhook is refused as a replay. Schemes without a timestamp ignore it. Default: 5m.',
      ).optional(),
      hmac: hmacSettings.optional(),
    })
    .describe('How the sidecar verifies webhooks arriving at this endpoint.'),
  [
    {
      rule: "(self.scheme == 'hmac') == has(self.hmac)",
      message: 'set verify.hmac (header, algorithm, encoding) exactly when verify.scheme is hmac',
      fieldPath: '.hmac',
      reason: 'FieldValueRequired',
    },
  ],
);

const reservedList = JSON.stringify(RESERVED_HEADERS).replaceAll('"', "'");

/** One header whose value is read from a Secret: API keys and other custom credentials. */
const SecretHeader = cel(
  z
    .object({
      name: headerName.describe('Header name, e.g. X-Api-Key.'),
      secretKeyRef: secretKeySelector('value', 'The header value (sent as stored, trimmed).'),
    })
    .describe('A header sent with every attempt, its value read from a Secret.'),
  [
    {
      rule: `!(self.name.lowerAscii() in ${reservedList})`,
      message: `a credential header may not be one of ${RESERVED_HEADERS.join(', ')}: the sidecar writes them`,
      fieldPath: '.name',
      reason: 'FieldValueForbidden',
    },
  ],
);

/** Where a client id or secret is read. */
function secretValue(
  defaultKey: string,
  what: string,
): z.ZodObject<{ secretKeyRef: ReturnType<typeof secretKeySelector> }> {
  return z
    .object({ secretKeyRef: secretKeySelector(defaultKey, what) })
    .describe(`${what} Read from a Secret.`);
}

const OAuth2 = z
  .object({
    tokenURL: cel(
      z
        .string()
        .max(2048)
        .regex(/^https:\/\//),
      [
        {
          rule: 'isURL(self)',
          message: 'tokenURL must be an absolute https:// URL',
          reason: 'FieldValueInvalid',
        },
      ],
    ).describe(
      "The authorization server's token endpoint (https://), e.g. https://auth.example.com/oauth/token.",
    ),
    clientId: secretValue('client-id', 'The OAuth2 client id.'),
    clientSecret: secretValue('client-secret', 'The OAuth2 client secret.'),
    scopes: z
      .array(
        z
          .string()
          .min(1)
          .max(256)
          .regex(/^[\x21\x23-\x5B\x5D-\x7E]+$/)
          .describe('One scope (RFC 6749 scope-token: no spaces, quotes or backslashes).'),
      )
      .max(32)
      .optional()
      .describe('Scopes requested, sent space-separated in the scope parameter. Default: none.'),
    audience: z
      .string()
      .min(1)
      .max(2048)
      .optional()
      .describe(
        'The audience parameter some authorization servers (Auth0, Okta) require, e.g. https://api.example.com. Default: not sent.',
      ),
  })
  .describe(
    `OAuth2 client credentials (RFC 6749 section 4.4): the sidecar fetches a token (client id and secret sent with HTTP Basic), caches it until ${ENDPOINT_DEFAULTS.oauth2.refreshBefore} before it expires, shares it between concurrent deliveries and sends Authorization: Bearer <token>. A 401 from the receiver renews it once.`,
  );

/** Credentials the receiver demands (spec.auth). */
const Auth = cel(
  z
    .object({
      basic: z
        .object({
          secretRef: secretNameRef(
            'A kubernetes.io/basic-auth Secret: its keys username and password are sent as Authorization: Basic.',
          ),
        })
        .optional()
        .describe('HTTP Basic authentication (RFC 7617).'),
      oauth2: OAuth2.optional(),
      headers: z
        .array(SecretHeader)
        .max(16)
        .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] })
        .optional()
        .describe(
          'Headers read from Secrets, e.g. an API key in X-Api-Key. Static headers that are not secret go in spec.headers.',
        ),
    })
    .describe(
      'Egress: credentials the receiver demands, added to every attempt just before it is sent (never stored in the queue, history or logs). A changed Secret applies to the next attempt, queued deliveries included.',
    ),
  [
    {
      rule: '!(has(self.basic) && has(self.oauth2))',
      message: 'set one of auth.basic and auth.oauth2: both write the Authorization header',
      fieldPath: '.oauth2',
      reason: 'FieldValueForbidden',
    },
    {
      rule: 'has(self.basic) || has(self.oauth2) || has(self.headers)',
      message: 'auth needs basic, oauth2 or headers: remove spec.auth or set one',
      reason: 'FieldValueRequired',
    },
    {
      rule: "!has(self.headers) || !(has(self.basic) || has(self.oauth2)) || self.headers.all(h, h.name.lowerAscii() != 'authorization')",
      message:
        'auth.headers may not set Authorization when auth.basic or auth.oauth2 writes it: remove one',
      fieldPath: '.headers',
      reason: 'FieldValueForbidden',
    },
  ],
);

/** TLS towards the receiver (spec.tls). */
const Tls = z
  .object({
    clientCertificate: z
      .object({
        secretName: secretName(
          'A kubernetes.io/tls Secret in the same namespace: tls.crt (the certificate chain, PEM) and tls.key (its private key, PEM). Never copied into status, events or logs.',
        ),
      })
      .optional()
      .describe(
        'mTLS: the client certificate presented to the receiver. cert-manager Certificates write exactly this Secret; a renewed certificate is used by new connections while open ones finish.',
      ),
    caBundle: cel(
      z
        .object({
          secretKeyRef: secretKeySelector(
            'ca.crt',
            "PEM certificates of the CAs trusted for the receiver's certificate.",
          ).optional(),
          configMapKeyRef: configMapKeySelector(
            'ca.crt',
            "PEM certificates of the CAs trusted for the receiver's certificate, from a ConfigMap (as trust-manager and cert-manager's CA injection publish them). The operator reads ConfigMaps only in namespaces it reads Secrets in, and keeps only keys holding PEM certificates.",
          ).optional(),
        })
        .describe(
          "CAs trusted for the receiver's certificate, instead of the public roots: set exactly one of secretKeyRef and configMapKeyRef. Default: the public roots Node.js ships.",
        ),
      [
        {
          rule: 'has(self.secretKeyRef) != has(self.configMapKeyRef)',
          message:
            'set exactly one of caBundle.secretKeyRef and caBundle.configMapKeyRef: remove one, or set one of them',
          reason: 'FieldValueInvalid',
        },
      ],
    ).optional(),
    serverName: z
      .string()
      .min(1)
      .max(253)
      .regex(/^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*$/)
      .optional()
      .describe(
        "The name sent as SNI and checked against the receiver's certificate. Default: the host of spec.url.",
      ),
    minVersion: z
      .enum(TLS_VERSIONS)
      .optional()
      .describe(
        `Oldest TLS version accepted: TLSv1.2 or TLSv1.3. ${documentedDefault(ENDPOINT_DEFAULTS.tls.minVersion)}`,
      ),
  })
  .describe('Egress: TLS settings towards an https:// receiver: mTLS, a private CA, SNI.');

/** A JSON path into the payload, in the filter language's syntax: `$.type`, `$.event["kind"]`. */
export const JSON_PATH_PATTERN =
  /^\$(\.[A-Za-z_][A-Za-z0-9_-]*|\[([0-9]{1,9}|"([^"\\]|\\.)*")\])+$/;

const EventTypeSource = cel(
  z
    .object({
      header: headerName
        .optional()
        .describe('Header carrying the event type, e.g. X-GitHub-Event.'),
      jsonPath: z
        .string()
        .max(256)
        .regex(JSON_PATH_PATTERN)
        .optional()
        .describe(
          'Path to the event type in the JSON body, e.g. $.type (Stripe, Standard Webhooks).',
        ),
    })
    .describe(
      'Where the event type of a verified webhook is read. Default by verify.scheme: github X-GitHub-Event, shopify X-Shopify-Topic, stripe and standard-webhooks $.type; other schemes must set it to use routes.',
    ),
  [
    {
      rule: 'has(self.header) != has(self.jsonPath)',
      message: 'set exactly one of eventType.header and eventType.jsonPath',
      reason: 'FieldValueInvalid',
    },
  ],
);

/** The sidecar's own ports: forwarding a webhook there would loop it through the sidecar. */
export const SIDECAR_OWN_PORTS = [15001, 15006, 15020] as const;

/** An app port on loopback, never one of the sidecar's own. */
function appPort(description: string): z.ZodOptional<z.ZodNumber> {
  return cel(z.number().int().min(1).max(65535), [
    {
      rule: `!(self in [${SIDECAR_OWN_PORTS.join(', ')}])`,
      message: `${SIDECAR_OWN_PORTS.join(', ')} are the sidecar's own ports (egress, ingress, admin): forward to the app's port`,
    },
  ])
    .optional()
    .describe(description);
}

const ForwardRoute = z
  .object({
    eventTypes: eventTypeList('Event types this route takes.').meta({
      'x-kubernetes-list-type': 'set',
    }),
    port: appPort('App port for these events. Default: forward.port.'),
    path: z
      .string()
      .max(1024)
      .regex(/^\//)
      .optional()
      .describe(
        'App path for these events, starting with /. Default: forward.path, else the path the webhook arrived on.',
      ),
  })
  .describe('One route: verified webhooks of these event types go to this port and path.');

const Forward = z
  .object({
    port: appPort(
      'App port to forward verified webhooks to, on loopback. Default: the pod annotation hookgate.io/app-port, else 8080.',
    ),
    path: z
      .string()
      .max(1024)
      .regex(/^\//)
      .optional()
      .describe(
        'App path to forward to, starting with /. Default: the path the webhook arrived on.',
      ),
    buffered: z
      .boolean()
      .optional()
      .describe(
        "true: answer the provider 200 as soon as the webhook is durably queued, then deliver it to the app (which may be down). false (default): answer with the app's own response.",
      ),
    eventType: EventTypeSource.optional(),
    routes: z
      .array(ForwardRoute)
      .max(32)
      .optional()
      .describe(
        'De-multiplexing: routes by event type, tried in order; the first whose eventTypes match takes the webhook. Unmatched types follow unrouted.',
      ),
    unrouted: z
      .enum(UNROUTED)
      .optional()
      .describe(
        'What happens to a verified webhook no route takes (or whose event type cannot be read). default (default): forward to port and path above. refuse: answer 422 (the provider sees a failure and retries; unsubscribe the type there). drop: answer 200 without forwarding.',
      ),
  })
  .describe('Where verified webhooks go inside the pod.');

/** The spec of a WebhookEndpoint. */
export const WebhookEndpointSpec = cel(
  z
    .object({
      direction: z
        .enum(['Egress', 'Ingress'])
        .describe(
          'Egress: the app sends to url through its sidecar. Ingress: providers send to path on the sidecar, which verifies and forwards to the app.',
        ),
      url: cel(
        z
          .string()
          .max(2048)
          .regex(/^https?:\/\//),
        [
          {
            rule: "!self.matches('^[a-zA-Z]+://[^/?#]*@')",
            message:
              'spec.url must not carry user:pass@: the sidecar does not send it; put the credential in a header (spec.headers) instead',
          },
        ],
      )
        .optional()
        .describe(
          "Egress: the receiver's URL, e.g. https://hooks.example.com/orders. Apps send to http://127.0.0.1:15001/<endpoint-name>[/extra/path].",
        ),
      signing: Signing.optional(),
      timeout: duration(
        "Egress: time limit for one attempt (connect to last response byte). Overrides the policy's timeout. Default: the policy's, else 10s.",
      ).optional(),
      headers: cel(
        z
          .record(
            z
              .string()
              .min(1)
              .max(128)
              .regex(/^[A-Za-z0-9-]+$/),
            z.string().max(4096).describe('Header value.'),
          )
          .meta({ maxProperties: 32 })
          .optional()
          .describe(
            "Egress: static headers added to every webhook, e.g. X-Tenant: acme. Signature and hop-by-hop headers are the sidecar's and cannot be set.",
          ),
        [
          {
            rule: `self.all(k, !(k.lowerAscii() in ${JSON.stringify(RESERVED_HEADERS).replaceAll('"', "'")}))`,
            message: `headers may not set ${RESERVED_HEADERS.join(', ')}: the sidecar writes them`,
            reason: 'FieldValueForbidden',
          },
        ],
      ),
      path: z
        .string()
        .max(1024)
        .regex(/^\/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$/)
        .optional()
        .describe(
          "Ingress: the path providers POST to on the sidecar's ingress port (15006), e.g. /github.",
        ),
      verify: Verify.optional(),
      forward: Forward.optional(),
      eventTypes: eventTypeList(
        'Egress: event types this endpoint subscribes to; the app sends events with POST http://127.0.0.1:15001/_events and the type in the Hookgate-Event-Type header (or the JSON field $.type). Unset: the endpoint receives no fan-out, only webhooks sent to it by name.',
      )
        .meta({ 'x-kubernetes-list-type': 'set' })
        .optional(),
      filter: cel(
        z
          .string()
          .min(1)
          .max(MAX_FILTER_LENGTH)
          .describe(
            `Egress: a condition on the JSON payload; a subscribed event is delivered only when it holds. Paths: $.data.amount, $.items[0].sku, $["odd key"]. Comparisons: == and != against "text", numbers, true, false, null (strict: 1 and "1" differ; a missing field is != anything); <, <=, >, >= against numbers (false for anything not a number); $.a in ["x", "y"]; exists($.a). Combine with ! (not), && and || (&& first), parentheses up to ${MAX_FILTER_DEPTH} deep. At most ${MAX_FILTER_LENGTH} characters. Example: $.data.amount >= 100 && $.data.currency in ["EUR", "USD"].`,
          ),
        [
          {
            rule: `self.matches(r'${FILTER_PATTERN}')`,
            message:
              'not a valid filter expression: write comparisons on JSON paths such as $.data.amount >= 100 && $.data.currency in ["EUR", "USD"], strings in double quotes, parentheses at most 2 deep (kubectl explain webhookendpoint.spec.filter has the whole syntax)',
            reason: 'FieldValueInvalid',
          },
        ],
      ).optional(),
      auth: Auth.optional(),
      tls: Tls.optional(),
      paused: z
        .boolean()
        .optional()
        .describe(
          `Egress: planned maintenance. true: nothing is sent; sync deliveries are refused at once (503 endpoint-paused with Retry-After), async ones wait in the queue and drain in order once it is false again. ${documentedDefault(ENDPOINT_DEFAULTS.paused)}`,
        ),
      operationalEvents: z
        .array(z.enum(OPERATIONAL_EVENT_TYPES).describe('A Hookgate event type.'))
        .min(1)
        .max(OPERATIONAL_EVENT_TYPES.length)
        .meta({ 'x-kubernetes-list-type': 'set' })
        .optional()
        .describe(
          `Egress: Hookgate's own events about the WebhookEndpoints of this namespace that this endpoint receives as webhooks (JSON {type, timestamp, data}), signed, retried and queued like any other: ${OPERATIONAL_EVENT_TYPES.join(', ')}. Handed by the operator to a sidecar that has this endpoint, which queues them; hookgate.delivery.attempts_exhausted (one per dead-lettered delivery) is queued by the sidecar that dead-lettered it. Each schema: docs/adr/0025-operational-webhooks.md.`,
        ),
      workloadSelector: labelSelector(
        'Which pods in the namespace get this endpoint, by pod labels. Default: every pod with the sidecar.',
      ).optional(),
    })
    .describe('What the endpoint is: a destination (Egress) or a receiver (Ingress).'),
  [
    {
      rule: "self.direction != 'Egress' || has(self.url)",
      message: "spec.url is required for an Egress endpoint: set the receiver's https:// URL",
      fieldPath: '.url',
      reason: 'FieldValueRequired',
    },
    {
      rule: "self.direction != 'Ingress' || has(self.path)",
      message:
        'spec.path is required for an Ingress endpoint: set the path providers POST to, e.g. /github',
      fieldPath: '.path',
      reason: 'FieldValueRequired',
    },
    {
      rule: "self.direction != 'Ingress' || has(self.verify)",
      message:
        'spec.verify is required for an Ingress endpoint: choose a verification scheme and its secretRef',
      fieldPath: '.verify',
      reason: 'FieldValueRequired',
    },
    {
      rule: "self.direction == 'Egress' || (!has(self.url) && !has(self.signing) && !has(self.headers) && !has(self.timeout))",
      message:
        'url, signing, headers and timeout apply to Egress endpoints only: remove them or set direction: Egress',
      fieldPath: '.direction',
      reason: 'FieldValueForbidden',
    },
    {
      rule: "self.direction == 'Egress' || (!has(self.auth) && !has(self.tls) && !has(self.paused) && !has(self.operationalEvents))",
      message:
        'auth, tls, paused and operationalEvents apply to Egress endpoints only: remove them or set direction: Egress',
      fieldPath: '.direction',
      reason: 'FieldValueForbidden',
    },
    {
      rule: "!has(self.tls) || !has(self.url) || self.url.startsWith('https://')",
      message: 'spec.tls needs an https:// spec.url: TLS settings do nothing for http://',
      fieldPath: '.tls',
      reason: 'FieldValueInvalid',
    },
    {
      rule: "!has(self.headers) || !has(self.auth) || ((!has(self.auth.basic) && !has(self.auth.oauth2)) || !self.headers.exists(k, k.lowerAscii() == 'authorization')) && (!has(self.auth.headers) || self.auth.headers.all(h, !self.headers.exists(k, k.lowerAscii() == h.name.lowerAscii())))",
      message:
        'a header is set twice: spec.headers names a header spec.auth writes (Authorization for basic and oauth2, or an auth.headers name); remove it from spec.headers',
      fieldPath: '.headers',
      reason: 'FieldValueInvalid',
    },
    {
      rule: "self.direction == 'Ingress' || (!has(self.path) && !has(self.verify) && !has(self.forward))",
      message:
        'path, verify and forward apply to Ingress endpoints only: remove them or set direction: Ingress',
      fieldPath: '.direction',
      reason: 'FieldValueForbidden',
    },
    {
      rule: "self.direction == 'Egress' || (!has(self.eventTypes) && !has(self.filter))",
      message:
        'eventTypes and filter apply to Egress endpoints only (ingress routes by type with forward.routes): remove them or set direction: Egress',
      fieldPath: '.direction',
      reason: 'FieldValueForbidden',
    },
    {
      rule: '!has(self.filter) || has(self.eventTypes)',
      message: 'a filter narrows subscribed events: set eventTypes too (["*"] for every type)',
      fieldPath: '.eventTypes',
      reason: 'FieldValueRequired',
    },
    {
      rule: "!has(self.forward) || !has(self.forward.routes) || has(self.forward.eventType) || (has(self.verify) && self.verify.scheme in ['github', 'shopify', 'stripe', 'standard-webhooks'])",
      message:
        'forward.routes needs forward.eventType (header or jsonPath): this verify.scheme has no default event type',
      fieldPath: '.forward.eventType',
      reason: 'FieldValueRequired',
    },
    {
      rule: '!has(self.url) || isURL(self.url)',
      message: 'spec.url must be an absolute http:// or https:// URL',
      fieldPath: '.url',
      reason: 'FieldValueInvalid',
    },
  ],
);

const count = (what: string) => z.number().int().min(0).describe(what);

/** The delivery-health summary the operator aggregates from every sidecar's reports (ADR 0024). */
export const DeliveryHealth = z
  .object({
    windowSeconds: count('Length of the recent window the counts and the success rate cover.'),
    pods: count('Sidecars whose reports on this endpoint are current (not aged out).'),
    delivered: count('Deliveries that ended in a 2xx within the window, all pods together.'),
    failed: count(
      'Deliveries that ended in failure within the window (attempts exhausted, non-retryable, circuit open), all pods together.',
    ),
    deadLettered: count('Deliveries moved to the dead-letter state within the window.'),
    successRate: z
      .string()
      .max(8)
      .optional()
      .describe(
        'delivered / (delivered + failed) within the window, as a percentage with one decimal (e.g. 99.5%). Absent when nothing ended in the window.',
      ),
    lastSuccessTime: z.iso
      .datetime()
      .optional()
      .describe('When a delivery last succeeded, as the sidecar that made it reported (RFC 3339).'),
    lastFailure: z
      .object({
        time: z.iso.datetime().describe('When it failed, as the sidecar reported (RFC 3339).'),
        reason: z
          .string()
          .max(64)
          .describe(
            'A problem slug (circuit-open, receiver-timeout…), http-<status> or a transport error (connect-error, timeout, reset). Never a body, URL or secret.',
          ),
      })
      .optional()
      .describe('The last failed delivery or failed queued attempt.'),
    circuit: z
      .enum(['closed', 'open', 'half-open'])
      .describe(
        "The endpoint's circuit breaker, worst across pods: open if any pod's is open, half-open if any is probing.",
      ),
    queueDepth: count("Deliveries waiting in the pods' queues (pending and retrying) now."),
    deadLetters: count('Dead letters held now; replay or purge them with the queue admin API.'),
    failingSince: z.iso
      .datetime()
      .optional()
      .describe(
        "When the current run of failures began, by the operator's clock: deliveries kept failing and none succeeded since. Absent once one succeeds. A policy's autoDisable.failingFor is measured from it.",
      ),
    deadLetteredInARow: z
      .number()
      .int()
      .min(0)
      .optional()
      .describe(
        "Deliveries dead-lettered since each pod's last success, all pods together (0 once one is delivered in the window). A policy's autoDisable.deadLettersInARow is compared with it.",
      ),
  })
  .describe(
    'Delivery health reported by the sidecars every few seconds and summed over pods; written at most every 10s per endpoint (sooner when the Healthy condition flips).',
  );

/** The status of a WebhookEndpoint, written by the operator. */
export const WebhookEndpointStatus = z
  .object({
    ...statusBase,
    conditions: statusBase.conditions.describe(
      'Accepted: the spec and its references are valid. Ready: published to sidecars in config generation N. Healthy: deliveries succeed (reasons CircuitOpen, DeadLetters, FailingDeliveries, NoReports, Idle, Delivering; Disabled when a policy autoDisable rule turned the endpoint off, until the resource is changed).',
    ),
    deliveries: DeliveryHealth.optional(),
    policy: z
      .string()
      .max(253)
      .optional()
      .describe(
        'Name of the WebhookPolicy in effect for this endpoint (the oldest that selects it); empty: built-in defaults.',
      ),
  })
  .describe('What the operator observed and published.');

/** A whole WebhookEndpoint object. */
export const WebhookEndpoint = z.object({
  apiVersion: z.literal('hookgate.io/v1alpha1'),
  kind: z.literal('WebhookEndpoint'),
  metadata: ObjectMeta,
  spec: WebhookEndpointSpec,
  status: WebhookEndpointStatus.optional(),
});

/** A WebhookEndpoint as TypeScript sees it. */
export type WebhookEndpoint = z.infer<typeof WebhookEndpoint>;
/** The spec of a WebhookEndpoint. */
export type WebhookEndpointSpec = z.infer<typeof WebhookEndpointSpec>;
/** The `status.deliveries` summary. */
export type DeliveryHealth = z.infer<typeof DeliveryHealth>;
/** One status condition. */
export type Condition = z.infer<typeof Condition>;

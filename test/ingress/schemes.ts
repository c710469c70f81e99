// One entry per verification scheme: its config block and a signer that is NOT the code under
// test — the provider's own library where one exists (standardwebhooks, @octokit/webhooks-methods,
// stripe), else the provider's documented computation written out with node:crypto.
import { createHmac } from 'node:crypto';
import { sign as octokitSign } from '@octokit/webhooks-methods';
import { Webhook } from 'standardwebhooks';
import Stripe from 'stripe';

/** What a signer may vary. */
export interface SignInput {
  readonly body: Buffer;
  /** Signing time, unix seconds. */
  readonly ts: number;
  /** Delivery id, for schemes that send one outside the body. */
  readonly id: string;
  /** Sign with a secret the endpoint does not hold. */
  readonly wrongSecret?: boolean;
}

/** One scheme under test. */
export interface SchemeUnderTest {
  /** The config scheme name, also the endpoint name and path suffix. */
  readonly scheme: string;
  /** The `verify` block of the ingress endpoint. */
  readonly verify: Record<string, unknown>;
  /** Environment the secrets come from. */
  readonly env: Record<string, string>;
  /** Secret texts that must never appear in a response. */
  readonly secrets: readonly string[];
  /** Headers a provider would send for `input`. */
  sign(input: SignInput): Promise<Record<string, string>>;
  /** The header whose absence must be a 401. */
  readonly proofHeader: string;
  /** Whether a timestamp is signed (a stale one must be a 400). */
  readonly timestamped: boolean;
  /** Whether the signature covers the body (one changed byte must be a 401). */
  readonly signsBody: boolean;
  /** The delivery id the ingress should report for `input`, when the scheme carries one. */
  deliveryId?(input: SignInput): string;
  /** A body for this scheme carrying `id` where the scheme reads the id from the body. */
  body(id: string): Buffer;
}

const text = (id: string): Buffer =>
  // Multi-byte UTF-8, CRLF, trailing spaces and no final newline: any re-encoding shows.
  Buffer.from(`{"id":"${id}","note":"caf\u00e9 \u2615 \u00fcber","n":1.50}\r\n  `);

const hmacOf = (
  algorithm: 'sha256' | 'sha512',
  secret: string,
  parts: (string | Buffer)[],
  encoding: 'hex' | 'base64',
): string => {
  const mac = createHmac(algorithm, secret);
  for (const part of parts) mac.update(part);
  return mac.digest(encoding);
};

const SW_SECRET = `whsec_${Buffer.alloc(32, 0x5a).toString('base64')}`;
const SW_OLD_SECRET = `whsec_${Buffer.alloc(32, 0x11).toString('base64')}`;
const SW_WRONG = `whsec_${Buffer.alloc(32, 0x77).toString('base64')}`;

/** Every scheme the ingress verifies. */
export const SCHEMES: readonly SchemeUnderTest[] = [
  {
    scheme: 'standard-webhooks',
    // two secrets: the endpoint is mid-rotation, the sender signs with the second
    verify: {
      scheme: 'standard-webhooks',
      secrets: [{ env: 'SW_OLD_SECRET' }, { env: 'SW_SECRET' }],
    },
    env: { SW_SECRET, SW_OLD_SECRET },
    secrets: [SW_SECRET, SW_OLD_SECRET],
    sign: ({ body, ts, id, wrongSecret }) =>
      Promise.resolve({
        'webhook-id': id,
        'webhook-timestamp': String(ts),
        'webhook-signature': new Webhook(wrongSecret === true ? SW_WRONG : SW_SECRET).sign(
          id,
          new Date(ts * 1000),
          body,
        ),
      }),
    proofHeader: 'webhook-signature',
    timestamped: true,
    signsBody: true,
    deliveryId: ({ id }) => id,
    body: text,
  },
  {
    scheme: 'github',
    verify: { scheme: 'github', secrets: [{ env: 'GH_SECRET' }] },
    env: { GH_SECRET: 'gh-webhook-secret-\u00e9' },
    secrets: ['gh-webhook-secret-\u00e9'],
    sign: async ({ body, id, wrongSecret }) => ({
      'x-hub-signature-256': await octokitSign(
        wrongSecret === true ? 'not-the-secret' : 'gh-webhook-secret-\u00e9',
        body.toString('utf8'),
      ),
      'x-github-delivery': id,
      'x-github-event': 'push',
    }),
    proofHeader: 'x-hub-signature-256',
    timestamped: false,
    signsBody: true,
    deliveryId: ({ id }) => id,
    body: text,
  },
  {
    scheme: 'stripe',
    verify: { scheme: 'stripe', secrets: [{ env: 'STRIPE_SECRET' }] },
    env: { STRIPE_SECRET: 'whsec_stripe_test_0123456789abcdef' },
    secrets: ['whsec_stripe_test_0123456789abcdef'],
    sign: ({ body, ts, wrongSecret }) =>
      Promise.resolve({
        'stripe-signature': Stripe.webhooks.generateTestHeaderString({
          payload: body.toString('utf8'),
          secret:
            wrongSecret === true ? 'whsec_someone_else' : 'whsec_stripe_test_0123456789abcdef',
          timestamp: ts,
        }),
      }),
    proofHeader: 'stripe-signature',
    timestamped: true,
    signsBody: true,
    // Stripe's event id is the `id` of the signed JSON body.
    deliveryId: ({ body }) => (JSON.parse(body.toString('utf8')) as { id: string }).id,
    body: text,
  },
  {
    scheme: 'shopify',
    verify: { scheme: 'shopify', secrets: [{ env: 'SHOPIFY_SECRET' }] },
    env: { SHOPIFY_SECRET: 'shpss_5f2a9c0e7d1b4c3a8e6f' },
    secrets: ['shpss_5f2a9c0e7d1b4c3a8e6f'],
    // Shopify's documented check: base64 HMAC-SHA256 of the raw body with the client secret.
    sign: ({ body, id, wrongSecret }) =>
      Promise.resolve({
        'x-shopify-hmac-sha256': hmacOf(
          'sha256',
          wrongSecret === true ? 'shpss_other' : 'shpss_5f2a9c0e7d1b4c3a8e6f',
          [body],
          'base64',
        ),
        'x-shopify-webhook-id': id,
        'x-shopify-topic': 'orders/create',
      }),
    proofHeader: 'x-shopify-hmac-sha256',
    timestamped: false,
    signsBody: true,
    deliveryId: ({ id }) => id,
    body: text,
  },
  {
    scheme: 'slack',
    verify: { scheme: 'slack', secrets: [{ env: 'SLACK_SECRET' }] },
    env: { SLACK_SECRET: 'slack-signing-secret-8f74' },
    secrets: ['slack-signing-secret-8f74'],
    // Slack's documented check: v0= hex HMAC-SHA256 of `v0:<timestamp>:<body>`.
    sign: ({ body, ts, wrongSecret }) =>
      Promise.resolve({
        'x-slack-signature': `v0=${hmacOf(
          'sha256',
          wrongSecret === true ? 'another-slack-app' : 'slack-signing-secret-8f74',
          [`v0:${ts}:`, body],
          'hex',
        )}`,
        'x-slack-request-timestamp': String(ts),
      }),
    proofHeader: 'x-slack-signature',
    timestamped: true,
    signsBody: true,
    body: text,
  },
  {
    scheme: 'hmac',
    verify: {
      scheme: 'hmac',
      secrets: [{ env: 'HMAC_SECRET' }],
      hmac: {
        header: 'X-Acme-Signature',
        algorithm: 'sha512',
        encoding: 'base64',
        prefix: 'sha512=',
        timestampHeader: 'X-Acme-Timestamp',
      },
    },
    env: { HMAC_SECRET: 'acme-hmac-secret' },
    secrets: ['acme-hmac-secret'],
    // The generic scheme's default signed content with a timestamp header: `{timestamp}.{body}`.
    sign: ({ body, ts, wrongSecret }) =>
      Promise.resolve({
        'x-acme-signature': `sha512=${hmacOf(
          'sha512',
          wrongSecret === true ? 'acme-other' : 'acme-hmac-secret',
          [`${ts}.`, body],
          'base64',
        )}`,
        'x-acme-timestamp': String(ts),
      }),
    proofHeader: 'x-acme-signature',
    timestamped: true,
    signsBody: true,
    body: text,
  },
  {
    scheme: 'basic',
    verify: { scheme: 'basic', username: { env: 'BASIC_USER' }, password: { env: 'BASIC_PASS' } },
    env: { BASIC_USER: 'provider', BASIC_PASS: 'p4ss:w0rd-long' },
    secrets: ['p4ss:w0rd-long', Buffer.from('provider:p4ss:w0rd-long').toString('base64')],
    sign: ({ wrongSecret }) =>
      Promise.resolve({
        authorization: `Basic ${Buffer.from(
          `provider:${wrongSecret === true ? 'p4ss:w0rd-lonG' : 'p4ss:w0rd-long'}`,
        ).toString('base64')}`,
      }),
    proofHeader: 'authorization',
    timestamped: false,
    signsBody: false,
    body: text,
  },
  {
    scheme: 'bearer',
    verify: { scheme: 'bearer', secrets: [{ env: 'BEARER_TOKEN' }] },
    env: { BEARER_TOKEN: 'tok_live_4f1c9a7e2b' },
    secrets: ['tok_live_4f1c9a7e2b'],
    sign: ({ wrongSecret }) =>
      Promise.resolve({
        authorization: `Bearer ${wrongSecret === true ? 'tok_live_4f1c9a7e2c' : 'tok_live_4f1c9a7e2b'}`,
      }),
    proofHeader: 'authorization',
    timestamped: false,
    signsBody: false,
    body: text,
  },
];

/** An ingress endpoint per scheme at `/hooks/<scheme>`, all forwarding to `appPort`. */
export function schemeEndpoints(appPort: number): Record<string, unknown>[] {
  return SCHEMES.map((s) => ({
    name: s.scheme,
    path: `/hooks/${s.scheme}`,
    verify: s.verify,
    forward: { port: appPort },
  }));
}

/** The union of every scheme's secret environment. */
export function schemeEnv(): Record<string, string> {
  return Object.assign({}, ...SCHEMES.map((s) => s.env)) as Record<string, string>;
}

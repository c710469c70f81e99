// The signing library's front door: one factory per direction, each turning a scheme's options
// into a function that does only the per-request work. Secrets are decoded and checked here,
// once, so a bad secret fails at config load and never on a request.
import { createBasicAuthVerifier, createBearerTokenVerifier } from './auth.ts';
import type { BasicAuthVerifyOptions, BearerTokenVerifyOptions } from './auth.ts';
import { createHmacSigner, createHmacVerifier } from './generic-hmac.ts';
import type { HmacSigningOptions, HmacVerifyOptions } from './generic-hmac.ts';
import { createGitHubSigner, createGitHubVerifier } from './github.ts';
import type { GitHubSigningOptions, GitHubVerifyOptions } from './github.ts';
import { createShopifyVerifier, type ShopifyVerifyOptions } from './shopify.ts';
import type { Signer } from './signer.ts';
import { createSlackVerifier, type SlackVerifyOptions } from './slack.ts';
import {
  createStandardWebhooksSigner,
  createStandardWebhooksVerifier,
} from './standard-webhooks.ts';
import type {
  StandardWebhooksSigningOptions,
  StandardWebhooksVerifyOptions,
} from './standard-webhooks.ts';
import { createStripeVerifier, type StripeVerifyOptions } from './stripe.ts';
import type { Verifier } from './verification.ts';
import { SigningError } from './errors.ts';

export { SigningError, VERIFY_FAILURE_STATUS } from './errors.ts';
export type { SigningErrorCode, VerifyFailureCode } from './errors.ts';
export type { HmacAlgorithm, SignatureEncoding } from './hmac.ts';
export type { SignInput, Signer } from './signer.ts';
export { DEFAULT_TOLERANCE_SECONDS } from './verification.ts';
export type {
  HeaderBag,
  Verifier,
  VerifyFailure,
  VerifyResult,
  VerifyScheme,
  VerifySuccess,
} from './verification.ts';
export type { BasicAuthVerifyOptions, BasicCredential, BearerTokenVerifyOptions } from './auth.ts';
export type { HmacSchemeOptions, HmacSigningOptions, HmacVerifyOptions } from './generic-hmac.ts';
export type { GitHubSigningOptions, GitHubVerifyOptions } from './github.ts';
export type { ShopifyVerifyOptions } from './shopify.ts';
export type { SlackVerifyOptions } from './slack.ts';
export type {
  StandardWebhooksSigningOptions,
  StandardWebhooksVerifyOptions,
} from './standard-webhooks.ts';
export type { StripeVerifyOptions } from './stripe.ts';

/** Egress signing configuration, one member per scheme. */
export type SigningOptions =
  StandardWebhooksSigningOptions | GitHubSigningOptions | HmacSigningOptions;

/** Egress schemes. */
export type SigningScheme = SigningOptions['scheme'];

/** Ingress verification configuration, one member per scheme. */
export type VerifyOptions =
  | StandardWebhooksVerifyOptions
  | GitHubVerifyOptions
  | StripeVerifyOptions
  | ShopifyVerifyOptions
  | SlackVerifyOptions
  | HmacVerifyOptions
  | BasicAuthVerifyOptions
  | BearerTokenVerifyOptions;

/** Options that escaped the types (hand-written YAML, a newer config): fail with the name. */
function unknownScheme(options: never): never {
  const { scheme } = options as { scheme?: unknown };
  throw new SigningError(
    'ERR_SIGNING_OPTIONS_INVALID',
    `scheme ${JSON.stringify(scheme)} is not supported`,
  );
}

/**
 * Builds the egress signer for `options`. Throws a `SigningError` (`ERR_SECRET_INVALID`,
 * `ERR_SIGNING_OPTIONS_INVALID`) for configuration that cannot sign.
 */
export function createSigner(options: SigningOptions): Signer {
  switch (options.scheme) {
    case 'standard-webhooks':
      return createStandardWebhooksSigner(options);
    case 'github':
      return createGitHubSigner(options);
    case 'hmac':
      return createHmacSigner(options);
    default:
      return unknownScheme(options);
  }
}

/**
 * Builds the ingress verifier for `options`. Throws a `SigningError` for configuration that
 * cannot verify; the verifier itself never throws, it returns a `VerifyResult`.
 */
export function createVerifier(options: VerifyOptions): Verifier {
  switch (options.scheme) {
    case 'standard-webhooks':
      return createStandardWebhooksVerifier(options);
    case 'github':
      return createGitHubVerifier(options);
    case 'stripe':
      return createStripeVerifier(options);
    case 'shopify':
      return createShopifyVerifier(options);
    case 'slack':
      return createSlackVerifier(options);
    case 'hmac':
      return createHmacVerifier(options);
    case 'basic-auth':
      return createBasicAuthVerifier(options);
    case 'bearer-token':
      return createBearerTokenVerifier(options);
    default:
      return unknownScheme(options);
  }
}

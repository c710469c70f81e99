// An egress endpoint's receiver credentials (spec.auth, spec.tls) in the compile: which Secret
// keys (and, for a CA bundle, which ConfigMap key) they read, one check Node's TLS stack makes on the certificate material, and the sidecar
// config blocks that point at the published copies. The values only ever travel as published
// Secret data, which the config stream ships to the pods the endpoint selects (ADR 0021).
import { createSecureContext } from 'node:tls';
import type { z } from 'zod';
import type { WebhookEndpointSpec } from '../../api/v1alpha1/endpoint.ts';
import type { EgressEndpoint } from '../../sidecar/config/schema.ts';
import { parseBundle } from '../certs/x509.ts';
import { REASON } from '../names.ts';
import type { CheckContext, Problem } from './checks.ts';
import { compact } from './compact.ts';
import { decodedValue, type ConfigMapReference, type SecretReference } from './secrets.ts';

type EgressInput = z.input<typeof EgressEndpoint>;
type SourceInput = NonNullable<NonNullable<EgressInput['auth']>['basic']>['username'];

/** The Secret keys spec.auth and spec.tls read, by role. */
export interface CredentialRefs {
  readonly basic?: { readonly username: SecretReference; readonly password: SecretReference };
  readonly oauth2?: { readonly clientId: SecretReference; readonly clientSecret: SecretReference };
  readonly headers: readonly { readonly name: string; readonly value: SecretReference }[];
  readonly clientCertificate?: {
    readonly certificate: SecretReference;
    readonly key: SecretReference;
  };
  /** spec.tls.caBundle.secretKeyRef. */
  readonly ca?: SecretReference;
  /** spec.tls.caBundle.configMapKeyRef: the CRD lets only one of the two be set. */
  readonly caConfigMap?: ConfigMapReference;
}

function ref(path: string, name: string, key: string): SecretReference {
  return { path, name, key, format: 'any' };
}

/** The references of an egress spec's credentials. */
export function credentialReferences(spec: WebhookEndpointSpec): CredentialRefs {
  const { auth, tls } = spec;
  const basic = auth?.basic;
  const oauth2 = auth?.oauth2;
  const cert = tls?.clientCertificate;
  const ca = tls?.caBundle?.secretKeyRef;
  const caConfigMap = tls?.caBundle?.configMapKeyRef;
  const path = {
    basic: 'spec.auth.basic.secretRef',
    clientId: 'spec.auth.oauth2.clientId.secretKeyRef',
    clientSecret: 'spec.auth.oauth2.clientSecret.secretKeyRef',
    cert: 'spec.tls.clientCertificate.secretName',
  };
  const idRef = oauth2?.clientId.secretKeyRef;
  const secretRef = oauth2?.clientSecret.secretKeyRef;
  return {
    // A kubernetes.io/basic-auth Secret: fixed key names.
    ...(basic && {
      basic: {
        username: ref(path.basic, basic.secretRef.name, 'username'),
        password: ref(path.basic, basic.secretRef.name, 'password'),
      },
    }),
    ...(idRef &&
      secretRef && {
        oauth2: {
          clientId: ref(path.clientId, idRef.name, idRef.key ?? 'client-id'),
          clientSecret: ref(path.clientSecret, secretRef.name, secretRef.key ?? 'client-secret'),
        },
      }),
    headers: (auth?.headers ?? []).map((h, i) => ({
      name: h.name,
      value: ref(
        `spec.auth.headers[${i}].secretKeyRef`,
        h.secretKeyRef.name,
        h.secretKeyRef.key ?? 'value',
      ),
    })),
    // A kubernetes.io/tls Secret: fixed key names, as cert-manager writes them.
    ...(cert && {
      clientCertificate: {
        certificate: ref(path.cert, cert.secretName, 'tls.crt'),
        key: ref(path.cert, cert.secretName, 'tls.key'),
      },
    }),
    ...(ca && { ca: ref('spec.tls.caBundle.secretKeyRef', ca.name, ca.key ?? 'ca.crt') }),
    ...(caConfigMap && {
      caConfigMap: {
        path: 'spec.tls.caBundle.configMapKeyRef',
        name: caConfigMap.name,
        key: caConfigMap.key ?? 'ca.crt',
      },
    }),
  };
}

/** Every Secret reference in `refs`, in a fixed order (the ConfigMap one is apart). */
export function credentialReferenceList(refs: CredentialRefs): SecretReference[] {
  return [
    ...(refs.basic ? [refs.basic.username, refs.basic.password] : []),
    ...(refs.oauth2 ? [refs.oauth2.clientId, refs.oauth2.clientSecret] : []),
    ...refs.headers.map((h) => h.value),
    ...(refs.clientCertificate
      ? [refs.clientCertificate.certificate, refs.clientCertificate.key]
      : []),
    ...(refs.ca ? [refs.ca] : []),
  ];
}

/** The ConfigMap references in `refs`. */
export function configMapReferenceList(refs: CredentialRefs): ConfigMapReference[] {
  return refs.caConfigMap ? [refs.caConfigMap] : [];
}

/**
 * The certificate material is what Node's TLS stack accepts: PEM, a key matching its certificate.
 * Checked here so one endpoint's bad Secret is reported on that endpoint; the sidecar would
 * refuse the whole namespace's config. The message never repeats OpenSSL's detail about the bytes.
 */
export function tlsMaterialProblem(
  refs: CredentialRefs,
  { secrets, configMaps }: CheckContext,
): Problem | undefined {
  const value = (r: SecretReference | undefined): string | undefined =>
    r && decodedValue(secrets.get(r.name)?.data[r.key] ?? '');
  const cert = refs.clientCertificate;
  try {
    if (cert !== undefined)
      createSecureContext({ cert: value(cert.certificate), key: value(cert.key) });
  } catch {
    return {
      reason: REASON.secretValueInvalid,
      message: `Secret "${cert!.certificate.name}" (${cert!.certificate.path}) is not a usable client certificate: store the PEM chain in tls.crt and its matching PEM private key in tls.key (a kubernetes.io/tls Secret, as cert-manager writes it)`,
    };
  }
  const bundle = value(refs.ca);
  if (refs.ca !== undefined && parseBundle(bundle ?? '').length === 0) {
    return {
      reason: REASON.secretValueInvalid,
      message: `key "${refs.ca.key}" of Secret "${refs.ca.name}" (${refs.ca.path}) is not a PEM CA bundle: store one or more -----BEGIN CERTIFICATE----- blocks`,
    };
  }
  // The cache keeps only values holding a certificate: a dropped one reads as empty here.
  const fromConfigMap = refs.caConfigMap;
  if (
    fromConfigMap !== undefined &&
    parseBundle(configMaps.get(fromConfigMap.name)?.data[fromConfigMap.key] ?? '').length === 0
  ) {
    return {
      reason: REASON.configMapValueInvalid,
      message: `key "${fromConfigMap.key}" of ConfigMap "${fromConfigMap.name}" (${fromConfigMap.path}) is not a PEM CA bundle: store one or more -----BEGIN CERTIFICATE----- blocks in its data`,
    };
  }
  return undefined;
}

/** The endpoint entry's `auth` and `tls` blocks, each source a published copy. */
export function credentialBlocks(
  spec: WebhookEndpointSpec,
  refs: CredentialRefs,
  source: (ref: SecretReference) => SourceInput,
  configMapSource: (ref: ConfigMapReference) => SourceInput,
): Pick<EgressInput, 'auth' | 'tls'> {
  const { auth, tls } = spec;
  const oauth2 = auth?.oauth2;
  return {
    auth:
      auth === undefined
        ? undefined
        : compact({
            basic: refs.basic && {
              username: source(refs.basic.username),
              password: source(refs.basic.password),
            },
            oauth2:
              oauth2 &&
              refs.oauth2 &&
              compact({
                tokenURL: oauth2.tokenURL,
                clientId: source(refs.oauth2.clientId),
                clientSecret: source(refs.oauth2.clientSecret),
                scopes: oauth2.scopes,
                audience: oauth2.audience,
              }),
            headers:
              refs.headers.length === 0
                ? undefined
                : refs.headers.map((h) => ({ name: h.name, value: source(h.value) })),
          }),
    tls:
      tls === undefined
        ? undefined
        : compact({
            clientCertificate: refs.clientCertificate && {
              certificate: source(refs.clientCertificate.certificate),
              key: source(refs.clientCertificate.key),
            },
            ca: refs.ca ? source(refs.ca) : refs.caConfigMap && configMapSource(refs.caConfigMap),
            serverName: tls.serverName,
            minVersion: tls.minVersion,
          }),
  };
}

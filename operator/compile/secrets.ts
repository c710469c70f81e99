// Secret references: which keys an endpoint or policy reads, where their copies live in the
// namespace's published Secret, and whether a value is one the sidecar will load.
import { createHash } from 'node:crypto';
import { SigningError } from '../../sidecar/signing/errors.ts';
import { parseStandardWebhooksSecrets } from '../../sidecar/signing/standard-webhooks.ts';
import { SECRET_MOUNT_PATH } from '../names.ts';

/** A Secret as the compiler sees it: its name, version and `data` (base64 values). */
export interface SecretView {
  readonly name: string;
  readonly resourceVersion: string;
  readonly data: Readonly<Record<string, string>>;
}

/**
 * A CA ConfigMap as the compiler sees it (operator/cache.ts keeps no more): the data keys whose
 * value holds a PEM certificate, as text, and the names of every other key, so that "no such
 * key" and "not a PEM bundle" stay apart without keeping the values.
 */
export interface ConfigMapView {
  readonly name: string;
  readonly resourceVersion: string;
  /** Keys whose value contains `-----BEGIN CERTIFICATE-----`, by key (plain text). */
  readonly data: Readonly<Record<string, string>>;
  /** Keys present whose value was dropped (not a certificate, or in binaryData). */
  readonly otherKeys: readonly string[];
}

/** One key of one ConfigMap that a resource reads: a CA bundle. */
export interface ConfigMapReference {
  /** Where the reference is written: `spec.tls.caBundle.configMapKeyRef`. */
  readonly path: string;
  readonly name: string;
  readonly key: string;
}

/** What a referenced value must look like beyond "not empty". */
export type SecretFormat = 'any' | 'standard-webhooks-signing' | 'standard-webhooks-verify';

/** One key of one Secret that a resource reads. */
export interface SecretReference {
  /** Where the reference is written, e.g. `spec.signing.secretRef`. */
  readonly path: string;
  readonly name: string;
  readonly key: string;
  readonly format: SecretFormat;
}

/** Longest data key a Secret accepts. */
const MAX_KEY_LENGTH = 253;

/**
 * The key under which a referenced value is copied into the published Secret. It carries the
 * source Secret's resourceVersion, so a rotated key changes the config file itself: the sidecar
 * only reloads when the config file changes, and a mounted Secret may update before or after the
 * ConfigMap — a config naming a file not there yet is refused by the sidecar and retried, never
 * loaded with a stale key. `_` cannot occur in a Secret name, so the parts never run together.
 */
export function publishedKey(
  source: { readonly name: string; readonly resourceVersion: string },
  key: string,
  kind: 'Secret' | 'ConfigMap' = 'Secret',
): string {
  // A ConfigMap's copy starts with `ConfigMap_`: Secret names are lower case and the digest
  // form starts with `h_`, so a Secret and a ConfigMap of one name never share a key.
  const prefix = kind === 'ConfigMap' ? 'ConfigMap_' : '';
  const readable = `${prefix}${source.name}_${key}_${source.resourceVersion}`;
  if (readable.length <= MAX_KEY_LENGTH) return readable;
  const digest = createHash('sha256').update(`${source.name}/${key}`).digest('hex').slice(0, 32);
  return `${prefix}h_${digest}_${source.resourceVersion}`;
}

/** The file a published key is mounted as inside the pod. */
export function publishedFile(publishedKeyName: string): string {
  return `${SECRET_MOUNT_PATH}/${publishedKeyName}`;
}

/** The value the sidecar will read: the decoded bytes, trimmed as the sidecar trims them. */
export function decodedValue(base64: string): string {
  return Buffer.from(base64, 'base64').toString('utf8').trim();
}

/**
 * Why the sidecar would refuse `value` for `ref`, or undefined when it loads. Messages name the
 * Secret, key and field and the form expected, never the value nor a fact about it but emptiness.
 */
export function valueProblem(ref: SecretReference, value: string): string | undefined {
  const where = `key "${ref.key}" of Secret "${ref.name}" (${ref.path})`;
  if (value === '') return `${where} is empty`;
  if (ref.format === 'any') return undefined;
  try {
    parseStandardWebhooksSecrets([value], 'secret', ref.format === 'standard-webhooks-signing');
    return undefined;
  } catch (err) {
    if (!(err instanceof SigningError)) throw err;
    // One message whatever is wrong: status and Events are readable by more people than the
    // Secret, so they must not tell its prefix or its length (issue 15, item 5).
    return `${where} is not a usable Standard Webhooks secret: store whsec_ followed by the padded base64 of 24 to 64 random bytes, e.g. whsec_$(openssl rand -base64 32)`;
  }
}

/**
 * Names of the Secrets a spec references anywhere (`secretRef`, `secretKeyRef`,
 * `additionalSecretRefs`, a client certificate's `secretName`), read without validating it: used
 * to decide whether a Secret's change concerns a namespace.
 */
export function secretRefNames(spec: unknown): Set<string> {
  const names = new Set<string>();
  const visit = (value: unknown, key: string | undefined): void => {
    if (Array.isArray(value)) {
      for (const item of value)
        visit(item, key === 'additionalSecretRefs' ? 'secretRef' : undefined);
      return;
    }
    if (value === null || typeof value !== 'object') return;
    const { name, secretName } = value as { name?: unknown; secretName?: unknown };
    if ((key === 'secretRef' || key === 'secretKeyRef') && typeof name === 'string')
      names.add(name);
    if (key === 'clientCertificate' && typeof secretName === 'string') names.add(secretName);
    for (const [k, v] of Object.entries(value)) visit(v, k);
  };
  visit(spec, undefined);
  return names;
}

/**
 * Names of the ConfigMaps a spec references (`configMapKeyRef`), read without validating it:
 * used to decide whether a CA ConfigMap's change concerns a namespace.
 */
export function configMapRefNames(spec: unknown): Set<string> {
  const names = new Set<string>();
  const visit = (value: unknown, key: string | undefined): void => {
    if (value === null || typeof value !== 'object') return;
    if (Array.isArray(value)) {
      for (const item of value) visit(item, undefined);
      return;
    }
    const { name } = value as { name?: unknown };
    if (key === 'configMapKeyRef' && typeof name === 'string') names.add(name);
    for (const [k, v] of Object.entries(value)) visit(v, k);
  };
  visit(spec, undefined);
  return names;
}

// What one pod may hold: the namespace's published config cut down to the endpoints whose
// `workloadSelector` matches the pod's labels (no selector: every pod of the namespace), and only
// the secret values those endpoints reference. Pure: the published ConfigMap text, the published
// Secret's data and the endpoints' selectors in, one pod's view out.
import { createHash } from 'node:crypto';
import { matchesSelector, type LabelSelector } from '../compile/selector.ts';
import { SECRET_MOUNT_PATH } from '../names.ts';

/** The namespace's published state, parsed once per ConfigMap version. */
export interface NamespaceConfig {
  readonly namespace: string;
  readonly generation: number;
  /** The parsed config document (JSON after the comment header). */
  readonly document: Readonly<Record<string, unknown>>;
  /** The published Secret's data (base64 values) by key. */
  readonly secretData: Readonly<Record<string, string>>;
}

/** One pod's view: what the stream sends. */
export interface ScopedConfig {
  readonly generation: number;
  /** The config file's text, in the published form (JSON, which is YAML). */
  readonly config: string;
  /** Base64 values by the file path `config` names: only the keys it references. */
  readonly secrets: Readonly<Record<string, string>>;
  /** sha256 of config and secrets: equal digests mean an unchanged view. */
  readonly digest: string;
  /** Keys the config references that the published Secret does not hold (yet). */
  readonly missing: readonly string[];
}

/** The lists whose entries are endpoints, each named after its WebhookEndpoint. */
const ENDPOINT_LISTS = ['endpoints', 'ingress'] as const;

/**
 * Parses a published config: JSON after `#` comment lines (operator/publish.ts renders it so).
 * Returns undefined for text that is not such JSON.
 */
export function parsePublishedJson(text: string): Record<string, unknown> | undefined {
  try {
    const doc: unknown = JSON.parse(text.replace(/^(#[^\n]*\n)+/, ''));
    return typeof doc === 'object' && doc !== null && !Array.isArray(doc)
      ? (doc as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** Every secret key a config entry references as `{file: <SECRET_MOUNT_PATH>/<key>}`. */
function referencedKeys(value: unknown, into: Set<string>): void {
  if (Array.isArray(value)) {
    for (const v of value) referencedKeys(v, into);
    return;
  }
  if (typeof value !== 'object' || value === null) return;
  for (const [k, v] of Object.entries(value)) {
    if (k === 'file' && typeof v === 'string' && v.startsWith(`${SECRET_MOUNT_PATH}/`)) {
      into.add(v.slice(SECRET_MOUNT_PATH.length + 1));
    } else referencedKeys(v, into);
  }
}

/**
 * The pod's view of `ns`. `selectors` gives each WebhookEndpoint's `spec.workloadSelector` by
 * name (undefined: no selector, or the endpoint is not known — an entry whose resource is gone
 * from the cache is kept only when it has no selector to check, as the published config still
 * lists it until the next publish).
 */
export function scopeConfig(
  ns: NamespaceConfig,
  podLabels: Readonly<Record<string, string>>,
  selectors: (endpointName: string) => LabelSelector | undefined,
): ScopedConfig {
  const doc: Record<string, unknown> = { ...ns.document, generation: ns.generation };
  for (const list of ENDPOINT_LISTS) {
    const items = doc[list];
    if (!Array.isArray(items)) continue;
    doc[list] = (items as { name?: unknown }[]).filter((item) => {
      const selector = typeof item?.name === 'string' ? selectors(item.name) : undefined;
      return selector === undefined || matchesSelector(selector, podLabels);
    });
  }
  const keys = new Set<string>();
  // Endpoints, ingress receivers and dynamic routes (policies' signing secrets) keep what they name.
  for (const list of [...ENDPOINT_LISTS, 'dynamic'] as const) referencedKeys(doc[list], keys);
  const secrets: Record<string, string> = {};
  const missing: string[] = [];
  for (const key of [...keys].sort()) {
    const value = ns.secretData[key];
    if (value !== undefined) secrets[`${SECRET_MOUNT_PATH}/${key}`] = value;
    else missing.push(key);
  }
  const header = `# Streamed by hookgate-operator for one pod of namespace ${ns.namespace}; generation ${ns.generation}.\n`;
  const config = `${header}${JSON.stringify(doc)}\n`;
  const digest = createHash('sha256')
    .update(config)
    .update('\0')
    .update(JSON.stringify(secrets))
    .digest('hex');
  return { generation: ns.generation, config, secrets, digest, missing };
}

/** A stable key for a label set: pods with equal labels share one scoped view. */
export function labelsKey(labels: Readonly<Record<string, string>>): string {
  return JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1)));
}

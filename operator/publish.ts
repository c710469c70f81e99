// What to publish for a namespace, decided purely from the compiled result and the published
// objects in the cache: the config generation moves only when the content does, and an object
// whose content and metadata already match is not written at all.
import { parse } from 'yaml';
import { canonicalJson, type Compiled, type ConfigInput } from './compile/compile.ts';
import {
  API_VERSION,
  CONFIG_KEY,
  CONFIG_MAP_NAME,
  GENERATION_ANNOTATION,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  SECRET_MOUNT_PATH,
  SECRET_NAME,
} from './names.ts';

/** An `ownerReferences` entry. */
export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
}

/** An object to server-side apply. */
export interface ApplyManifest {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace: string;
    labels: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences: OwnerReference[];
  };
  [field: string]: unknown;
}

/** A published object as the cache holds it. */
export interface PublishedObject {
  readonly metadata: {
    readonly uid?: string | undefined;
    readonly labels?: Readonly<Record<string, string>> | undefined;
    readonly annotations?: Readonly<Record<string, string>> | undefined;
    readonly ownerReferences?: readonly Partial<OwnerReference>[] | undefined;
  };
  readonly data?: Readonly<Record<string, string>> | undefined;
}

/** The namespace's published state, read from the cache. */
export interface Published {
  readonly configMap?: PublishedObject | undefined;
  readonly secret?: PublishedObject | undefined;
  /** The highest configGeneration any status reports: a recreated ConfigMap continues from it. */
  readonly highestStatusGeneration: number;
}

/**
 * The most a ConfigMap's data may hold (keys and values): the API server refuses more with 422
 * (`Too long: must have at most 1048576 bytes`), the same limit as a Secret's.
 */
export const CONFIG_MAP_MAX_BYTES = 1_048_576;
/** Past this share of {@link CONFIG_MAP_MAX_BYTES} a namespace is warned it nears the limit. */
export const NEAR_LIMIT_RATIO = 800 / 1024;
/**
 * etcd's default request limit (`--max-request-bytes`, 1.5 MiB): the whole object — data,
 * one owner reference per resource, labels — must fit in it besides the data limit.
 */
export const OBJECT_MAX_BYTES = 1_572_864;

/** How full the published objects are: `over` is not written (the last good ones stay). */
export interface PublishSize {
  readonly state: 'fits' | 'near' | 'over';
  /** The larger of the ConfigMap's and the Secret's data, in bytes. */
  readonly dataBytes: number;
  /** The serialized ConfigMap, owner references included. */
  readonly objectBytes: number;
}

function dataBytes(data: Readonly<Record<string, string>>): number {
  let n = 0;
  for (const [k, v] of Object.entries(data)) n += Buffer.byteLength(k) + Buffer.byteLength(v);
  return n;
}

/** The Secret's stored size: its data values are base64 text, stored decoded. */
function secretBytes(data: Readonly<Record<string, string>>): number {
  let n = 0;
  for (const [k, v] of Object.entries(data))
    n += Buffer.byteLength(k) + Buffer.from(v, 'base64').length;
  return n;
}

/** Measures a ConfigMap manifest and the Secret data published beside it. */
export function publishSize(
  configMap: ApplyManifest,
  secretData: Readonly<Record<string, string>>,
): PublishSize {
  const data = Math.max(
    dataBytes(configMap['data'] as Record<string, string>),
    secretBytes(secretData),
  );
  const objectBytes = Buffer.byteLength(JSON.stringify(configMap));
  const share = Math.max(data / CONFIG_MAP_MAX_BYTES, objectBytes / OBJECT_MAX_BYTES);
  return {
    state: share > 1 ? 'over' : share > NEAR_LIMIT_RATIO ? 'near' : 'fits',
    dataBytes: data,
    objectBytes,
  };
}

/** What to write. */
export interface PublishPlan {
  /**
   * The config generation in force once the plan is carried out. Over the size limit: the one
   * already published (nothing is written).
   */
  readonly generation: number;
  readonly size: PublishSize;
  /** The ConfigMap to apply; undefined: it is up to date. */
  readonly configMap: ApplyManifest | undefined;
  /** The Secret to apply once the ConfigMap's uid is known; undefined: it is up to date. */
  readonly secret: ((configMapUid: string) => ApplyManifest) | undefined;
}

/** The lists of the config, each written one entry per line. */
const LISTS = ['endpoints', 'dynamic', 'ingress'] as const;

/**
 * The configuration file's text at `generation`: JSON (which is YAML), one list entry per line.
 * A 1,000-endpoint namespace renders and parses in milliseconds with the runtime's own JSON,
 * where a YAML document model would cost tens of megabytes per reconcile; one entry per line
 * keeps `kubectl get -o yaml` readable and diffs small.
 */
export function renderConfig(config: ConfigInput, generation: number): string {
  const header =
    `# Generated by hookgate-operator from the WebhookEndpoints and WebhookPolicies in namespace ` +
    `${config.namespace ?? ''}; edits are overwritten.\n# Secrets are files under ${SECRET_MOUNT_PATH}, ` +
    `copied from the Secrets the resources reference.\n`;
  const fields = Object.entries({ generation, ...config }).map(([key, value]) => {
    if (
      !(LISTS as readonly string[]).includes(key) ||
      !Array.isArray(value) ||
      value.length === 0
    ) {
      return `  ${JSON.stringify(key)}: ${JSON.stringify(value)}`;
    }
    const items = (value as unknown[]).map((item) => `    ${JSON.stringify(item)}`).join(',\n');
    return `  ${JSON.stringify(key)}: [\n${items}\n  ]`;
  });
  return `${header}{\n${fields.join(',\n')}\n}\n`;
}

/** Parses a published config: JSON after the comment header, else (hand-written) YAML. */
function parsePublished(text: string): unknown {
  try {
    return JSON.parse(text.replace(/^(#[^\n]*\n)+/, ''));
  } catch {
    return parse(text);
  }
}

/**
 * The entries of a published config by `endpoints/<name>` and `ingress/<name>` (canonical JSON),
 * to tell which endpoints a new config changes. Unreadable text gives no entries.
 */
export function publishedEntries(text: string | undefined): ReadonlyMap<string, string> {
  const entries = new Map<string, string>();
  if (text === undefined) return entries;
  let doc: unknown;
  try {
    doc = parsePublished(text);
  } catch {
    return entries;
  }
  for (const list of ['endpoints', 'ingress'] as const) {
    const items = (doc as Record<string, unknown> | null)?.[list];
    if (!Array.isArray(items)) continue;
    for (const item of items as { name?: unknown }[]) {
      if (typeof item?.name === 'string') entries.set(`${list}/${item.name}`, JSON.stringify(item));
    }
  }
  return entries;
}

/** The key under which {@link publishedEntries} lists an endpoint. */
export function entryKey(direction: 'Egress' | 'Ingress', name: string): string {
  return `${direction === 'Egress' ? 'endpoints' : 'ingress'}/${name}`;
}

function sameRecord(
  a: Readonly<Record<string, string>> | undefined,
  b: Readonly<Record<string, string>>,
): boolean {
  // The API server leaves out an empty map: absent and {} are the same content.
  const x = a ?? {};
  const keys = Object.keys(b);
  return (
    Object.keys(x).length === keys.length && keys.every((k) => Object.hasOwn(x, k) && x[k] === b[k])
  );
}

function sameOwners(
  a: readonly Partial<OwnerReference>[] | undefined,
  b: readonly OwnerReference[],
): boolean {
  const view = (refs: readonly Partial<OwnerReference>[]): string =>
    canonicalJson(
      refs
        .map((r) => ({ kind: r.kind, name: r.name, uid: r.uid, controller: r.controller }))
        .sort((x, y) => ((x.uid ?? '') < (y.uid ?? '') ? -1 : 1)),
    );
  return view(a ?? []) === view(b);
}

const labels = { [MANAGED_BY_LABEL]: MANAGED_BY_VALUE };

/**
 * Decides the generation and what to write. `owners` are the namespace's WebhookEndpoints and
 * WebhookPolicies: the ConfigMap lives while any of them does, and the Secret lives with the
 * ConfigMap.
 */
export function planPublish(
  namespace: string,
  compiled: Compiled,
  published: Published,
  owners: readonly OwnerReference[],
): PublishPlan {
  const existingText = published.configMap?.data?.[CONFIG_KEY];
  const annotated = Number(published.configMap?.metadata.annotations?.[GENERATION_ANNOTATION]);
  const existingGeneration =
    published.configMap !== undefined && Number.isSafeInteger(annotated) && annotated >= 0
      ? annotated
      : published.highestStatusGeneration;
  const secretSame = sameRecord(published.secret?.data, compiled.secretData);
  const contentSame =
    published.configMap !== undefined &&
    existingText === renderConfig(compiled.config, existingGeneration) &&
    secretSame;
  const generation = contentSame ? existingGeneration : existingGeneration + 1;

  const configMap: ApplyManifest = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: CONFIG_MAP_NAME,
      namespace,
      labels,
      annotations: { [GENERATION_ANNOTATION]: String(generation) },
      ownerReferences: [...owners],
    },
    data: { [CONFIG_KEY]: renderConfig(compiled.config, generation) },
  };
  const configMapCurrent =
    contentSame &&
    sameRecord(published.configMap?.metadata.labels, labels) &&
    sameOwners(published.configMap?.metadata.ownerReferences, owners);

  const secretOwner = (uid: string): OwnerReference => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    name: CONFIG_MAP_NAME,
    uid,
    controller: true,
  });
  const configMapUid = published.configMap?.metadata.uid;
  const secretCurrent =
    published.secret !== undefined &&
    secretSame &&
    sameRecord(published.secret.metadata.labels, labels) &&
    configMapUid !== undefined &&
    sameOwners(published.secret.metadata.ownerReferences, [secretOwner(configMapUid)]);

  const size = publishSize(configMap, compiled.secretData);
  if (size.state === 'over') {
    // Refused by the API server if sent: keep the last good ConfigMap and Secret (a Secret
    // without the keys the old config names would break the sidecars still reading it).
    return { generation: existingGeneration, size, configMap: undefined, secret: undefined };
  }
  return {
    generation,
    size,
    configMap: configMapCurrent ? undefined : configMap,
    secret: secretCurrent
      ? undefined
      : (uid: string): ApplyManifest => ({
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: {
            name: SECRET_NAME,
            namespace,
            labels,
            ownerReferences: [secretOwner(uid)],
          },
          type: 'Opaque',
          data: { ...compiled.secretData },
        }),
  };
}

/** The owner reference of a WebhookEndpoint or WebhookPolicy. */
export function ownerOf(
  kind: 'WebhookEndpoint' | 'WebhookPolicy',
  name: string,
  uid: string,
): OwnerReference {
  return { apiVersion: API_VERSION, kind, name, uid };
}

// The pure heart of the operator: one namespace's endpoints, policies and Secrets in, the sidecar
// configuration, the Secret data to publish and what each object's status should say out. No
// I/O, no clock: the same input always compiles to the same output, which is what lets a
// restarted operator find nothing to write.
import type { z } from 'zod';
import { WebhookEndpoint, type WebhookEndpointSpec } from '../../api/v1alpha1/endpoint.ts';
import { SIDECAR_OPERATIONAL_EVENT_TYPES } from '../../api/v1alpha1/defaults.ts';
import { WebhookPolicy, type WebhookPolicySpec } from '../../api/v1alpha1/policy.ts';
import { formatIssues } from '../../sidecar/config/load.ts';
import {
  EgressEndpoint,
  IngressEndpoint,
  SidecarConfig,
  type DynamicRoute,
} from '../../sidecar/config/schema.ts';
import { compileFilter } from '../../sidecar/filter/index.ts';
import { OperatorError } from '../errors.ts';
import { disabledReason } from '../lifecycle/disabled.ts';
import { REASON } from '../names.ts';
import {
  configMapReferenceChecks,
  firstProblem,
  referenceChecks,
  type Check,
  type Problem,
} from './checks.ts';
import { compact } from './compact.ts';
import {
  configMapReferenceList,
  credentialBlocks,
  credentialReferenceList,
  credentialReferences,
  tlsMaterialProblem,
} from './credentials.ts';
import {
  publishedFile,
  publishedKey,
  type ConfigMapReference,
  type ConfigMapView,
  type SecretFormat,
  type SecretReference,
  type SecretView,
} from './secrets.ts';
import { matchesSelector, type LabelSelector } from './selector.ts';

/** The configuration as the operator writes it: the sidecar schema's input form. */
export type ConfigInput = z.input<typeof SidecarConfig>;
type EgressInput = z.input<typeof EgressEndpoint>;
type IngressInput = z.input<typeof IngressEndpoint>;
type DynamicInput = z.input<typeof DynamicRoute>;
type PolicyInput = NonNullable<EgressInput['policy']>;
type SigningInput = NonNullable<EgressInput['signing']>;
type SecretSourceInput = IngressInput['verify']['username'];

/** The metadata the compiler reads from an object in the cache. */
export interface ObjectMetaInput {
  readonly name: string;
  readonly namespace?: string | undefined;
  readonly uid?: string | undefined;
  readonly generation?: number | undefined;
  readonly creationTimestamp?: string | undefined;
  readonly labels?: Readonly<Record<string, string>> | undefined;
}

/** An object as the cache holds it: metadata plus whatever else the API server sent. */
export interface ObjectInput {
  readonly metadata: ObjectMetaInput;
  readonly [field: string]: unknown;
}

/** Everything one namespace compiles from. */
export interface CompileInput {
  readonly namespace: string;
  readonly endpoints: readonly ObjectInput[];
  readonly policies: readonly ObjectInput[];
  /** The namespace's Secrets by name. */
  readonly secrets: ReadonlyMap<string, SecretView>;
  /** The namespace's CA ConfigMaps by name (certificate keys only); default: none. */
  readonly configMaps?: ReadonlyMap<string, ConfigMapView>;
}

/** Whether an object is accepted, with the reason and message its condition carries. */
export type Verdict = { readonly ok: true } | ({ readonly ok: false } & Problem);

/** What the compile decided about one WebhookEndpoint. */
export interface EndpointResult {
  readonly name: string;
  readonly accepted: Verdict;
  /** The WebhookPolicy in effect; undefined: built-in defaults. */
  readonly policy: string | undefined;
  /** Its entry in the config (JSON); undefined when it is left out. */
  readonly entry: string | undefined;
}

/** What the compile decided about one WebhookPolicy. */
export interface PolicyResult {
  readonly name: string;
  readonly accepted: Verdict;
  /** Published endpoints this policy is in effect for. */
  readonly inEffectFor: number;
  /** Older policies that win for endpoints this one selects: winner name → endpoint names. */
  readonly overriddenBy: ReadonlyMap<string, readonly string[]>;
}

/** The compiled namespace. */
export interface Compiled {
  /** Validated by `SidecarConfig`; `generation` is left to the publisher. */
  readonly config: ConfigInput;
  /** The published Secret's `data` (base64, copied from the source Secrets). */
  readonly secretData: Readonly<Record<string, string>>;
  /** Sorted by name. */
  readonly endpoints: readonly EndpointResult[];
  /** Sorted by name. */
  readonly policies: readonly PolicyResult[];
}

/** JSON with object keys sorted: equal values give equal text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

type Parsed<T> = { ok: true; value: T } | { ok: false; problem: Problem };

// Parsing the same cached object again gives the same answer; the cache replaces an object on
// every change, so its identity is its version.
const parsedEndpoints = new WeakMap<ObjectInput, Parsed<WebhookEndpoint>>();
const parsedPolicies = new WeakMap<ObjectInput, Parsed<WebhookPolicy>>();

function parseWith<T>(
  schema: z.ZodType<T>,
  memo: WeakMap<ObjectInput, Parsed<T>>,
  object: ObjectInput,
): Parsed<T> {
  let parsed = memo.get(object);
  if (parsed === undefined) {
    const result = schema.safeParse(object);
    parsed = result.success
      ? { ok: true, value: result.data }
      : {
          ok: false,
          problem: {
            reason: REASON.invalidSpec,
            message: formatIssues(result.error.issues).join('; '),
          },
        };
    memo.set(object, parsed);
  }
  return parsed;
}

/** Oldest first (creationTimestamp), then by name: the Gateway API conflict rule. */
function byAge(a: ObjectInput, b: ObjectInput): number {
  const ta = Date.parse(a.metadata.creationTimestamp ?? '') || 0;
  const tb = Date.parse(b.metadata.creationTimestamp ?? '') || 0;
  return ta - tb || byName(a, b);
}

function byName(a: ObjectInput, b: ObjectInput): number {
  return a.metadata.name < b.metadata.name ? -1 : a.metadata.name > b.metadata.name ? 1 : 0;
}

function sortedRecord(
  record: Readonly<Record<string, string>> | undefined,
): Record<string, string> | undefined {
  if (record === undefined || Object.keys(record).length === 0) return undefined;
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => (a < b ? -1 : 1)));
}

type SigningSpec = NonNullable<WebhookEndpointSpec['signing']>;

function signingReferences(signing: SigningSpec, path: string): SecretReference[] {
  const format: SecretFormat =
    (signing.scheme ?? 'standard-webhooks') === 'standard-webhooks'
      ? 'standard-webhooks-signing'
      : 'any';
  return [
    {
      path: `${path}.secretRef`,
      name: signing.secretRef.name,
      key: signing.secretRef.key ?? 'secret',
      format,
    },
    ...(signing.previousSecrets ?? []).map((p, i) => ({
      path: `${path}.previousSecrets[${i}].secretRef`,
      name: p.secretRef.name,
      key: p.secretRef.key ?? 'secret',
      format,
    })),
  ];
}

/** Every Secret key an endpoint reads, in the order the config lists them (signing first). */
function endpointReferences(spec: WebhookEndpointSpec): SecretReference[] {
  if (spec.direction === 'Egress') {
    const signing =
      spec.signing === undefined ? [] : signingReferences(spec.signing, 'spec.signing');
    return [...signing, ...credentialReferenceList(credentialReferences(spec))];
  }
  const verify = spec.verify;
  if (verify === undefined) return [];
  const path = 'spec.verify.secretRef';
  if (verify.scheme === 'basic') {
    // A kubernetes.io/basic-auth Secret: fixed key names, whatever secretRef.key says.
    return [
      { path, name: verify.secretRef.name, key: 'username', format: 'any' },
      { path, name: verify.secretRef.name, key: 'password', format: 'any' },
    ];
  }
  const format: SecretFormat =
    verify.scheme === 'standard-webhooks' ? 'standard-webhooks-verify' : 'any';
  return [
    { path, name: verify.secretRef.name, key: verify.secretRef.key ?? 'secret', format },
    ...(verify.additionalSecretRefs ?? []).map((r, i) => ({
      path: `spec.verify.additionalSecretRefs[${i}]`,
      name: r.name,
      key: r.key ?? 'secret',
      format,
    })),
  ];
}

/** Checks on an endpoint's spec that the CRD's schema cannot express. */
const endpointSpecChecks: readonly Check<WebhookEndpointSpec>[] = [
  // The CRD's CEL rule checks the filter's syntax; this is the sidecar's own parser, so a filter
  // stored before that rule existed (or by an older CRD) is refused here, with the position.
  (spec) => {
    if (spec.filter === undefined) return undefined;
    const compiled = compileFilter(spec.filter);
    return 'error' in compiled
      ? { reason: REASON.invalidSpec, message: `spec.filter: ${compiled.error}` }
      : undefined;
  },
  // The sidecar's basic scheme holds one username/password pair: extra refs would be ignored.
  (spec) =>
    spec.verify?.scheme === 'basic' && (spec.verify.additionalSecretRefs?.length ?? 0) > 0
      ? {
          reason: REASON.invalidSpec,
          message:
            'spec.verify.additionalSecretRefs: scheme basic takes one credential pair; rotate by updating the Secret',
        }
      : undefined,
];

/** Where the sidecar reads a referenced key: a file in the mounted published Secret. */
function source(
  ref: SecretReference,
  secrets: ReadonlyMap<string, SecretView>,
  published: Record<string, string>,
): NonNullable<SecretSourceInput> {
  const secret = secrets.get(ref.name);
  if (secret === undefined) throw new Error(`unchecked reference ${ref.path}`);
  const key = publishedKey(secret, ref.key);
  published[key] = secret.data[ref.key] ?? '';
  return { file: publishedFile(key) };
}

/** The subscriptions a sidecar serves itself, or undefined when there are none. */
function sidecarOperationalEvents(
  types: readonly string[] | undefined,
): (typeof SIDECAR_OPERATIONAL_EVENT_TYPES)[number][] | undefined {
  const own = SIDECAR_OPERATIONAL_EVENT_TYPES.filter((t) => types?.includes(t) === true);
  return own.length === 0 ? undefined : own;
}

/** Where the sidecar reads a referenced CA ConfigMap key: a file in the published Secret too. */
function configMapSource(
  ref: ConfigMapReference,
  configMaps: ReadonlyMap<string, ConfigMapView>,
  published: Record<string, string>,
): NonNullable<SecretSourceInput> {
  const configMap = configMaps.get(ref.name);
  if (configMap === undefined) throw new Error(`unchecked reference ${ref.path}`);
  const key = publishedKey(configMap, ref.key, 'ConfigMap');
  published[key] = Buffer.from(configMap.data[ref.key] ?? '').toString('base64');
  return { file: publishedFile(key) };
}

function compileSigning(
  signing: SigningSpec,
  refs: readonly SecretReference[],
  secrets: ReadonlyMap<string, SecretView>,
  published: Record<string, string>,
): SigningInput {
  const [current, ...previous] = refs;
  if (current === undefined) throw new Error('signing without a secret reference');
  return compact({
    scheme: signing.scheme,
    secrets: [
      { source: source(current, secrets, published) },
      ...previous.map((ref, i) => ({
        source: source(ref, secrets, published),
        expiresAt: signing.previousSecrets?.[i]?.expiresAt,
      })),
    ],
    hmac: signing.hmac === undefined ? undefined : compact({ ...signing.hmac }),
  });
}

/** The policy block an endpoint carries: the winning policy's settings, resolved. */
function compilePolicy(name: string, spec: WebhookPolicySpec): PolicyInput {
  return compact({
    name,
    timeout: spec.timeout,
    retry: spec.retry,
    rateLimit: spec.rateLimit,
    circuitBreaker: spec.circuitBreaker,
    maxPayloadBytes: spec.maxPayloadBytes,
    delivery: spec.delivery,
    history: spec.history,
    fanOut: spec.fanOut,
    // The sidecar's SSRF guard reads allowedCIDRs for named endpoints too (ADR 0006); signing
    // belongs to dynamic routes only.
    destinations:
      spec.destinations === undefined
        ? undefined
        : compact({
            allowedHosts: spec.destinations.allowedHosts,
            allowedCIDRs: spec.destinations.allowedCIDRs,
          }),
  });
}

type ForwardSpec = NonNullable<WebhookEndpointSpec['forward']>;

/** The forward block: routes by event type as written; the event type source as one key. */
function compileForward(forward: ForwardSpec): NonNullable<IngressInput['forward']> {
  const source = forward.eventType;
  return compact({
    ...forward,
    eventType:
      source === undefined
        ? undefined
        : source.header !== undefined
          ? { header: source.header }
          : { jsonPath: source.jsonPath ?? '' },
    routes: forward.routes?.map((r) => compact({ ...r })),
  });
}

interface AcceptedPolicy {
  readonly object: ObjectInput;
  readonly name: string;
  readonly spec: WebhookPolicySpec;
  readonly refs: readonly SecretReference[];
}

/**
 * Compiles one namespace. Throws `OperatorError` (`ERR_CONFIG_INVALID`) only if the result fails
 * the sidecar's schema anyway — a bug, and nothing is published.
 */
export function compileNamespace(input: CompileInput): Compiled {
  const configMaps = input.configMaps ?? new Map<string, ConfigMapView>();
  const context = { namespace: input.namespace, secrets: input.secrets, configMaps };
  const published: Record<string, string> = {};

  // Policies: accepted ones take part in selection, oldest first.
  const policyVerdicts = new Map<string, Verdict>();
  const accepted: AcceptedPolicy[] = [];
  for (const object of [...input.policies].sort(byAge)) {
    const parsed = parseWith(WebhookPolicy, parsedPolicies, object);
    if (!parsed.ok) {
      policyVerdicts.set(object.metadata.name, { ok: false, ...parsed.problem });
      continue;
    }
    const spec = parsed.value.spec;
    const refs =
      spec.destinations?.signing === undefined
        ? []
        : signingReferences(spec.destinations.signing, 'spec.destinations.signing');
    const problem = firstProblem(referenceChecks, refs, context);
    policyVerdicts.set(object.metadata.name, problem ? { ok: false, ...problem } : { ok: true });
    if (problem === undefined) accepted.push({ object, name: object.metadata.name, spec, refs });
  }

  // Endpoints: the policy in effect, then acceptance; ingress paths go to the oldest claimant.
  const inEffectFor = new Map<string, number>();
  const overriddenBy = new Map<string, Map<string, string[]>>();
  const endpointResults: EndpointResult[] = [];
  const egress: EgressInput[] = [];
  const ingress: IngressInput[] = [];
  const pathOwners = new Map<string, string>();
  for (const object of [...input.endpoints].sort(byAge)) {
    const name = object.metadata.name;
    const labels = object.metadata.labels ?? {};
    const selecting = accepted.filter((p) =>
      matchesSelector(p.spec.endpointSelector as LabelSelector, labels),
    );
    const winner = selecting[0];
    for (const loser of selecting.slice(1)) {
      const byWinner = overriddenBy.get(loser.name) ?? new Map<string, string[]>();
      byWinner.set(winner!.name, [...(byWinner.get(winner!.name) ?? []), name]);
      overriddenBy.set(loser.name, byWinner);
    }
    const reject = (problem: Problem): void => {
      endpointResults.push({
        name,
        accepted: { ok: false, ...problem },
        policy: winner?.name,
        entry: undefined,
      });
    };

    const parsed = parseWith(WebhookEndpoint, parsedEndpoints, object);
    if (!parsed.ok) {
      reject(parsed.problem);
      continue;
    }
    const spec = parsed.value.spec;
    const refs = endpointReferences(spec);
    const credentials = credentialReferences(spec);
    const problem =
      firstProblem(endpointSpecChecks, spec, context) ??
      firstProblem(referenceChecks, refs, context) ??
      firstProblem(configMapReferenceChecks, configMapReferenceList(credentials), context) ??
      // Only once every key exists: Node's TLS stack must accept the certificate material.
      tlsMaterialProblem(credentials, context);
    if (problem !== undefined) {
      reject(problem);
      continue;
    }
    if (spec.direction === 'Ingress' && spec.path !== undefined && pathOwners.has(spec.path)) {
      reject({
        reason: REASON.pathConflict,
        message: `spec.path "${spec.path}" is already served by the older WebhookEndpoint "${pathOwners.get(spec.path)}"; choose another path`,
      });
      continue;
    }

    // Sources are recorded into a scratch copy first: a rejected entry leaves no key behind.
    const scratch: Record<string, string> = {};
    const policy = winner === undefined ? undefined : compilePolicy(winner.name, winner.spec);
    let entry: EgressInput | IngressInput;
    let schema: z.ZodType;
    if (spec.direction === 'Egress') {
      const timeout = spec.timeout;
      const disabled = disabledReason(object);
      const entryPolicy = timeout === undefined ? policy : { ...(policy ?? {}), timeout: timeout };
      entry = compact({
        name,
        url: spec.url ?? '',
        labels: sortedRecord(labels),
        signing:
          spec.signing === undefined
            ? undefined
            : compileSigning(
                spec.signing,
                // Signing's references come first; the credentials' follow.
                refs.slice(0, 1 + (spec.signing.previousSecrets?.length ?? 0)),
                input.secrets,
                scratch,
              ),
        headers: sortedRecord(spec.headers),
        ...credentialBlocks(
          spec,
          credentials,
          (ref) => source(ref, input.secrets, scratch),
          (ref) => configMapSource(ref, configMaps, scratch),
        ),
        paused: spec.paused,
        disabled: disabled === undefined ? undefined : { reason: disabled },
        policy: entryPolicy,
        eventTypes: spec.eventTypes,
        filter: spec.filter,
        // Only the events sidecars send themselves; the operator's own go through its outbox.
        operationalEvents: sidecarOperationalEvents(spec.operationalEvents),
      });
      schema = EgressEndpoint;
    } else {
      const verify = spec.verify!;
      const sources = refs.map((ref) => source(ref, input.secrets, scratch));
      entry = compact({
        name,
        path: spec.path ?? '',
        verify: compact({
          scheme: verify.scheme,
          secrets: verify.scheme === 'basic' ? undefined : sources,
          username: verify.scheme === 'basic' ? sources[0] : undefined,
          password: verify.scheme === 'basic' ? sources[1] : undefined,
          tolerance: verify.tolerance,
          hmac: verify.hmac === undefined ? undefined : compact({ ...verify.hmac }),
        }),
        forward: spec.forward === undefined ? undefined : compileForward(spec.forward),
        maxPayloadBytes: winner?.spec.maxPayloadBytes,
        rateLimit: winner?.spec.rateLimit,
      });
      schema = IngressEndpoint;
    }
    // The sidecar's schema is stricter in places than the CRD's (URL syntax): check each entry
    // on its own, so one bad endpoint is reported on itself and the rest still publish.
    const valid = schema.safeParse(entry);
    if (!valid.success) {
      reject({
        reason: REASON.invalidConfig,
        message: `the sidecar would refuse this endpoint: ${formatIssues(valid.error.issues).join('; ')}`,
      });
      continue;
    }
    Object.assign(published, scratch);
    if (spec.direction === 'Egress') egress.push(entry as EgressInput);
    else {
      ingress.push(entry as IngressInput);
      pathOwners.set(spec.path ?? '', name);
    }
    if (winner !== undefined) inEffectFor.set(winner.name, (inEffectFor.get(winner.name) ?? 0) + 1);
    endpointResults.push({
      name,
      accepted: { ok: true },
      policy: winner?.name,
      // Built in a fixed key order, so plain JSON compares equal to the published entry's.
      entry: JSON.stringify(entry),
    });
  }

  // Dynamic destinations: every accepted policy that admits some, oldest first.
  const dynamic: DynamicInput[] = accepted
    .filter((p) => p.spec.destinations !== undefined)
    .map((p) => {
      const destinations = p.spec.destinations!;
      return compact({
        signing:
          destinations.signing === undefined
            ? undefined
            : compileSigning(destinations.signing, p.refs, input.secrets, published),
        policy: compilePolicy(p.name, p.spec),
      });
    });

  const byEntryName = (a: { name: string }, b: { name: string }): number =>
    a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
  // Interception is namespace-wide: the oldest accepted policy that sets it decides.
  const unmatched = accepted.find((p) => p.spec.interception !== undefined)?.spec.interception;
  const config: ConfigInput = compact({
    namespace: input.namespace,
    endpoints: egress.sort(byEntryName),
    dynamic,
    ingress: ingress.sort(byEntryName),
    interception: unmatched === undefined ? undefined : { unmatched: unmatched.unmatched },
  });
  const valid = SidecarConfig.safeParse(config);
  if (!valid.success) {
    throw new OperatorError(
      'ERR_CONFIG_INVALID',
      500,
      `compiled configuration for namespace ${input.namespace} fails the sidecar schema: ${formatIssues(valid.error.issues).join('; ')}`,
    );
  }

  return {
    config,
    secretData: Object.fromEntries(Object.entries(published).sort(([a], [b]) => (a < b ? -1 : 1))),
    endpoints: endpointResults.sort(byEntryName),
    policies: [...input.policies].sort(byName).map((object) => ({
      name: object.metadata.name,
      accepted: policyVerdicts.get(object.metadata.name) ?? { ok: true },
      inEffectFor: inEffectFor.get(object.metadata.name) ?? 0,
      overriddenBy: overriddenBy.get(object.metadata.name) ?? new Map(),
    })),
  };
}

// Acceptance checks as ordered chains: each entry is a small function returning a problem or
// nothing; the first problem wins, so an object reports the most fundamental thing to fix first.
import { CONFIG_MAP_NAME, REASON, SECRET_NAME } from '../names.ts';
import {
  decodedValue,
  valueProblem,
  type ConfigMapReference,
  type ConfigMapView,
  type SecretReference,
  type SecretView,
} from './secrets.ts';

/** Why an object is not accepted: a condition reason and a message naming what to fix. */
export interface Problem {
  readonly reason: string;
  readonly message: string;
}

/** What checks may look at besides their subject. */
export interface CheckContext {
  readonly namespace: string;
  readonly secrets: ReadonlyMap<string, SecretView>;
  /** The namespace's CA ConfigMaps by name, slimmed (certificate keys only). */
  readonly configMaps: ReadonlyMap<string, ConfigMapView>;
}

/** One check: a problem, or undefined when the subject passes. */
export type Check<T> = (subject: T, context: CheckContext) => Problem | undefined;

/** Runs `checks` in order and returns the first problem. */
export function firstProblem<T>(
  checks: readonly Check<T>[],
  subject: T,
  context: CheckContext,
): Problem | undefined {
  for (const check of checks) {
    const problem = check(subject, context);
    if (problem !== undefined) return problem;
  }
  return undefined;
}

/** Checks on the Secret keys an endpoint or policy reads, most basic first. */
export const referenceChecks: readonly Check<readonly SecretReference[]>[] = [
  // The operator's own Secret is an output; reading it back as an input would feed on itself.
  (refs: readonly SecretReference[]): Problem | undefined => {
    const ref = refs.find((r) => r.name === SECRET_NAME);
    return ref === undefined
      ? undefined
      : {
          reason: REASON.reservedSecretName,
          message: `${ref.path} names Secret "${SECRET_NAME}", which the operator writes; reference the original Secret`,
        };
  },
  // Every referenced Secret exists in the resource's namespace (keys never cross namespaces).
  (refs: readonly SecretReference[], { namespace, secrets }: CheckContext): Problem | undefined => {
    const ref = refs.find((r) => !secrets.has(r.name));
    return ref === undefined
      ? undefined
      : {
          reason: REASON.secretNotFound,
          message: `Secret "${ref.name}" (${ref.path}) does not exist in namespace "${namespace}"`,
        };
  },
  // Each referenced Secret holds the referenced key.
  (refs: readonly SecretReference[], { secrets }: CheckContext): Problem | undefined => {
    const ref = refs.find((r) => !Object.hasOwn(secrets.get(r.name)?.data ?? {}, r.key));
    return ref === undefined
      ? undefined
      : {
          reason: REASON.secretKeyNotFound,
          message: `Secret "${ref.name}" has no key "${ref.key}" (${ref.path})`,
        };
  },
  // Each value is one the sidecar loads: a refused value would make it refuse the whole config.
  (refs: readonly SecretReference[], { secrets }: CheckContext): Problem | undefined => {
    for (const ref of refs) {
      const base64 = secrets.get(ref.name)?.data[ref.key] ?? '';
      const problem = valueProblem(ref, decodedValue(base64));
      if (problem !== undefined) return { reason: REASON.secretValueInvalid, message: problem };
    }
    return undefined;
  },
];

/** Checks on the ConfigMap keys an endpoint reads (CA bundles), most basic first. */
export const configMapReferenceChecks: readonly Check<readonly ConfigMapReference[]>[] = [
  // The operator's own ConfigMap is an output, and no CA bundle.
  (refs: readonly ConfigMapReference[]): Problem | undefined => {
    const ref = refs.find((r) => r.name === CONFIG_MAP_NAME);
    return ref === undefined
      ? undefined
      : {
          reason: REASON.configMapNotFound,
          message: `${ref.path} names ConfigMap "${CONFIG_MAP_NAME}", which the operator writes; reference the ConfigMap holding the CA bundle`,
        };
  },
  // Every referenced ConfigMap exists in the resource's namespace.
  (
    refs: readonly ConfigMapReference[],
    { namespace, configMaps }: CheckContext,
  ): Problem | undefined => {
    const ref = refs.find((r) => !configMaps.has(r.name));
    return ref === undefined
      ? undefined
      : {
          reason: REASON.configMapNotFound,
          message: `ConfigMap "${ref.name}" (${ref.path}) does not exist in namespace "${namespace}"`,
        };
  },
  // Each referenced ConfigMap holds the referenced key (a certificate or not: that is the next check).
  (refs: readonly ConfigMapReference[], { configMaps }: CheckContext): Problem | undefined => {
    const ref = refs.find((r) => {
      const view = configMaps.get(r.name);
      return !Object.hasOwn(view?.data ?? {}, r.key) && !(view?.otherKeys.includes(r.key) ?? false);
    });
    return ref === undefined
      ? undefined
      : {
          reason: REASON.configMapKeyNotFound,
          message: `ConfigMap "${ref.name}" has no key "${ref.key}" in its data (${ref.path})`,
        };
  },
];

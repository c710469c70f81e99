// Building blocks shared by both hookgate.io/v1alpha1 kinds. Every field's `.describe()` text is
// what `kubectl explain` prints: written for the engineer on call, with the default and an example.
import { z } from 'zod';

/** A CEL validation rule, as `x-kubernetes-validations` takes it. */
export interface CelRule {
  rule: string;
  /** What to change, in words; the API server prefixes it with the field path. */
  message: string;
  /** Path (relative to where the rule sits) the error is reported on, e.g. `.url`. */
  fieldPath?: string;
  reason?:
    'FieldValueRequired' | 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueDuplicate';
}

/** Attaches CEL rules to a schema; they land in the CRD as `x-kubernetes-validations`. */
export function cel<T extends z.ZodType>(schema: T, rules: readonly CelRule[]): T {
  return schema.meta({ 'x-kubernetes-validations': rules });
}

/**
 * Go-style duration: `500ms`, `30s`, `5m`, `1h30m`. No days (write `72h`): the API server's CEL
 * `duration()` compares them, and it speaks Go's format.
 */
export const DURATION_PATTERN = /^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$/;

/** A duration string field; `what` starts the description. */
export function duration(what: string): z.ZodString {
  return z
    .string()
    .max(32)
    .regex(DURATION_PATTERN)
    .describe(`${what} Go duration format: 500ms, 30s, 5m, 1h30m (no days: write 72h).`);
}

/** RFC 1123 DNS subdomain: names of Secrets and most Kubernetes objects. */
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** The shape of a `{name, key}` reference to one key of an object in the same namespace. */
type KeySelector = z.ZodObject<{ name: z.ZodString; key: z.ZodOptional<z.ZodString> }>;

/** A `{name, key}` reference to a `kind` (Secret, ConfigMap) in the resource's own namespace. */
function keySelector(kind: string, defaultKey: string, what: string): KeySelector {
  return z
    .object({
      name: z
        .string()
        .min(1)
        .max(253)
        .regex(DNS_SUBDOMAIN)
        .describe(`Name of a ${kind} in the same namespace as this resource.`),
      key: z
        .string()
        .min(1)
        .max(253)
        .regex(/^[-._a-zA-Z0-9]+$/)
        .optional()
        .describe(`Key inside the ${kind}'s data. Default: "${defaultKey}".`),
    })
    .describe(what);
}

/** A key in a Secret in the resource's own namespace. */
export function secretKeySelector(defaultKey: string, what: string): KeySelector {
  return keySelector(
    'Secret',
    defaultKey,
    `${what} Secrets never leave their namespace and never appear in status, events or logs.`,
  );
}

/**
 * A key in a ConfigMap in the resource's own namespace: CA bundles, which trust-manager and
 * cert-manager's CA injection publish as ConfigMaps (kube-root-ca.crt is one too).
 */
export function configMapKeySelector(defaultKey: string, what: string): KeySelector {
  return keySelector('ConfigMap', defaultKey, what);
}

/** The name of a Secret in the resource's own namespace; `what` is the description. */
export function secretName(what: string): z.ZodString {
  return z.string().min(1).max(253).regex(DNS_SUBDOMAIN).describe(what);
}

/** A whole Secret in the resource's own namespace, by name (its keys are fixed by its type). */
export function secretNameRef(what: string): z.ZodObject<{ name: z.ZodString }> {
  return z
    .object({ name: secretName('Name of a Secret in the same namespace as this resource.') })
    .describe(
      `${what} Secrets never leave their namespace and never appear in status, events or logs.`,
    );
}

const labelValue = z.string().max(63).describe('A label value.');

/** A Kubernetes label selector (the `metav1.LabelSelector` shape). */
export function labelSelector(what: string): z.ZodType {
  return z
    .object({
      matchLabels: z
        .record(z.string().max(317), labelValue)
        .meta({ maxProperties: 64 })
        .optional()
        .describe('Labels that must all be present with these values.'),
      matchExpressions: z
        .array(
          cel(
            z
              .object({
                key: z.string().min(1).max(317).describe('Label key the requirement is about.'),
                operator: z
                  .enum(['In', 'NotIn', 'Exists', 'DoesNotExist'])
                  .describe('How the label relates to values: In, NotIn, Exists, DoesNotExist.'),
                values: z
                  .array(labelValue)
                  .max(64)
                  .optional()
                  .describe('Values for In and NotIn; must be empty for Exists and DoesNotExist.'),
              })
              .describe('One requirement on a label.'),
            [
              {
                rule: "self.operator in ['In', 'NotIn'] ? has(self.values) && size(self.values) > 0 : !has(self.values) || size(self.values) == 0",
                message:
                  'values must list at least one value for In and NotIn, and be empty for Exists and DoesNotExist',
                fieldPath: '.values',
              },
            ],
          ),
        )
        .max(16)
        .optional()
        .describe('Requirements on labels that must all hold.'),
    })
    .describe(`${what} A label selector: an empty selector ({}) selects everything.`);
}

/** One `metav1.Condition`, exactly as Kubernetes defines it. */
export const Condition = z
  .object({
    type: z
      .string()
      .max(316)
      .regex(
        /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$/,
      )
      .describe('Condition type: Ready, Accepted, Conflicted, Healthy.'),
    status: z.enum(['True', 'False', 'Unknown']).describe('True, False or Unknown.'),
    observedGeneration: z
      .number()
      .int()
      .min(0)
      .optional()
      .describe('metadata.generation of the spec this condition was computed from.'),
    lastTransitionTime: z.iso.datetime().describe('When status last changed (RFC 3339).'),
    reason: z
      .string()
      .min(1)
      .max(1024)
      .regex(/^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/)
      .describe('CamelCase reason for the last transition, for machines and alerts.'),
    message: z
      .string()
      .max(32768)
      .describe('Human-readable details: what is wrong and what to do.'),
  })
  .describe('The state of one aspect of the resource (metav1.Condition).');

/** Fields every Hookgate status carries. */
export const statusBase = {
  observedGeneration: z
    .number()
    .int()
    .min(0)
    .optional()
    .describe(
      'metadata.generation the operator last acted on. Older than metadata.generation: the change is not processed yet.',
    ),
  conditions: z
    .array(Condition)
    .max(16)
    .optional()
    .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] })
    .describe(
      'Accepted: the spec and its references are valid. Ready: published to sidecars in config generation N.',
    ),
  configGeneration: z
    .number()
    .int()
    .min(0)
    .optional()
    .describe(
      'Generation of the namespace sidecar configuration this resource was last published in.',
    ),
};

/** The fields of `metadata` the operator reads; the API server owns the full shape. */
export const ObjectMeta = z
  .object({
    name: z.string(),
    namespace: z.string().optional(),
    uid: z.string().optional(),
    generation: z.number().int().optional(),
    resourceVersion: z.string().optional(),
    creationTimestamp: z.string().optional(),
    labels: z.record(z.string(), z.string()).optional(),
    annotations: z.record(z.string(), z.string()).optional(),
  })
  .loose();

/** One segment of an event type: letters, digits, `_`, `-`, `:` and `/` (Shopify's `orders/create`). */
const EVENT_SEGMENT = '[A-Za-z0-9_:/-]+';
/** An event type: dot-separated segments, e.g. `order.created`, `pull_request`, `invoice.paid`. */
export const EVENT_TYPE_PATTERN = new RegExp(`^${EVENT_SEGMENT}(\\.${EVENT_SEGMENT})*$`);
/** An event type pattern: an exact type, `prefix.*` (any type under prefix.) or `*` (every type). */
export const EVENT_TYPE_MATCH_PATTERN = new RegExp(
  `^(\\*|${EVENT_SEGMENT}(\\.${EVENT_SEGMENT})*(\\.\\*)?)$`,
);

/** A list of event type patterns; `what` starts the description. */
export function eventTypeList(what: string): z.ZodArray<z.ZodString> {
  return z
    .array(
      z
        .string()
        .min(1)
        .max(128)
        .regex(EVENT_TYPE_MATCH_PATTERN)
        .describe('An event type (order.created), a prefix wildcard (order.*) or * for all.'),
    )
    .min(1)
    .max(64)
    .describe(
      `${what} Exact names (order.created), wildcards over a prefix (order.* matches order.created and order.item.added, not order) or * for every type.`,
    );
}

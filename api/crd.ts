// Turns the zod schemas into CustomResourceDefinitions: zod's JSON Schema, reshaped into the
// structural OpenAPI v3 subset the API server accepts, plus names, printer columns and subresources.
import { z } from 'zod';
import { WebhookEndpointSpec, WebhookEndpointStatus } from './v1alpha1/endpoint.ts';
import { WebhookPolicySpec, WebhookPolicyStatus } from './v1alpha1/policy.ts';

/** API group of every Hookgate kind. */
export const GROUP = 'hookgate.io';
/** The served and stored version. */
export const VERSION = 'v1alpha1';

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/** A JSON Schema node as zod emits it and the CRD stores it. */
export type SchemaNode = { [key: string]: unknown };

/**
 * Rewrites one zod JSON Schema node into a structural schema node:
 * - `additionalProperties: false` and `propertyNames` are dropped (the API server rejects the
 *   first beside `properties`; records keep `additionalProperties` as their value schema);
 * - a `pattern` beside a `format` is dropped (zod spells out date-time as a long regex);
 * - `const` becomes a one-value `enum`;
 * - zod's implicit integer bounds (±2^53-1) are dropped: they say nothing to a reader.
 */
export function toStructural(node: SchemaNode): SchemaNode {
  const out: SchemaNode = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === '$schema' || key === 'propertyNames') continue;
    if (key === 'additionalProperties' && value === false) continue;
    if (key === 'pattern' && 'format' in node) continue;
    if ((key === 'maximum' || key === 'minimum') && Math.abs(value as number) === MAX_SAFE)
      continue;
    if (key === 'const') {
      out['enum'] = [value];
      continue;
    }
    if (key === 'properties') {
      out[key] = Object.fromEntries(
        Object.entries(value as Record<string, SchemaNode>).map(([name, child]) => [
          name,
          toStructural(child),
        ]),
      );
    } else if ((key === 'items' || key === 'additionalProperties') && typeof value === 'object') {
      out[key] = toStructural(value as SchemaNode);
    } else {
      out[key] = value;
    }
  }
  return out;
}

function schemaOf(schema: z.ZodType): SchemaNode {
  return toStructural(z.toJSONSchema(schema, { io: 'input', unrepresentable: 'throw' }));
}

/** One printer column of `kubectl get`. */
interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'boolean' | 'date';
  jsonPath: string;
  description: string;
  priority?: number;
}

const readyColumn: PrinterColumn = {
  name: 'Ready',
  type: 'string',
  jsonPath: '.status.conditions[?(@.type=="Ready")].status',
  description: 'Published to the sidecars (condition Ready).',
};
const ageColumn: PrinterColumn = {
  name: 'Age',
  type: 'date',
  jsonPath: '.metadata.creationTimestamp',
  description: 'Time since creation.',
};

interface KindSpec {
  kind: string;
  plural: string;
  shortName: string;
  description: string;
  spec: z.ZodType;
  status: z.ZodType;
  columns: PrinterColumn[];
}

const kinds: KindSpec[] = [
  {
    kind: 'WebhookEndpoint',
    plural: 'webhookendpoints',
    shortName: 'whe',
    description:
      'WebhookEndpoint is one webhook destination the app sends to through its sidecar (Egress), or one receiver providers send to and the sidecar verifies (Ingress).',
    spec: WebhookEndpointSpec,
    status: WebhookEndpointStatus,
    columns: [
      {
        name: 'Direction',
        type: 'string',
        jsonPath: '.spec.direction',
        description: 'Egress or Ingress.',
      },
      {
        name: 'URL',
        type: 'string',
        jsonPath: '.spec.url',
        description: 'Egress: where webhooks go.',
      },
      {
        name: 'Path',
        type: 'string',
        jsonPath: '.spec.path',
        description: 'Ingress: where providers POST.',
      },
      {
        name: 'Events',
        type: 'string',
        jsonPath: '.spec.eventTypes',
        description: 'Egress: event types the endpoint subscribes to (fan-out).',
      },
      {
        name: 'Policy',
        type: 'string',
        jsonPath: '.status.policy',
        description: 'The WebhookPolicy in effect.',
      },
      readyColumn,
      {
        name: 'Healthy',
        type: 'string',
        jsonPath: '.status.conditions[?(@.type=="Healthy")].status',
        description: 'Deliveries succeed, as the sidecars report (condition Healthy).',
      },
      {
        name: 'Reason',
        type: 'string',
        jsonPath: '.status.conditions[?(@.type=="Healthy")].reason',
        description:
          'Why Healthy says so: Disabled (auto-disable turned the endpoint off), CircuitOpen, FailingDeliveries, DeadLetters, Delivering…',
      },
      {
        name: 'Paused',
        type: 'boolean',
        jsonPath: '.spec.paused',
        description:
          'Egress: spec.paused, planned maintenance (nothing sent, async deliveries held).',
      },
      {
        name: 'Success',
        type: 'string',
        jsonPath: '.status.deliveries.successRate',
        description: 'Share of deliveries that succeeded in the recent window.',
      },
      ageColumn,
    ],
  },
  {
    kind: 'WebhookPolicy',
    plural: 'webhookpolicies',
    shortName: 'whp',
    description:
      'WebhookPolicy says how the WebhookEndpoints it selects are treated: retries, rate limits, circuit breaking, allowed dynamic destinations, payload size and delivery mode. When several select one endpoint, the oldest wins.',
    spec: WebhookPolicySpec,
    status: WebhookPolicyStatus,
    columns: [
      {
        name: 'Endpoints',
        type: 'integer',
        jsonPath: '.status.selectedEndpoints',
        description: 'Endpoints this policy is in effect for.',
      },
      {
        name: 'Mode',
        type: 'string',
        jsonPath: '.spec.delivery.mode',
        description: 'sync or async delivery.',
      },
      readyColumn,
      {
        name: 'Conflicted',
        type: 'string',
        jsonPath: '.status.conditions[?(@.type=="Conflicted")].status',
        description: 'An older policy selects some of the same endpoints.',
        priority: 1,
      },
      ageColumn,
    ],
  },
];

/** Builds the CustomResourceDefinition objects for every Hookgate kind. */
export function customResourceDefinitions(): SchemaNode[] {
  return kinds.map((k) => ({
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${k.plural}.${GROUP}`,
      labels: { 'app.kubernetes.io/part-of': 'hookgate' },
    },
    spec: {
      group: GROUP,
      names: {
        kind: k.kind,
        listKind: `${k.kind}List`,
        plural: k.plural,
        singular: k.kind.toLowerCase(),
        shortNames: [k.shortName],
        categories: ['hookgate'],
      },
      scope: 'Namespaced',
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: k.columns,
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: k.description,
              required: ['spec'],
              properties: {
                apiVersion: {
                  type: 'string',
                  description: `APIVersion of this object: ${GROUP}/${VERSION}.`,
                },
                kind: { type: 'string', description: `Kind of this object: ${k.kind}.` },
                metadata: { type: 'object' },
                spec: schemaOf(k.spec),
                status: schemaOf(k.status),
              },
            },
          },
        },
      ],
    },
  }));
}

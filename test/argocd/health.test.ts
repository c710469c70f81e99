// The Argo CD health check for hookgate.io kinds, run by Debian's Lua 5.1 (Argo CD runs health
// scripts in gopher-lua, a Lua 5.1) in Argo CD's sandbox, against sample resources — some written
// by the operator's own status functions, so the check reads what the operator really writes.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { endpointStatus, policyStatus } from '../../operator/status.ts';
import { chartDir, find, parseObjects, template } from '../chart/helm.ts';

const root = resolve(import.meta.dirname, '../..');
const argocd = join(root, 'examples', 'argocd');
const healthScript = join(argocd, 'health.lua');
const work = mkdtempSync(join(tmpdir(), 'hookgate-argocd-'));

/** A JSON value written as a Lua table constructor (what Argo CD hands the script). */
function toLua(value: unknown): string {
  if (value === null || value === undefined) return 'nil';
  if (typeof value === 'string') {
    return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
  }
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `{${value.map(toLua).join(', ')}}`;
  const fields = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `[${toLua(k)}] = ${toLua(v)}`);
  return `{${fields.join(', ')}}`;
}

let samples = 0;
/** Runs the health check on `resource`; resolves with Argo CD's {status, message}. */
async function health(resource: unknown): Promise<{ status: string; message: string }> {
  const sample = join(work, `sample-${samples++}.lua`);
  writeFileSync(sample, `return ${toLua(resource)}\n`);
  const { stdout } = await promisify(execFile)('lua5.1', [
    join(import.meta.dirname, 'harness.lua'),
    healthScript,
    sample,
  ]);
  const [status = '', message = ''] = stdout.split('\n');
  return { status, message };
}

const now = new Date('2026-11-29T12:00:00Z');
const meta = (generation: number) => ({ name: 'acme-orders', namespace: 'shop', generation });
const endpoint = (generation: number, status?: unknown) => ({
  apiVersion: 'hookgate.io/v1alpha1',
  kind: 'WebhookEndpoint',
  metadata: meta(generation),
  spec: { direction: 'Egress', url: 'https://hooks.acme.example/orders' },
  ...(status === undefined ? {} : { status }),
});
const ready = (status: string, observedGeneration: number, reason = 'Published') => ({
  type: 'Ready',
  status,
  reason,
  message: `message for ${status}`,
  observedGeneration,
  lastTransitionTime: '2026-11-29T12:00:00Z',
});

const healthy = (status: string, reason: string, message: string) => ({
  type: 'Healthy',
  status,
  reason,
  message,
  lastTransitionTime: '2026-11-29T12:00:00Z',
});

describe('Argo CD health check (examples/argocd/health.lua)', () => {
  it.each([
    // Just applied: the operator has written nothing yet.
    ['no status yet', endpoint(1), 'Progressing', /observe|report status/],
    // The spec changed (generation 2) and the operator has not caught up: whatever Ready says is stale.
    [
      'observedGeneration behind generation',
      endpoint(2, { observedGeneration: 1, conditions: [ready('True', 1)] }),
      'Progressing',
      /generation 2/,
    ],
    // Status without observedGeneration cannot be trusted to describe this spec.
    [
      'no observedGeneration',
      endpoint(1, { conditions: [ready('True', 1)] }),
      'Progressing',
      /generation 1/,
    ],
    // The operator is still deciding.
    [
      'Ready Unknown',
      endpoint(3, { observedGeneration: 3, conditions: [ready('Unknown', 3, 'Pending')] }),
      'Progressing',
      /Pending: message for Unknown/,
    ],
    // No Ready condition at all.
    [
      'no Ready condition',
      endpoint(1, { observedGeneration: 1, conditions: [] }),
      'Progressing',
      /Ready condition/,
    ],
    // The Ready condition itself lags behind the spec, though the status was bumped.
    [
      'Ready condition observedGeneration behind',
      endpoint(2, { observedGeneration: 2, conditions: [ready('True', 1)] }),
      'Progressing',
      /older generation/,
    ],
    // Refused: Degraded, with the reason and message that say what to fix.
    [
      'Ready False',
      endpoint(4, { observedGeneration: 4, conditions: [ready('False', 4, 'NotAccepted')] }),
      'Degraded',
      /^NotAccepted: message for False$/,
    ],
    // Published for the current generation.
    [
      'Ready True',
      endpoint(4, { observedGeneration: 4, conditions: [ready('True', 4)] }),
      'Healthy',
      /^Published: message for True$/,
    ],
    // As the operator writes it: published.
    [
      'operator status: published endpoint',
      endpoint(
        5,
        endpointStatus(
          { name: 'acme-orders', accepted: { ok: true }, policy: 'patient', entry: '{}' },
          undefined,
          false,
          { generation: 5, configGeneration: 7, now },
        ),
      ),
      'Healthy',
      /^Published: published in config generation 7/,
    ],
    // As the operator writes it: a missing Secret.
    [
      'operator status: refused endpoint',
      endpoint(
        2,
        endpointStatus(
          {
            name: 'acme-orders',
            accepted: {
              ok: false,
              reason: 'SecretNotFound',
              message: 'Secret "orders-signing" not found (spec.signing.secretRef)',
            },
            policy: undefined,
            entry: undefined,
          },
          undefined,
          false,
          { generation: 2, configGeneration: 7, now },
        ),
      ),
      'Degraded',
      /^NotAccepted: not published: Secret "orders-signing" not found/,
    ],
    // Delivery health is shown, not judged: published with its receiver failing stays Healthy,
    // the message leading with the failure (an unhealthy receiver is not a broken deployment).
    [
      'Ready True, Healthy False',
      endpoint(4, {
        observedGeneration: 4,
        conditions: [
          ready('True', 4),
          healthy('False', 'CircuitOpen', 'circuit open in 1 of 2 pod(s)'),
        ],
      }),
      'Healthy',
      /^deliveries failing: CircuitOpen: circuit open in 1 of 2 pod\(s\) \(Published: message for True\)$/,
    ],
    // Healthy True or Unknown adds nothing to the message.
    [
      'Ready True, Healthy Unknown',
      endpoint(4, {
        observedGeneration: 4,
        conditions: [ready('True', 4), healthy('Unknown', 'NoReports', 'no sidecar reported')],
      }),
      'Healthy',
      /^Published: message for True$/,
    ],
    // Refused stays Degraded whatever the deliveries say.
    [
      'Ready False, Healthy True',
      endpoint(4, {
        observedGeneration: 4,
        conditions: [ready('False', 4, 'NotAccepted'), healthy('True', 'Delivering', 'ok')],
      }),
      'Degraded',
      /^NotAccepted: message for False$/,
    ],
    // As the operator writes it: a policy in effect.
    [
      'operator status: policy in effect',
      {
        apiVersion: 'hookgate.io/v1alpha1',
        kind: 'WebhookPolicy',
        metadata: { name: 'patient', namespace: 'shop', generation: 1 },
        status: policyStatus(
          { name: 'patient', accepted: { ok: true }, inEffectFor: 3, overriddenBy: new Map() },
          undefined,
          { generation: 1, configGeneration: 2, now },
        ),
      },
      'Healthy',
      /3 endpoint/,
    ],
  ])('%s → %s', async (_name, resource, status, message) => {
    const hs = await health(resource);
    expect(hs.status).toBe(status);
    expect(hs.message).toMatch(message);
  });

  it('is what argocd-cm.yaml installs, for both kinds', () => {
    const cm = parse(readFileSync(join(argocd, 'argocd-cm.yaml'), 'utf8')) as {
      data: Record<string, string>;
    };
    const script = readFileSync(healthScript, 'utf8');
    expect(Object.keys(cm.data).sort()).toEqual([
      'resource.customizations.health.hookgate.io_WebhookEndpoint',
      'resource.customizations.health.hookgate.io_WebhookPolicy',
    ]);
    for (const value of Object.values(cm.data)) expect(value).toBe(script);
  });
});

describe('Argo CD Application (examples/argocd/application.yaml)', () => {
  const app = parse(readFileSync(join(argocd, 'application.yaml'), 'utf8')) as {
    spec: {
      source: { path: string; helm: { releaseName: string; valuesObject: unknown } };
      destination: { namespace: string };
      ignoreDifferences: { kind: string; name: string }[];
    };
  };

  it('points at this chart and its values pass the chart schema', async () => {
    expect(resolve(root, app.spec.source.path)).toBe(chartDir);
    const values = join(work, 'application-values.yaml');
    writeFileSync(values, JSON.stringify(app.spec.source.helm.valuesObject));
    const rendered = await template(app.spec.destination.namespace, {}, ['--values', values]);
    expect(rendered.stderr).toBe('');
    expect(rendered.code).toBe(0);
    // The caBundle it ignores belongs to the webhook configuration the chart renders.
    const ignored = app.spec.ignoreDifferences[0]!;
    expect(find(parseObjects(rendered.stdout), ignored.kind, ignored.name)).toBeDefined();
  });
});

// The CRDs in the chart: templates (Helm upgrades templates, never a chart's crds/ folder), the
// same objects as crds/, left out with crds.enabled=false and kept on `helm uninstall` while
// crds.keep is true (ADR 0018).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { beforeAll, describe, expect, it } from 'vitest';
import { helm, parseObjects, root, template, type K8sObject } from './helm.ts';

beforeAll(async () => void (await helm()), 600_000);

const names = ['webhookendpoints.hookgate.io', 'webhookpolicies.hookgate.io'];

async function renderedCrds(values: Record<string, string> = {}): Promise<K8sObject[]> {
  const rendered = await template('hookgate-system', values);
  expect(rendered.stderr).toBe('');
  expect(rendered.code).toBe(0);
  return parseObjects(rendered.stdout).filter((o) => o.kind === 'CustomResourceDefinition');
}

describe('CRDs in the chart', () => {
  it('renders both as templates, the same objects as crds/, kept on uninstall by default', async () => {
    const crds = await renderedCrds();
    expect(crds.map((c) => c.metadata.name).sort()).toEqual(names);
    for (const crd of crds) {
      expect(crd.metadata.annotations).toEqual({ 'helm.sh/resource-policy': 'keep' });
      const file = parse(
        readFileSync(join(root, 'crds', `${crd.metadata.name}.yaml`), 'utf8'),
      ) as K8sObject;
      expect(crd.spec).toEqual(file['spec']);
      expect(crd.metadata.labels).toEqual(file.metadata.labels);
    }
  });

  it('crds.keep=false: no resource policy, so helm uninstall deletes them', async () => {
    const crds = await renderedCrds({ 'crds.keep': 'false' });
    expect(crds.map((c) => c.metadata.name).sort()).toEqual(names);
    for (const crd of crds) expect(crd.metadata.annotations).toBeUndefined();
  });

  it('crds.enabled=false: none rendered, everything else still is', async () => {
    expect(await renderedCrds({ 'crds.enabled': 'false' })).toEqual([]);
    const rendered = await template('hookgate-system', { 'crds.enabled': 'false' });
    expect(parseObjects(rendered.stdout).map((o) => o.kind)).toContain('Deployment');
  });

  it.each([
    [{ 'crds.keep': 'maybe' }, /crds\.keep|keep/],
    [{ 'crds.enable': 'true' }, /enable/],
  ])('bad value %o fails naming the field', async (values, field) => {
    const rendered = await template('hookgate-system', values);
    expect(rendered.code).not.toBe(0);
    expect(rendered.stderr).toMatch(field);
  });
});

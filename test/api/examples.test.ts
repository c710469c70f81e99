// Every manifest in examples/ is accepted by the real API server (server-side apply, strict field
// validation) and reads back exactly as written: no defaulting, no pruning, no surprises in a
// GitOps diff.
import { readFileSync, readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubeRequest, objectPath, serverSideApply, type Manifest } from '../cluster/apply.ts';
import { createTestNamespace, kubeClients, type KubeClients } from '../support/kube.ts';

const dir = resolve(import.meta.dirname, '../../examples');
const manifests = readdirSync(dir)
  .filter((f) => f.endsWith('.yaml'))
  .flatMap((file) =>
    parseAllDocuments(readFileSync(join(dir, file), 'utf8')).map(
      (d) => [file, d.toJS() as Manifest] as const,
    ),
  )
  .filter(([, m]) => m.apiVersion === 'hookgate.io/v1alpha1');

describe('examples/ on the real API server', () => {
  let kube: KubeClients;
  let namespace: string;
  beforeAll(async () => {
    kube = kubeClients();
    namespace = await createTestNamespace(kube.core, 'examples');
  });
  afterAll(async () => {
    await kube.core.deleteNamespace({ name: namespace });
  });

  it.each(manifests)('%s applies and reads back unchanged', async (_file, manifest) => {
    const applied = await serverSideApply(kube.kubeConfig, manifest, {
      fieldManager: 'hookgate-examples',
      namespace,
    });
    expect(applied.body.message).toBeUndefined();
    expect(applied.status).toBe(201);

    const read = await kubeRequest(kube.kubeConfig, 'GET', objectPath(manifest, namespace));
    expect(read.status).toBe(200);
    expect(read.body['spec']).toEqual(manifest['spec']);
    expect((read.body['metadata'] as Manifest['metadata'])['labels']).toEqual(
      manifest.metadata['labels'],
    );
  });
});

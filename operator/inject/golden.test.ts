// The injector's pod mutations pinned as input → injected pairs (Istio keeps hundreds in its
// injector's testdata/): a change to what pods receive shows up as a diff in review. Regenerate
// with HOOKGATE_UPDATE_GOLDEN=1 after a deliberate change, and read the diff.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { interceptionInitContainer } from '../../sidecar/interception/init-container.ts';
import type { SidecarDefaults } from './annotations.ts';
import { decide, type InjectorOptions, type PatchOperation } from './inject.ts';

const defaults: SidecarDefaults = {
  image: 'ghcr.io/hookgate/sidecar:0.1.0',
  cpuRequest: '50m',
  memoryRequest: '64Mi',
  cpuLimit: '1',
  memoryLimit: '256Mi',
  logLevel: 'info',
  drainTimeout: '10s',
};
const CA = '-----BEGIN CERTIFICATE-----\nMIIB(test CA)\n-----END CERTIFICATE-----\n';
const stream = {
  url: 'https://hookgate-operator-config.hookgate-system.svc:15012',
  caBundle: () => CA,
};

/** Applies RFC 6902 add operations the way the API server does (enough for the injector's). */
function applyPatch(doc: V1Pod, ops: readonly PatchOperation[]): V1Pod {
  const out = structuredClone(doc) as Record<string, unknown>;
  for (const op of ops) {
    const parts = op.path
      .split('/')
      .slice(1)
      .map((p) => p.replaceAll('~1', '/').replaceAll('~0', '~'));
    const last = parts.pop()!;
    let parent: unknown = out;
    for (const p of parts) parent = (parent as Record<string, unknown>)[p];
    if (Array.isArray(parent)) {
      if (last === '-') parent.push(op.value);
      else parent.splice(Number(last), 0, op.value);
    } else (parent as Record<string, unknown>)[last] = op.value;
  }
  return out;
}

const deploymentPod = (
  annotations: Record<string, string>,
  spec: Partial<V1Pod['spec']> = {},
): V1Pod => ({
  metadata: {
    generateName: 'orders-7c9f8d-',
    labels: { app: 'orders', 'pod-template-hash': '7c9f8d' },
    annotations: { 'hookgate.io/inject': 'true', ...annotations },
    ownerReferences: [
      {
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        name: 'orders-7c9f8d',
        uid: 'u1',
        controller: true,
      },
    ],
  },
  spec: { containers: [{ name: 'app', image: 'orders:1' }], ...spec },
});

const cases: { name: string; why: string; pod: V1Pod; options: InjectorOptions }[] = [
  {
    name: 'mounts',
    why: 'no config stream (--config-addr ""): the namespace ConfigMap and Secret are mounted',
    pod: deploymentPod({}),
    options: { defaults, version: '0.1.0' },
  },
  {
    name: 'streamed',
    why: 'the config stream: projected token (our audience, 600 s), stream env, ConfigMap as fallback, no Secret',
    pod: deploymentPod({}),
    options: { defaults, version: '0.1.0', configStream: stream },
  },
  {
    name: 'streamed-transparent-redis',
    why: 'streamed with Redis (the URL by reference), transparent interception and the pod’s own volumes and init containers kept',
    pod: deploymentPod(
      { 'hookgate.io/interception': 'transparent', 'hookgate.io/app-port': '3000' },
      {
        initContainers: [{ name: 'migrate', image: 'orders:1' }],
        volumes: [{ name: 'cache', emptyDir: {} }],
      },
    ),
    options: {
      defaults,
      version: '0.1.0',
      environment: { redis: true },
      interception: interceptionInitContainer,
      configStream: stream,
    },
  },
];

describe('injected pods (golden files in testdata/)', () => {
  it.each(cases)('$name: $why', ({ name, pod, options }) => {
    const decision = decide(pod, 3, options);
    expect(decision.action).toBe('inject');
    if (decision.action !== 'inject') return;
    const text = `${JSON.stringify(applyPatch(pod, decision.patch), null, 2)}\n`;
    const file = join(import.meta.dirname, 'testdata', `${name}.json`);
    if (process.env['HOOKGATE_UPDATE_GOLDEN'] === '1') writeFileSync(file, text);
    expect(text).toBe(readFileSync(file, 'utf8'));
  });
});

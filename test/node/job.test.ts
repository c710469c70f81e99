// A Job with the sidecar: the app sends its webhook and exits, the Job completes, and the native
// sidecar is stopped by the kubelet after the app (it would otherwise keep the pod running).
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { apply, kubectl, pods, until, type Pod } from './kube.ts';
import { appPodTemplate, prepareNamespace, received, removeNamespace } from './workloads.ts';

const unsupported = inject('nodeUnsupported');

describe.skipIf(unsupported !== '')('a Job with the sidecar on the node', () => {
  let namespace = '';
  let receiver: Pod;

  beforeAll(async () => {
    ({ namespace, receiver } = await prepareNamespace('node-job'));
  });

  afterAll(() => removeNamespace(namespace));

  it('completes: the app sends its webhook and exits 0, then the sidecar stops', async () => {
    await apply(namespace, {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: 'nightly' },
      spec: {
        backoffLimit: 0,
        template: appPodTemplate({ env: { ONESHOT: 'receiver' }, restartPolicy: 'Never' }),
      },
    });
    await kubectl([
      '-n',
      namespace,
      'wait',
      '--for=condition=Complete',
      'job/nightly',
      '--timeout=120s',
    ]);
    const [pod] = (await pods(namespace, 'batch.kubernetes.io/job-name=nightly')) as [Pod];
    expect(pod.status.phase).toBe('Succeeded');
    const app = pod.status.containerStatuses?.find((c) => c.name === 'app');
    expect(app?.state?.terminated?.exitCode).toBe(0);
    // The kubelet stops a native sidecar once the main containers are done.
    const sidecar = await until(
      'hookgate-proxy terminated',
      async () => {
        const [current] = (await pods(namespace, 'batch.kubernetes.io/job-name=nightly')) as [Pod];
        const status = current.status.initContainerStatuses?.find(
          (c) => c.name === 'hookgate-proxy',
        );
        return status?.state?.terminated === undefined ? undefined : status;
      },
      30_000,
    );
    expect(sidecar.state?.terminated).toBeDefined();
    const got = await received(receiver.status.podIP ?? '');
    expect(got.map((r) => JSON.parse(r.body) as { type: string })).toEqual([
      { type: 'order.created', n: 0 },
    ]);
  });
});

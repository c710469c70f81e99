// The sidecar container is killed (SIGKILL through containerd, as an OOM kill or a crash would end
// it) while async deliveries wait in its queue: the kubelet restarts it, the queue on the pod's
// emptyDir survives, and every webhook the app got a 202 for reaches the receiver.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { runtime } from '../cluster/node.ts';
import { pods, until, type Pod } from './kube.ts';
import {
  deployOrders,
  prepareNamespace,
  received,
  removeNamespace,
  send,
  setReceiverAnswer,
} from './workloads.ts';

const execFileAsync = promisify(execFile);
const unsupported = inject('nodeUnsupported');
const DELIVERIES = 12;

describe.skipIf(unsupported !== '')('the sidecar killed mid-way through async deliveries', () => {
  let namespace = '';
  let app: Pod;
  let receiver: Pod;

  beforeAll(async () => {
    // Retries every second for a minute, so the test never waits on the default schedule.
    const retry = { schedule: Array.from({ length: 30 }, (_, i) => (i === 0 ? '0s' : '1s')) };
    ({ namespace, receiver } = await prepareNamespace('node-restart', { policy: { retry } }));
    app = await deployOrders(namespace);
  });

  afterAll(() => removeNamespace(namespace));

  it('restarts it, keeps the emptyDir queue, and delivers every accepted webhook', async () => {
    const receiverIp = receiver.status.podIP ?? '';
    const appIp = app.status.podIP ?? '';
    // The receiver is down: accepted webhooks stay queued and retried.
    await setReceiverAnswer(receiverIp, 503);
    const accepted: string[] = [];
    for (let n = 0; n < DELIVERIES; n++) {
      const result = await send(appIp, 'receiver', { async: true, n });
      expect(result.status).toBe(202);
      accepted.push(result.deliveryId ?? '');
    }
    await until(
      'a refused attempt',
      async () => ((await received(receiverIp)).length > 0 ? true : undefined),
      30_000,
    );

    const status = app.status.initContainerStatuses?.find((c) => c.name === 'hookgate-proxy');
    const containerId = (status as { containerID?: string } | undefined)?.containerID?.replace(
      'containerd://',
      '',
    );
    expect(containerId).toMatch(/^[0-9a-f]{64}$/);
    await execFileAsync(runtime.ctr, [
      '--address',
      inject('nodeContainerd'),
      '-n',
      'k8s.io',
      'tasks',
      'kill',
      '--signal',
      'SIGKILL',
      containerId ?? '',
    ]);
    const restarted = await until(
      'hookgate-proxy restarted and ready',
      async () => {
        const [pod] = (await pods(namespace, 'app=orders')) as [Pod];
        const s = pod.status.initContainerStatuses?.find((c) => c.name === 'hookgate-proxy');
        return s !== undefined && s.restartCount >= 1 && s.ready ? s : undefined;
      },
      90_000,
    );
    expect(restarted.lastState?.terminated?.exitCode).toBe(137);
    const [samePod] = (await pods(namespace, 'app=orders')) as [Pod];
    expect(samePod.metadata.name).toBe(app.metadata.name);

    await setReceiverAnswer(receiverIp, 204);
    const delivered = await until(
      `all ${DELIVERIES} accepted deliveries answered 204`,
      async () => {
        const ids = new Set(
          (await received(receiverIp))
            .filter((r) => r.answer === 204)
            .map((r) => r.headers['webhook-id']),
        );
        return accepted.every((id) => ids.has(id)) ? ids : undefined;
      },
      90_000,
    );
    expect([...delivered].sort()).toEqual([...accepted].sort());
  });
});

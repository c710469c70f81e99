// The test apps (apps.ts) applied to the node cluster of the running test project.
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import {
  appPodTemplate as template,
  ordersDeployment,
  egressObjects,
  receiverObjects,
  scriptsConfigMap,
  type AppOptions,
} from './apps.ts';
import { apply, kubectl, readyPods, type Pod } from './kube.ts';

import { newSigningSecret } from './apps.ts';

export {
  newSigningSecret,
  received,
  send,
  setReceiverAnswer,
  SERVICE_CIDR,
  type Received,
  type SendResult,
} from './apps.ts';

function sidecarImage(): string {
  return inject('nodeImages')['sidecar'] ?? '';
}

/** The ConfigMap with the two scripts; apply once per namespace. */
export async function applyScripts(namespace: string): Promise<void> {
  await apply(namespace, scriptsConfigMap());
}

/** The receiver Deployment and its Service `receiver` (port 8080). */
export async function applyReceiver(namespace: string): Promise<void> {
  await apply(namespace, ...receiverObjects(sidecarImage()));
}

/** The app's pod template (annotated for injection) with the node's sidecar image. */
export function appPodTemplate(options: AppOptions = {}): object {
  return template(sidecarImage(), options);
}

/** The egress objects of apps.ts, applied, once both report Ready. */
export async function applyEgressSetup(
  namespace: string,
  secret: string,
  policy: object = {},
): Promise<void> {
  await apply(namespace, ...egressObjects(namespace, secret, policy));
  await kubectl([
    '-n',
    namespace,
    'wait',
    '--for=condition=Ready',
    'whe/receiver',
    'whp/in-cluster',
    '--timeout=60s',
  ]);
}

/** An opted-in namespace for one test. */
export async function createNamespace(prefix: string): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  await kubectl(['create', 'namespace', name]);
  await kubectl(['label', 'namespace', name, 'hookgate.io/injection=enabled']);
  return name;
}

/** A namespace ready for webhooks: the scripts, the receiver (Ready) and the egress objects. */
export async function prepareNamespace(
  prefix: string,
  options: { secret?: string; policy?: object } = {},
): Promise<{ namespace: string; receiver: Pod }> {
  const namespace = await createNamespace(prefix);
  await applyScripts(namespace);
  await applyReceiver(namespace);
  await applyEgressSetup(namespace, options.secret ?? newSigningSecret(), options.policy);
  const [receiver] = (await readyPods(namespace, 'app=receiver', 1, 120_000)) as [Pod];
  return { namespace, receiver };
}

/** The annotated Deployment `orders` (one replica); resolves with its pod once Ready. */
export async function deployOrders(namespace: string, options: AppOptions = {}): Promise<Pod> {
  await apply(namespace, ordersDeployment(sidecarImage(), options));
  const [app] = (await readyPods(namespace, 'app=orders', 1, 120_000)) as [Pod];
  return app;
}

/** Deletes a test's namespace without waiting ('' when its setup failed before making one). */
export async function removeNamespace(namespace: string): Promise<void> {
  if (namespace !== '') await kubectl(['delete', 'namespace', namespace, '--wait=false']);
}

// The test apps (apps.ts) applied to the node cluster of the running test project.
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import {
  appPodTemplate as template,
  egressObjects,
  receiverObjects,
  scriptsConfigMap,
  type AppOptions,
} from './apps.ts';
import { apply, kubectl } from './kube.ts';

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

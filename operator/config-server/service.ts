// Where sidecars find the config stream: the operator's config Service (chart:
// templates/services.yaml), port 15012, in the operator's namespace. The serving certificate
// (the webhook's, operator/certs) covers these names; the injector puts the URL into each pod.
import { CONFIG_SERVER_PORT } from '../../common/config-stream.ts';

/** The Service in front of every replica's config server (fixed, like the webhook's). */
export const CONFIG_SERVICE_NAME = 'hookgate-operator-config';

/** `https://hookgate-operator-config.<namespace>.svc:15012`: what sidecars dial. */
export function configServerUrl(namespace: string): string {
  return `https://${CONFIG_SERVICE_NAME}.${namespace}.svc:${CONFIG_SERVER_PORT}`;
}

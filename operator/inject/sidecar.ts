// What the injector adds to a pod: the hookgate-proxy native sidecar, its volumes, and the one
// environment variable app containers read. Pure: the same settings give the same objects.
import type { V1Container, V1EnvVar, V1Probe, V1Volume } from '@kubernetes/client-node';
import {
  CONFIG_FILE_PATH,
  CONFIG_MAP_NAME,
  CONFIG_MOUNT_PATH,
  SECRET_MOUNT_PATH,
  ADMIN_TOKEN_KEY,
  REDIS_URL_KEY,
  SECRET_NAME,
} from '../names.ts';
import {
  ENV_ADMIN_TOKEN,
  ENV_APP_PORT,
  ENV_CONFIG_SERVER,
  ENV_CONFIG_SERVER_CA,
  ENV_INTERCEPTION,
  ENV_MEMORY_LIMIT,
  ENV_QUEUE_NAME,
  ENV_TOKEN_FILE,
} from '../../common/env.ts';
import {
  SIDECAR_AUDIENCE,
  SIDECAR_TOKEN_DIR,
  SIDECAR_TOKEN_PATH,
} from '../../common/config-stream.ts';
import { SIDECAR_PORTS, type PodSettings } from './annotations.ts';

/** Name of the injected container (DESIGN.md). */
export const SIDECAR_CONTAINER = 'hookgate-proxy';
/** UID and GID the sidecar runs as; transparent interception exempts this UID (contracts.md). */
export const PROXY_UID = 15000;
/** Variable set in every app container: where to send webhooks. */
export const ENV_EGRESS_URL = 'HOOKGATE_EGRESS_URL';
/** Its value: the sidecar's egress port on loopback. */
export const EGRESS_URL = `http://127.0.0.1:${SIDECAR_PORTS.egress}`;
/** Writable folder of the sidecar (durable queue on the pod's disk); the root filesystem is read-only. */
export const DATA_MOUNT_PATH = '/var/lib/hookgate';

/** Volumes the injector adds, by name. */
export const VOLUME = {
  config: 'hookgate-config',
  secrets: 'hookgate-secrets',
  data: 'hookgate-data',
  token: 'hookgate-token',
} as const;

/**
 * Lifetime asked for the sidecar's projected token. The kubelet renews it at 80 % and the sidecar
 * rereads the file on every connect; 600 s is the API server's minimum, so a leaked token is
 * useful for ten minutes at most (ADR 0020).
 */
export const TOKEN_EXPIRATION_SECONDS = 600;

/** Port names on the sidecar (at most 15 characters). */
export const PORT_NAME = { ingress: 'hookgate-in', admin: 'hookgate-admin' } as const;

/** Extra, operator-wide sidecar environment (e.g. the Redis URL). */
export interface SidecarEnvironment {
  /** The operator publishes a Redis URL in each namespace's Secret: reference it. */
  readonly redis?: boolean | undefined;
  /** The operator publishes each namespace's admin token in its Secret (the console is on). */
  readonly adminToken?: boolean | undefined;
  /**
   * The operator's config stream: the sidecar gets its scoped config and only its own secrets
   * there, so the namespace-wide Secret is not mounted (ADR 0020). Absent: the mounts only.
   */
  readonly configStream?: ConfigStreamTarget | undefined;
}

/** Where a streamed sidecar connects, and the CA bundle it verifies the server with. */
export interface ConfigStreamTarget {
  readonly url: string;
  readonly caPem: string;
}

/** The volumes the sidecar mounts; `streamed`: the token instead of the namespace's Secret. */
export function sidecarVolumes(streamed = false): V1Volume[] {
  return [
    // Optional: a namespace without any WebhookEndpoint has no published config yet; the pod
    // still starts its volumes and the sidecar waits (restarts) until the operator publishes.
    // Streamed: bootstrap and fallback only (the operator unreachable, nothing persisted).
    { name: VOLUME.config, configMap: { name: CONFIG_MAP_NAME, optional: true } },
    streamed
      ? {
          name: VOLUME.token,
          // 0644 like the Secret below: the sidecar runs as UID 15000, not the file's owner,
          // and only this container mounts the volume.
          projected: {
            defaultMode: 0o644,
            sources: [
              {
                serviceAccountToken: {
                  audience: SIDECAR_AUDIENCE,
                  expirationSeconds: TOKEN_EXPIRATION_SECONDS,
                  path: SIDECAR_TOKEN_PATH.slice(SIDECAR_TOKEN_DIR.length + 1),
                },
              },
            ],
          },
        }
      : // Default file mode (0644): the sidecar runs as UID 15000, not the files' owner, and
        // only this container mounts the volume.
        { name: VOLUME.secrets, secret: { secretName: SECRET_NAME, optional: true } },
    { name: VOLUME.data, emptyDir: { sizeLimit: '1Gi' } },
  ];
}

/**
 * The hookgate-proxy container: an init container with restartPolicy Always. `queue` is the
 * workload's queue name (workload.ts), which its replicas share and no other workload does.
 */
export function sidecarContainer(
  settings: PodSettings,
  extra: SidecarEnvironment,
  queue: string,
): V1Container {
  const env: V1EnvVar[] = [
    { name: 'HOOKGATE_CONFIG', value: CONFIG_FILE_PATH },
    { name: 'HOOKGATE_ADMIN_ADDR', value: `0.0.0.0:${SIDECAR_PORTS.admin}` },
    { name: 'HOOKGATE_LOG_LEVEL', value: settings.logLevel },
    { name: 'HOOKGATE_DRAIN_TIMEOUT', value: settings.drainTimeout },
    { name: ENV_APP_PORT, value: String(settings.appPort) },
    // Only a pod with interception rules reads the Host header as a destination (issue 15).
    { name: ENV_INTERCEPTION, value: settings.interception },
    { name: ENV_QUEUE_NAME, value: queue },
    { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
    // In bytes: the sidecar sizes its V8 heap and load shedding from it (ADR 0016).
    {
      name: ENV_MEMORY_LIMIT,
      valueFrom: {
        resourceFieldRef: {
          containerName: SIDECAR_CONTAINER,
          resource: 'limits.memory',
          divisor: '1',
        },
      },
    },
  ];
  const stream = extra.configStream;
  if (stream !== undefined) {
    env.push(
      { name: ENV_CONFIG_SERVER, value: stream.url },
      { name: ENV_CONFIG_SERVER_CA, value: stream.caPem },
      { name: ENV_TOKEN_FILE, value: SIDECAR_TOKEN_PATH },
    );
  }
  if (extra.redis === true) {
    // By reference: a password in the URL never appears in the pod spec.
    env.push({
      name: 'HOOKGATE_REDIS_URL',
      valueFrom: { secretKeyRef: { name: SECRET_NAME, key: REDIS_URL_KEY, optional: true } },
    });
  }
  if (extra.adminToken === true) {
    // The console's key to this pod's admin API; this namespace's own (console/admin-token.ts).
    env.push({
      name: ENV_ADMIN_TOKEN,
      valueFrom: { secretKeyRef: { name: SECRET_NAME, key: ADMIN_TOKEN_KEY, optional: true } },
    });
  }
  const probe = (path: string, periodSeconds: number, failureThreshold: number): V1Probe => ({
    httpGet: { path, port: SIDECAR_PORTS.admin, scheme: 'HTTP' },
    periodSeconds,
    failureThreshold,
    timeoutSeconds: 1,
  });
  return {
    name: SIDECAR_CONTAINER,
    image: settings.image,
    imagePullPolicy: 'IfNotPresent',
    // Native sidecar: started before the app containers (after its startup probe passes), stopped
    // after them, and it does not keep a Job's pod running once the Job's containers end.
    restartPolicy: 'Always',
    env,
    ports: [
      { name: PORT_NAME.ingress, containerPort: SIDECAR_PORTS.ingress, protocol: 'TCP' },
      { name: PORT_NAME.admin, containerPort: SIDECAR_PORTS.admin, protocol: 'TCP' },
    ],
    resources: {
      requests: { cpu: settings.cpuRequest, memory: settings.memoryRequest },
      limits: { cpu: settings.cpuLimit, memory: settings.memoryLimit },
    },
    // The app containers start only once this passes: the egress port is listening and a config
    // is loaded (up to 2 minutes, then the kubelet restarts the sidecar).
    startupProbe: probe('/readyz', 1, 120),
    readinessProbe: probe('/readyz', 5, 3),
    livenessProbe: probe('/healthz', 10, 3),
    // No preStop hook: the kubelet sends SIGTERM to a native sidecar only after every app
    // container has exited, and the sidecar drains in-flight deliveries on SIGTERM
    // (HOOKGATE_DRAIN_TIMEOUT). See ADR 0008.
    securityContext: {
      runAsNonRoot: true,
      runAsUser: PROXY_UID,
      runAsGroup: PROXY_UID,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      privileged: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    },
    volumeMounts: [
      { name: VOLUME.config, mountPath: CONFIG_MOUNT_PATH, readOnly: true },
      stream === undefined
        ? { name: VOLUME.secrets, mountPath: SECRET_MOUNT_PATH, readOnly: true }
        : { name: VOLUME.token, mountPath: SIDECAR_TOKEN_DIR, readOnly: true },
      { name: VOLUME.data, mountPath: DATA_MOUNT_PATH },
    ],
    terminationMessagePolicy: 'FallbackToLogsOnError',
  };
}

// Every environment variable Hookgate reads, in one place, with one prefix.

/** Prefix of every Hookgate environment variable. */
export const ENV_PREFIX = 'HOOKGATE_';

/** Redis URL for global rate limits, the durable queue and ingress de-duplication. */
export const ENV_REDIS_URL = `${ENV_PREFIX}REDIS_URL`;
/** The sentinels' own password (`requirepass` in sentinel.conf), for `redis+sentinel://` URLs. */
export const ENV_REDIS_SENTINEL_PASSWORD = `${ENV_PREFIX}REDIS_SENTINEL_PASSWORD`;
/** Listen address of a program's admin server (`host:port`). */
export const ENV_ADMIN_ADDR = `${ENV_PREFIX}ADMIN_ADDR`;
/** Log level: `debug`, `info`, `warn` or `error`. */
export const ENV_LOG_LEVEL = `${ENV_PREFIX}LOG_LEVEL`;
/** Kubeconfig for the operator when it runs outside a cluster (else in-cluster, then ~/.kube/config). */
export const ENV_KUBECONFIG = 'KUBECONFIG';
/** The app's port: where ingress forwards when an endpoint names no `forward.port` (set by the injector). */
export const ENV_APP_PORT = `${ENV_PREFIX}APP_PORT`;
/** Sidecar configuration file, when `--config` is not given. */
export const ENV_CONFIG = `${ENV_PREFIX}CONFIG`;
/** How long the sidecar lets in-flight deliveries finish on shutdown (a duration, e.g. 10s). */
export const ENV_DRAIN_TIMEOUT = `${ENV_PREFIX}DRAIN_TIMEOUT`;
/** Name of the durable queue the sidecar's replicas share (with the namespace); default `default`. */
export const ENV_QUEUE_NAME = `${ENV_PREFIX}QUEUE_NAME`;
/** Bearer token that admits non-loopback callers to the sidecar's `/queue/` admin API. */
export const ENV_ADMIN_TOKEN = `${ENV_PREFIX}ADMIN_TOKEN`;
/** The sidecar container's memory limit (bytes, or a quantity like 256Mi); else read from the cgroup. */
export const ENV_MEMORY_LIMIT = `${ENV_PREFIX}MEMORY_LIMIT`;
/** `explicit` (default) or `transparent`: whether the pod's rules redirect the app's traffic to the sidecar (set by the injector). */
export const ENV_INTERCEPTION = `${ENV_PREFIX}INTERCEPTION`;
/** The operator's config stream (`https://<service>.<namespace>.svc:15012`); unset: the mounted file only (set by the injector). */
export const ENV_CONFIG_SERVER = `${ENV_PREFIX}CONFIG_SERVER`;
/** PEM of the CA that signs the config stream's serving certificate (set by the injector). */
export const ENV_CONFIG_SERVER_CA = `${ENV_PREFIX}CONFIG_SERVER_CA`;
/** The sidecar's projected ServiceAccount token file (default /var/run/secrets/hookgate.io/token). */
export const ENV_TOKEN_FILE = `${ENV_PREFIX}TOKEN_FILE`;
/** Where the sidecar persists the last streamed config (default /var/lib/hookgate/config-snapshot.json). */
export const ENV_CONFIG_SNAPSHOT = `${ENV_PREFIX}CONFIG_SNAPSHOT`;
/** How often the sidecar reports delivery health on the config stream (a duration; default 5s). */
export const ENV_HEALTH_REPORT_INTERVAL = `${ENV_PREFIX}HEALTH_REPORT_INTERVAL`;
/** The sidecar's egress listen address, over the config's `listen.egress` (a pod's own fact; the injector leaves it unset). */
export const ENV_EGRESS_LISTEN = `${ENV_PREFIX}EGRESS_LISTEN`;
/** The sidecar's ingress listen address, over the config's `listen.ingress`. */
export const ENV_INGRESS_LISTEN = `${ENV_PREFIX}INGRESS_LISTEN`;
/** The sidecar's disk queue folder, over the config's `queue.directory`. */
export const ENV_QUEUE_DIR = `${ENV_PREFIX}QUEUE_DIR`;

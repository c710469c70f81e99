// Names the operator, the injector (issue 8), the chart and the tests agree on. The published
// objects and their mount paths are a contract: the injector mounts what the operator writes, and
// the config the operator writes points into those mounts.

/** API group and version of the resources the operator reconciles. */
export const GROUP = 'hookgate.io';
/** Served version of {@link GROUP}. */
export const VERSION = 'v1alpha1';
/** `apiVersion` of WebhookEndpoint and WebhookPolicy objects. */
export const API_VERSION = `${GROUP}/${VERSION}`;

/** Field manager of every server-side apply the operator makes (DESIGN.md). */
export const FIELD_MANAGER = 'hookgate-operator';
/** `reportingController` of the operator's Events. */
export const EVENT_CONTROLLER = 'hookgate.io/operator';

/** The per-namespace ConfigMap holding the compiled sidecar configuration. */
export const CONFIG_MAP_NAME = 'hookgate-sidecar-config';
/** The key of {@link CONFIG_MAP_NAME} holding the configuration file. */
export const CONFIG_KEY = 'sidecar.yaml';
/** Where the injector mounts {@link CONFIG_MAP_NAME}; the sidecar reads `<dir>/<CONFIG_KEY>`. */
export const CONFIG_MOUNT_PATH = '/etc/hookgate/config';
/** Path of the configuration file inside a pod: the sidecar's `--config` argument. */
export const CONFIG_FILE_PATH = `${CONFIG_MOUNT_PATH}/${CONFIG_KEY}`;

/**
 * The per-namespace Secret holding copies of the signing and verification keys the
 * configuration references. Keys never leave their namespace: it is built only from Secrets in
 * the same namespace.
 */
export const SECRET_NAME = 'hookgate-sidecar-secrets';
/** Key in {@link SECRET_NAME} holding the sidecars' Redis URL (a password stays out of pod specs). */
export const REDIS_URL_KEY = 'redis-url';
/** Key in {@link SECRET_NAME} holding the namespace's sidecar admin token (console/admin-token.ts). */
export const ADMIN_TOKEN_KEY = 'admin-token';
/** Where the injector mounts {@link SECRET_NAME}; the config names files under it. */
export const SECRET_MOUNT_PATH = '/etc/hookgate/secrets';

/** Label on every object the operator publishes, and the selector its informers use. */
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
/** Value of {@link MANAGED_BY_LABEL}. */
export const MANAGED_BY_VALUE = FIELD_MANAGER;
/** Annotation on the ConfigMap: the config generation it carries (read without parsing YAML). */
export const GENERATION_ANNOTATION = 'hookgate.io/config-generation';

/** Default Lease name for leader election. */
export const DEFAULT_LEASE_NAME = 'hookgate-operator';
/** Default namespace of the Lease outside a cluster (in a cluster: the pod's namespace). */
export const DEFAULT_LEASE_NAMESPACE = 'hookgate-system';

/** Condition types the operator writes. */
export const CONDITION = {
  /** The spec and every reference it makes are valid. */
  accepted: 'Accepted',
  /** Published to sidecars in config generation `status.configGeneration`. */
  ready: 'Ready',
  /** Policies only: an older policy wins for some endpoints this one selects. */
  conflicted: 'Conflicted',
} as const;

/** Condition reasons: CamelCase, stable, for alerts and `kubectl wait`. */
export const REASON = {
  accepted: 'Accepted',
  invalidSpec: 'InvalidSpec',
  secretNotFound: 'SecretNotFound',
  secretKeyNotFound: 'SecretKeyNotFound',
  secretValueInvalid: 'SecretValueInvalid',
  reservedSecretName: 'ReservedSecretName',
  configMapNotFound: 'ConfigMapNotFound',
  configMapKeyNotFound: 'ConfigMapKeyNotFound',
  configMapValueInvalid: 'ConfigMapValueInvalid',
  pathConflict: 'PathConflict',
  invalidConfig: 'InvalidConfig',
  published: 'Published',
  notAccepted: 'NotAccepted',
  noConflict: 'NoConflict',
  overridden: 'Overridden',
  namespaceNotEnabled: 'NamespaceNotEnabled',
} as const;

/** The namespace label that opts a namespace in (injection, and Secret access by default). */
export const OPT_IN_SELECTOR = 'hookgate.io/injection=enabled';
/** The ClusterRole with the Secret verbs, bound per opted-in namespace; also the binding's name. */
export const DEFAULT_SECRET_ROLE = 'hookgate-operator-secrets';

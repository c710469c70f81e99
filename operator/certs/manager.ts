// Keeps the webhook's serving certificate in the TLS Secret current and in the server's hands.
// Self-managed: every replica reads the Secret, plans with planTls(), and writes what the plan
// says with the resourceVersion it read (a create, or an update) — the first writer wins, the
// others see a conflict, read again and find nothing left to do; then it patches the webhook
// configuration's caBundle when it differs. External (cert-manager): only reads. In both modes a
// watch on the Secret hands every new serving certificate to the server, which swaps it for new
// connections without dropping open ones.
import type { Logger } from '../../common/log.ts';
import type { Clock } from '../clock.ts';
import { isStatus } from '../errors.ts';
import type { KubeClient } from '../kube/client.ts';
import { Informer, apiListerWatcher } from '../kube/informer.ts';
import type { KubeObject } from '../kube/types.ts';
import {
  caBundleValue,
  fingerprints,
  nextCheck,
  planTls,
  shortFingerprint,
  type CertPolicy,
  type TlsData,
  type TlsFiles,
} from './plan.ts';
import { keyMatches, parseBundle } from './x509.ts';

/** How the webhook gets its certificate. */
export type CertMode = 'self-managed' | 'external';

/** A serving certificate and key, PEM. */
export interface ServingCertificate {
  readonly certPem: string;
  readonly keyPem: string;
  /** The CA bundle (`ca.crt`) clients verify it with, when the Secret holds one. */
  readonly caPem?: string | undefined;
}

/** Options for {@link CertManager}. */
export interface CertManagerOptions {
  readonly client: KubeClient;
  readonly log: Logger;
  readonly clock: Clock;
  readonly mode: CertMode;
  /** Namespace of the Secret (the operator's). */
  readonly namespace: string;
  readonly secretName: string;
  /** The MutatingWebhookConfiguration whose caBundle is kept current (self-managed). */
  readonly webhookConfigName: string;
  readonly policy: CertPolicy;
  /** Called with every new serving certificate. */
  readonly onCertificate: (certificate: ServingCertificate) => void;
  /** Called after every write of the Secret, with why. */
  readonly onRotate?: (reasons: readonly string[]) => void;
  readonly watchTimeoutSeconds?: number;
}

const SECRET_TYPE = 'kubernetes.io/tls';
const MAX_ATTEMPTS = 5;
/** Longest wait between checks (a safety net next to the watches). */
const MAX_WAIT_MS = 3_600_000;
/** Wait after a failed pass. */
const RETRY_MS = 5_000;

interface MutatingWebhookConfiguration extends KubeObject {
  webhooks?: { name: string; clientConfig?: { caBundle?: string } }[];
}

function decode(secret: KubeObject | undefined): TlsData | undefined {
  const data = secret?.['data'] as Record<string, string> | undefined;
  if (data === undefined) return undefined;
  const text = (key: string): string | undefined =>
    data[key] === undefined ? undefined : Buffer.from(data[key], 'base64').toString('utf8');
  return {
    'ca.crt': text('ca.crt'),
    'ca.key': text('ca.key'),
    'tls.crt': text('tls.crt'),
    'tls.key': text('tls.key'),
  };
}

function encode(data: TlsFiles): Record<string, string> {
  return Object.fromEntries(
    Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
  );
}

/** Manages the webhook's TLS Secret and caBundle, and feeds the server. */
export class CertManager {
  #options: CertManagerOptions;
  #log: Logger;
  #secrets: Informer;
  #configs: Informer | undefined;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #stopped = false;
  #served: string | undefined;
  #ready: { promise: Promise<void>; resolve: () => void };

  constructor(options: CertManagerOptions) {
    this.#options = options;
    this.#log = options.log;
    const timeoutSeconds = options.watchTimeoutSeconds ?? 300;
    let resolve!: () => void;
    this.#ready = { promise: new Promise<void>((r) => (resolve = r)), resolve };
    this.#secrets = new Informer({
      resource: 'webhook-tls-secret',
      log: options.log,
      source: apiListerWatcher(options.client, `/api/v1/namespaces/${options.namespace}/secrets`, {
        fieldSelector: `metadata.name=${options.secretName}`,
        timeoutSeconds,
      }),
      watchdogMs: timeoutSeconds * 1000 + 30_000,
    });
    this.#secrets.onChange((change) => {
      if (change.type === 'delete') {
        if (options.mode === 'self-managed') this.#schedule(0);
        return;
      }
      this.#serve(decode(change.object));
      // Another replica wrote it, or someone edited it: plan again (a no-op when all is well).
      if (options.mode === 'self-managed') this.#schedule(0);
    });
    if (options.mode === 'self-managed') {
      this.#configs = new Informer({
        resource: 'mutatingwebhookconfigurations',
        log: options.log,
        source: apiListerWatcher(
          options.client,
          '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations',
          { fieldSelector: `metadata.name=${options.webhookConfigName}`, timeoutSeconds },
        ),
        watchdogMs: timeoutSeconds * 1000 + 30_000,
      });
      // A re-applied chart or an Argo CD sync may blank the caBundle: put it back.
      this.#configs.onChange((change) => {
        if (change.type !== 'delete') this.#schedule(0);
      });
    }
  }

  /** Starts the watches and the first pass; resolves once a serving certificate is loaded. */
  async start(): Promise<void> {
    this.#secrets.start();
    this.#configs?.start();
    await Promise.all([this.#secrets.whenSynced(), this.#configs?.whenSynced()]);
    if (this.#options.mode === 'self-managed') this.#schedule(0);
    else this.#serve(decode(this.#secrets.get(this.#options.namespace, this.#options.secretName)));
    await this.#ready.promise;
  }

  /** Resolves once a serving certificate has been handed to the server. */
  whenReady(): Promise<void> {
    return this.#ready.promise;
  }

  /** Why the webhook cannot serve yet, or undefined. */
  readiness(): string | undefined {
    if (this.#served === undefined) {
      return this.#options.mode === 'external'
        ? `waiting for Secret ${this.#options.namespace}/${this.#options.secretName} to hold tls.crt and tls.key (cert-manager)`
        : `no serving certificate yet in Secret ${this.#options.namespace}/${this.#options.secretName}`;
    }
    return this.#secrets.unhealthy(60_000);
  }

  /** Stops the watches and the timer; an unfinished pass completes. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
    await Promise.all([this.#secrets.stop(), this.#configs?.stop()]);
  }

  /** Runs one pass now (tests; the timer and watches call it otherwise). */
  async ensure(): Promise<void> {
    if (this.#running !== undefined) {
      this.#again = true;
      return this.#running;
    }
    this.#running = this.#pass().finally(() => {
      this.#running = undefined;
    });
    await this.#running;
    if (this.#again && !this.#stopped) {
      this.#again = false;
      await this.ensure();
    }
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.ensure(), Math.max(0, Math.min(delayMs, MAX_WAIT_MS)));
    this.#timer.unref();
  }

  #serve(data: TlsData | undefined): void {
    const certPem = data?.['tls.crt'];
    const keyPem = data?.['tls.key'];
    const caPem = data?.['ca.crt'];
    // A new CA in front of the old one (rotation step 1) is news too: clients get the bundle.
    const served = `${certPem ?? ''}${caPem ?? ''}`;
    if (certPem === undefined || keyPem === undefined || served === this.#served) return;
    const cert = parseBundle(certPem)[0];
    if (cert === undefined || !keyMatches(cert, keyPem)) {
      this.#log.warn('webhook Secret holds no usable serving certificate', {
        secret: `${this.#options.namespace}/${this.#options.secretName}`,
      });
      return;
    }
    this.#options.onCertificate({ certPem, keyPem, caPem });
    this.#served = served;
    this.#log.info('webhook serving certificate loaded', {
      fingerprint: shortFingerprint(certPem),
      notAfter: cert.validTo,
    });
    this.#ready.resolve();
  }

  async #pass(): Promise<void> {
    if (this.#stopped) return;
    let next: number;
    try {
      const data = await this.#reconcileSecret();
      this.#serve(data);
      await this.#reconcileCaBundle(data['ca.crt']);
      next = nextCheck(data, this.#options.policy, this.#options.clock.now()).getTime();
      next -= this.#options.clock.now().getTime();
    } catch (err) {
      this.#log.warn('webhook certificate pass failed', {
        code: (err as { code?: string }).code,
        error: (err as Error).message,
      });
      next = RETRY_MS;
    }
    // A little after the due time, so the plan sees it as due.
    this.#schedule(next + 50);
  }

  get #secretPath(): string {
    return `/api/v1/namespaces/${this.#options.namespace}/secrets/${this.#options.secretName}`;
  }

  /** Reads, plans and writes the Secret until it holds what the plan wants; returns its data. */
  async #reconcileSecret(): Promise<TlsFiles> {
    const { client, policy, clock } = this.#options;
    for (let attempt = 1; ; attempt++) {
      let secret: KubeObject | undefined;
      try {
        secret = await client.request<KubeObject>('GET', this.#secretPath);
      } catch (err) {
        if (!isStatus(err, 404)) throw err;
      }
      const current = decode(secret);
      const caBundle = await this.#currentCaBundle();
      const plan = planTls(current, clock.now(), policy, caBundle);
      if (plan === undefined) return current as TlsFiles;
      const body = {
        apiVersion: 'v1',
        kind: 'Secret',
        type: SECRET_TYPE,
        metadata: {
          name: this.#options.secretName,
          namespace: this.#options.namespace,
          labels: { 'app.kubernetes.io/managed-by': 'hookgate-operator' },
          ...(secret === undefined
            ? {}
            : {
                resourceVersion: secret.metadata.resourceVersion,
                labels: {
                  ...secret.metadata.labels,
                  'app.kubernetes.io/managed-by': 'hookgate-operator',
                },
                annotations: secret.metadata.annotations,
              }),
        },
        data: encode(plan.data),
      };
      try {
        if (secret === undefined) {
          await client.request('POST', `/api/v1/namespaces/${this.#options.namespace}/secrets`, {
            body,
          });
        } else await client.request('PUT', this.#secretPath, { body });
        this.#log.info('webhook certificates written', {
          secret: `${this.#options.namespace}/${this.#options.secretName}`,
          reasons: plan.reasons.join('; '),
          ca: shortFingerprint(plan.data['ca.crt']),
          serving: shortFingerprint(plan.data['tls.crt']),
        });
        this.#options.onRotate?.(plan.reasons);
        return plan.data;
      } catch (err) {
        // 409: another replica wrote first (AlreadyExists or Conflict); read what it wrote.
        if (!isStatus(err, 409) || attempt >= MAX_ATTEMPTS) throw err;
      }
    }
  }

  get #configPath(): string {
    return `/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/${this.#options.webhookConfigName}`;
  }

  /** The caBundle (PEM) the webhook configuration holds now; undefined: no configuration. */
  async #currentCaBundle(): Promise<string | undefined> {
    let config: MutatingWebhookConfiguration;
    try {
      config = await this.#options.client.request<MutatingWebhookConfiguration>(
        'GET',
        this.#configPath,
      );
    } catch (err) {
      if (isStatus(err, 404)) return undefined;
      throw err;
    }
    // The API server must trust the CA in every webhook of the configuration.
    const bundles = (config.webhooks ?? []).map((w) =>
      Buffer.from(w.clientConfig?.caBundle ?? '', 'base64').toString('utf8'),
    );
    if (bundles.length === 0) return undefined;
    const shared = [...fingerprints(bundles[0])].filter((f) =>
      bundles.every((b) => fingerprints(b).has(f)),
    );
    return parseBundle(bundles[0]!)
      .filter((c) => shared.includes(c.fingerprint256))
      .map((c) => c.toString())
      .join('');
  }

  /** Sets every webhook's caBundle in the configuration to `caPem` where it differs. */
  async #reconcileCaBundle(caPem: string): Promise<void> {
    let config: MutatingWebhookConfiguration;
    try {
      config = await this.#options.client.request<MutatingWebhookConfiguration>(
        'GET',
        this.#configPath,
      );
    } catch (err) {
      if (!isStatus(err, 404)) throw err;
      this.#log.warn('webhook configuration not found; the API server cannot call the injector', {
        name: this.#options.webhookConfigName,
      });
      return;
    }
    const value = caBundleValue(caPem);
    const ops: object[] = [];
    (config.webhooks ?? []).forEach((w, i) => {
      if (w.clientConfig?.caBundle === value) return;
      // The test guards against a concurrent reorder of the list.
      ops.push({ op: 'test', path: `/webhooks/${i}/name`, value: w.name });
      ops.push({ op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value });
    });
    if (ops.length === 0) return;
    await this.#options.client.request('PATCH', this.#configPath, {
      body: ops,
      contentType: 'application/json-patch+json',
    });
    this.#log.info('webhook configuration caBundle updated', {
      name: this.#options.webhookConfigName,
      cas: parseBundle(caPem).length,
    });
  }
}

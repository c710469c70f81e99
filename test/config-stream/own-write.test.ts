// The stream pushes the operator's own publish whichever comes first: the answer to its write
// (stored by Informer.upsert, no change event) or the watch event carrying the same version
// (then dropped as already held). Under load the answer usually wins; a push that waited for the
// watch event never came, and the sidecar kept its old config until it reconnected. Real
// informers and a real config server over TLS; the API server's list and watch are a fake the
// test drives, so the order of the two is the test's choice.
import { request } from 'node:https';
import type { IncomingMessage } from 'node:http';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { STREAM_PATH, type ConfigEvent, type StreamEvent } from '../../common/config-stream.ts';
import { createLogger } from '../../common/log.ts';
import type { Caches } from '../../operator/cache.ts';
import { createCertificate } from '../../operator/certs/x509.ts';
import type { PodIdentity } from '../../operator/config-server/auth.ts';
import { startConfigServer, type ConfigServer } from '../../operator/config-server/server.ts';
import { Informer, type ListerWatcher } from '../../operator/kube/informer.ts';
import type { KubeObject, WatchEvent } from '../../operator/kube/types.ts';
import {
  CONFIG_KEY,
  CONFIG_MAP_NAME,
  GENERATION_ANNOTATION,
  SECRET_MOUNT_PATH,
  SECRET_NAME,
} from '../../operator/names.ts';

const log = createLogger({}, 'warn', () => undefined);
const pod: PodIdentity = {
  namespace: 'shop',
  name: 'web-0',
  uid: 'uid-web-0',
  serviceAccount: 'web',
  labels: { app: 'web' },
};

/** A list+watch source the test drives: `emit` sends a watch event to the open watch. */
function drivenSource(items: KubeObject[] = []): ListerWatcher & {
  emit(event: WatchEvent): void;
} {
  let onEvent: ((event: WatchEvent) => void) | undefined;
  return {
    list: () => Promise.resolve({ metadata: { resourceVersion: '1' }, items }),
    watch: (_rv, onOpen, handler, signal) =>
      new Promise<void>((resolve) => {
        onEvent = handler;
        onOpen();
        signal.addEventListener('abort', () => resolve(), { once: true });
      }),
    emit: (event) => onEvent?.(event),
  };
}

function informer(resource: string, source: ListerWatcher): Informer {
  return new Informer({ resource, source, log, watchdogMs: 3_600_000 });
}

let resourceVersion = 10;
/** The published ConfigMap at `generation`, naming `endpoints` (a name, or a whole entry). */
function configMap(
  generation: number,
  endpoints: (string | Record<string, unknown>)[],
): KubeObject {
  const document = {
    namespace: 'shop',
    endpoints: endpoints.map((e) =>
      typeof e === 'string' ? { name: e, url: `https://${e}.example` } : e,
    ),
    ingress: [],
    dynamic: [],
  };
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: CONFIG_MAP_NAME,
      namespace: 'shop',
      resourceVersion: String(++resourceVersion),
      annotations: { [GENERATION_ANNOTATION]: String(generation) },
    },
    data: { [CONFIG_KEY]: `# published by hookgate\n${JSON.stringify(document)}\n` },
  };
}

/** The CONFIG events read from one open stream, in order. */
function openStream(
  port: number,
  ca: string,
): Promise<{
  next(): Promise<ConfigEvent>;
  close(): void;
}> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        hostname: '127.0.0.1',
        port,
        path: STREAM_PATH,
        ca,
        headers: { authorization: 'Bearer any' },
        agent: false,
      },
      (res: IncomingMessage) => {
        if (res.statusCode !== 200) {
          reject(new Error(`stream answered ${res.statusCode}`));
          return;
        }
        const seen: ConfigEvent[] = [];
        let waiting: ((event: ConfigEvent) => void) | undefined;
        let buffered = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          buffered += chunk;
          let newline;
          while ((newline = buffered.indexOf('\n')) >= 0) {
            const event = JSON.parse(buffered.slice(0, newline)) as StreamEvent;
            buffered = buffered.slice(newline + 1);
            if (event.type !== 'CONFIG') continue;
            if (waiting === undefined) seen.push(event);
            else {
              waiting(event);
              waiting = undefined;
            }
          }
        });
        resolve({
          next: () =>
            seen.length > 0
              ? Promise.resolve(seen.shift()!)
              : new Promise((r) => {
                  waiting = r;
                }),
          close: () => res.destroy(),
        });
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('the config stream and the operator’s own publish', () => {
  const configSource = drivenSource([configMap(1, ['orders'])]);
  const configMaps = informer('configmaps', configSource);
  const secrets = informer('secrets', drivenSource());
  const endpoints = informer('webhookendpoints', drivenSource());
  const ca = createCertificate({
    commonName: 'own-write-ca',
    notBefore: new Date(Date.now() - 60_000),
    notAfter: new Date(Date.now() + 3_600_000),
    isCA: true,
  });
  let server: ConfigServer;

  beforeAll(async () => {
    for (const i of [configMaps, secrets, endpoints]) i.start();
    await Promise.all([configMaps, secrets, endpoints].map((i) => i.whenSynced()));
    server = await startConfigServer({
      host: '127.0.0.1',
      port: 0,
      certificate: createCertificate({
        commonName: 'config-server',
        notBefore: new Date(Date.now() - 60_000),
        notAfter: new Date(Date.now() + 3_600_000),
        isCA: false,
        hosts: ['127.0.0.1'],
        issuer: ca,
      }),
      caches: { configMaps, secrets, endpoints } as unknown as Pick<
        Caches,
        'configMaps' | 'secrets' | 'endpoints'
      >,
      authenticator: { authenticate: () => Promise.resolve(pod) },
      ready: () => undefined,
      log,
      registry: new Registry(),
    });
  });

  afterAll(async () => {
    await server?.close();
    await Promise.all([configMaps, secrets, endpoints].map((i) => i.stop()));
  });

  it('pushes a publish stored from the write’s answer before its watch event, and once only', async () => {
    const stream = await openStream(server.port, ca.certPem);
    expect((await stream.next()).generation).toBe(1);

    // The answer first: nothing but the own write tells the stream.
    const second = configMap(2, ['orders', 'invoices']);
    configMaps.upsert(second);
    expect((await stream.next()).generation).toBe(2);
    configSource.emit({ type: 'MODIFIED', object: second });

    // The watch event first: the answer after it is old news.
    const third = configMap(3, ['invoices']);
    configSource.emit({ type: 'MODIFIED', object: third });
    configMaps.upsert(third);
    expect((await stream.next()).generation).toBe(3);

    // Someone else's change still arrives the usual way; and no generation came twice.
    configSource.emit({ type: 'MODIFIED', object: configMap(4, ['orders']) });
    expect((await stream.next()).generation).toBe(4);
    stream.close();
  });

  it('a Secret published after its ConfigMap, from the write’s answer, releases the waiting view', async () => {
    const stream = await openStream(server.port, ca.certPem);
    expect((await stream.next()).generation).toBe(4);
    // A config naming a key the published Secret does not hold yet: held back…
    const signed = configMap(5, [
      {
        name: 'orders',
        url: 'https://orders.example',
        signing: { secrets: [{ source: { file: `${SECRET_MOUNT_PATH}/orders_k_1` } }] },
      },
    ]);
    configMaps.upsert(signed);
    // …until the Secret's own write is stored.
    secrets.upsert({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: SECRET_NAME,
        namespace: 'shop',
        resourceVersion: String(++resourceVersion),
      },
      data: { orders_k_1: Buffer.from('whsec').toString('base64') },
    });
    // The first push after the hold is the one carrying the key.
    const released = await stream.next();
    expect(released.generation).toBe(5);
    expect(Object.keys(released.secrets)).toEqual([`${SECRET_MOUNT_PATH}/orders_k_1`]);
    stream.close();
  });
});

// An in-process sidecar that records history, composed the way proxy.ts composes it: one observer
// list handed to the egress server and the queue, the recorder over Redis or the pod's disk, and
// the admin server with /history/ and /queue/. The queue runs on the shared Redis.
import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { startAdminServer, type AdminServer } from '../../common/admin.ts';
import { createLogger } from '../../common/log.ts';
import { parseConfig, type LoadedConfig } from '../../sidecar/config/load.ts';
import { systemClock } from '../../sidecar/delivery/delivery.ts';
import { DeliveryObservers } from '../../sidecar/delivery/observe.ts';
import { startEgressServer, type EgressServer } from '../../sidecar/egress/server.ts';
import { historyAdminHandler } from '../../sidecar/history/admin.ts';
import { openHistory } from '../../sidecar/history/open.ts';
import type { HistoryRecorder } from '../../sidecar/history/recorder.ts';
import { DeliveryQueue, queueLimits } from '../../sidecar/queue/index.ts';
import { RedisQueueStore } from '../../sidecar/queue/redis.ts';
import { secretsDir } from '../egress/harness.ts';

/** A running sidecar with history. */
export interface HistorySidecar {
  readonly egress: string;
  readonly admin: string;
  readonly registry: Registry;
  readonly recorder: HistoryRecorder;
  /** The history folder (disk backend). */
  readonly directory: string;
  readonly namespace: string;
  post(path: string, body?: string, headers?: Record<string, string>): Promise<Response>;
  /** GET on the admin port, JSON parsed. */
  adminGet<T>(path: string): Promise<{ status: number; body: T }>;
  close(): Promise<void>;
}

/** Starts egress + queue + history + admin on 127.0.0.1:0 over `yaml`. */
export async function startHistorySidecar(
  yaml: string,
  redisUrl: string,
  backend: 'disk' | 'redis',
): Promise<HistorySidecar> {
  const namespace = `hist-${randomBytes(4).toString('hex')}`;
  const directory = mkdtempSync(join(tmpdir(), 'hookgate-history-'));
  const loaded: LoadedConfig = await parseConfig(
    `namespace: ${namespace}\nhistory: { directory: ${directory} }\n${yaml}`,
    'test.yaml',
    secretsDir,
    {},
  );
  const registry = new Registry();
  const log = createLogger({ test: 'history' }, 'error');
  const redis = new Redis(redisUrl, { enableAutoPipelining: true });
  const observers = new DeliveryObservers();
  const recorder = await openHistory({
    config: () => loaded,
    redis: backend === 'redis' ? redis : undefined,
    observers,
    registry,
    log,
    clock: systemClock,
    pod: 'shop-7d9f-abcde',
  });
  if (recorder === undefined) throw new Error('history did not open');
  const settings = loaded.config.queue;
  const queue = new DeliveryQueue({
    store: new RedisQueueStore({
      redis,
      scope: `${namespace}/default`,
      limits: queueLimits(settings),
      consumer: randomBytes(4).toString('hex'),
    }),
    backend: 'redis',
    settings,
    registry,
    log,
    clock: systemClock,
    observers,
  });
  const egress: EgressServer = await startEgressServer('127.0.0.1', 0, {
    config: () => loaded,
    registry,
    log,
    acceptAsync: queue.accept,
    observers,
  });
  queue.start(() => egress.runtime());
  const tails = { open: 0 };
  const admin: AdminServer = await startAdminServer('127.0.0.1', 0, {
    registry,
    readiness: [],
    handler: (req, res) =>
      historyAdminHandler(req, res, { recorder, heartbeatMs: 60_000 }, tails) ||
      queue.admin(req, res),
  });
  const egressUrl = `http://127.0.0.1:${egress.port}`;
  const adminUrl = `http://127.0.0.1:${admin.port}`;
  return {
    egress: egressUrl,
    admin: adminUrl,
    registry,
    recorder,
    directory,
    namespace,
    post: (path, body = '{"type":"order.created"}', headers = {}) =>
      fetch(`${egressUrl}${path}`, {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/json', ...headers },
      }),
    adminGet: async <T>(path: string) => {
      await recorder.flushed();
      const res = await fetch(`${adminUrl}${path}`);
      return { status: res.status, body: (await res.json()) as T };
    },
    close: async () => {
      await egress.close(1000, queue.stopWorker(1000));
      await queue.close(0);
      await recorder.close();
      await admin.close();
      redis.disconnect();
    },
  };
}

// An in-process sidecar with the durable queue on the shared Redis: the egress server, the queue's
// worker and the admin server with its /queue/ API, composed the way main.ts composes them, over a
// config written as YAML. Each harness has a queue scope of its own.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { Registry } from 'prom-client';
import { startAdminServer, type AdminServer } from '../../common/admin.ts';
import { createLogger } from '../../common/log.ts';
import { parseConfig, type LoadedConfig } from '../../sidecar/config/load.ts';
import { systemClock } from '../../sidecar/delivery/delivery.ts';
import { startEgressServer, type EgressServer } from '../../sidecar/egress/server.ts';
import { DeliveryQueue, queueLimits } from '../../sidecar/queue/index.ts';
import { RedisQueueStore } from '../../sidecar/queue/redis.ts';
import { secretsDir } from '../egress/harness.ts';

/** A running sidecar with a durable queue. */
export interface QueueSidecar {
  readonly egress: string;
  readonly admin: string;
  readonly registry: Registry;
  readonly queue: DeliveryQueue;
  post(path: string, body?: string, headers?: Record<string, string>): Promise<Response>;
  close(): Promise<void>;
}

/** Starts egress + queue + admin on 127.0.0.1:0 over `yaml`, the queue on Redis at `redisUrl`. */
export async function startQueueSidecar(
  yaml: string,
  redisUrl: string,
  scope = `test/${randomBytes(4).toString('hex')}`,
): Promise<QueueSidecar> {
  const loaded: LoadedConfig = await parseConfig(yaml, 'test.yaml', secretsDir, {});
  const registry = new Registry();
  const log = createLogger({ test: 'queue' }, 'error');
  const redis = new Redis(redisUrl, { enableAutoPipelining: true });
  const settings = loaded.config.queue;
  const queue = new DeliveryQueue({
    store: new RedisQueueStore({
      redis,
      scope,
      limits: queueLimits(settings),
      consumer: randomBytes(4).toString('hex'),
    }),
    backend: 'redis',
    settings,
    registry,
    log,
    clock: systemClock,
  });
  const egress: EgressServer = await startEgressServer('127.0.0.1', 0, {
    config: () => loaded,
    registry,
    log,
    acceptAsync: queue.accept,
  });
  queue.start(() => egress.runtime());
  const admin: AdminServer = await startAdminServer('127.0.0.1', 0, {
    registry,
    readiness: [],
    handler: queue.admin,
  });
  const url = `http://127.0.0.1:${egress.port}`;
  return {
    egress: url,
    admin: `http://127.0.0.1:${admin.port}`,
    registry,
    queue,
    post: (path, body = '{"type":"order.created"}', headers = {}) =>
      fetch(`${url}${path}`, {
        method: 'POST',
        body,
        headers: { 'content-type': 'application/json', ...headers },
      }),
    close: async () => {
      await egress.close(1000, queue.stopWorker(1000));
      await queue.close(0);
      await admin.close();
      redis.disconnect();
    },
  };
}

/** A Prometheus sample's value from the text exposition, or 0 when absent. */
export function sample(text: string, name: string, labels = ''): number {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}${labels === '' ? ' ' : `{${labels}`}`))
      return Number(line.split(' ').at(-1));
  }
  return 0;
}

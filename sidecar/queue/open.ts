// Chooses the queue's backend: Redis when HOOKGATE_REDIS_URL is set (shared by the app's
// replicas), otherwise the append-only queue on the pod's own disk.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from '../../common/log.ts';
import type { QueueSettings } from '../config/schema.ts';
import { queueLimits } from './index.ts';
import type { QueueStore } from './store.ts';
import type { RedisClient, RedisTarget } from '../redis-connect.ts';

/** An opened store and what to close with it. */
export interface OpenedStore {
  readonly store: QueueStore;
  readonly backend: 'redis' | 'disk';
  /** The queue's Redis connection, for the readiness check; absent on disk. */
  readonly redis?: RedisClient;
  /** Releases what `openQueueStore` created besides the store (its Redis connection). */
  readonly release: () => void;
}

/** What choosing a backend needs. */
export interface OpenQueueOptions {
  readonly settings: QueueSettings;
  /** HOOKGATE_REDIS_URL, parsed (redis-connect.ts); absent: the disk queue. */
  readonly redis?: RedisTarget | undefined;
  readonly sentinelPassword?: string | undefined;
  /** `<namespace>/<queue name>`: the replicas of one app share it. */
  readonly scope: string;
  readonly log: Logger;
}

/** Opens the queue's store: Redis when a URL is given, else the directory on disk. */
export async function openQueueStore(options: OpenQueueOptions): Promise<OpenedStore> {
  const { settings, log } = options;
  if (options.redis !== undefined) {
    // A connection of its own: auto-pipelining batches the enqueues of concurrent requests into
    // one write, and the limiter's fail-fast settings stay the limiter's. Each backend is loaded
    // only when chosen: a sidecar without Redis never loads ioredis (ADR 0016, start-up cost).
    const [{ connectRedis }, { RedisQueueStore }, { ReplicaWait }] = await Promise.all([
      import('../redis-connect.ts'),
      import('./redis.ts'),
      import('./replica-wait.ts'),
    ]);
    const redis = await connectRedis(options.redis, {
      autoPipelining: true,
      log,
      name: 'queue redis',
      sentinelPassword: options.sentinelPassword,
    });
    const wait = options.redis.replicaWait;
    const store = new RedisQueueStore({
      redis,
      scope: options.scope,
      limits: queueLimits(settings),
      consumer: `${hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`,
      ...(wait !== undefined ? { replicaWait: (key) => new ReplicaWait(redis, key, wait) } : {}),
    });
    return { store, backend: 'redis', redis, release: () => redis.disconnect() };
  }
  // The pod's own disk: survives a sidecar restart, not the loss of the volume (an emptyDir dies
  // with the pod; use a PersistentVolume or Redis for more).
  const { openDiskStore } = await import('./disk/index.ts');
  const store = await openDiskStore({
    dir: settings.directory,
    limits: queueLimits(settings),
    logger: log,
  });
  return { store, backend: 'disk', release: () => undefined };
}

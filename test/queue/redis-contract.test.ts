// The shared QueueStore contract (sidecar/queue/contract.ts) judging the Redis backend on the real
// Redis of the test run; each store gets a key scope of its own.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { inject } from 'vitest';
import { describeQueueStore } from '../../sidecar/queue/contract.ts';
import { RedisQueueStore } from '../../sidecar/queue/redis.ts';
import type { QueueStore } from '../../sidecar/queue/store.ts';

describeQueueStore(
  'redis',
  (limits): Promise<QueueStore> => {
    const redis = new Redis(inject('redisUrl'), { enableAutoPipelining: true });
    const store = new RedisQueueStore({
      redis,
      scope: `contract/${randomBytes(4).toString('hex')}`,
      limits,
      consumer: 'contract',
    });
    return Promise.resolve(
      Object.assign(store, {
        close: async (): Promise<void> => {
          redis.disconnect();
          return Promise.resolve();
        },
      }),
    );
  },
  { honoursSkipEndpoints: true },
);

// The shared HistoryStore contract (sidecar/history/contract.ts) judging the Redis backend on the
// real Redis of the test run; each store gets a namespace of its own.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { inject } from 'vitest';
import { describeHistoryStore } from '../../sidecar/history/contract.ts';
import { RedisHistoryStore } from '../../sidecar/history/redis.ts';
import type { HistoryStore } from '../../sidecar/history/store.ts';

describeHistoryStore('redis', (limits) => {
  const namespace = `contract-${randomBytes(4).toString('hex')}`;
  const open = (): Promise<HistoryStore> => {
    const redis = new Redis(inject('redisUrl'), { enableAutoPipelining: true });
    const store = new RedisHistoryStore({ redis, namespace, limits: () => limits });
    return Promise.resolve(
      Object.assign(store, {
        close: (): Promise<void> => {
          redis.disconnect();
          return Promise.resolve();
        },
      }),
    );
  };
  return open().then((store) => ({ store, reopen: open }));
});

// The console's direct read of the delivery history when the sidecars keep it in Redis (ADR 0022,
// 0023): the operator publishes one Redis URL to every namespace's sidecars, so it reads the same
// keys they write (`historyKeys`, one hash tag per namespace) with the same reader as their admin
// API, filters and pages server-side in Redis, and asks no pod. Only namespaces the caller may see
// are ever read (data.ts scopes first). A namespace without history in Redis (its sidecars record
// to their disks, or record nothing) answers undefined: the caller asks the pods instead.
import type { DeliveryRecord } from '../../common/history.ts';
import type { Logger } from '../../common/log.ts';
import { RedisHistoryReader } from '../../sidecar/history/redis.ts';
import { MAX_PAGE } from '../../sidecar/history/store.ts';
import type { RedisClient } from '../../sidecar/redis-connect.ts';
import type { DeliveryQuery, ListedDelivery } from './sidecars.ts';
import { redactRecord } from './redact.ts';

/** Pages of the reader's scan budget one console list follows at most before it answers. */
const MAX_PAGES = 4;

/** Reads the history of any namespace from the sidecars' Redis. */
export class RedisHistory {
  readonly #redis: RedisClient;
  readonly #log: Logger;
  readonly #readers = new Map<string, RedisHistoryReader>();

  constructor(redis: RedisClient, log: Logger) {
    this.#redis = redis;
    this.#log = log;
  }

  #reader(namespace: string): RedisHistoryReader {
    let reader = this.#readers.get(namespace);
    if (reader === undefined) {
      reader = new RedisHistoryReader({ redis: this.#redis, namespace });
      // One small object per namespace ever asked for; bounded like the namespaces themselves.
      if (this.#readers.size < 10_000) this.#readers.set(namespace, reader);
    }
    return reader;
  }

  /** Whether `namespace` has history in Redis; false (logged) when Redis does not answer. */
  async #has(namespace: string): Promise<boolean> {
    try {
      return await this.#reader(namespace).exists();
    } catch (err) {
      this.#log.warn('console: history in Redis unreadable, asking the pods', {
        namespace,
        error: (err as Error).message,
      });
      return false;
    }
  }

  /**
   * Deliveries of `namespace` matching `q`, newest first, at most `q.limit`; undefined when the
   * namespace has no history in Redis.
   */
  async deliveries(namespace: string, q: DeliveryQuery): Promise<ListedDelivery[] | undefined> {
    if (!(await this.#has(namespace))) return undefined;
    const reader = this.#reader(namespace);
    const items: ListedDelivery[] = [];
    let cursor: string | undefined;
    // A selective filter may need more than one scan budget to fill a page.
    for (let page = 0; page < MAX_PAGES && items.length < q.limit; page++) {
      const answer = await reader.list({
        limit: Math.min(MAX_PAGE, q.limit - items.length),
        ...(q.endpoint !== undefined ? { endpoint: q.endpoint } : {}),
        ...(q.eventType !== undefined ? { eventType: q.eventType } : {}),
        ...(q.outcome !== undefined ? { outcome: q.outcome } : {}),
        ...(q.from !== undefined ? { from: q.from } : {}),
        ...(q.to !== undefined ? { to: q.to } : {}),
        ...(cursor !== undefined ? { cursor } : {}),
      });
      for (const d of answer.items) items.push({ ...d, source: 'history' });
      cursor = answer.nextCursor;
      if (cursor === undefined) break;
    }
    return items;
  }

  /** One delivery of `namespace` in full; undefined when Redis does not hold it. */
  async delivery(namespace: string, deliveryId: string): Promise<DeliveryRecord | undefined> {
    if (!(await this.#has(namespace))) return undefined;
    const record = await this.#reader(namespace).get(deliveryId);
    if (record === undefined) return undefined;
    // Redacted at write; again here, as for what the pods answer.
    return redactRecord(record);
  }
}

// The history on Redis, shared by every pod of a namespace (keys: common/history.ts
// `historyKeys`, one hash tag per namespace). An append is one Lua script: each update is joined
// to its delivery's JSON array without reading it back to the sidecar, indexed by first-update time
// (overall and per endpoint), added to the capped stream the live tail reads, and the bounds are
// applied in the same step — oldest deliveries out past the count, the bytes or the age.
import {
  foldHistory,
  historyKeys,
  matchesQuery,
  summaryOf,
  type DeliveryRecord,
  type DeliverySummary,
  type HistoryPage,
  type HistoryQuery,
  type HistoryUpdate,
} from '../../common/history.ts';
import type { RedisClient } from '../redis-connect.ts';
import { RedisScript } from '../redis-script.ts';
import {
  MAX_PAGE,
  SCAN_BUDGET,
  decodeCursor,
  encodeCursor,
  isAfterCursor,
  type HistoryLimits,
  type HistoryStore,
  type HistoryUsage,
} from './store.ts';
import type { EncodedUpdate } from './update.ts';

/** How long one Redis call may take before the caller gives up on it. */
const REDIS_TIMEOUT_MS = 2000;
/** Records folded per round trip while listing. */
const BATCH = 200;

/** `hookgate:history:{<ns>}:`, the prefix the scripts build every key from. */
function prefixOf(namespace: string): string {
  return historyKeys.stream(namespace).slice(0, -'stream'.length);
}

// KEYS[1] the prefix; ARGV: maxDeliveries, age cutoff (epoch ms), maxBytes, stream length,
// stream MINID, then (id, endpoint, first-update ms, update JSON, outcome, attempt) per update.
// Per new delivery (most take one attempt) that is HSETNX, two ZADDs and an XADD; the byte
// counter moves once per batch.
const APPEND = new RedisScript(`
local P = KEYS[1]
local records, index, bytes, stream = P..'records', P..'index', P..'bytes', P..'stream'
local added = 0
local function drop(member)
  local sep = string.find(member, '|', 1, true)
  local ep, id = string.sub(member, 1, sep - 1), string.sub(member, sep + 1)
  added = added - redis.call('HSTRLEN', records, id)
  redis.call('HDEL', records, id)
  redis.call('ZREM', index, member)
  redis.call('ZREM', P..'endpoint:'..ep, id)
end
for i = 6, #ARGV, 6 do
  local id, ep, at, json = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  if redis.call('HSETNX', records, id, '['..json..']') == 1 then
    added = added + #json + 2
    redis.call('ZADD', index, at, ep..'|'..id)
    redis.call('ZADD', P..'endpoint:'..ep, at, id)
  else
    local old = redis.call('HGET', records, id)
    local value = string.sub(old, 1, -2)..','..json..']'
    added = added + #value - #old
    redis.call('HSET', records, id, value)
  end
  -- The live tail's entry names the delivery and what changed; the record holds the rest.
  redis.call('XADD', stream, 'MAXLEN', '~', ARGV[4], '*', 'id', id, 'endpoint', ep, 'outcome',
    ARGV[i + 4], 'attempt', ARGV[i + 5])
end
for _, m in ipairs(redis.call('ZRANGEBYSCORE', index, '-inf', '('..ARGV[2], 'LIMIT', 0, 1000)) do
  drop(m)
end
local over = redis.call('ZCARD', index) - tonumber(ARGV[1])
if over > 0 then
  for _, m in ipairs(redis.call('ZRANGE', index, 0, over - 1)) do drop(m) end
end
local total = redis.call('INCRBY', bytes, added)
local limit = tonumber(ARGV[3])
while total > limit do
  local m = redis.call('ZRANGE', index, 0, 0)[1]
  if m == nil then break end
  added = 0
  drop(m)
  total = redis.call('INCRBY', bytes, added)
end
redis.call('XTRIM', stream, 'MINID', '~', ARGV[5])
return 1
`);

/** Where a reader finds one namespace's history. */
export interface RedisHistoryReaderOptions {
  readonly redis: RedisClient;
  readonly namespace: string;
}

/** Options of the Redis store. */
export interface RedisHistoryOptions extends RedisHistoryReaderOptions {
  /** Read at every append, so a reload's new bounds apply at once. */
  readonly limits: () => HistoryLimits;
}

/**
 * One namespace's history in Redis, read-only: what the sidecars' admin API and the console (which
 * reads Redis directly, ADR 0023) list and fold, with the same filters and cursors for both.
 */
export class RedisHistoryReader {
  readonly #redis: RedisClient;
  readonly #namespace: string;

  constructor(options: RedisHistoryReaderOptions) {
    this.#redis = options.redis;
    this.#namespace = options.namespace;
  }

  /** Whether this namespace has history in Redis at all (its index exists). */
  async exists(): Promise<boolean> {
    return (await this.#redis.exists(historyKeys.index(this.#namespace))) === 1;
  }

  async list(query: HistoryQuery): Promise<HistoryPage> {
    const cursor = query.cursor === undefined ? undefined : decodeCursor(query.cursor);
    const limit = Math.min(MAX_PAGE, query.limit);
    const byEndpoint = query.endpoint !== undefined;
    const key =
      query.endpoint !== undefined
        ? historyKeys.endpoint(this.#namespace, query.endpoint)
        : historyKeys.index(this.#namespace);
    // Time filters and the cursor narrow the index range itself; the rest is folded and checked.
    let max = Math.min(cursor?.at ?? Infinity, query.to === undefined ? Infinity : query.to - 1);
    const min = query.from ?? -Infinity;
    const items: DeliverySummary[] = [];
    let scanned = 0;
    let last: { at: number; key: string } | undefined;
    let after = cursor;
    while (scanned < SCAN_BUDGET) {
      const rows = await this.#redis.zrevrangebyscore(
        key,
        max === Infinity ? '+inf' : max,
        min === -Infinity ? '-inf' : min,
        'WITHSCORES',
        'LIMIT',
        0,
        BATCH,
      );
      const batch: { member: string; at: number }[] = [];
      for (let i = 0; i < rows.length; i += 2) {
        const member = rows[i]!;
        const at = Number(rows[i + 1]);
        if (isAfterCursor(at, member, after)) batch.push({ member, at });
      }
      if (batch.length === 0) {
        if (rows.length < BATCH) return { items };
        // A full batch of one millisecond already listed: step below it.
        max = Number(rows.at(-1)) - 1;
        continue;
      }
      const ids = batch.map((b) =>
        byEndpoint ? b.member : b.member.slice(b.member.indexOf('|') + 1),
      );
      const values = await this.#redis.hmget(historyKeys.records(this.#namespace), ...ids);
      for (let i = 0; i < batch.length; i++) {
        scanned++;
        last = { at: batch[i]!.at, key: batch[i]!.member };
        const value = values[i];
        if (value === null || value === undefined) continue;
        const record = foldHistory(JSON.parse(value) as HistoryUpdate[]);
        if (record === undefined || !matchesQuery(record, query)) continue;
        items.push(summaryOf(record));
        if (items.length === limit) return { items, nextCursor: encodeCursor(last) };
      }
      if (rows.length < BATCH) return { items };
      after = last;
      max = last?.at ?? max;
    }
    return { items, ...(last !== undefined ? { nextCursor: encodeCursor(last) } : {}) };
  }

  async get(deliveryId: string): Promise<DeliveryRecord | undefined> {
    const value = await this.#redis.hget(historyKeys.records(this.#namespace), deliveryId);
    return value === null ? undefined : foldHistory(JSON.parse(value) as HistoryUpdate[]);
  }

  async usage(): Promise<HistoryUsage> {
    const [deliveries, bytes] = await Promise.all([
      this.#redis.zcard(historyKeys.index(this.#namespace)),
      this.#redis.get(historyKeys.bytes(this.#namespace)),
    ]);
    return { deliveries, bytes: Number(bytes ?? 0) };
  }
}

/** History in Redis: the reader, and appends through one script per batch. */
export class RedisHistoryStore extends RedisHistoryReader implements HistoryStore {
  readonly backend = 'redis' as const;
  readonly #redis: RedisClient;
  readonly #prefix: string;
  readonly #limits: () => HistoryLimits;

  constructor(options: RedisHistoryOptions) {
    super(options);
    this.#redis = options.redis;
    this.#prefix = prefixOf(options.namespace);
    this.#limits = options.limits;
  }

  async append(updates: readonly EncodedUpdate[], now: number): Promise<void> {
    if (updates.length === 0) return;
    const limits = this.#limits();
    const cutoff = now - limits.maxAgeMs;
    const args: (string | number | Buffer)[] = [
      limits.maxDeliveries,
      cutoff,
      limits.maxBytes,
      // The stream is the live tail: a few updates per delivery, trimmed approximately.
      limits.maxDeliveries * 4,
      `${Math.max(0, cutoff)}-0`,
    ];
    for (const u of updates) {
      if (u.jsonBytes !== u.bytes.length)
        throw new TypeError('the Redis history takes bodies in the JSON: encode without rawBodies');
      args.push(u.deliveryId, u.endpoint, u.at, u.bytes, u.outcome, u.attempt);
    }
    await APPEND.run(this.#redis, REDIS_TIMEOUT_MS, this.#prefix, ...args);
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

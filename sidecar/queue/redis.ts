// The durable queue on Redis, shared by every replica of one app. Each operation is one Lua script
// (Redis runs scripts one at a time, so a claim, a settle and an enqueue never interleave) and one
// round trip; with ioredis auto-pipelining, concurrent enqueues from many requests leave in one
// write. All keys of one queue share a hash tag, so they live in one Redis Cluster slot.
//
// Enqueue and settle take a batch (sidecar/queue/batch.ts gathers the concurrent ones), so under
// load one script stores or settles many deliveries.
//
// Keys under the prefix `hookgate:q:{<scope>}:` (scope = `<namespace>/<queue name>`):
//   d:<id>           hash   the delivery: ep acc ord st nx m (url, method, headers as JSON)
//                           b (body, raw bytes) rp (replays) rt (last replay) sz (bytes) ls (lease owner)
//   a:<id>           list   attempt records as JSON, oldest first
//   due:<ep>         zset   claimable deliveries of an endpoint, by due time
//   ready            zset   endpoints with claimable work, by their earliest due time
//   lease            zset   leased deliveries, by lease expiry
//   ord:<ep>         list   ordered deliveries of an endpoint in accept order; only the head is due
//   st:<state>[:ep]  zset   deliveries by state (pending, retrying, dead), by accept time
//   eps              set    endpoint names seen;  bytes  string  stored bytes
import { RedisScript, type RedisScriptClient } from '../redis-script.ts';
import type { ReplicaWait } from './replica-wait.ts';
import {
  QueueFullError,
  type AttemptRecord,
  type DeliveryFilter,
  type DeliveryState,
  type NewDelivery,
  type QueueLimits,
  type QueueStats,
  type QueueStore,
  type QueuedDelivery,
  type SettleRequest,
  type Settlement,
} from './store.ts';

/** Prefix of every queue key in Redis. */
export const QUEUE_KEY_PREFIX = 'hookgate:q:';

const STATES: readonly DeliveryState[] = ['pending', 'retrying', 'dead'];

// Shared Lua helpers, prepended to the scripts that need them.
const HELPERS = `
local P = KEYS[1]
local function make_due(id, ep, at)
  redis.call('ZADD', P..'due:'..ep, at, id)
  -- LT still adds a missing member; an existing one only moves earlier.
  redis.call('ZADD', P..'ready', 'LT', at, ep)
end
local function refresh_ready(ep)
  local head = redis.call('ZRANGE', P..'due:'..ep, 0, 0, 'WITHSCORES')
  if head[1] == nil then redis.call('ZREM', P..'ready', ep)
  else redis.call('ZADD', P..'ready', head[2], ep) end
end
local function set_state(id, ep, acc, from, to)
  if from ~= false and from ~= nil then
    redis.call('ZREM', P..'st:'..from, id)
    redis.call('ZREM', P..'st:'..from..':'..ep, id)
  end
  if to ~= nil then
    redis.call('ZADD', P..'st:'..to, acc, id)
    redis.call('ZADD', P..'st:'..to..':'..ep, acc, id)
    redis.call('HSET', P..'d:'..id, 'st', to)
  end
end
-- The ordered line of an endpoint lost its head: the next one becomes claimable.
local function promote(ep, now)
  local head = redis.call('LINDEX', P..'ord:'..ep, 0)
  if head and redis.call('HEXISTS', P..'d:'..head, 'ls') == 0 then
    local nx = tonumber(redis.call('HGET', P..'d:'..head, 'nx')) or now
    make_due(head, ep, nx)
  end
end
-- Takes a delivery out of its line and the due set.
local function unlink(id, ep, ord)
  redis.call('ZREM', P..'due:'..ep, id)
  redis.call('ZREM', P..'lease', id)
  if ord == '1' then redis.call('LREM', P..'ord:'..ep, 1, id) end
  refresh_ready(ep)
end
-- Deletes a delivery and everything that indexes it (delivered, or purged).
local function remove(id, ep, acc, ord, st, size, now)
  set_state(id, ep, acc, st, nil)
  unlink(id, ep, ord)
  redis.call('DEL', P..'d:'..id, P..'a:'..id)
  redis.call('DECRBY', P..'bytes', tonumber(size) or 0)
  if ord == '1' then promote(ep, now) end
end
local function fields(id)
  local f = redis.call('HMGET', P..'d:'..id, 'ep', 'acc', 'ord', 'st', 'nx', 'm', 'b', 'rp', 'rt')
  return {id, f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[9] or '', redis.call('LRANGE', P..'a:'..id, 0, -1)}
end
`;

// ARGV: maxPerEndpoint maxTotal maxBytes, then per delivery ENQUEUE_ARGS: id ep acc ord meta body
// size. Judged in order, each against the bounds the ones before it left. Returns one code per
// delivery: 1 stored, 0 already stored (same id: idempotent), -1/-2/-3 endpoint/total/bytes full.
const ENQUEUE_ARGS = 7;
const ENQUEUE = new RedisScript(`${HELPERS}
local maxEp, maxTotal, maxBytes = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
-- KEYS[1] itself exists from the first enqueue on: during a resharding Redis then sends every
-- script to the node holding it (ADR 0017).
if redis.call('EXISTS', P) == 0 then redis.call('SET', P, '1') end
local function enqueue(id, ep, acc, ord, meta, body, size)
  if redis.call('EXISTS', P..'d:'..id) == 1 then return 0 end
  if tonumber(redis.call('GET', P..'bytes') or '0') + size > maxBytes then return -3 end
  if redis.call('ZCARD', P..'st:pending') + redis.call('ZCARD', P..'st:retrying') >= maxTotal then return -2 end
  if redis.call('ZCARD', P..'st:pending:'..ep) + redis.call('ZCARD', P..'st:retrying:'..ep) >= maxEp then return -1 end
  redis.call('HSET', P..'d:'..id, 'ep', ep, 'acc', acc, 'ord', ord, 'nx', acc, 'm', meta, 'b', body, 'rp', 0, 'sz', size)
  redis.call('INCRBY', P..'bytes', size)
  redis.call('SADD', P..'eps', ep)
  set_state(id, ep, acc, nil, 'pending')
  if ord == '1' then
    if redis.call('RPUSH', P..'ord:'..ep, id) == 1 then make_due(id, ep, acc) end
  else
    make_due(id, ep, acc)
  end
  return 1
end
local out = {}
for i = 4, #ARGV, ${ENQUEUE_ARGS} do
  out[#out + 1] = enqueue(ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], tonumber(ARGV[i + 6]))
end
return out
`);

// ARGV: now max leaseMs owner skip... Returns a list of fields(id).
const CLAIM = new RedisScript(`${HELPERS}
local now, max, owner = tonumber(ARGV[1]), tonumber(ARGV[2]), ARGV[4]
local expiry = now + tonumber(ARGV[3])
-- Leases that ran out (their consumer died or stalled): claimable again at once.
for _, id in ipairs(redis.call('ZRANGEBYSCORE', P..'lease', '-inf', now, 'LIMIT', 0, 1000)) do
  redis.call('ZREM', P..'lease', id)
  local ep = redis.call('HGET', P..'d:'..id, 'ep')
  if ep then
    redis.call('HDEL', P..'d:'..id, 'ls')
    make_due(id, ep, now)
  end
end
local skip = {}
for i = 5, #ARGV do skip[ARGV[i]] = true end
local eps = {}
for _, ep in ipairs(redis.call('ZRANGEBYSCORE', P..'ready', '-inf', now, 'LIMIT', 0, 512)) do
  if not skip[ep] then eps[#eps + 1] = ep end
end
local out = {}
-- Fair shares: every endpoint with due work gets its part of the batch, the rest goes round again.
while #out < max and #eps > 0 do
  local share = math.max(1, math.ceil((max - #out) / #eps))
  local again = {}
  for _, ep in ipairs(eps) do
    if #out >= max then break end
    local ids = redis.call('ZRANGEBYSCORE', P..'due:'..ep, '-inf', now, 'LIMIT', 0, math.min(share, max - #out))
    for _, id in ipairs(ids) do
      redis.call('ZREM', P..'due:'..ep, id)
      redis.call('ZADD', P..'lease', expiry, id)
      redis.call('HSET', P..'d:'..id, 'ls', owner)
      out[#out + 1] = fields(id)
    end
    refresh_ready(ep)
    if #ids == share then again[#again + 1] = ep end
  end
  eps = again
end
return out
`);

// ARGV: owner, then per settlement SETTLE_ARGS: id attempt kind at now (kind `defer`: no attempt).
// Returns one code per settlement: 1 settled, 0 the lease is no longer ours (nothing changed).
const SETTLE_ARGS = 5;
const SETTLE = new RedisScript(`${HELPERS}
local owner = ARGV[1]
local function settle(id, attempt, kind, at, now)
  local dk = P..'d:'..id
  if redis.call('HGET', dk, 'ls') ~= owner then return 0 end
  redis.call('HDEL', dk, 'ls')
  redis.call('ZREM', P..'lease', id)
  -- A delivered one's history is deleted below: writing its last attempt first is wasted work.
  if attempt ~= '' and kind ~= 'delivered' then redis.call('RPUSH', P..'a:'..id, attempt) end
  local f = redis.call('HMGET', dk, 'ep', 'acc', 'ord', 'st', 'sz')
  local ep, acc, ord, st = f[1], f[2], f[3], f[4]
  if kind == 'delivered' then
    remove(id, ep, acc, ord, st, f[5], now)
  elseif kind == 'dead' then
    set_state(id, ep, acc, st, 'dead')
    redis.call('HSET', dk, 'nx', now)
    unlink(id, ep, ord)
    if ord == '1' then promote(ep, now) end
  elseif kind == 'retry' or kind == 'defer' then
    if kind == 'retry' and st ~= 'retrying' then set_state(id, ep, acc, st, 'retrying') end
    redis.call('HSET', dk, 'nx', at)
    make_due(id, ep, at)
  end
  return 1
end
local out = {}
for i = 2, #ARGV, ${SETTLE_ARGS} do
  out[#out + 1] = settle(ARGV[i], ARGV[i + 1], ARGV[i + 2], tonumber(ARGV[i + 3]), tonumber(ARGV[i + 4]))
end
return out
`);

// ARGV: id. Returns fields(id) or nil.
const GET = new RedisScript(`${HELPERS}
if redis.call('EXISTS', P..'d:'..ARGV[1]) == 0 then return nil end
return fields(ARGV[1])
`);

// ARGV: state ep from to limit. Returns fields of matching deliveries, oldest accepted first.
const LIST = new RedisScript(`${HELPERS}
local key = P..'st:'..ARGV[1]
if ARGV[2] ~= '' then key = key..':'..ARGV[2] end
local out = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', key, ARGV[3], '('..ARGV[4], 'LIMIT', 0, tonumber(ARGV[5]))) do
  out[#out + 1] = fields(id)
end
return out
`);

// ARGV: action (replay|purge) state ep from to id now batch. Returns how many it changed (at most batch).
const CHANGE = new RedisScript(`${HELPERS}
local action, state, ep, id, now = ARGV[1], ARGV[2], ARGV[3], ARGV[6], tonumber(ARGV[7])
local ids
if id ~= '' then
  local f = redis.call('HMGET', P..'d:'..id, 'ep', 'st', 'acc')
  if f[1] == false or (ep ~= '' and f[1] ~= ep) or (state ~= '' and f[2] ~= state)
    or tonumber(f[3]) < tonumber(ARGV[4]) or tonumber(f[3]) >= tonumber(ARGV[5]) then return 0 end
  ids = {id}
else
  local key = P..'st:'..state
  if ep ~= '' then key = key..':'..ep end
  ids = redis.call('ZRANGEBYSCORE', key, ARGV[4], '('..ARGV[5], 'LIMIT', 0, tonumber(ARGV[8]))
end
local n = 0
for _, d in ipairs(ids) do
  local dk = P..'d:'..d
  local f = redis.call('HMGET', dk, 'ep', 'acc', 'ord', 'st', 'sz')
  local dep, acc, ord, st = f[1], f[2], f[3], f[4]
  if action == 'purge' then
    remove(d, dep, acc, ord, st, f[5], now)
    n = n + 1
  elseif st == 'dead' then
    set_state(d, dep, acc, 'dead', 'pending')
    redis.call('HSET', dk, 'nx', now, 'rt', now)
    redis.call('HINCRBY', dk, 'rp', 1)
    -- A replayed ordered delivery takes its accept-order place in its endpoint's line again.
    if ord == '1' then
      local key = P..'ord:'..dep
      local before = nil
      for _, other in ipairs(redis.call('LRANGE', key, 0, -1)) do
        if tonumber(redis.call('HGET', P..'d:'..other, 'acc')) > tonumber(acc) then before = other break end
      end
      if before then redis.call('LINSERT', key, 'BEFORE', before, d) else redis.call('RPUSH', key, d) end
      if redis.call('LINDEX', key, 0) == d then
        -- The old head waits again behind it (unless in flight, when its settle promotes).
        local second = redis.call('LINDEX', key, 1)
        if second then redis.call('ZREM', P..'due:'..dep, second) end
      end
      promote(dep, now)
      refresh_ready(dep)
    else
      make_due(d, dep, now)
    end
    n = n + 1
  end
end
return n
`);

// ARGV: none. Returns {eps..., '', then per state and endpoint counts, oldest pending acc}.
const STATS = new RedisScript(`${HELPERS}
local out = {}
for _, st in ipairs({'pending', 'retrying', 'dead'}) do out[#out + 1] = redis.call('ZCARD', P..'st:'..st) end
local oldest = ''
for _, st in ipairs({'pending', 'retrying'}) do
  local h = redis.call('ZRANGE', P..'st:'..st, 0, 0, 'WITHSCORES')
  if h[2] ~= nil and (oldest == '' or tonumber(h[2]) < tonumber(oldest)) then oldest = h[2] end
end
out[#out + 1] = oldest
for _, ep in ipairs(redis.call('SMEMBERS', P..'eps')) do
  local p = redis.call('ZCARD', P..'st:pending:'..ep)
  local r = redis.call('ZCARD', P..'st:retrying:'..ep)
  local d = redis.call('ZCARD', P..'st:dead:'..ep)
  if p + r + d == 0 then redis.call('SREM', P..'eps', ep)
  else out[#out + 1] = ep; out[#out + 1] = p; out[#out + 1] = r; out[#out + 1] = d end
end
return out
`);

/** What the Redis store needs. */
export interface RedisQueueStoreOptions {
  readonly redis: RedisScriptClient;
  /** Who shares the queue: `<namespace>/<queue name>`; replicas of one app use the same scope. */
  readonly scope: string;
  readonly limits: QueueLimits;
  /** This consumer's name in leases (pod name and a random suffix). */
  readonly consumer: string;
  /** Per-call deadline; default 5 s. */
  readonly timeoutMs?: number;
  /** WAIT for replicas after each enqueue, before the caller answers 202 (ADR 0017). */
  readonly replicaWait?: (prefix: string) => ReplicaWait;
}

interface StoredMeta {
  readonly url: string;
  readonly method: string;
  readonly headers: Record<string, string>;
}

/** Batch size of replay and purge scripts, so one admin call never blocks Redis for long. */
const CHANGE_BATCH = 500;

/** A {@link QueueStore} on Redis. */
export class RedisQueueStore implements QueueStore {
  readonly #redis: RedisScriptClient;
  readonly #prefix: string;
  readonly #limits: QueueLimits;
  readonly #consumer: string;
  readonly #timeoutMs: number;
  readonly #replicaWait: ReplicaWait | undefined;

  constructor(options: RedisQueueStoreOptions) {
    this.#redis = options.redis;
    this.#prefix = `${QUEUE_KEY_PREFIX}{${options.scope}}:`;
    this.#limits = options.limits;
    this.#consumer = options.consumer;
    this.#timeoutMs = options.timeoutMs ?? 5000;
    this.#replicaWait = options.replicaWait?.(this.#prefix);
  }

  /** The key every script names (KEYS[1]); all the queue's keys share its hash tag, so its slot. */
  get slotKey(): string {
    return this.#prefix;
  }

  #run(script: RedisScript, ...args: (string | number)[]): Promise<unknown> {
    return script.run(this.#redis, this.#timeoutMs, this.#prefix, ...args);
  }

  /** For scripts that carry bodies: raw bytes in, Buffers out (no base64, no UTF-8 pass). */
  #runBuffer(script: RedisScript, ...args: (string | Buffer | number)[]): Promise<unknown> {
    return script.runBuffer(this.#redis, this.#timeoutMs, this.#prefix, ...args);
  }

  async enqueue(d: NewDelivery): Promise<void> {
    const [refused] = await this.enqueueMany([d]);
    if (refused !== undefined) throw refused;
  }

  async enqueueMany(deliveries: readonly NewDelivery[]): Promise<(QueueFullError | undefined)[]> {
    if (deliveries.length === 0) return [];
    const args: (string | Buffer | number)[] = [
      this.#limits.maxPerEndpoint,
      this.#limits.maxTotal,
      this.#limits.maxBytes,
    ];
    for (const d of deliveries) {
      const meta = JSON.stringify({ url: d.url, method: d.method, headers: d.headers });
      const size = Buffer.byteLength(meta) + d.body.length;
      args.push(
        d.deliveryId,
        d.endpointName,
        d.acceptedAt,
        d.ordered ? '1' : '0',
        meta,
        d.body,
        size,
      );
    }
    const codes = (await this.#runBuffer(ENQUEUE, ...args)) as number[];
    // Also after ids already stored (0): their first 202 may have been refused by this very wait.
    await this.#replicaWait?.afterWrite();
    return codes.map((code) => {
      // A full queue drains at delivery speed; a few seconds is a fair first guess for the app.
      if (code === -1) return new QueueFullError('endpoint', 5000);
      if (code === -2) return new QueueFullError('total', 5000);
      if (code === -3) return new QueueFullError('bytes', 5000);
      return undefined;
    });
  }

  async claim(
    max: number,
    now: number,
    leaseMs: number,
    skipEndpoints?: ReadonlySet<string>,
  ): Promise<QueuedDelivery[]> {
    const rows = (await this.#runBuffer(
      CLAIM,
      now,
      max,
      leaseMs,
      this.#consumer,
      ...(skipEndpoints ?? []),
    )) as unknown[][];
    return rows.map(toDelivery);
  }

  settle(deliveryId: string, attempt: AttemptRecord, next: Settlement): Promise<void> {
    return this.settleMany([{ deliveryId, attempt, next }]);
  }

  async settleMany(settlements: readonly SettleRequest[]): Promise<void> {
    if (settlements.length === 0) return;
    const args: (string | number)[] = [this.#consumer];
    for (const { deliveryId, attempt, next } of settlements) {
      args.push(
        deliveryId,
        JSON.stringify(attempt),
        next.kind,
        next.kind === 'retry' ? next.at : 0,
        attempt.at + attempt.durationMs,
      );
    }
    await this.#run(SETTLE, ...args);
  }

  async defer(deliveryId: string, at: number): Promise<void> {
    await this.#run(SETTLE, this.#consumer, deliveryId, '', 'defer', at, at);
  }

  async get(deliveryId: string): Promise<QueuedDelivery | undefined> {
    const row = (await this.#runBuffer(GET, deliveryId)) as unknown[] | null;
    return row === null ? undefined : toDelivery(row);
  }

  async list(filter: DeliveryFilter, limit: number): Promise<QueuedDelivery[]> {
    const states = filter.state === undefined ? STATES : [filter.state];
    const [from, to] = range(filter);
    const lists = await Promise.all(
      states.map(
        async (state) =>
          (await this.#runBuffer(
            LIST,
            state,
            filter.endpointName ?? '',
            from,
            to,
            limit,
          )) as unknown[][],
      ),
    );
    return lists
      .flat()
      .map(toDelivery)
      .sort((a, b) => a.acceptedAt - b.acceptedAt)
      .slice(0, limit);
  }

  replay(filter: DeliveryFilter & { readonly deliveryId?: string }, now: number): Promise<number> {
    return this.#change('replay', { ...filter, state: 'dead' }, now);
  }

  purge(filter: DeliveryFilter & { readonly deliveryId?: string }): Promise<number> {
    return this.#change('purge', filter, Date.now());
  }

  async #change(
    action: 'replay' | 'purge',
    filter: DeliveryFilter & { readonly deliveryId?: string },
    now: number,
  ): Promise<number> {
    const [from, to] = range(filter);
    const args = (state: string): (string | number)[] => [
      action,
      state,
      filter.endpointName ?? '',
      from,
      to,
      filter.deliveryId ?? '',
      now,
      CHANGE_BATCH,
    ];
    if (filter.deliveryId !== undefined)
      return Number(await this.#run(CHANGE, ...args(filter.state ?? '')));
    let total = 0;
    for (const state of filter.state === undefined ? STATES : [filter.state]) {
      // Replay moves what it took out of the dead set, purge deletes it: each batch is new work.
      for (;;) {
        const n = Number(await this.#run(CHANGE, ...args(state)));
        total += n;
        if (n < CHANGE_BATCH) break;
      }
    }
    return total;
  }

  async stats(now: number): Promise<QueueStats> {
    const out = (await this.#run(STATS)) as (string | number)[];
    const byState = { pending: Number(out[0]), retrying: Number(out[1]), dead: Number(out[2]) };
    const oldest = out[3] === '' ? undefined : Number(out[3]);
    const byEndpoint: Record<string, Record<DeliveryState, number>> = {};
    for (let i = 4; i + 3 < out.length; i += 4) {
      byEndpoint[String(out[i])] = {
        pending: Number(out[i + 1]),
        retrying: Number(out[i + 2]),
        dead: Number(out[i + 3]),
      };
    }
    return {
      byState,
      byEndpoint,
      oldestPendingAgeMs: oldest === undefined ? 0 : Math.max(0, now - oldest),
    };
  }

  close(): Promise<void> {
    // The Redis connection belongs to the caller.
    return Promise.resolve();
  }
}

/** Upper bound of accept times when a filter has none (year 2255; exact in Lua's doubles). */
const NO_END = 9e12;

/** A filter's accept-time range [from, to) as numbers both Redis and Lua read. */
function range(filter: DeliveryFilter): [number, number] {
  return [filter.acceptedFrom ?? 0, filter.acceptedTo ?? NO_END];
}

/** A Buffer (or string) reply field as text. */
function text(value: unknown): string {
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  return typeof value === 'string' || typeof value === 'number' ? String(value) : '';
}

function toDelivery(row: unknown[]): QueuedDelivery {
  const [id, ep, acc, ord, st, nx, m, b, rp, rt, attempts] = row;
  const meta = JSON.parse(text(m)) as StoredMeta;
  const replayedAt = text(rt);
  return {
    deliveryId: text(id),
    endpointName: text(ep),
    url: meta.url,
    method: meta.method,
    headers: meta.headers,
    body: Buffer.isBuffer(b) ? b : Buffer.from(text(b)),
    acceptedAt: Number(text(acc)),
    ordered: text(ord) === '1',
    state: text(st) as DeliveryState,
    nextAttemptAt: Number(text(nx)),
    attempts: (attempts as unknown[]).map((a) => JSON.parse(text(a)) as AttemptRecord),
    replays: Number(text(rp)),
    ...(replayedAt !== '' ? { lastReplayedAt: Number(replayedAt) } : {}),
  };
}

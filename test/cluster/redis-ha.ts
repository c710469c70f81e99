// Redis the way platform teams run it at scale, started by the tests on loopback from Debian's
// redis-server: a Redis Cluster of 3 primaries with one replica each, and a Sentinel set (a primary,
// a replica, 3 sentinels). Each node gets free ports and a folder of its own; `stop()` ends every
// process it started. Helpers kill a primary and move a slot, so tests can fail over and reshard
// in the middle of a run.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort, signalGroup, startProcess, waitFor, type ManagedProcess } from './process.ts';
import { startRedis, type RedisServer } from './redis.ts';

const run = promisify(execFile);

/** A throwaway admin connection to one node. */
async function withNode<T>(port: number, use: (r: Redis) => Promise<T>): Promise<T> {
  const r = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0 });
  r.on('error', () => undefined);
  try {
    await r.connect();
    return await use(r);
  } finally {
    r.disconnect();
  }
}

/** `INFO <section>` as a record. */
async function info(port: number, section: string): Promise<Record<string, string>> {
  const text = await withNode(port, (r) => r.info(section));
  return Object.fromEntries(
    text
      .split('\r\n')
      .filter((l) => l.includes(':'))
      .map((l) => [l.slice(0, l.indexOf(':')), l.slice(l.indexOf(':') + 1)]),
  );
}

/** One node of the cluster. */
export interface ClusterNode {
  readonly port: number;
  /** The node's current process (a new one after {@link RedisClusterHandle.restart}). */
  readonly server: RedisServer;
  /** The node's cluster id. */
  readonly id: string;
  readonly alive: boolean;
}

/** A running 3 × 2 Redis Cluster. */
export interface RedisClusterHandle {
  /** `redis+cluster://127.0.0.1:p1,…` — HOOKGATE_REDIS_URL. */
  readonly url: string;
  readonly nodes: readonly ClusterNode[];
  /** The slot of a key (CRC16 of its hash tag), asked of the cluster. */
  keySlot(key: string): Promise<number>;
  /** The live node serving `slot` as primary. */
  primaryOf(slot: number): Promise<ClusterNode>;
  /** SIGKILLs the primary of `slot` and waits until a replica took its slots over (state ok). */
  killPrimaryOf(slot: number): Promise<{ killed: ClusterNode; promoted: ClusterNode; ms: number }>;
  /**
   * Moves `slot` to another primary. `batched` is what `redis-cli --cluster reshard` does
   * (MIGRATING, then MIGRATE `batch` keys at a time, `pauseMs` between the steps: clients meet
   * ASK and TRYAGAIN, then MOVED). `atomic` moves every key of the slot and hands the slot over in
   * one script on the old owner (ADR 0017: how a queue's slot must move); clients meet MOVED.
   */
  moveSlot(slot: number, how: SlotMove): Promise<{ from: ClusterNode; to: ClusterNode }>;
  /** Starts a killed node again on its port and folder: it rejoins as a replica of its successor. */
  restart(node: ClusterNode): Promise<void>;
  stop(): Promise<void>;
}

/** How {@link RedisClusterHandle.moveSlot} moves a slot. */
export type SlotMove =
  | { readonly mode: 'atomic' }
  | { readonly mode: 'batched'; readonly batch: number; readonly pauseMs: number };

// ARGV: slot, target host, port, node id. The source's keys of the slot go in MIGRATE calls of
// 1000 keys (Lua's unpack limit is ~8000), then the slot is handed over, all in one script:
// Redis runs nothing else meanwhile, so no script of a client ever sees half the slot.
const MOVE_SLOT_ATOMICALLY = `
local slot = tonumber(ARGV[1])
local moved = 0
while true do
  local keys = redis.call('CLUSTER', 'GETKEYSINSLOT', slot, 1000)
  if #keys == 0 then break end
  redis.call('MIGRATE', ARGV[2], ARGV[3], '', 0, 10000, 'KEYS', unpack(keys))
  moved = moved + #keys
end
redis.call('CLUSTER', 'SETSLOT', slot, 'NODE', ARGV[4])
return moved
`;

/** Options for {@link startRedisCluster}. */
export interface RedisClusterOptions {
  readonly dir: string;
  /** cluster-node-timeout: how soon a dead primary is failed over (default 1000 ms). */
  readonly nodeTimeoutMs?: number;
}

/** Starts 6 nodes, joins them with `redis-cli --cluster create --cluster-replicas 1`, waits for ok. */
export async function startRedisCluster(options: RedisClusterOptions): Promise<RedisClusterHandle> {
  const dir = resolve(options.dir);
  const servers: RedisServer[] = [];
  const stopAll = async (): Promise<void> => {
    await Promise.all(servers.map((s) => s.stop()));
  };
  try {
    const nodeArgs: string[][] = [];
    for (let i = 0; i < 6; i++) {
      const nodeDir = join(dir, `node-${i}`);
      mkdirSync(nodeDir, { recursive: true });
      nodeArgs.push([
        '--cluster-enabled',
        'yes',
        '--cluster-config-file',
        join(nodeDir, 'nodes.conf'),
        // The bus port is free too (the default, port + 10000, may be taken or past 65535).
        '--cluster-port',
        String(await freePort()),
        '--cluster-node-timeout',
        String(options.nodeTimeoutMs ?? 1000),
        // A replica whose primary vanished mid-sync may still be promoted (tests kill primaries).
        '--cluster-replica-validity-factor',
        '0',
      ]);
      servers.push(await startRedis({ dir: nodeDir, extraArgs: nodeArgs[i] as string[] }));
    }
    await run(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...servers.map((s) => `127.0.0.1:${s.port}`),
        '--cluster-replicas',
        '1',
        '--cluster-yes',
      ],
      { timeout: 30_000 },
    );
    const ids = await Promise.all(
      servers.map((s) => withNode(s.port, (r) => r.call('CLUSTER', 'MYID'))),
    );
    const nodes = servers.map((first, i) => {
      let server = first;
      return {
        port: first.port,
        id: String(ids[i]),
        get server(): RedisServer {
          return server;
        },
        get alive(): boolean {
          return server.process.exited === undefined;
        },
        async restart(): Promise<void> {
          server = await startRedis({
            dir: join(dir, `node-${i}`),
            port: first.port,
            extraArgs: nodeArgs[i] as string[],
          });
          servers[i] = server;
        },
      };
    });
    const live = (): ClusterNode[] => nodes.filter((n) => n.alive);
    const byId = (id: string): ClusterNode | undefined => nodes.find((n) => n.id === id);
    // Every live node says ok and every replica is in sync with its primary.
    const settled = async (): Promise<true | undefined> => {
      for (const n of live()) {
        if ((await info(n.port, 'cluster'))['cluster_enabled'] !== '1') return undefined;
        const state = await withNode(n.port, (r) => r.call('CLUSTER', 'INFO'));
        if (!String(state).includes('cluster_state:ok')) return undefined;
        const repl = await info(n.port, 'replication');
        if (repl['role'] === 'slave' && repl['master_link_status'] !== 'up') {
          // A replica of a killed primary stays down; it is not part of the run any more.
          const primary = nodes.find((m) => m.port === Number(repl['master_port']));
          if (primary?.alive === true) return undefined;
        }
      }
      // The slot map agrees everywhere (a promotion has reached every node).
      const maps = await Promise.all(
        live().map((n) => withNode(n.port, (r) => r.call('CLUSTER', 'SLOTS'))),
      );
      const owners = maps.map((m) =>
        JSON.stringify(
          (m as [number, number, [string, number]][])
            .map(([a, b, p]) => [a, b, p[1]])
            .sort((x, y) => Number(x[0]) - Number(y[0])),
        ),
      );
      return owners.every((o) => o === owners[0]) ? true : undefined;
    };
    await waitFor('redis cluster ok', settled, { timeoutMs: 30_000 });

    const anyLive = (): ClusterNode => {
      const n = live()[0];
      if (n === undefined) throw new Error('no live cluster node');
      return n;
    };
    const primaryOf = async (slot: number): Promise<ClusterNode> => {
      const slots = (await withNode(anyLive().port, (r) => r.call('CLUSTER', 'SLOTS'))) as [
        number,
        number,
        [string, number, string],
      ][];
      const range = slots.find(([a, b]) => slot >= a && slot <= b);
      const owner = range === undefined ? undefined : byId(range[2][2]);
      if (owner === undefined || !owner.alive) throw new Error(`slot ${slot} has no live primary`);
      return owner;
    };
    return {
      url: `redis+cluster://${servers.map((s) => `127.0.0.1:${s.port}`).join(',')}`,
      nodes,
      keySlot: async (key) =>
        Number(await withNode(anyLive().port, (r) => r.call('CLUSTER', 'KEYSLOT', key))),
      primaryOf,
      killPrimaryOf: async (slot) => {
        const killed = await primaryOf(slot);
        const started = Date.now();
        signalGroup(killed.server.process.pid, 'SIGKILL');
        await waitFor(
          'the dead primary gone',
          () => Promise.resolve(killed.alive ? undefined : true),
          { timeoutMs: 5000, intervalMs: 20 },
        );
        const promoted = await waitFor(
          `a replica promoted for slot ${slot}`,
          async () => {
            const owner = await primaryOf(slot).catch(() => undefined);
            return owner !== undefined && owner !== killed && (await settled()) ? owner : undefined;
          },
          { timeoutMs: 30_000, intervalMs: 100 },
        );
        return { killed, promoted, ms: Date.now() - started };
      },
      moveSlot: async (slot, how) => {
        const from = await primaryOf(slot);
        const primaries = [];
        for (const n of live()) {
          if ((await info(n.port, 'replication'))['role'] === 'master') primaries.push(n);
        }
        const to = primaries.find((n) => n !== from);
        if (to === undefined) throw new Error('no other primary to move the slot to');
        await withNode(to.port, (r) => r.call('CLUSTER', 'SETSLOT', slot, 'IMPORTING', from.id));
        if (how.mode === 'atomic') {
          // One script on the old owner: no client sees the slot half moved.
          await withNode(from.port, (r) =>
            r.eval(MOVE_SLOT_ATOMICALLY, 0, slot, '127.0.0.1', to.port, to.id),
          );
        } else {
          const pause = (): Promise<void> => new Promise((r) => setTimeout(r, how.pauseMs));
          await withNode(from.port, async (r) => {
            await r.call('CLUSTER', 'SETSLOT', slot, 'MIGRATING', to.id);
            await pause();
            for (;;) {
              const keys = (await r.call('CLUSTER', 'GETKEYSINSLOT', slot, how.batch)) as string[];
              if (keys.length === 0) break;
              await r.call('MIGRATE', '127.0.0.1', to.port, '', 0, 10_000, 'KEYS', ...keys);
              await pause();
            }
          });
        }
        // The new owner, then the old one (already done by the atomic script), then the others.
        for (const n of [to, from, ...primaries.filter((m) => m !== to && m !== from)]) {
          await withNode(n.port, (r) => r.call('CLUSTER', 'SETSLOT', slot, 'NODE', to.id));
        }
        await waitFor('the slot map agrees after the move', settled, { timeoutMs: 20_000 });
        return { from, to };
      },
      restart: async (node) => {
        const own = nodes.find((n) => n.id === node.id);
        if (own === undefined || own.alive)
          throw new Error(`node ${node.port} is not a dead node of ours`);
        await own.restart();
        await waitFor('the restarted node back in sync', settled, { timeoutMs: 30_000 });
      },
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

/** A running Sentinel set: one primary, one replica, three sentinels (quorum 2). */
export interface RedisSentinelHandle {
  /** `redis+sentinel://127.0.0.1:s1,…/hookgate` — HOOKGATE_REDIS_URL. */
  readonly url: string;
  /** The name the sentinels monitor. */
  readonly primaryName: string;
  /** The port of the current primary, asked of a sentinel. */
  primaryPort(): Promise<number>;
  /** SIGKILLs the current primary and waits until the sentinels promoted the replica. */
  killPrimary(): Promise<{ from: number; to: number; ms: number }>;
  /** Starts the killed server again on its port: the sentinels make it the new primary's replica. */
  restartKilled(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts the primary, its replica and three sentinels; waits until they all see each other. */
export async function startRedisSentinel(options: {
  readonly dir: string;
  readonly downAfterMs?: number;
}): Promise<RedisSentinelHandle> {
  const dir = resolve(options.dir);
  const primaryName = 'hookgate';
  const data: RedisServer[] = [];
  const sentinels: { port: number; process: ManagedProcess }[] = [];
  let killed: { index: number; port: number } | undefined;
  const stopAll = async (): Promise<void> => {
    await Promise.all([...data.map((s) => s.stop()), ...sentinels.map((s) => s.process.stop())]);
  };
  try {
    data.push(await startRedis({ dir: join(dir, 'primary') }));
    const primary = data[0] as RedisServer;
    data.push(
      await startRedis({
        dir: join(dir, 'replica'),
        extraArgs: ['--replicaof', '127.0.0.1', String(primary.port)],
      }),
    );
    for (let i = 0; i < 3; i++) {
      const sdir = join(dir, `sentinel-${i}`);
      mkdirSync(sdir, { recursive: true });
      const port = await freePort();
      const conf = join(sdir, 'sentinel.conf');
      // Sentinel rewrites its config file with what it learns: each has its own, in its folder.
      writeFileSync(
        conf,
        [
          `port ${port}`,
          'bind 127.0.0.1',
          `dir ${sdir}`,
          `sentinel monitor ${primaryName} 127.0.0.1 ${primary.port} 2`,
          `sentinel down-after-milliseconds ${primaryName} ${options.downAfterMs ?? 1000}`,
          `sentinel failover-timeout ${primaryName} 5000`,
          `sentinel parallel-syncs ${primaryName} 1`,
          '',
        ].join('\n'),
      );
      const proc = startProcess(
        'redis-sentinel',
        'redis-server',
        [conf, '--sentinel'],
        join(sdir, 'sentinel.log'),
      );
      sentinels.push({ port, process: proc });
    }
    const askSentinel = async (): Promise<number> => {
      for (const s of sentinels) {
        if (s.process.exited !== undefined) continue;
        const reply = await withNode(s.port, (r) =>
          r.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', primaryName),
        ).catch(() => undefined);
        if (Array.isArray(reply)) return Number(reply[1]);
      }
      throw new Error('no sentinel answered');
    };
    await waitFor(
      'sentinels see the replica and each other',
      async () => {
        for (const s of sentinels) {
          const m = (await withNode(s.port, (r) =>
            r.call('SENTINEL', 'MASTER', primaryName),
          )) as string[];
          const field = (name: string): string => m[m.indexOf(name) + 1] ?? '';
          if (field('num-slaves') !== '1' || field('num-other-sentinels') !== '2') return undefined;
        }
        const repl = await info(data[1]!.port, 'replication');
        return repl['master_link_status'] === 'up' ? true : undefined;
      },
      { timeoutMs: 30_000 },
    );
    return {
      url: `redis+sentinel://${sentinels.map((s) => `127.0.0.1:${s.port}`).join(',')}/${primaryName}`,
      primaryName,
      primaryPort: askSentinel,
      killPrimary: async () => {
        const from = await askSentinel();
        const victim = data.find((d) => d.port === from);
        if (victim === undefined) throw new Error(`primary on ${from} is not ours`);
        const started = Date.now();
        signalGroup(victim.process.pid, 'SIGKILL');
        killed = { index: data.indexOf(victim), port: from };
        const to = await waitFor(
          'sentinels promote the replica',
          async () => {
            const now = await askSentinel();
            if (now === from) return undefined;
            return (await info(now, 'replication'))['role'] === 'master' ? now : undefined;
          },
          { timeoutMs: 30_000, intervalMs: 100 },
        );
        return { from, to, ms: Date.now() - started };
      },
      restartKilled: async () => {
        if (killed === undefined) throw new Error('no server was killed');
        const { index, port } = killed;
        killed = undefined;
        data[index] = await startRedis({ dir: join(dir, `data-${index}-again`), port });
        await waitFor(
          'the restarted server replicating from the new primary',
          async () => {
            const repl = await info(port, 'replication');
            return repl['role'] === 'slave' && repl['master_link_status'] === 'up'
              ? true
              : undefined;
          },
          { timeoutMs: 30_000 },
        );
      },
      stop: stopAll,
    };
  } catch (err) {
    await stopAll();
    throw err;
  }
}

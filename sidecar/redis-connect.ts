// The one place a sidecar turns HOOKGATE_REDIS_URL into an ioredis client: a single server
// (`redis://`, `rediss://` for TLS), a Redis Cluster (`redis+cluster://h1:p1,h2:p2`) or a primary
// found through Sentinel (`redis+sentinel://s1:p1,s2:p2/<primary name>[/<db>]`); ADR 0017.
// Every client fails fast while Redis is away (callers fall back or answer 503 instead of
// queueing in memory) and reconnects forever in the background, so a Redis restart or failover
// never leaves a sidecar stuck. The password never leaves this module: logs get `describe()`.
import type { Cluster, Redis } from 'ioredis';
import type { Logger } from '../common/log.ts';
import { ENV_REDIS_URL } from '../common/env.ts';
import { ConfigError } from './errors.ts';

/** A Redis client of any topology; both kinds run the commands and scripts Hookgate needs. */
export type RedisClient = Redis | Cluster;

/** One `host:port`. */
export interface RedisNode {
  readonly host: string;
  readonly port: number;
}

/** What HOOKGATE_REDIS_URL names, parsed and checked. */
export type RedisTarget =
  | ({ readonly kind: 'single'; readonly node: RedisNode; readonly db: number } & RedisAuth)
  | ({ readonly kind: 'cluster'; readonly nodes: readonly RedisNode[] } & RedisAuth)
  | ({
      readonly kind: 'sentinel';
      readonly sentinels: readonly RedisNode[];
      /** The primary's name in Sentinel (`sentinel monitor <name> …`). */
      readonly primaryName: string;
      readonly db: number;
    } & RedisAuth);

/** Credentials, transport and the replica wait, common to every topology. */
export interface RedisAuth {
  readonly tls: boolean;
  readonly username?: string;
  readonly password?: string;
  /** `?wait-replicas=N&wait-timeout=D`: WAIT for N replicas before a 202 (ADR 0017). */
  readonly replicaWait?: ReplicaWaitSettings;
}

/** Wait until `replicas` replicas hold a queued delivery, at most `timeoutMs`, before the 202. */
export interface ReplicaWaitSettings {
  readonly replicas: number;
  readonly timeoutMs: number;
}

const SCHEMES: Record<string, { kind: RedisTarget['kind']; tls: boolean }> = {
  'redis:': { kind: 'single', tls: false },
  'rediss:': { kind: 'single', tls: true },
  'redis+cluster:': { kind: 'cluster', tls: false },
  'rediss+cluster:': { kind: 'cluster', tls: true },
  'redis+sentinel:': { kind: 'sentinel', tls: false },
  'rediss+sentinel:': { kind: 'sentinel', tls: true },
};

/** Bounds: a URL is read into memory and split, so both its length and its host list are capped. */
const MAX_URL_LENGTH = 4096;
const MAX_NODES = 64;
const FORMS =
  'redis://[user:password@]host[:6379][/db], rediss://… (TLS), redis+cluster://host:port,host:port, or redis+sentinel://host:26379,host:26379/<primary name>[/db], each optionally ?wait-replicas=N&wait-timeout=1s';
/** The longest replica wait a 202 may be held for. */
const MAX_WAIT_MS = 60_000;

/** Parses HOOKGATE_REDIS_URL; a bad one is a ConfigError naming the variable, never echoing a password. */
export function parseRedisUrl(url: string, source = ENV_REDIS_URL): RedisTarget {
  const fail = (problem: string): never => {
    throw new ConfigError(source, [`${problem}; use ${FORMS}`]);
  };
  if (url.length > MAX_URL_LENGTH) fail(`is longer than ${MAX_URL_LENGTH} characters`);
  const match = /^([a-z+]+:)\/\/(?:([^@/]*)@)?([^/?#]*)(\/[^?#]*)?(?:\?([^#]*))?$/i.exec(url);
  if (match === null) fail('is not a URL (fragments are not read)');
  const [, rawScheme = '', userinfo, hostList = '', path = '', query = ''] =
    match as RegExpExecArray;
  const scheme = SCHEMES[rawScheme.toLowerCase()];
  if (scheme === undefined) return fail(`has the unknown scheme "${rawScheme}"`);
  const defaultPort = scheme.kind === 'sentinel' ? 26379 : 6379;
  const nodes = hostList.split(',').map((hostPort) => parseNode(hostPort, defaultPort, fail));
  if (nodes.length > MAX_NODES) fail(`names more than ${MAX_NODES} hosts`);
  const replicaWait = parseWait(query, fail);
  const auth: RedisAuth = {
    tls: scheme.tls,
    ...parseUserinfo(userinfo, fail),
    ...(replicaWait !== undefined ? { replicaWait } : {}),
  };
  const segments = path.split('/').filter((s) => s !== '');
  const db = (text: string | undefined): number => {
    if (text === undefined) return 0;
    if (!/^\d{1,2}$/.test(text)) fail(`has "/${text}" where a database number 0-15 belongs`);
    return Number(text);
  };
  const first = nodes[0] as RedisNode;
  switch (scheme.kind) {
    case 'single':
      if (nodes.length > 1) fail('names several hosts: use redis+cluster:// or redis+sentinel://');
      if (segments.length > 1) fail('has more than a database number in its path');
      return { kind: 'single', node: first, db: db(segments[0]), ...auth };
    case 'cluster':
      // Redis Cluster has database 0 only.
      if (segments.length > 0) fail('has a path: a Redis Cluster has no databases or names');
      return { kind: 'cluster', nodes, ...auth };
    case 'sentinel': {
      const [primaryName, dbText, ...rest] = segments;
      if (primaryName === undefined || rest.length > 0)
        fail('needs the primary name Sentinel monitors as its path (…/mymaster[/db])');
      if (!/^[A-Za-z0-9_.-]{1,128}$/.test(primaryName as string))
        fail('has a primary name that is not 1-128 letters, digits, _ . or -');
      return {
        kind: 'sentinel',
        sentinels: nodes,
        primaryName: primaryName as string,
        db: db(dbText),
        ...auth,
      };
    }
  }
}

function parseWait(query: string, fail: (p: string) => never): ReplicaWaitSettings | undefined {
  const params = new URLSearchParams(query);
  for (const name of params.keys()) {
    if (name !== 'wait-replicas' && name !== 'wait-timeout')
      fail(`has the unknown parameter "${name}" (only wait-replicas and wait-timeout are read)`);
  }
  const replicasText = params.get('wait-replicas');
  const timeoutText = params.get('wait-timeout');
  if (replicasText === null) {
    if (timeoutText !== null) fail('has wait-timeout without wait-replicas');
    return undefined;
  }
  if (!/^\d{1,2}$/.test(replicasText))
    fail(`has wait-replicas=${replicasText}: give the number of replicas 0-99 (0 turns it off)`);
  const replicas = Number(replicasText);
  let timeoutMs = 1000;
  if (timeoutText !== null) {
    const m = /^(\d{1,6})(ms|s)$/.exec(timeoutText);
    timeoutMs = m === null ? NaN : Number(m[1]) * (m[2] === 's' ? 1000 : 1);
    // 0 would be WAIT's "forever": a 202 must never hang on a dead replica.
    if (!(timeoutMs >= 1 && timeoutMs <= MAX_WAIT_MS))
      fail(`has wait-timeout=${timeoutText}: give 1ms to 60s, e.g. 500ms or 2s`);
  }
  return replicas === 0 ? undefined : { replicas, timeoutMs };
}

function parseNode(hostPort: string, defaultPort: number, fail: (p: string) => never): RedisNode {
  // [v6]:port or host:port or host.
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9_.-]+)(?::(\d{1,5}))?$/.exec(hostPort);
  if (m === null) return fail(`has "${hostPort}" where host[:port] belongs`);
  const host = (m[1] as string).replace(/^\[|\]$/g, '');
  const port = m[2] === undefined ? defaultPort : Number(m[2]);
  if (port < 1 || port > 65535) fail(`has port ${port}, outside 1-65535`);
  return { host, port };
}

function parseUserinfo(
  userinfo: string | undefined,
  fail: (p: string) => never,
): { username?: string; password?: string } {
  if (userinfo === undefined || userinfo === '') return {};
  const colon = userinfo.indexOf(':');
  const decode = (text: string, what: string): string => {
    try {
      return decodeURIComponent(text);
    } catch {
      // Never echo the text: it may be the password.
      return fail(`has a ${what} that is not percent-encoded correctly`);
    }
  };
  // `redis://:password@host` (no user: the `default` user, Redis 6 AUTH <password>).
  if (colon === -1) return { username: decode(userinfo, 'user name') };
  const username = decode(userinfo.slice(0, colon), 'user name');
  const password = decode(userinfo.slice(colon + 1), 'password');
  return { ...(username !== '' ? { username } : {}), ...(password !== '' ? { password } : {}) };
}

/** The target as logs and /config may show it: hosts and names, the password as `***`. */
export function describeRedisTarget(target: RedisTarget): string {
  const scheme = `${target.kind === 'single' ? 'redis' : `redis+${target.kind}`}`.replace(
    /^redis/,
    target.tls ? 'rediss' : 'redis',
  );
  const who =
    target.username !== undefined || target.password !== undefined
      ? `${target.username ?? ''}${target.password !== undefined ? ':***' : ''}@`
      : '';
  const wait =
    target.replicaWait === undefined
      ? ''
      : `?wait-replicas=${target.replicaWait.replicas}&wait-timeout=${target.replicaWait.timeoutMs}ms`;
  const hosts = (nodes: readonly RedisNode[]): string =>
    nodes
      .map((n) => (n.host.includes(':') ? `[${n.host}]:${n.port}` : `${n.host}:${n.port}`))
      .join(',');
  switch (target.kind) {
    case 'single':
      return `${scheme}://${who}${hosts([target.node])}/${target.db}${wait}`;
    case 'cluster':
      return `${scheme}://${who}${hosts(target.nodes)}${wait}`;
    case 'sentinel':
      return `${scheme}://${who}${hosts(target.sentinels)}/${target.primaryName}/${target.db}${wait}`;
  }
}

/** How a caller wants its connection to behave. */
export interface RedisConnectOptions {
  /** Batch concurrent commands into one write (the queue's many enqueues); off by default. */
  readonly autoPipelining?: boolean;
  /** Where connection errors go (already redacted: ioredis names hosts, never the password). */
  readonly log: Logger;
  /** Log message prefix: `queue redis`, `redis`. */
  readonly name: string;
  /** Sentinel's own password, when the sentinels require one (HOOKGATE_REDIS_SENTINEL_PASSWORD). */
  readonly sentinelPassword?: string | undefined;
}

// A primary demoted by a failover answers writes with READONLY: reconnect, so Sentinel (or the
// cluster's slot map) is asked again for the current primary.
const reconnectOnError = (err: Error): boolean => err.message.startsWith('READONLY');

/**
 * Creates the client the target names and starts connecting; resolves once connected or once the
 * first attempt failed (the client keeps trying in the background; commands fail fast meanwhile).
 */
export async function connectRedis(
  target: RedisTarget,
  options: RedisConnectOptions,
): Promise<RedisClient> {
  const { Redis, Cluster } = await import('ioredis');
  const auth = {
    ...(target.username !== undefined ? { username: target.username } : {}),
    ...(target.password !== undefined ? { password: target.password } : {}),
  };
  const failFast = {
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    lazyConnect: true,
    reconnectOnError,
  } as const;
  let client: RedisClient;
  switch (target.kind) {
    case 'single':
      client = new Redis({
        host: target.node.host,
        port: target.node.port,
        db: target.db,
        ...auth,
        ...(target.tls ? { tls: { servername: target.node.host } } : {}),
        ...failFast,
        enableAutoPipelining: options.autoPipelining ?? false,
      });
      break;
    case 'sentinel':
      client = new Redis({
        sentinels: target.sentinels.map((n) => ({ host: n.host, port: n.port })),
        name: target.primaryName,
        role: 'master',
        db: target.db,
        ...auth,
        ...(options.sentinelPassword !== undefined
          ? { sentinelPassword: options.sentinelPassword }
          : {}),
        ...(target.tls ? { tls: {}, enableTLSForSentinelMode: true } : {}),
        // Subscribe to +switch-master: follow a failover at once rather than on the next error.
        failoverDetector: true,
        ...failFast,
        enableAutoPipelining: options.autoPipelining ?? false,
      });
      break;
    case 'cluster': {
      const clusterOptions = {
        redisOptions: {
          ...auth,
          ...(target.tls ? { tls: {} } : {}),
          maxRetriesPerRequest: 1,
          reconnectOnError,
        },
        enableOfflineQueue: false,
        lazyConnect: true,
        enableAutoPipelining: options.autoPipelining ?? false,
        // Writes and scripts go to primaries only; a replica's copy may lag.
        scaleReads: 'master' as const,
        // MOVED/ASK/TRYAGAIN are followed (up to 16 hops); a slot whose primary just died is
        // retried while the cluster promotes a replica (cluster-node-timeout plus an election).
        maxRedirections: 16,
        retryDelayOnMoved: 0,
        retryDelayOnFailover: 200,
        retryDelayOnClusterDown: 200,
        retryDelayOnTryAgain: 100,
        slotsRefreshTimeout: 2000,
        slotsRefreshInterval: 2000,
      };
      client = new Cluster(
        target.nodes.map((n) => ({ host: n.host, port: n.port })),
        clusterOptions,
      );
      break;
    }
  }
  client.on('error', (err: Error) =>
    options.log.warn(`${options.name} error`, { error: err.message }),
  );
  await client.connect().catch((err: unknown) =>
    options.log.warn(`${options.name} not reachable yet; retrying in the background`, {
      redis: describeRedisTarget(target),
      error: (err as Error).message,
    }),
  );
  return client;
}

/** A readiness check: nothing while Redis answers PING within `timeoutMs`, else the reason. */
export function redisReadiness(
  client: RedisClient,
  timeoutMs = 1000,
): () => Promise<string | undefined> {
  return async () => {
    // A cluster client is `ready` once it holds a slot map; a single one once connected.
    if (client.status !== 'ready')
      return `redis unreachable (client ${client.status}): async webhooks are refused with 503 until it answers`;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        client.ping(),
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`no answer within ${timeoutMs} ms`)),
            timeoutMs,
          );
        }),
      ]);
      return undefined;
    } catch (err) {
      return `redis unreachable (${(err as Error).message}): async webhooks are refused with 503 until it answers`;
    } finally {
      clearTimeout(timer);
    }
  };
}

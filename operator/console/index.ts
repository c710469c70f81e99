// The console composed in one place: who is asking (auth.ts), where the deliveries are (the
// sidecars' Redis, history.ts, else each pod's admin API, sidecars.ts), what a page shows
// (data.ts), and the HTTP server (server.ts).
import type { Logger } from '../../common/log.ts';
import type { KubeClient } from '../kube/client.ts';
import type { AdminTokens } from './admin-token.ts';
import { connectRedis, parseRedisUrl, type RedisClient } from '../../sidecar/redis-connect.ts';
import { Access } from './auth.ts';
import { ConsoleData } from './data.ts';
import { RedisHistory } from './history.ts';
import { startConsole, type ConsoleServer } from './server.ts';
import { Sidecars } from './sidecars.ts';

/** What the operator hands the console. */
export interface ConsoleSetup {
  readonly client: KubeClient;
  readonly log: Logger;
  readonly host: string;
  readonly port: number;
  /**
   * The sidecars' HOOKGATE_ADMIN_TOKEN, sent as a bearer token to their /queue and /history: one
   * for all, or each namespace's own (admin-token.ts).
   */
  readonly adminToken: string | AdminTokens | undefined;
  /** How often a live tail polls the sidecars (default 2 s); tests shorten it. */
  readonly pollMs?: number;
  /**
   * The Redis the operator gives the sidecars (--sidecar-redis-url): their history is read there
   * directly. Absent: through each pod's admin API only.
   */
  readonly historyRedisUrl?: string | undefined;
  /** Sentinel's own password, for a `redis+sentinel://` URL. */
  readonly sentinelPassword?: string | undefined;
}

/** Starts the console; close() stops it and its connection pool. */
export async function startConsoleFor(setup: ConsoleSetup): Promise<ConsoleServer> {
  const access = new Access(setup.client);
  const sidecars = new Sidecars(setup.client, setup.adminToken);
  let redis: RedisClient | undefined;
  if (setup.historyRedisUrl !== undefined && setup.historyRedisUrl !== '') {
    // A bad URL is the operator's configuration error: it fails the start, as in the sidecars.
    redis = await connectRedis(parseRedisUrl(setup.historyRedisUrl), {
      log: setup.log,
      name: 'console redis',
      sentinelPassword: setup.sentinelPassword,
    });
  }
  const history = redis === undefined ? undefined : new RedisHistory(redis, setup.log);
  const server = await startConsole({
    host: setup.host,
    port: setup.port,
    access,
    data: new ConsoleData(setup.client, access, sidecars, history),
    log: setup.log,
    ...(setup.pollMs === undefined ? {} : { pollMs: setup.pollMs }),
  });
  return {
    port: server.port,
    close: async (): Promise<void> => {
      await server.close();
      await sidecars.close();
      redis?.disconnect();
    },
  };
}

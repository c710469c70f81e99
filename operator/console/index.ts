// The console composed in one place: who is asking (auth.ts), where the deliveries are
// (sidecars.ts), what a page shows (data.ts), and the HTTP server (server.ts).
import type { Logger } from '../../common/log.ts';
import type { KubeClient } from '../kube/client.ts';
import type { AdminTokens } from './admin-token.ts';
import { Access } from './auth.ts';
import { ConsoleData } from './data.ts';
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
}

/** Starts the console; close() stops it and its connection pool. */
export async function startConsoleFor(setup: ConsoleSetup): Promise<ConsoleServer> {
  const access = new Access(setup.client);
  const sidecars = new Sidecars(setup.client, setup.adminToken);
  const server = await startConsole({
    host: setup.host,
    port: setup.port,
    access,
    data: new ConsoleData(setup.client, access, sidecars),
    log: setup.log,
    ...(setup.pollMs === undefined ? {} : { pollMs: setup.pollMs }),
  });
  return {
    port: server.port,
    close: async (): Promise<void> => {
      await server.close();
      await sidecars.close();
    },
  };
}

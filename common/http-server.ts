// `createServer` from node:http, loaded with require(). An ESM `import … from 'node:http'` builds
// the module's namespace, and building it reads every export — among them the lazy `WebSocket`,
// `CloseEvent` and `MessageEvent` getters, which load Node's bundled copy of undici (752 KB of
// source): ~14 MB resident in a process that never uses them (measured: a bare ESM server 61 MB,
// the same server through require() 48 MB). require() reads only the property asked for.
import type * as Http from 'node:http';
import { createRequire } from 'node:module';

const http = createRequire(import.meta.url)('node:http') as typeof Http;

/** node:http's `createServer`, without the namespace's lazy exports. */
export const createServer: typeof Http.createServer = http.createServer;

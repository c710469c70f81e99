// The parts of undici the sidecar uses — Agent, the connector, the error classes — loaded from
// their own files. undici's index also loads fetch, WebSocket, EventSource, the caches and the
// mocks: ~12 MB resident that no sidecar path uses (ADR 0016, start-up cost). Its wiring of the
// request API onto Dispatcher is repeated here; http-client.test.ts checks these are the very
// objects the index exports, so an undici upgrade that moves a file fails there, not in a pod.
import { createRequire } from 'node:module';
import type * as Undici from 'undici';

const load = createRequire(import.meta.url);

const dispatcher = load('undici/lib/dispatcher/dispatcher.js') as typeof Undici.Dispatcher;
// What undici's index does once: give every dispatcher request(), stream(), pipeline()….
Object.assign(dispatcher.prototype, load('undici/lib/api/index.js'));

/** undici's Agent (a pool per origin). */
export const Agent = load('undici/lib/dispatcher/agent.js') as typeof Undici.Agent;
/** An Agent instance. */
export type Agent = Undici.Agent;
/** undici's connector factory (the SSRF guard wraps it). */
export const buildConnector = load('undici/lib/core/connect.js') as typeof Undici.buildConnector;
/** Options of `buildConnector`. */
export type ConnectorOptions = Undici.buildConnector.BuildOptions;
/** A connector `buildConnector` returns. */
export type Connector = Undici.buildConnector.connector;
/** undici's error classes. */
export const errors = load('undici/lib/core/errors.js') as typeof Undici.errors;
/**
 * The option under which a pool hands a queued request's handler the function that takes it out
 * of the queue (what `request({ signal })` uses, so an abort need not wait for a connection).
 */
export const kQueuedAbort = (load('undici/lib/core/symbols.js') as { kQueuedAbort: symbol })
  .kQueuedAbort;

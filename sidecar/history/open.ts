// How a sidecar gets its history: the observers' recorder over Redis when the sidecar has it
// (every pod of the namespace shares it, and readers may read it directly), else segment files in
// the pod's emptyDir. A store that cannot be opened leaves the sidecar without history, logged:
// delivering never waits for it.
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import type { Registry } from 'prom-client';
import type { Logger } from '../../common/log.ts';
import type { LoadedConfig } from '../config/load.ts';
import type { Clock } from '../delivery/delivery.ts';
import type { DeliveryObservers } from '../delivery/observe.ts';
import { compileEndpointPlan } from '../delivery/plan.ts';
import { Policy } from '../config/schema.ts';
import type { RedisClient } from '../redis-connect.ts';
import { DiskHistoryStore } from './disk.ts';
import { HistoryRecorder } from './recorder.ts';
import { RedisHistoryStore } from './redis.ts';
import type { HistoryLimits } from './store.ts';

/**
 * The bounds of one sidecar's store: the largest any endpoint's policy asks for (one store holds
 * every endpoint of the namespace), the built-in defaults when no endpoint names a policy.
 */
export function historyLimits(loaded: LoadedConfig): HistoryLimits {
  let limits = computed.get(loaded);
  if (limits === undefined) computed.set(loaded, (limits = computeLimits(loaded)));
  return limits;
}

const computed = new WeakMap<LoadedConfig, HistoryLimits>();

function computeLimits(loaded: LoadedConfig): HistoryLimits {
  const plans = [
    ...[...loaded.egress.endpoints.values()].map((e) => e.plan.history),
    ...loaded.egress.dynamic.map((d) => d.plan.history),
  ];
  if (plans.length === 0) plans.push(compileEndpointPlan(Policy.parse({})).history);
  return {
    maxDeliveries: Math.max(...plans.map((p) => p.maxDeliveries)),
    maxAgeMs: Math.max(...plans.map((p) => p.maxAgeMs)),
    maxBytes: Math.max(...plans.map((p) => p.maxBytes)),
  };
}

/** What opening the history needs. */
export interface OpenHistoryOptions {
  readonly config: () => LoadedConfig;
  readonly redis: RedisClient | undefined;
  readonly observers: DeliveryObservers;
  readonly registry: Registry;
  readonly log: Logger;
  readonly clock: Clock;
  /** The pod's name (POD_NAME from the injector; the hostname otherwise). */
  readonly pod?: string | undefined;
  /** The pod's namespace (POD_NAMESPACE), when the config does not name one. */
  readonly podNamespace?: string | undefined;
}

/** Opens the store and adds the recorder to `observers`; undefined when history is off or failed. */
export async function openHistory(o: OpenHistoryOptions): Promise<HistoryRecorder | undefined> {
  const loaded = o.config();
  const settings = loaded.config.history;
  if (!settings.enabled) return undefined;
  const namespace = loaded.config.namespace ?? o.podNamespace ?? 'default';
  const limits = (): HistoryLimits => historyLimits(o.config());
  try {
    const store =
      o.redis !== undefined
        ? new RedisHistoryStore({ redis: o.redis, namespace, limits })
        : await DiskHistoryStore.open({
            directory:
              settings.directory ?? join(dirname(loaded.config.queue.directory), 'history'),
            limits,
          });
    const recorder = new HistoryRecorder({
      store,
      source: { namespace, pod: o.pod ?? hostname() },
      bufferSize: settings.bufferSize,
      bufferBytes: settings.bufferBytes,
      clock: o.clock,
      registry: o.registry,
      log: o.log,
    });
    o.observers.add(recorder);
    o.log.info('delivery history recording', { backend: store.backend });
    return recorder;
  } catch (err) {
    o.log.error('delivery history unavailable: deliveries go on unrecorded', {
      error: (err as Error).message,
      fix: 'give history.directory a writable volume (the emptyDir), or set HOOKGATE_REDIS_URL',
    });
    return undefined;
  }
}

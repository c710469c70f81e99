// hookgate-sidecar: the data plane next to each app container. Loads its configuration file
// (hot-reloaded), serves egress on 127.0.0.1:15001, ingress on 0.0.0.0:15006, and the admin server
// (health, readiness, metrics, /config). Without a configuration it serves only the admin port and
// is not ready.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { startAdminServer } from '../common/admin.ts';
import { onShutdown, parseListenAddress, startProgram } from '../common/cli.ts';
import { parseDuration } from '../common/duration.ts';
import {
  ENV_ADMIN_TOKEN,
  ENV_CONFIG,
  ENV_CONFIG_SERVER,
  ENV_CONFIG_SERVER_CA,
  ENV_CONFIG_SNAPSHOT,
  ENV_TOKEN_FILE,
  ENV_DRAIN_TIMEOUT,
  ENV_EGRESS_LISTEN,
  ENV_INGRESS_LISTEN,
  ENV_QUEUE_DIR,
  ENV_HEALTH_REPORT_INTERVAL,
  ENV_INTERCEPTION,
  ENV_QUEUE_NAME,
  ENV_REDIS_SENTINEL_PASSWORD,
  ENV_REDIS_URL,
} from '../common/env.ts';
import { createRegistry } from '../common/metrics.ts';
import type { LoadedConfig } from './config/load.ts';
import { ConfigWatcher, type ConfigWatcherOptions } from './config/watch.ts';
import { ConfigStreamClient, loadSnapshot } from './config/stream.ts';
import { Gauge } from 'prom-client';
import { SIDECAR_TOKEN_PATH } from '../common/config-stream.ts';
import { ConfigError } from './errors.ts';
import { startOverloadGuard, type OverloadGuard } from './budget/overload.ts';
import { startEgressServer, type EgressServer } from './egress/server.ts';
import { startIngressServer, type IngressServer } from './ingress/server.ts';
import { systemClock } from './delivery/delivery.ts';
import { DeliveryObservers } from './delivery/observe.ts';
import { historyAdminHandler } from './history/admin.ts';
import { openHistory } from './history/open.ts';
import type { HistoryRecorder } from './history/recorder.ts';
import { otlpTracesUrl, startTracing, type DeliveryTracer } from './history/trace.ts';
import { DeliveryQueue } from './queue/index.ts';
import { startHealthReporting } from './health/index.ts';
import { exhaustedNotifier } from './health/exhausted.ts';
import { queueOperational } from './health/operational.ts';
import { openQueueStore, type OpenedStore } from './queue/open.ts';
import {
  connectRedis,
  describeRedisTarget,
  parseRedisUrl,
  redisReadiness,
  type RedisClient,
  type RedisTarget,
} from './redis-connect.ts';

const usage = `Usage: hookgate-sidecar [--config FILE] [--help | --version]
       hookgate-sidecar iptables (--dry-run | apply) ...   transparent interception rules

Runs next to an application container.
  egress   127.0.0.1:15001  the app sends webhooks here (POST /<endpoint-name>[/path])
  ingress  0.0.0.0:15006    providers' webhooks arrive here, are verified, then reach the app
  admin    0.0.0.0:15020    /healthz, /readyz, /metrics, /config
Options:
  --config FILE           configuration file, hot-reloaded (default $HOOKGATE_CONFIG)
Environment:
  HOOKGATE_CONFIG         configuration file when --config is not given
  HOOKGATE_CONFIG_SERVER  the operator's config stream (https://…:15012); the file is then the
                          fallback (set by the injector, with HOOKGATE_CONFIG_SERVER_CA)
  HOOKGATE_TOKEN_FILE     the projected token for the stream (default /var/run/secrets/hookgate.io/token)
  HOOKGATE_CONFIG_SNAPSHOT  last streamed config (default /var/lib/hookgate/config-snapshot.json)
  HOOKGATE_HEALTH_REPORT_INTERVAL  how often delivery health goes to the operator (default 5s)
  HOOKGATE_REDIS_URL      Redis for global rate limits, shared de-duplication and the durable
                          queue (optional; without it the queue lives on the pod's disk):
                          redis://[user:pass@]host:port[/db], rediss:// (TLS),
                          redis+cluster://h1:p1,h2:p2, redis+sentinel://s1:p1,s2:p2/<primary>[/db],
                          each with ?wait-replicas=N&wait-timeout=1s to WAIT before a 202
  HOOKGATE_REDIS_SENTINEL_PASSWORD  the sentinels' own password, when they require one
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (or OTEL_EXPORTER_OTLP_ENDPOINT)  export a span per delivery
                          and per attempt over OTLP/HTTP; unset: no tracing
  HOOKGATE_QUEUE_NAME     queue the app's replicas share, with the namespace (default default)
  HOOKGATE_INTERCEPTION   explicit (default) or transparent: whether the pod's rules redirect
                          the app's traffic here (only then is the Host header a destination)
  HOOKGATE_ADMIN_TOKEN    bearer token admitting non-loopback callers to the admin /queue/ API
  HOOKGATE_ADMIN_ADDR     admin listen address (default 0.0.0.0:15020)
  HOOKGATE_EGRESS_LISTEN, HOOKGATE_INGRESS_LISTEN, HOOKGATE_QUEUE_DIR
                          over the config's listen.egress, listen.ingress and queue.directory:
                          what a namespace-wide (streamed) config cannot know about one process
                          (unset in pods, which have ports and an emptyDir of their own)
  HOOKGATE_DRAIN_TIMEOUT  how long in-flight deliveries may finish on shutdown (default 10s)
  HOOKGATE_LOG_LEVEL      debug | info | warn | error (default info)
  HOOKGATE_MEMORY_LIMIT   the container's memory limit (bytes or 256Mi) the heap and load
                          shedding are sized for (default: the memory cgroup's, else 256Mi)
`;

/** Public facts about a configuration for /config: names and shapes, never secrets. */
function describeConfig(loaded: LoadedConfig | undefined, source: string): unknown {
  if (loaded === undefined) return { loaded: false };
  const { config } = loaded;
  return {
    loaded: true,
    generation: config.generation,
    source,
    namespace: config.namespace ?? null,
    endpoints: config.endpoints.map((e) => {
      return {
        name: e.name,
        // The origin only: a path may be a capability (Slack's /services/T…/B…/<secret>), and
        // the admin port is open to the cluster network.
        url: new URL(e.url).origin,
        signing: e.signing.scheme,
        policy: e.policy.name ?? null,
      };
    }),
    dynamicRoutes: config.dynamic.length,
    ingress: config.ingress.map((i) => ({ name: i.name, path: i.path, verify: i.verify.scheme })),
    interception: config.interception,
  };
}

/** The admin API's own routes: /history/ when recording, /queue/ when the queue runs. */
function adminRoutes(
  queue: DeliveryQueue | undefined,
  history: HistoryRecorder | undefined,
): (req: IncomingMessage, res: ServerResponse) => boolean {
  const tails = { open: 0 };
  const adminToken = process.env[ENV_ADMIN_TOKEN];
  return (req, res) =>
    (history !== undefined &&
      historyAdminHandler(req, res, { recorder: history, adminToken }, tails)) ||
    (queue?.admin(req, res) ?? false);
}

const start = startProgram('sidecar', usage, '0.0.0.0:15020', process.argv.slice(2), ['config']);
if (start !== undefined) {
  const { log, admin, flags } = start;
  const configPath = flags['config'] ?? process.env[ENV_CONFIG];
  const registry = createRegistry('sidecar');
  let watcher: ConfigWatcher | undefined;
  let stream: ConfigStreamClient | undefined;
  let configSource = 'file';
  const generationGauge = new Gauge({
    name: 'hookgate_sidecar_config_generation',
    help: 'The config generation this sidecar enforces.',
    registers: [registry],
  });
  const streamConnected = new Gauge({
    name: 'hookgate_sidecar_config_stream_connected',
    help: '1 while the config stream to the operator is open.',
    registers: [registry],
  });

  /**
   * The first config: with a config stream, the persisted snapshot, else the first streamed config
   * (waiting up to 10 s), else the mounted file; without one, the file. The stream then keeps
   * running and replaces what is in force (ADR 0020).
   */
  const startConfigStream = async (
    path: string | undefined,
    options: ConfigWatcherOptions,
  ): Promise<{ watcher: ConfigWatcher; stream?: ConfigStreamClient; source: string }> => {
    const server = process.env[ENV_CONFIG_SERVER];
    const filePath = path ?? '/etc/hookgate/config/sidecar.yaml';
    if (server === undefined || server === '') {
      return { watcher: await ConfigWatcher.start(filePath, options), source: 'file' };
    }
    const snapshotFile =
      process.env[ENV_CONFIG_SNAPSHOT] ?? '/var/lib/hookgate/config-snapshot.json';
    let current: ConfigWatcher | undefined;
    let held = { generation: 0, digest: undefined as string | undefined };
    let first: ((w: ConfigWatcher) => void) | undefined;
    const client = new ConfigStreamClient({
      server,
      ca: process.env[ENV_CONFIG_SERVER_CA] ?? '',
      tokenFile: process.env[ENV_TOKEN_FILE] ?? SIDECAR_TOKEN_PATH,
      snapshotFile,
      log: log.child({ component: 'config-stream' }),
      held: () => held,
      onConfig: (loaded, event) => {
        if (current !== undefined && event.generation < current.current.config.generation) {
          return false;
        }
        held = { generation: event.generation, digest: event.digest };
        if (current === undefined) {
          current = ConfigWatcher.startWith(filePath, loaded, options);
          first?.(current);
        } else void current.offer(loaded);
        configSource = 'stream';
        return true;
      },
      onRejected: options.onRejected,
      onConnected: (up) => streamConnected.set(up ? 1 : 0),
    });
    const snapshot = await loadSnapshot(snapshotFile, log);
    if (snapshot !== undefined) {
      held = { generation: snapshot.event.generation, digest: snapshot.event.digest };
      current = ConfigWatcher.startWith(filePath, snapshot.loaded, options);
      log.info('started from the persisted config', { generation: held.generation });
    }
    client.start();
    if (current === undefined) {
      current = await new Promise<ConfigWatcher | undefined>((resolve) => {
        first = resolve;
        setTimeout(() => resolve(undefined), 10_000);
      });
    }
    first = undefined;
    let source = snapshot !== undefined ? 'snapshot' : 'stream';
    if (current === undefined) {
      // The operator is unreachable and nothing was persisted: the mounted file, until it answers.
      current = await ConfigWatcher.start(filePath, options);
      source = 'file';
    }
    return { watcher: current, stream: client, source };
  };
  let egress: EgressServer | undefined;
  let ingress: IngressServer | undefined;
  let redis: RedisClient | undefined;
  let redisTarget: RedisTarget | undefined;
  let queue: DeliveryQueue | undefined;
  let queueStore: OpenedStore | undefined;
  let overload: OverloadGuard | undefined;
  let history: HistoryRecorder | undefined;
  let tracer: DeliveryTracer | undefined;
  // Complete before the egress server and the queue start: pipelines are built with them.
  const observers = new DeliveryObservers((err) =>
    log.warn('delivery observer failed', { error: (err as Error).message }),
  );
  let health: ReturnType<typeof startHealthReporting> | undefined;
  try {
    overload = startOverloadGuard(registry, log);
    if (configPath !== undefined) {
      const watcherOptions: ConfigWatcherOptions = {
        onChange: (next, previous) => {
          generationGauge.set(next.config.generation);
          log.info('configuration reloaded', {
            generation: next.config.generation,
            previousGeneration: previous.config.generation,
          });
          if (next.config.listen.egress !== previous.config.listen.egress) {
            log.warn('listen addresses change on restart only', {
              egress: next.config.listen.egress,
            });
          }
        },
        onRejected: (problems) =>
          log.error('new configuration refused, keeping the last good one', {
            problems: problems.join('; '),
          }),
      };
      const streamed = await startConfigStream(configPath, watcherOptions);
      stream = streamed.stream;
      watcher = streamed.watcher;
      configSource = streamed.source;
      generationGauge.set(watcher.current.config.generation);
      const redisUrl = process.env[ENV_REDIS_URL];
      const sentinelPassword = process.env[ENV_REDIS_SENTINEL_PASSWORD];
      if (redisUrl !== undefined && redisUrl !== '') {
        redisTarget = parseRedisUrl(redisUrl);
        log.info('redis', { redis: describeRedisTarget(redisTarget) });
        // Commands fail fast while Redis is away, so limiters fall back instead of queueing.
        redis = await connectRedis(redisTarget, { log, name: 'redis', sentinelPassword });
      }
      const current = watcher;
      const namespace = current.current.config.namespace ?? 'default';
      const queueName = process.env[ENV_QUEUE_NAME] ?? 'default';
      if (!/^[A-Za-z0-9_.-]{1,63}$/.test(queueName)) {
        throw new ConfigError(ENV_QUEUE_NAME, [
          `"${queueName}" is not a queue name: use 1-63 letters, digits, _ . or - (e.g. the workload's name)`,
        ]);
      }
      // A streamed config is the namespace's; where this process queues is its own (ENV_QUEUE_DIR).
      const queueDir = process.env[ENV_QUEUE_DIR];
      const queueSettings =
        queueDir === undefined || queueDir === ''
          ? current.current.config.queue
          : { ...current.current.config.queue, directory: queueDir };
      queueStore = await openQueueStore({
        settings: queueSettings,
        redis: redisTarget,
        sentinelPassword,
        scope: `${namespace}/${queueName}`,
        log,
      }).catch((err: unknown) => {
        // Async delivery is a preference the sidecar may decline: it delivers synchronously.
        log.error('durable queue unavailable: async requests are delivered synchronously', {
          error: (err as Error).message,
          fix: 'give queue.directory a writable volume of its own, or set HOOKGATE_REDIS_URL',
        });
        return undefined;
      });
      history = await openHistory({
        config: () => current.current,
        redis,
        observers,
        registry,
        log: log.child({ component: 'history' }),
        clock: systemClock,
        pod: process.env['POD_NAME'],
        podNamespace: process.env['POD_NAMESPACE'],
      });
      const tracesUrl = otlpTracesUrl();
      if (tracesUrl !== undefined) {
        tracer = await startTracing(tracesUrl, 'hookgate-sidecar');
        observers.add(tracer);
        log.info('exporting delivery traces', { otlp: new URL(tracesUrl).origin });
      }
      // Dead letters named one by one to the endpoints that subscribe (ADR 0025); read when a
      // delivery dies, so the egress server and the queue below need not exist yet.
      observers.add(
        exhaustedNotifier({
          config: () => current.current,
          runtime: () => egress?.runtime(),
          accept: () => queue?.accept,
          log: log.child({ component: 'operational' }),
        }),
      );
      if (queueStore !== undefined) {
        queue = new DeliveryQueue({
          store: queueStore.store,
          backend: queueStore.backend,
          settings: queueSettings,
          registry,
          log: log.child({ component: 'queue' }),
          clock: systemClock,
          adminToken: process.env[ENV_ADMIN_TOKEN],
          observers,
        });
      }
      const interception = process.env[ENV_INTERCEPTION] ?? 'explicit';
      if (interception !== 'explicit' && interception !== 'transparent') {
        throw new ConfigError(ENV_INTERCEPTION, [
          `"${interception}" is not explicit or transparent: leave it unset unless the pod has interception rules`,
        ]);
      }
      const listen = process.env[ENV_EGRESS_LISTEN]
        ? parseListenAddress(ENV_EGRESS_LISTEN, process.env[ENV_EGRESS_LISTEN])
        : parseListenAddress('listen.egress', current.current.config.listen.egress);
      egress = await startEgressServer(listen.host, listen.port, {
        config: () => current.current,
        registry,
        log,
        redis,
        scope: namespace,
        acceptAsync: queue?.accept,
        overload,
        interception,
        observers,
      });
      const started = egress;
      queue?.start(() => started.runtime());
      if (queue !== undefined) log.info('durable queue started', { backend: queue.backend });
      // Delivery health goes back to the operator on the config channel (ADR 0024).
      const channel = stream;
      health =
        channel &&
        startHealthReporting({
          registry,
          send: (report) => channel.report(report),
          config: () => current.current,
          queue: queueStore && {
            store: queueStore.store,
            backend: queueStore.backend,
            scope: `${namespace}/${queueName}`,
          },
          log,
          // Operational webhooks (ADR 0025) go through the queue like any async delivery.
          queueOperational:
            queue === undefined
              ? undefined
              : (deliveries) => queueOperational(deliveries, started.runtime(), queue!.accept, log),
          intervalMs: parseDuration(process.env[ENV_HEALTH_REPORT_INTERVAL] ?? '5s'),
        });
      log.info('egress listening', {
        host: listen.host,
        port: egress.port,
        generation: current.current.config.generation,
      });
      const ingressListen = process.env[ENV_INGRESS_LISTEN]
        ? parseListenAddress(ENV_INGRESS_LISTEN, process.env[ENV_INGRESS_LISTEN])
        : parseListenAddress('listen.ingress', current.current.config.listen.ingress);
      ingress = await startIngressServer(ingressListen.host, ingressListen.port, {
        config: () => current.current,
        registry,
        log,
        ...(redis !== undefined ? { redis } : {}),
        buffer: queue?.acceptIngress,
        overload,
        observers,
      });
      log.info('ingress listening', { host: ingressListen.host, port: ingress.port });
    }
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`hookgate-sidecar: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }

  const adminServer = await startAdminServer(admin.host, admin.port, {
    registry,
    readiness: [
      {
        name: 'config',
        check: () => Promise.resolve(watcher === undefined ? 'no configuration loaded' : undefined),
      },
      // The queue's own connection: while it is down, async accepts answer 503, not 202.
      ...(queueStore?.redis !== undefined
        ? [{ name: 'redis', check: redisReadiness(queueStore.redis) }]
        : redis !== undefined
          ? [{ name: 'redis', check: redisReadiness(redis) }]
          : []),
    ],
    // The generation in force, as issue 20 asks each sidecar to say: beside the metric and the
    // health report, for whoever curls the probe.
    readinessDetail: () =>
      watcher === undefined
        ? undefined
        : `config generation ${watcher.current.config.generation} from the ${configSource}`,
    routes: { '/config': () => describeConfig(watcher?.current, configSource) },
    handler: adminRoutes(queue, history),
  });
  log.info('admin server listening', { host: admin.host, port: adminServer.port });

  const drainMs = parseDuration(process.env[ENV_DRAIN_TIMEOUT] ?? '10s');
  onShutdown(log, async () => {
    watcher?.close();
    await health?.stop();
    await stream?.stop();
    // Egress first: in-flight deliveries finish (within the drain time) while admin still answers.
    // The queue worker drains alongside (no more claims, attempts in flight settle, the rest goes
    // back to the queue); egress closes its connection pools only after it.
    const workerStopped = queue?.stopWorker(drainMs) ?? Promise.resolve();
    await Promise.all([egress?.close(drainMs, workerStopped), ingress?.close()]);
    await queue?.close(0);
    await history?.close();
    await tracer?.close();
    queueStore?.release();
    redis?.disconnect();
    await adminServer.close();
    overload?.stop();
  });
}

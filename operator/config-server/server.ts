// The config stream and report endpoint on port 15012 (HTTPS), served by every replica from its
// own caches: the published ConfigMap and Secret the leader writes arrive here by watch, so a
// leader change or a restart loses no sidecar's config and generations only move forward (they
// are the published ones). Protocol (ADR 0020): `GET /v1/config?generation=N&digest=D` answers a
// chunked stream of newline-delimited JSON events — `CONFIG` (one pod's scoped view) whenever it
// differs from what the client holds, `HEARTBEAT` every heartbeat interval — and ends after a
// jittered maximum age so every stream re-authenticates. `POST /v1/reports` takes a
// SidecarHealthReport. Both need the sidecar's projected token as a bearer token.
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, type Registry } from 'prom-client';
import {
  HEARTBEAT_HEADER,
  REPORT_PATH,
  REPORT_WRITER_HEADER,
  STREAM_PATH,
  type StreamEvent,
} from '../../common/config-stream.ts';
import type { Logger } from '../../common/log.ts';
import type { ServingCertificate } from '../certs/manager.ts';
import type { Caches } from '../cache.ts';
import type { CacheChange } from '../kube/informer.ts';
import type { LabelSelector } from '../compile/selector.ts';
import { OperatorError } from '../errors.ts';
import { onlyHealthChanged } from '../health/index.ts';
import { CONFIG_KEY, CONFIG_MAP_NAME, GENERATION_ANNOTATION, SECRET_NAME } from '../names.ts';
import type { PodIdentity } from './auth.ts';
import { readBody } from '../read-body.ts';
import type { ReportReply } from '../../common/operational.ts';
import { MAX_REPORT_BYTES, noopReportSink, parseReport, type ReportSink } from './reports.ts';
import {
  labelsKey,
  parsePublishedJson,
  scopeConfig,
  type NamespaceConfig,
  type ScopedConfig,
} from './scope.ts';

/** What the server needs. */
export interface ConfigServerOptions {
  readonly host: string;
  readonly port: number;
  readonly certificate: ServingCertificate;
  readonly caches: Pick<Caches, 'configMaps' | 'secrets' | 'endpoints'>;
  readonly authenticator: { authenticate(token: string): Promise<PodIdentity> };
  /** Why the caches cannot serve yet (not listed), or undefined. */
  readonly ready: () => string | undefined;
  readonly reports?: ReportSink | undefined;
  readonly log: Logger;
  readonly registry: Registry;
  readonly heartbeatMs?: number;
  /** A stream ends after this (±20 %) so the token is checked again; the client resumes. */
  readonly maxStreamMs?: number;
}

/** The running server. */
export interface ConfigServer {
  readonly port: number;
  /** Connected streams now. */
  readonly streams: number;
  setCertificate(certificate: ServingCertificate): void;
  close(): Promise<void>;
}

interface Subscriber {
  readonly pod: PodIdentity;
  readonly res: ServerResponse;
  /** The last view sent, or the one the client said it holds. */
  digest: string;
  generation: number;
}

function problem(res: ServerResponse, status: number, title: string, detail: string): void {
  if (res.headersSent) return;
  res.writeHead(status, {
    'content-type': 'application/problem+json',
    ...(status === 401 ? { 'www-authenticate': 'Bearer' } : {}),
  });
  res.end(JSON.stringify({ type: 'about:blank', title, status, detail }));
}

/** Starts the HTTPS server and subscribes to the caches. */
export async function startConfigServer(options: ConfigServerOptions): Promise<ConfigServer> {
  const { caches, log } = options;
  const reports = options.reports ?? noopReportSink;
  const heartbeatMs = options.heartbeatMs ?? 15_000;
  const maxStreamMs = options.maxStreamMs ?? 10 * 60_000;
  const registers = [options.registry];
  const streamsGauge = new Gauge({
    name: 'hookgate_operator_config_streams',
    help: 'Sidecars connected to this replica’s config stream.',
    registers,
  });
  const pushes = new Counter({
    name: 'hookgate_operator_config_pushes_total',
    help: 'Scoped configs sent on the stream.',
    registers,
  });
  const refusals = new Counter({
    name: 'hookgate_operator_config_auth_refusals_total',
    help: 'Stream and report requests refused for their token.',
    registers,
  });
  const reportsTotal = new Counter({
    name: 'hookgate_operator_sidecar_reports_total',
    help: 'Health reports received, by result.',
    labelNames: ['result'],
    registers,
  });

  const byNamespace = new Map<string, Set<Subscriber>>();
  // One parse per published version; one scoped view per distinct label set.
  const parsed = new Map<string, { key: string; ns: NamespaceConfig | undefined }>();
  const views = new Map<string, ScopedConfig>();
  // The CONFIG line of each view, serialized once however many pods share the view.
  const lines = new WeakMap<ScopedConfig, string>();

  const namespaceConfig = (namespace: string): NamespaceConfig | undefined => {
    const cm = caches.configMaps.get(namespace, CONFIG_MAP_NAME);
    const secret = caches.secrets.get(namespace, SECRET_NAME);
    if (cm === undefined) return undefined;
    const key = `${cm.metadata.resourceVersion ?? ''}/${secret?.metadata.resourceVersion ?? ''}`;
    const memo = parsed.get(namespace);
    if (memo?.key === key) return memo.ns;
    const text = (cm['data'] as Record<string, string> | undefined)?.[CONFIG_KEY];
    const document = text === undefined ? undefined : parsePublishedJson(text);
    const generation = Number(cm.metadata.annotations?.[GENERATION_ANNOTATION] ?? NaN);
    const ns =
      document === undefined || !Number.isSafeInteger(generation)
        ? undefined
        : {
            namespace,
            generation,
            document,
            secretData: (secret?.['data'] as Record<string, string> | undefined) ?? {},
          };
    parsed.set(namespace, { key, ns });
    return ns;
  };

  const selector = (namespace: string) => (name: string) =>
    (caches.endpoints.get(namespace, name)?.['spec'] as { workloadSelector?: LabelSelector })
      ?.workloadSelector;

  const viewFor = (ns: NamespaceConfig, pod: PodIdentity): ScopedConfig => {
    const key = `${ns.namespace}\0${ns.generation}\0${labelsKey(pod.labels)}`;
    let view = views.get(key);
    if (view === undefined) {
      view = scopeConfig(ns, pod.labels, selector(ns.namespace));
      views.set(key, view);
    }
    return view;
  };

  const send = (sub: Subscriber, event: StreamEvent): void => {
    sub.res.write(`${JSON.stringify(event)}\n`);
  };

  /** Sends `sub` its view when it differs from what it holds and does not go back. */
  const offer = (sub: Subscriber, ns: NamespaceConfig | undefined): void => {
    if (ns === undefined) return;
    const view = viewFor(ns, sub.pod);
    // A config naming a Secret key not yet published (the ConfigMap arrived first) waits for it.
    if (view.missing.length > 0) return;
    if (view.digest === sub.digest || view.generation < sub.generation) return;
    sub.digest = view.digest;
    sub.generation = view.generation;
    let line = lines.get(view);
    if (line === undefined) {
      const { generation, digest, config, secrets } = view;
      const event: StreamEvent = { type: 'CONFIG', generation, digest, config, secrets };
      line = `${JSON.stringify(event)}\n`;
      lines.set(view, line);
    }
    sub.res.write(line);
    pushes.inc();
  };

  // Changes are gathered per turn of the event loop: the ConfigMap and Secret of one publish
  // arrive back to back, and each namespace's subscribers are visited once.
  const dirty = new Set<string>();
  let flushing = false;
  const touch = (namespace: string | undefined): void => {
    if (namespace === undefined || !byNamespace.has(namespace)) return;
    dirty.add(namespace);
    if (flushing) return;
    flushing = true;
    setImmediate(() => {
      flushing = false;
      views.clear();
      for (const namespace of dirty) {
        const ns = namespaceConfig(namespace);
        for (const sub of byNamespace.get(namespace) ?? []) offer(sub, ns);
      }
      dirty.clear();
    });
  };
  // The reconciler's own publish is stored without a change event (its watch event then carries a
  // version already held and is dropped), so the stream listens to own writes as well: a push
  // must not wait for whichever of the two arrives first.
  const onConfigMap = (c: CacheChange): void => touch(c.object.metadata.namespace);
  const onSecret = (c: CacheChange): void => {
    if (c.object.metadata.name === SECRET_NAME) touch(c.object.metadata.namespace);
  };
  caches.configMaps.onChange(onConfigMap);
  caches.configMaps.onOwnWrite(onConfigMap);
  caches.secrets.onChange(onSecret);
  caches.secrets.onOwnWrite(onSecret);
  // A delivery-health write (ADR 0024) changes no sidecar's view.
  caches.endpoints.onChange((c) => onlyHealthChanged(c) || touch(c.object.metadata.namespace));

  const authenticate = async (
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<PodIdentity | undefined> => {
    const header = req.headers.authorization ?? '';
    const token = header.startsWith('Bearer ') ? header.slice(7).trim() : '';
    try {
      return await options.authenticator.authenticate(token);
    } catch (err) {
      if (err instanceof OperatorError && err.code === 'ERR_SIDECAR_UNAUTHENTICATED') {
        refusals.inc();
        log.warn('sidecar token refused', { reason: err.message, peer: req.socket.remoteAddress });
        problem(res, 401, 'Unauthorized', err.message);
      } else {
        log.error('sidecar token could not be checked', { error: (err as Error).message });
        problem(res, 503, 'Service Unavailable', 'the API server could not check the token');
      }
      return undefined;
    }
  };

  const stream = (pod: PodIdentity, url: URL, res: ServerResponse): void => {
    const held = Number(url.searchParams.get('generation') ?? '0');
    const sub: Subscriber = {
      pod,
      res,
      digest: url.searchParams.get('digest') ?? '',
      generation: Number.isSafeInteger(held) && held >= 0 ? held : 0,
    };
    res.writeHead(200, {
      'content-type': 'application/x-ndjson',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      [HEARTBEAT_HEADER]: String(heartbeatMs),
    });
    res.flushHeaders();
    let subs = byNamespace.get(pod.namespace);
    if (subs === undefined) byNamespace.set(pod.namespace, (subs = new Set()));
    subs.add(sub);
    streamsGauge.inc();
    offer(sub, namespaceConfig(pod.namespace));
    const heartbeat = setInterval(
      () => send(sub, { type: 'HEARTBEAT', generation: sub.generation }),
      heartbeatMs,
    );
    const maxAge = setTimeout(() => res.end(), maxStreamMs * (0.8 + Math.random() * 0.4));
    res.on('close', () => {
      clearInterval(heartbeat);
      clearTimeout(maxAge);
      subs.delete(sub);
      if (subs.size === 0 && byNamespace.get(pod.namespace) === subs) {
        byNamespace.delete(pod.namespace);
        parsed.delete(pod.namespace);
      }
      streamsGauge.dec();
    });
  };

  const report = async (pod: PodIdentity, req: IncomingMessage, res: ServerResponse) => {
    const body = await readBody(req, MAX_REPORT_BYTES);
    if (body === undefined) {
      reportsTotal.inc({ result: 'refused' });
      return problem(
        res,
        413,
        'Payload Too Large',
        `reports are at most ${MAX_REPORT_BYTES} bytes`,
      );
    }
    let json: unknown;
    try {
      json = JSON.parse(body.toString('utf8'));
    } catch {
      reportsTotal.inc({ result: 'refused' });
      return problem(res, 400, 'Bad Request', 'the body is not JSON');
    }
    const parsedReport = parseReport(json, pod.namespace);
    if ('problems' in parsedReport) {
      reportsTotal.inc({ result: 'refused' });
      return problem(res, 400, 'Bad Request', parsedReport.problems.slice(0, 10).join('; '));
    }
    let reply: ReportReply | undefined | void;
    try {
      reply = reports.onReport(pod, parsedReport.report);
    } catch (err) {
      log.error('health report handler failed', { error: (err as Error).message });
    }
    reportsTotal.inc({ result: 'accepted' });
    const writer = reports.writes?.();
    const headers = writer === undefined ? {} : { [REPORT_WRITER_HEADER]: String(writer) };
    // Operational webhooks for the pod to queue (ADR 0025) ride on the answer.
    if (reply?.operational !== undefined && reply.operational.length > 0) {
      res
        .writeHead(200, { ...headers, 'content-type': 'application/json' })
        .end(JSON.stringify(reply));
      return undefined;
    }
    res.writeHead(204, headers).end();
    return undefined;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'https://config-server');
    const route =
      req.method === 'GET' && url.pathname === STREAM_PATH
        ? 'stream'
        : req.method === 'POST' && url.pathname === REPORT_PATH
          ? 'report'
          : undefined;
    if (route === undefined) {
      return problem(res, 404, 'Not Found', `GET ${STREAM_PATH} or POST ${REPORT_PATH}`);
    }
    const notReady = options.ready();
    if (notReady !== undefined) {
      res.setHeader('retry-after', '1');
      return problem(res, 503, 'Service Unavailable', notReady);
    }
    const pod = await authenticate(req, res);
    if (pod === undefined) return undefined;
    if (route === 'stream') return stream(pod, url, res);
    return report(pod, req, res);
  };

  const tls = (c: ServingCertificate): { cert: string; key: string } => ({
    cert: c.certPem,
    key: c.keyPem,
  });
  const server: Server = createServer(
    { ...tls(options.certificate), minVersion: 'TLSv1.2' },
    (req, res) => {
      handle(req, res).catch((err: unknown) => {
        log.error('config server request failed', { error: (err as Error).message });
        problem(res, 500, 'Internal Server Error', 'internal error in the hookgate config server');
      });
    },
  );
  // Streams are long-lived; only header reading is bounded.
  server.requestTimeout = 0;
  server.headersTimeout = 10_000;
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  log.info('config server listening', {
    host: options.host,
    port: (server.address() as AddressInfo).port,
  });
  return {
    port: (server.address() as AddressInfo).port,
    get streams(): number {
      let n = 0;
      for (const subs of byNamespace.values()) n += subs.size;
      return n;
    },
    setCertificate(certificate): void {
      server.setSecureContext(tls(certificate));
    },
    close: async (): Promise<void> => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const subs of byNamespace.values()) for (const sub of subs) sub.res.end();
      server.closeAllConnections();
      await closed;
    },
  };
}

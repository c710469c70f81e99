// The sidecar's end of the config stream (ADR 0020): connects to the operator on 15012 with the
// pod's projected token (reread on every connect: the kubelet rotates it), receives its scoped
// config, compiles it the way a file reload does (a config that fails is refused and the last good
// one stays), persists the last good one in the pod's emptyDir (atomic, 0600) so a restart with the
// operator down starts from it, and reconnects with full-jitter backoff.
import { randomUUID } from 'node:crypto';
import { request, type RequestOptions } from 'node:https';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { IncomingMessage } from 'node:http';
import {
  HEARTBEAT_HEADER,
  REPORT_PATH,
  REPORT_WRITER_HEADER,
  STREAM_PATH,
  type ConfigEvent,
  type StreamEvent,
} from '../../common/config-stream.ts';
import type { SidecarHealthReport } from '../../common/health.ts';
import { MAX_OPERATIONAL_PER_REPLY, type OperationalDelivery } from '../../common/operational.ts';
import type { Logger } from '../../common/log.ts';
import { ConfigError } from '../errors.ts';
import { parseConfig, type LoadedConfig } from './load.ts';

/** Where a config came from. */
export type ConfigOrigin = 'stream' | 'snapshot';

/** Options for {@link ConfigStreamClient}. */
export interface ConfigStreamOptions {
  /** `https://host:15012`. */
  readonly server: string;
  /** PEM of the CA the server's certificate chains to. */
  readonly ca: string;
  readonly tokenFile: string;
  readonly snapshotFile: string;
  readonly log: Logger;
  /** The generation and digest in force, sent on connect so an unchanged view is not resent. */
  readonly held: () => { generation: number; digest: string | undefined };
  /** A config compiled and persisted; returns false when it was not taken (older generation). */
  readonly onConfig: (loaded: LoadedConfig, event: ConfigEvent, origin: ConfigOrigin) => boolean;
  readonly onRejected: (problems: readonly string[]) => void;
  readonly onConnected?: (connected: boolean) => void;
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number };
}

/** Compiles a streamed config, its secrets from the event instead of files. */
export async function loadEvent(event: ConfigEvent, source: string): Promise<LoadedConfig> {
  const secrets = new Map(Object.entries(event.secrets));
  return parseConfig(event.config, source, '/', process.env, (file) => {
    const value = secrets.get(file);
    if (value === undefined) {
      return Promise.reject(Object.assign(new Error('not streamed'), { code: 'ENOENT' }));
    }
    return Promise.resolve(Buffer.from(value, 'base64').toString('utf8'));
  });
}

/** Writes `event` to `file` atomically (a same-directory temp file renamed over it), mode 0600. */
export async function persistSnapshot(file: string, event: ConfigEvent): Promise<void> {
  const temp = join(dirname(file), `.${randomUUID()}.tmp`);
  await writeFile(temp, JSON.stringify(event), { mode: 0o600, flush: true });
  await rename(temp, file);
}

/** The persisted snapshot, compiled; undefined when there is none or it no longer loads. */
export async function loadSnapshot(
  file: string,
  log: Logger,
): Promise<{ loaded: LoadedConfig; event: ConfigEvent } | undefined> {
  let event: ConfigEvent;
  try {
    event = JSON.parse(await readFile(file, 'utf8')) as ConfigEvent;
  } catch {
    return undefined;
  }
  try {
    return { loaded: await loadEvent(event, file), event };
  } catch (err) {
    log.warn('persisted config snapshot refused', {
      problems: err instanceof ConfigError ? err.problems.join('; ') : (err as Error).message,
    });
    return undefined;
  }
}

/** Keeps a stream open and applies what arrives. */
export class ConfigStreamClient {
  #options: ConfigStreamOptions;
  #stopped = false;
  #current: IncomingMessage | undefined;
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;

  constructor(options: ConfigStreamOptions) {
    this.#options = options;
  }

  /** Starts connecting (in the background). */
  start(): void {
    this.#loop ??= this.#run();
  }

  async #token(): Promise<string> {
    return (await readFile(this.#options.tokenFile, 'utf8')).trim();
  }

  #requestOptions(path: string, method: string, token: string): RequestOptions {
    const url = new URL(path, this.#options.server);
    return {
      method,
      hostname: url.hostname,
      port: url.port,
      path: `${url.pathname}${url.search}`,
      ca: this.#options.ca,
      headers: { authorization: `Bearer ${token}` },
      agent: false,
    };
  }

  async #run(): Promise<void> {
    const { initialMs, maxMs } = this.#options.backoff ?? { initialMs: 500, maxMs: 30_000 };
    let attempt = 0;
    while (!this.#stopped) {
      const outcome = await this.#connect().catch((err: unknown) => {
        this.#options.log.warn('config stream failed', { error: (err as Error).message });
        return 'failed' as const;
      });
      this.#options.onConnected?.(false);
      if (this.#stopped) return;
      // A stream that delivered resets the backoff; full jitter spreads a fleet's reconnects.
      attempt = outcome === 'streamed' ? 0 : attempt + 1;
      const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 16));
      const delay = outcome === 'streamed' ? Math.random() * initialMs : Math.random() * ceiling;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** One connection: resolves when it ends. */
  async #connect(): Promise<'streamed' | 'failed'> {
    const token = await this.#token();
    const held = this.#options.held();
    const query = new URLSearchParams({ generation: String(held.generation) });
    if (held.digest !== undefined) query.set('digest', held.digest);
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = request(
        this.#requestOptions(`${STREAM_PATH}?${query.toString()}`, 'GET', token),
        resolve,
      );
      req.on('error', reject);
      req.end();
    });
    if (res.statusCode !== 200) {
      const body = await readAll(res);
      throw new Error(`HTTP ${res.statusCode}: ${body.slice(0, 200)}`);
    }
    this.#current = res;
    this.#options.onConnected?.(true);
    this.#options.log.info('config stream connected', { generation: held.generation });
    const heartbeatMs = Number(res.headers[HEARTBEAT_HEADER] ?? 15_000);
    // Three missed heartbeats: the connection is dead even if TCP has not noticed.
    let watchdog = setTimeout(() => res.destroy(), heartbeatMs * 3);
    let buffered = '';
    let chain = Promise.resolve();
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => res.destroy(), heartbeatMs * 3);
      buffered += chunk;
      let newline;
      while ((newline = buffered.indexOf('\n')) >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        if (line.trim() === '') continue;
        // Events apply in order: a second CONFIG waits for the first to compile.
        chain = chain.then(() => this.#apply(line));
      }
    });
    await new Promise<void>((resolve) => res.on('close', resolve));
    clearTimeout(watchdog);
    await chain;
    this.#current = undefined;
    return 'streamed';
  }

  async #apply(line: string): Promise<void> {
    let event: StreamEvent;
    try {
      event = JSON.parse(line) as StreamEvent;
    } catch {
      return;
    }
    if (event.type !== 'CONFIG') return;
    if (event.generation < this.#options.held().generation) return;
    let loaded: LoadedConfig;
    try {
      loaded = await loadEvent(event, `config stream generation ${event.generation}`);
    } catch (err) {
      this.#options.onRejected(
        err instanceof ConfigError ? err.problems : [(err as Error).message],
      );
      return;
    }
    if (!this.#options.onConfig(loaded, event, 'stream')) return;
    try {
      await persistSnapshot(this.#options.snapshotFile, event);
    } catch (err) {
      this.#options.log.warn('config snapshot not persisted', {
        file: this.#options.snapshotFile,
        error: (err as NodeJS.ErrnoException).code ?? (err as Error).message,
      });
    }
  }

  /** Sends a health report on the same channel; resolves with the status and who took it. */
  async report(report: SidecarHealthReport): Promise<{
    status: number;
    writer: boolean | undefined;
    operational?: readonly OperationalDelivery[];
  }> {
    const token = await this.#token();
    const body = JSON.stringify(report);
    const options = this.#requestOptions(REPORT_PATH, 'POST', token);
    options.headers = { ...options.headers, 'content-type': 'application/json' };
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = request(options, resolve);
      req.on('error', reject);
      req.end(body);
    });
    const text = await readAll(res);
    const writer = res.headers[REPORT_WRITER_HEADER];
    return {
      status: res.statusCode ?? 0,
      writer: writer === undefined ? undefined : writer === 'true',
      ...operationalIn(res.statusCode === 200 ? text : ''),
    };
  }

  /** Closes the stream and stops reconnecting. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#current?.destroy();
    this.#wake?.();
    await this.#loop;
  }
}

/** The operational webhooks a report's answer hands over (ADR 0025), when it has a body. */
function operationalIn(text: string): { operational?: readonly OperationalDelivery[] } {
  // The operator's answers are small; anything huge is not one.
  if (text === '' || text.length > 1_048_576) return {};
  try {
    const reply = JSON.parse(text) as { operational?: unknown };
    const list: unknown[] = Array.isArray(reply.operational) ? reply.operational : [];
    const valid = list
      .filter((d): d is OperationalDelivery => {
        const o = d as Partial<Record<keyof OperationalDelivery, unknown>> | null;
        return (
          typeof o?.deliveryId === 'string' &&
          typeof o.endpoint === 'string' &&
          typeof o.type === 'string' &&
          typeof o.body === 'string'
        );
      })
      .slice(0, MAX_OPERATIONAL_PER_REPLY);
    return valid.length === 0 ? {} : { operational: valid };
  } catch {
    return {};
  }
}

async function readAll(res: IncomingMessage): Promise<string> {
  let text = '';
  res.setEncoding('utf8');
  for await (const chunk of res) text += chunk as string;
  return text;
}

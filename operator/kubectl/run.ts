// `kubectl hookgate`: parse → connect → one command → print, returning kubectl's exit status
// (0 done, 1 an error, a refusal or nothing found, 2 a usage error). Each command is one small
// function over the console's JSON API; printing is output.ts's.
import type { DeliveryRecord } from '../../common/history.ts';
import { VERSION } from '../../common/version.ts';
import type { DeliveryPage, NamespaceStatus } from '../console/data.ts';
import type { ListedDelivery } from '../console/sidecars.ts';
import { OperatorError } from '../errors.ts';
import { USAGE, UsageError, parseInvocation, type Command, type Invocation } from './args.ts';
import { ConsoleApiError } from './console-api.ts';
import { PluginError, connect, type Connection, type PluginEnvironment } from './connect.ts';
import { forwardConsole } from './forward.ts';
import * as out from './output.ts';

/** What the plugin runs with; tests and main.ts provide it. */
export interface PluginIo extends PluginEnvironment {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
  readonly now: () => number;
  /** Aborted on Ctrl-C: ends a watch or a port-forward with status 0. */
  readonly signal: AbortSignal;
}

type Context = { readonly inv: Invocation; readonly conn: Connection; readonly io: PluginIo };

/** Runs one invocation; resolves with the exit status. */
export async function run(argv: readonly string[], io: PluginIo): Promise<number> {
  let inv: Invocation;
  try {
    inv = parseInvocation(argv, io.now());
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.stderr.write(`error: ${err.message}\n`);
    return 2;
  }
  const { command } = inv;
  if (command.kind === 'help') {
    io.stdout.write(USAGE);
    return 0;
  }
  if (command.kind === 'version') {
    io.stdout.write(`kubectl-hookgate ${VERSION}\n`);
    return 0;
  }
  if (command.kind === 'replay-range' && inv.global.allNamespaces) {
    io.stderr.write('error: replay --endpoint replays in one namespace: use -n, not -A\n');
    return 2;
  }
  let conn: Connection | undefined;
  try {
    if (command.kind === 'console') return await forwardConsole(inv, io);
    conn = await connect(inv.global, io);
    return await dispatch(command, { inv, conn, io });
  } catch (err) {
    io.stderr.write(`error: ${explain(err, inv)}\n`);
    return 1;
  } finally {
    await conn?.close();
  }
}

function dispatch(command: Command, ctx: Context): Promise<number> {
  switch (command.kind) {
    case 'status':
      return status(ctx);
    case 'deliveries':
      return command.watch ? watch(ctx, command) : deliveries(ctx, command);
    case 'inspect':
      return inspect(ctx, command.id);
    case 'replay':
      return replay(ctx, command.id);
    case 'replay-range':
      return replayRange(ctx, command);
    default:
      throw new PluginError(`${command.kind} is not a console command`);
  }
}

/** The namespace a list asks for: undefined across every visible one (-A). */
function scope(ctx: Context): string | undefined {
  return ctx.inv.global.allNamespaces ? undefined : ctx.conn.namespace;
}

function print(ctx: Context, value: unknown, table: () => string): void {
  const format = ctx.inv.global.output;
  ctx.io.stdout.write(format === 'table' ? table() : out.document(value, format));
}

function warnUnreachable(ctx: Context, pods: readonly string[]): void {
  if (pods.length > 0)
    ctx.io.stderr.write(`warning: these sidecar pods did not answer: ${pods.join(', ')}\n`);
}

function nothingIn(ctx: Context): string {
  const ns = scope(ctx);
  return ns === undefined ? 'No resources found.\n' : `No resources found in ${ns} namespace.\n`;
}

async function status(ctx: Context): Promise<number> {
  const answer = await ctx.conn.api.get<{ namespaces: NamespaceStatus[] }>('/status', {
    namespace: scope(ctx),
  });
  const endpoints = answer.namespaces.flatMap((n) => n.endpoints);
  warnUnreachable(
    ctx,
    answer.namespaces.flatMap((n) => n.unreachablePods),
  );
  if (endpoints.length === 0 && ctx.inv.global.output === 'table') {
    ctx.io.stderr.write(nothingIn(ctx));
    return 0;
  }
  print(ctx, answer, () => out.statusTable(endpoints, ctx.inv.global.allNamespaces));
  return 0;
}

type DeliveriesCommand = Extract<Command, { kind: 'deliveries' }>;

function deliveryQuery(ctx: Context, c: DeliveriesCommand): Record<string, string | undefined> {
  return {
    namespace: scope(ctx),
    endpoint: c.endpoint,
    outcome: c.state,
    eventType: c.eventType,
    limit: String(c.limit),
    cursor: c.continue,
  };
}

async function deliveries(ctx: Context, c: DeliveriesCommand): Promise<number> {
  const page = await ctx.conn.api.get<DeliveryPage>('/deliveries', deliveryQuery(ctx, c));
  warnUnreachable(ctx, page.unreachable);
  if (page.items.length === 0 && ctx.inv.global.output === 'table') {
    ctx.io.stderr.write(nothingIn(ctx));
    return 0;
  }
  const wide = ctx.inv.global.allNamespaces;
  const now = ctx.io.now();
  print(ctx, page, () =>
    out.table(
      out.deliveryHeaders(wide),
      page.items.map((d) => out.deliveryRow(d, wide, now)),
    ),
  );
  if (page.nextCursor !== undefined && ctx.inv.global.output === 'table')
    ctx.io.stderr.write(`More deliveries: add --continue ${page.nextCursor}\n`);
  return 0;
}

/** -w: the table's header once, then a row (or a JSON line) per change, until Ctrl-C. */
async function watch(ctx: Context, c: DeliveriesCommand): Promise<number> {
  const wide = ctx.inv.global.allNamespaces;
  const format = ctx.inv.global.output;
  const query = { ...deliveryQuery(ctx, c), cursor: undefined };
  let headerShown = false;
  for await (const line of ctx.conn.api.lines('/watch', query, ctx.io.signal)) {
    const change = line as {
      type: string;
      delivery?: ListedDelivery;
      problem?: { detail: string };
    };
    if (change.type === 'problem') {
      ctx.io.stderr.write(`warning: ${change.problem?.detail ?? 'the console could not read'}\n`);
      continue;
    }
    if (change.delivery === undefined) continue;
    if (format === 'json') ctx.io.stdout.write(JSON.stringify(change.delivery) + '\n');
    else if (format === 'yaml')
      ctx.io.stdout.write(`---\n${out.document(change.delivery, 'yaml')}`);
    else {
      const header = out.deliveryHeaders(wide);
      const row = out.deliveryRow(change.delivery, wide, ctx.io.now());
      // Fixed-width columns: a watch cannot know the widest row to come.
      const text = out.table(header, [row]).split('\n');
      if (!headerShown) ctx.io.stdout.write(text[0] + '\n');
      headerShown = true;
      ctx.io.stdout.write(text[1] + '\n');
    }
  }
  return 0;
}

/** One delivery: in -n's namespace when given, else wherever the user may see it. */
async function find(ctx: Context, id: string): Promise<DeliveryRecord> {
  const ns = ctx.inv.global.namespace;
  const path =
    ns === undefined
      ? `/deliveries/${encodeURIComponent(id)}`
      : `/namespaces/${encodeURIComponent(ns)}/deliveries/${encodeURIComponent(id)}`;
  try {
    return await ctx.conn.api.get<DeliveryRecord>(path);
  } catch (err) {
    if (err instanceof ConsoleApiError && err.from === 'console' && err.status === 404)
      throw new PluginError(
        `delivery ${id} not found${ns === undefined ? '' : ` in ${ns}`} (or not in a namespace you may get webhookendpoints in)`,
      );
    throw err;
  }
}

async function inspect(ctx: Context, id: string): Promise<number> {
  const record = await find(ctx, id);
  print(ctx, record, () => out.describeDelivery(record, ctx.io.now()));
  return 0;
}

async function replay(ctx: Context, id: string): Promise<number> {
  const record = await find(ctx, id);
  const refused = `you may see delivery ${id} but not replay it: that needs update on webhookendpoints/${record.endpoint} in ${record.namespace}`;
  let answer: { results: Record<string, string> };
  try {
    answer = await ctx.conn.api.post(`/namespaces/${encodeURIComponent(record.namespace)}/replay`, {
      ids: [id],
    });
  } catch (err) {
    if (err instanceof ConsoleApiError && err.from === 'console' && err.status === 403)
      throw new PluginError(refused);
    throw err;
  }
  const result = answer.results[id];
  if (result === 'forbidden') throw new PluginError(refused);
  if (result !== 'replayed')
    throw new PluginError(
      `delivery ${id} is ${record.outcome}, not a dead letter in a sidecar's queue: only dead letters are replayed`,
    );
  print(
    ctx,
    { deliveryId: id, namespace: record.namespace, result },
    () => `delivery ${id} replayed (same webhook-id)\n`,
  );
  return 0;
}

async function replayRange(
  ctx: Context,
  c: Extract<Command, { kind: 'replay-range' }>,
): Promise<number> {
  const ns = ctx.conn.namespace;
  let answer: { replayed: number };
  try {
    answer = await ctx.conn.api.post(`/namespaces/${encodeURIComponent(ns)}/replay`, {
      endpoint: c.endpoint,
      ...(c.since === undefined ? {} : { from: c.since }),
      ...(c.until === undefined ? {} : { to: c.until }),
    });
  } catch (err) {
    if (err instanceof ConsoleApiError && err.from === 'console' && err.status === 403)
      throw new PluginError(
        `replay needs update on webhookendpoints/${c.endpoint} in ${ns}, which you do not have`,
      );
    throw err;
  }
  print(
    ctx,
    { namespace: ns, endpoint: c.endpoint, replayed: answer.replayed },
    () =>
      `${answer.replayed} dead letter${answer.replayed === 1 ? '' : 's'} of ${ns}/${c.endpoint} replayed\n`,
  );
  return 0;
}

/** What went wrong, said for a person: who refused, and what to change. */
function explain(err: unknown, inv: Invocation): string {
  const ns = inv.global.hookgateNamespace;
  if (err instanceof PluginError) return err.message;
  if (err instanceof ConsoleApiError) {
    if (err.from === 'console' && err.status === 401)
      return `the console did not accept your token: ${err.message}`;
    if (err.from === 'apiserver' && err.status === 403)
      return `the API server would not proxy you to the console: ${err.message} (reaching it needs get and create on services/proxy "hookgate-console" in ${ns}; the chart's Role hookgate-console-proxy grants that)`;
    if (err.from === 'apiserver' && (err.status === 404 || err.status === 503))
      return `the console is not reachable: ${err.message} (is it enabled in ${ns}? the chart's console.enabled)`;
    return `the console answered ${err.status}: ${err.message}`;
  }
  if (err instanceof OperatorError) return err.message;
  return (err as Error).message;
}

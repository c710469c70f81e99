// `kubectl hookgate` as users run it: its own process, their kubeconfig, the real API server's
// service proxy in front of the operator's console, real sidecars behind it. RBAC decides what each
// user sees and may replay; a replay reaches the receiver with the same webhook-id; -o json parses;
// and no secret or signature is in anything the plugin printed.
import { inject } from 'vitest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminTokenFor } from '../../operator/console/admin-token.ts';
import {
  ADMIN_TOKEN,
  APP_SECRET,
  SIGNING_SECRET,
  seedDeadLetters,
  sendWebhook,
} from '../console/harness.ts';
import {
  runPlugin,
  startPlugin,
  startPluginGround,
  PLUGIN_ADMIN_KEY,
  type PluginGround,
  type PluginRun,
} from './ground.ts';

let ground: PluginGround;
let viewer: string; // kubeconfig: get on endpoints in the visible namespace only
let oncall: string; // kubeconfig: get and update there
let deadIds: string[];
let hiddenId: string;
/** Everything every run printed, checked for secrets at the end. */
const printed: PluginRun[] = [];

async function plugin(kubeconfig: string, ...args: string[]): Promise<PluginRun> {
  const run = await runPlugin(kubeconfig, [
    ...args,
    '--hookgate-namespace',
    ground.hookgateNamespace,
  ]);
  printed.push(run);
  return run;
}

beforeAll(async () => {
  ground = await startPluginGround();
  ({ deadIds, hiddenId } = await seedDeadLetters(ground));
  viewer = ground.kubeconfigFile(ground.viewerToken);
  oncall = ground.kubeconfigFile(ground.operatorToken);
}, 120_000);

afterAll(async () => {
  await ground?.stop();
});

describe('kubectl hookgate', () => {
  it('shows a user only the namespaces RBAC lets them get, as a table and as JSON', async () => {
    const { visible, hidden } = ground.tenants;
    const table = await plugin(viewer, 'deliveries', '--state', 'dead');
    expect(table.code).toBe(0);
    const [header, ...rows] = table.stdout.trimEnd().split('\n');
    expect(header).toMatch(/^ID\s+ENDPOINT\s+EVENT TYPE\s+OUTCOME\s+ATTEMPTS\s+LAST STATUS\s+AGE$/);
    expect(rows.map((r) => r.split(/\s+/)[0]).sort()).toEqual([...deadIds].sort());
    expect(rows[0]).toMatch(/orders\s+\S+\s+dead\s+5\s+503\s+\d+s$/);

    const all = await plugin(viewer, 'deliveries', '-A', '-o', 'json');
    expect(all.code).toBe(0);
    const page = JSON.parse(all.stdout) as { items: { deliveryId: string; namespace: string }[] };
    expect(page.items.map((d) => d.deliveryId).sort()).toEqual([...deadIds].sort());
    expect(new Set(page.items.map((d) => d.namespace))).toEqual(new Set([visible.namespace]));

    const status = await plugin(viewer, 'status', '-A', '-o', 'yaml');
    expect(status.code).toBe(0);
    expect(status.stdout).toContain(`namespace: ${visible.namespace}`);
    expect(status.stdout).toContain('dead: 2');

    // The hidden namespace reads as empty, and its delivery as unknown.
    const none = await plugin(viewer, 'deliveries', '-n', hidden.namespace);
    expect(none).toMatchObject({ code: 0, stdout: '' });
    expect(none.stderr).toBe(`No resources found in ${hidden.namespace} namespace.\n`);
    for (const output of [all.stdout, status.stdout]) {
      expect(output).not.toContain(hidden.namespace);
      expect(output).not.toContain(hiddenId);
    }
    const inspect = await plugin(viewer, 'inspect', hiddenId);
    expect(inspect.code).toBe(1);
    expect(inspect.stderr).toContain(`delivery ${hiddenId} not found`);
  });

  it('refuses replay where the user may not update endpoints, exiting 1, and nothing is sent', async () => {
    const { visible, hidden } = ground.tenants;
    const own = await plugin(viewer, 'replay', deadIds[0]!);
    expect(own.code).toBe(1);
    expect(own.stderr).toContain(`needs update on webhookendpoints/orders in ${visible.namespace}`);
    const other = await plugin(viewer, 'replay', hiddenId);
    expect(other.code).toBe(1);
    expect(other.stderr).toContain('not found');
    const range = await plugin(viewer, 'replay', '--endpoint', 'orders', '--since', '1h');
    expect(range.code).toBe(1);
    const rangeHidden = await plugin(
      oncall,
      'replay',
      '--endpoint',
      'orders',
      '-n',
      hidden.namespace,
    );
    expect(rangeHidden.code).toBe(1);
    // Five attempts each, as before the refusals: no replay reached a receiver.
    expect(visible.receiver.arrivals.filter((id) => id === deadIds[0])).toHaveLength(5);
    expect(hidden.receiver.arrivals.filter((id) => id === hiddenId)).toHaveLength(5);
  });

  it('inspects a delivery with its attempts, and replays it to the receiver with the same webhook-id', async () => {
    const { visible } = ground.tenants;
    const id = deadIds[0]!;
    const described = await plugin(oncall, 'inspect', id);
    expect(described.code).toBe(0);
    expect(described.stdout).toContain(`ID:           ${id}`);
    expect(described.stdout.match(/ 503 /g)).toHaveLength(5);
    expect(described.stdout).toContain('authorization: [redacted]');
    const record = JSON.parse((await plugin(oncall, 'inspect', id, '-o', 'json')).stdout) as {
      attemptLog: unknown[];
      requestBody: string;
    };
    expect(record.attemptLog).toHaveLength(5);
    expect(record.requestBody).toContain('"customer":"acme"');

    visible.receiver.setHealthy(true);
    const replayed = await plugin(oncall, 'replay', id, '-o', 'json');
    expect(replayed.code).toBe(0);
    expect(JSON.parse(replayed.stdout)).toEqual({
      deliveryId: id,
      namespace: visible.namespace,
      result: 'replayed',
    });
    await expect.poll(() => visible.receiver.arrivals.filter((a) => a === id).length).toBe(6);

    // The other dead letter, by endpoint and time range.
    const range = await plugin(oncall, 'replay', '--endpoint', 'orders', '--since', '1h');
    expect(range).toMatchObject({
      code: 0,
      stdout: `1 dead letter of ${visible.namespace}/orders replayed\n`,
    });
    await expect.poll(() => visible.receiver.arrivals.at(-1)).toBe(deadIds[1]);
  });

  it('follows deliveries with -w until Ctrl-C, one JSON object a line', async () => {
    const { visible } = ground.tenants;
    // A failing receiver keeps deliveries in the queue, where the watch reads them.
    visible.receiver.setHealthy(false);
    const before = await sendWebhook(visible, { order: 4, customer: 'hooli' });
    const watch = startPlugin(oncall, [
      'deliveries',
      '-w',
      '-o',
      'json',
      '--hookgate-namespace',
      ground.hookgateNamespace,
    ]);
    // First what is there already, then what happens while it watches.
    await expect.poll(() => watch.output(), { timeout: 20_000 }).toContain(before);
    const fresh = await sendWebhook(visible, { order: 5, customer: 'umbrella' });
    await expect.poll(() => watch.output(), { timeout: 20_000 }).toContain(fresh);
    const run = await watch.stop();
    printed.push(run);
    expect(run.code).toBe(0);
    const lines = run.stdout
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { deliveryId: string });
    expect(lines.map((l) => l.deliveryId)).toContain(fresh);
  });

  it('tells a client-certificate user how to authenticate, and takes --token', async () => {
    const admin = await plugin(inject('kubeconfig'), 'status');
    expect(admin.code).toBe(1);
    expect(admin.stderr).toContain('has no bearer token');
    expect(admin.stderr).toContain('kubectl create token');
    const withToken = await plugin(
      inject('kubeconfig'),
      'status',
      '-n',
      ground.tenants.visible.namespace,
      '--token',
      ground.viewerToken,
    );
    expect(withToken.code).toBe(0);
    expect(withToken.stdout).toMatch(/^ENDPOINT\s+DIRECTION\s+READY/);
    expect(withToken.stdout).toContain('orders');
  });

  it('exits 2 on usage errors, and 1 when the console is not there', async () => {
    expect((await plugin(viewer, 'deliveries', '--state', 'lost')).code).toBe(2);
    const off = await runPlugin(viewer, ['status', '--hookgate-namespace', 'no-hookgate-here']);
    printed.push(off);
    expect(off.code).toBe(1);
    expect(off.stderr).toContain('the API server would not proxy you to the console');
    const console = await runPlugin(viewer, [
      'console',
      '--hookgate-namespace',
      'no-hookgate-here',
    ]);
    printed.push(console);
    expect(console.code).toBe(1);
  });

  it('reached each sidecar with its own namespace admin token, which opens no other namespace', async () => {
    const { visible, hidden } = ground.tenants;
    const queueOf = (tenant: typeof hidden, namespace: string): Promise<number> =>
      fetch(`http://${ground.podIp}:${new URL(tenant.sidecar.admin).port}/queue/deliveries`, {
        headers: { authorization: `Bearer ${adminTokenFor(PLUGIN_ADMIN_KEY, namespace)}` },
      }).then(async (r) => (await r.text(), r.status));
    expect(await queueOf(hidden, hidden.namespace)).toBe(200);
    expect(await queueOf(hidden, visible.namespace)).toBe(403);
  });

  it('printed no secret and no signature in any run', () => {
    const { visible, hidden } = ground.tenants;
    expect(printed.length).toBeGreaterThan(10);
    const everything = printed.map((r) => r.stdout + r.stderr).join('\n');
    const signatures = Object.values(ground.tenants).flatMap((t) =>
      t.receiver.signatures.flatMap((s) => s.split(' ')),
    );
    expect(signatures.length).toBeGreaterThan(0);
    for (const secret of [
      APP_SECRET,
      SIGNING_SECRET,
      SIGNING_SECRET.slice(6),
      ADMIN_TOKEN,
      ...[visible, hidden].map((t) => adminTokenFor(PLUGIN_ADMIN_KEY, t.namespace)),
      ground.operatorToken,
      ground.viewerToken,
      ...signatures,
    ])
      expect(everything).not.toContain(secret);
  });
});

// The sidecar as a process: started with --config, hot-reloading its file without dropping a
// request in flight, keeping the last good config on a bad one, and — four of them sharing one
// Redis — holding a global rate limit together.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { freePort } from '../cluster/process.ts';
import { uniqueName } from '../support/kube.ts';
import { LOOPBACK_ALLOWED, startReceiver, type Receiver } from './harness.ts';

const root = resolve(import.meta.dirname, '../..');
const children: ChildProcess[] = [];
const receivers: Receiver[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  for (const r of receivers.splice(0)) await r.close();
});

interface Sidecar {
  egress: string;
  admin: string;
  logs: Record<string, unknown>[];
}

/** Starts `node sidecar/main.ts --config <file>` and waits until /readyz says ready. */
async function startSidecar(configPath: string, env: NodeJS.ProcessEnv = {}): Promise<Sidecar> {
  const adminPort = await freePort();
  const child = spawn(process.execPath, [join(root, 'sidecar/main.ts'), '--config', configPath], {
    env: { ...process.env, HOOKGATE_ADMIN_ADDR: `127.0.0.1:${adminPort}`, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  const logs: Record<string, unknown>[] = [];
  let egressPort = 0;
  createInterface({ input: child.stdout }).on('line', (line) => {
    const entry = JSON.parse(line) as Record<string, unknown>;
    logs.push(entry);
    if (entry['msg'] === 'egress listening') egressPort = entry['port'] as number;
  });
  const admin = `http://127.0.0.1:${adminPort}`;
  await expect
    .poll(async () => (await fetch(`${admin}/readyz`).catch(() => undefined))?.status, {
      timeout: 15_000,
    })
    .toBe(200);
  return { egress: `http://127.0.0.1:${egressPort}`, admin, logs };
}

/** Writes `text` to `path` the way kubelet updates a ConfigMap volume: a new file renamed in. */
function writeAtomically(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

const endpointConfig = (generation: number, url: string, extra = ''): string =>
  `generation: ${generation}\nlisten: { egress: "127.0.0.1:0", ingress: "127.0.0.1:0" }\nendpoints:\n  - name: orders\n    url: ${url}\n    policy: { ${LOOPBACK_ALLOWED}${extra} }\n`;

describe('hookgate-sidecar process', () => {
  it('hot-reloads its config without dropping an in-flight delivery, and keeps the last good one', async () => {
    const slow = await startReceiver((_n, _req, res) => setTimeout(() => res.end('old'), 700));
    const fresh = await startReceiver((_n, _req, res) => res.end('new'));
    receivers.push(slow, fresh);
    const dir = mkdtempSync(join(tmpdir(), 'hookgate-sidecar-'));
    const path = join(dir, 'sidecar.yaml');
    writeFileSync(path, endpointConfig(1, slow.url));
    const sidecar = await startSidecar(path);

    const inFlight = fetch(`${sidecar.egress}/orders`, { method: 'POST', body: '{}' });
    await expect.poll(() => slow.received.length).toBe(1);
    writeAtomically(path, endpointConfig(2, fresh.url));
    await expect
      .poll(
        async () =>
          ((await (await fetch(`${sidecar.admin}/config`)).json()) as { generation: number })
            .generation,
      )
      .toBe(2);
    const old = await inFlight;
    expect([old.status, await old.text()]).toEqual([200, 'old']);
    expect(
      await (await fetch(`${sidecar.egress}/orders`, { method: 'POST', body: '{}' })).text(),
    ).toBe('new');

    writeAtomically(path, 'generation: 3\nendpoints: [{ name: orders, url: "not a url" }]\n');
    await expect
      .poll(() =>
        sidecar.logs.some(
          (l) => l['msg'] === 'new configuration refused, keeping the last good one',
        ),
      )
      .toBe(true);
    const refusal = sidecar.logs.find(
      (l) => l['msg'] === 'new configuration refused, keeping the last good one',
    )!;
    expect(refusal['problems']).toBe('endpoints[0].url: use an absolute http:// or https:// URL');
    expect(
      ((await (await fetch(`${sidecar.admin}/config`)).json()) as { generation: number })
        .generation,
    ).toBe(2);
    expect(
      await (await fetch(`${sidecar.egress}/orders`, { method: 'POST', body: '{}' })).text(),
    ).toBe('new');
  });

  it('refuses to start on a bad config, listing every problem, exit status 2', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hookgate-sidecar-'));
    const path = join(dir, 'sidecar.yaml');
    writeFileSync(path, 'endpoints: [{ name: Orders, url: "ftp://x" }]\n');
    const child = spawn(process.execPath, [join(root, 'sidecar/main.ts'), '--config', path], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    expect(await new Promise((r) => child.once('exit', r))).toBe(2);
    expect(stderr).toContain('endpoints[0].name: use lower-case letters');
    expect(stderr).toContain('endpoints[0].url: use an absolute http:// or https:// URL');
  });

  it('runs examples/sidecar.yaml standalone and describes it on /config without secrets', async () => {
    const secret = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    const dir = mkdtempSync(join(tmpdir(), 'hookgate-example-'));
    const path = join(dir, 'sidecar.yaml');
    // The example listens on the standard ports; this test moves egress to a free one.
    const example = (await import('node:fs')).readFileSync(
      join(root, 'examples/sidecar.yaml'),
      'utf8',
    );
    writeFileSync(path, `${example}\nlisten: { egress: "127.0.0.1:0", ingress: "127.0.0.1:0" }\n`);
    const sidecar = await startSidecar(path, {
      ORDERS_SIGNING_SECRET: secret,
      GITHUB_WEBHOOK_SECRET: 'gh-secret',
    });
    const described = await (await fetch(`${sidecar.admin}/config`)).text();
    expect(JSON.parse(described)).toMatchObject({
      generation: 1,
      namespace: 'shop',
      endpoints: [
        {
          name: 'acme-orders',
          // The origin only (issue 15, item 4): a URL's path may be a capability.
          url: 'https://hooks.acme.example',
          signing: 'standard-webhooks',
          policy: 'customers-strict',
        },
      ],
      dynamicRoutes: 1,
      ingress: [{ name: 'github', path: '/github', verify: 'github' }],
    });
    expect(described).not.toContain(secret);
    expect(described).not.toContain('gh-secret');
    expect(described).not.toContain('/orders');
  });
});

describe('global rate limit across sidecars', () => {
  it('holds N/s across 4 sidecar processes sharing one Redis (never 10% over)', async () => {
    const arrivals: number[] = [];
    const receiver = await startReceiver((_n, _req, res) => {
      arrivals.push(performance.now());
      res.end('ok');
    });
    receivers.push(receiver);
    const dir = mkdtempSync(join(tmpdir(), 'hookgate-global-'));
    const path = join(dir, 'sidecar.yaml');
    const rate = 40;
    // A fresh namespace per run keeps this test's Redis keys its own.
    writeFileSync(
      path,
      `namespace: ${uniqueName('global')}\n${endpointConfig(1, receiver.url, `, rateLimit: { rate: ${rate}, per: second, burst: 1, scope: global }, retry: { syncDeadline: 50ms }`)}`,
    );
    const sidecars = await Promise.all(
      Array.from({ length: 4 }, () =>
        startSidecar(path, { HOOKGATE_REDIS_URL: inject('redisUrl') }),
      ),
    );
    // Each sidecar gets more than the whole limit: 4 senders in a closed loop per sidecar.
    const durationMs = 3000;
    const stopAt = Date.now() + durationMs;
    const statuses: number[] = [];
    const sender = async (egress: string): Promise<void> => {
      while (Date.now() < stopAt) {
        const res = await fetch(`${egress}/orders`, { method: 'POST', body: '{}' });
        statuses.push(res.status);
        await res.arrayBuffer();
      }
    };
    await Promise.all(sidecars.flatMap((s) => Array.from({ length: 4 }, () => sender(s.egress))));
    // The rate held: deliveries per second between the first and the last arrival (the burst of
    // one is the first arrival itself).
    const held = ((arrivals.length - 1) * 1000) / (arrivals.at(-1)! - arrivals[0]!);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(arrivals.length);
    expect(arrivals.length).toBeGreaterThan(rate);
    // Never more than the limit (+10%): that is the limiter's promise. Under it only by what a
    // starved machine costs: 16 closed-loop senders on 2 shared cores, while other test files
    // run, cannot always offer 40/s to the limiter (seen: 28/s at load 11), so the floor is
    // looser; a limiter that throttles far below its rate still fails.
    expect(held).toBeLessThanOrEqual(rate * 1.1);
    expect(held).toBeGreaterThanOrEqual(rate * 0.6);
  });
});

describe('round trip through one sidecar', () => {
  it('egress signs (Standard Webhooks), ingress verifies, the app receives; a replayed copy is dropped', async () => {
    const app = await startReceiver((_n, _req, res) => res.end('{"handled":true}'));
    receivers.push(app);
    const ingressPort = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'hookgate-roundtrip-'));
    writeFileSync(join(dir, 'whsec'), 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
    const path = join(dir, 'sidecar.yaml');
    writeFileSync(
      path,
      [
        `listen: { egress: "127.0.0.1:0", ingress: "127.0.0.1:${ingressPort}" }`,
        'endpoints:',
        '  - name: partner',
        `    url: http://127.0.0.1:${ingressPort}/from-partner`,
        '    signing: { secrets: [{ source: { file: whsec } }] }',
        `    policy: { ${LOOPBACK_ALLOWED} }`,
        'ingress:',
        '  - name: from-partner',
        '    path: /from-partner',
        '    verify: { scheme: standard-webhooks, secrets: [{ file: whsec }] }',
        `    forward: { port: ${app.port}, path: /webhooks }`,
      ].join('\n'),
    );
    const sidecar = await startSidecar(path);
    const sent = await fetch(`${sidecar.egress}/partner`, {
      method: 'POST',
      body: '{"type":"invoice.paid"}',
    });
    expect([sent.status, await sent.text()]).toEqual([200, '{"handled":true}']);
    expect(app.received).toHaveLength(1);
    const delivered = app.received[0]!;
    expect(delivered.url).toBe('/webhooks');
    expect(delivered.body.toString()).toBe('{"type":"invoice.paid"}');
    expect(delivered.headers['hookgate-verified']).toBe('standard-webhooks');
    expect(delivered.headers['webhook-id']).toBe(sent.headers.get('hookgate-delivery-id'));

    // The same signed delivery again (a retry the receiver already handled) never reaches the app twice.
    const replay = await fetch(`http://127.0.0.1:${ingressPort}/from-partner`, {
      method: 'POST',
      body: delivered.body,
      headers: {
        'webhook-id': String(delivered.headers['webhook-id']),
        'webhook-timestamp': String(delivered.headers['webhook-timestamp']),
        'webhook-signature': String(delivered.headers['webhook-signature']),
      },
    });
    expect(replay.status).toBe(200);
    expect(replay.headers.get('hookgate-duplicate')).toBe('true');
    expect(app.received).toHaveLength(1);
  });
});

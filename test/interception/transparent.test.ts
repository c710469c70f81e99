// Transparent interception end to end, in network namespaces the test makes (needs root): an
// unmodified app in a "pod" namespace POSTs to http://receiver.example/hook and receives webhooks
// on its own port 8080; the rules come from the init container's own command; the sidecar runs
// as UID 15000 (its traffic excluded by owner match). The receiver in the "world" namespace sees
// only signed requests (judged by the standardwebhooks library), over TLS the sidecar originated,
// after a retry; a signed webhook from the world reaches the app, a forged one does not; nothing
// takes a way around the sidecar on the captured ports, IPv6 included.
//
// Running the sidecar as UID 15000: the Node binary and the checkout may sit under a directory
// that UID cannot enter (CI clones under root's HOME, mode 0700). The sidecar is started in its
// own mount namespace (the one `ip netns exec` makes) where the checkout and Node's folder are
// bind-mounted onto empty directories in a world-readable temp folder: a bind mount is entered
// without walking the parents' permissions, nothing is copied, and the host's mounts are untouched.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { Webhook } from 'standardwebhooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { interceptionInitContainer } from '../../sidecar/interception/init-container.ts';
import type { InterceptionMode } from '../../sidecar/interception/rules.ts';
import { NetnsLab, Peer, POD_IP, POD_IP6, WORLD_IP, WORLD_IP6, run } from './netns.ts';

const REPO = resolve(import.meta.dirname, '../..');
const PEER = join(REPO, 'test/interception/fixtures/peer.ts');
const PROXY_UID = 15000;
const APP_PORT = 8080;
const isRoot = process.getuid?.() === 0;

const secret = (): string => `whsec_${randomBytes(24).toString('base64')}`;

/** A self-signed certificate for receiver.example: the sidecar trusts it via NODE_EXTRA_CA_CERTS. */
function makeCertificate(dir: string): { cert: string; key: string } {
  const cert = join(dir, 'receiver.crt');
  const key = join(dir, 'receiver.key');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      key,
      '-out',
      cert,
      '-days',
      '2',
      '-subj',
      '/CN=receiver.example',
      '-addext',
      'subjectAltName=DNS:receiver.example',
    ],
    { stdio: 'pipe' },
  );
  return { cert, key };
}

describe.skipIf(!isRoot).each<InterceptionMode>(['iptables', 'nftables', 'iptables-legacy'])(
  'transparent interception, mode %s (runs as root only: ip netns, iptables)',
  (mode) => {
    // Made in beforeAll, not here: a suite skipped for want of root must leave nothing behind.
    let lab: NetnsLab | undefined;
    let work: string | undefined;
    const receiverSecret = secret();
    const paymentsSecret = secret();
    let app: Peer;
    let world: Peer;
    let sidecar: Peer;

    beforeAll(async () => {
      lab = new NetnsLab();
      work = mkdtempSync('/tmp/hookgate-interception-');
      // UID 15000 must reach the config and the bind-mount points: world-readable, nothing secret.
      chmodSync(work, 0o755);
      const config = join(work, 'config');
      mkdirSync(config, { mode: 0o755 });
      mkdirSync(join(work, 'repo'), { mode: 0o755 });
      mkdirSync(join(work, 'node'), { mode: 0o755 });
      const tls = makeCertificate(config);
      writeFileSync(join(config, 'receiver.secret'), receiverSecret, { mode: 0o644 });
      writeFileSync(join(config, 'payments.secret'), paymentsSecret, { mode: 0o644 });
      writeFileSync(
        join(config, 'sidecar.yaml'),
        [
          'namespace: lab',
          'endpoints:',
          '  - name: receiver',
          '    url: https://receiver.example/hook',
          '    signing:',
          '      scheme: standard-webhooks',
          '      secrets: [{ source: { file: receiver.secret } }]',
          '    policy:',
          '      retry: { maxAttempts: 4, backoff: { initial: 10ms, max: 20ms } }',
          `      destinations: { allowedCIDRs: ['${WORLD_IP}/32'] }`,
          'ingress:',
          '  - name: payments',
          '    path: /webhooks/payments',
          '    verify: { scheme: standard-webhooks, secrets: [{ file: payments.secret }] }',
          `    forward: { port: ${APP_PORT} }`,
          '',
        ].join('\n'),
        { mode: 0o644 },
      );
      for (const f of [tls.cert, tls.key]) chmodSync(f, 0o644);

      await lab.create(['receiver.example', 'other.example']);

      world = new Peer(
        lab.spawn(lab.world, [
          process.execPath,
          PEER,
          JSON.stringify({
            listen: [
              { name: 'receiver', port: 443, host: WORLD_IP, tls, failFirst: 1 },
              { name: 'http', port: 80, host: '::' },
              { name: 'direct', port: 9000, host: '::' },
            ],
          }),
        ]),
      );
      await world.waitFor((e) => e['event'] === 'listening', 'the world listening');

      // The rules: exactly what the injected init container runs, from the same function.
      const init = interceptionInitContainer({
        pod: {
          metadata: {
            annotations: {
              'hookgate.io/interception': 'transparent',
              'hookgate.io/interception-mode': mode,
            },
          },
        },
        appPorts: [APP_PORT],
        proxyUid: PROXY_UID,
        image: 'ghcr.io/hookgate/sidecar:test',
      });
      expect(init.command).toEqual(['hookgate-sidecar']);
      await run('ip', [
        'netns',
        'exec',
        lab.pod,
        process.execPath,
        join(REPO, 'sidecar/main.ts'),
        ...(init.args ?? []),
      ]);

      const node = realpathSync(process.execPath);
      const mnt = work;
      sidecar = new Peer(
        lab.spawn(
          lab.pod,
          [
            'sh',
            '-c',
            [
              'set -e',
              'mount --bind "$1" "$3/repo"',
              'mount --bind "$2" "$3/node"',
              `exec setpriv --reuid=${PROXY_UID} --regid=${PROXY_UID} --clear-groups -- "$3/node/$4" "$3/repo/sidecar/main.ts" --config "$3/config/sidecar.yaml"`,
            ].join('\n'),
            'sh',
            REPO,
            dirname(node),
            mnt,
            basename(node),
          ],
          {
            ...process.env,
            HOOKGATE_ADMIN_ADDR: '127.0.0.1:15020',
            HOOKGATE_INTERCEPTION: 'transparent',
            NODE_EXTRA_CA_CERTS: tls.cert,
          },
        ),
      );
      await sidecar.waitFor((e) => e['msg'] === 'ingress listening', 'the sidecar listening');

      app = new Peer(
        lab.spawn(lab.pod, [
          process.execPath,
          PEER,
          JSON.stringify({ listen: [{ name: 'app', port: APP_PORT, host: '::' }] }),
        ]),
      );
      await app.waitFor((e) => e['event'] === 'listening', 'the app listening');
    }, 120_000);

    afterAll(async () => {
      await lab?.destroy();
      if (work !== undefined) rmSync(work, { recursive: true, force: true });
    });

    it('runs the sidecar as UID 15000', async () => {
      const pids = (await run('ip', ['netns', 'pids', lab!.pod])).split('\n').filter(Boolean);
      const sidecars = pids.filter((pid) =>
        readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('sidecar/main.ts'),
      );
      expect(sidecars).toHaveLength(1);
      const status = readFileSync(`/proc/${sidecars[0]}/status`, 'utf8');
      expect(/^Uid:\s+(\d+)/m.exec(status)?.[1]).toBe(String(PROXY_UID));
    });

    it("signs, retries and TLS-originates the app's plain POST to http://receiver.example/hook", async () => {
      const body = JSON.stringify({ type: 'order.created', id: 42 });
      const answer = await app.request({
        url: 'http://receiver.example/hook',
        headers: { 'content-type': 'application/json' },
        body,
      });
      expect(answer['event']).toBe('response');
      expect(answer['status']).toBe(200);
      const headers = answer['headers'] as Record<string, string>;
      expect(headers['hookgate-attempts']).toBe('2');

      const seen = world.received('receiver');
      expect(seen).toHaveLength(2); // a 503, then the retry
      const judge = new Webhook(receiverSecret);
      for (const request of seen) {
        const h = request['headers'] as Record<string, string>;
        // Every request the receiver saw is signed: the library throws on a bad signature.
        expect(judge.verify(request['body'] as string, h)).toEqual(JSON.parse(body));
        expect(h['host']).toBe('receiver.example');
        expect(h['webhook-id']).toBe(headers['hookgate-delivery-id']);
        expect(request['remote']).toBe(POD_IP);
      }
    });

    it('verifies webhooks arriving on the app port: a signed one reaches the app, a forged one does not', async () => {
      const payload = JSON.stringify({ type: 'payment.succeeded' });
      const signer = new Webhook(paymentsSecret);
      const id = `msg_${randomBytes(8).toString('hex')}`;
      const now = new Date();
      const signed = {
        'content-type': 'application/json',
        'webhook-id': id,
        'webhook-timestamp': String(Math.floor(now.getTime() / 1000)),
        'webhook-signature': signer.sign(id, now, payload),
      };
      const ok = await world.request({
        url: `http://${POD_IP}:${APP_PORT}/webhooks/payments`,
        headers: signed,
        body: payload,
      });
      expect(ok['status']).toBe(200);
      const delivered = app.received('app');
      expect(delivered).toHaveLength(1);
      const got = delivered[0]!;
      expect(got['body']).toBe(payload);
      expect((got['headers'] as Record<string, string>)['hookgate-verified']).toBe(
        'standard-webhooks',
      );
      // Forwarded by the sidecar on loopback, not captured a second time.
      expect(['127.0.0.1', '::ffff:127.0.0.1']).toContain(got['remote']);

      const forgedId = `msg_${randomBytes(8).toString('hex')}`;
      const forged = await world.request({
        url: `http://${POD_IP}:${APP_PORT}/webhooks/payments`,
        headers: {
          ...signed,
          'webhook-id': forgedId,
          'webhook-signature': new Webhook(secret()).sign(forgedId, now, payload),
        },
        body: payload,
      });
      expect(forged['status']).toBe(401);
      // A path that is not a webhook gets no way in either (documented: refused, 404).
      const other = await world.request({ url: `http://${POD_IP}:${APP_PORT}/admin`, body: '' });
      expect(other['status']).toBe(404);
      expect(app.received('app')).toHaveLength(1);
    });

    it('leaves no way around the sidecar on captured ports, and follows the documented rule elsewhere', async () => {
      // A host no endpoint names: passed through by the sidecar (Via), unsigned, by default.
      const passed = await app.request({ url: 'http://other.example/ping', method: 'GET' });
      expect(passed['status']).toBe(200);
      const atHttp = world.received('http');
      expect(atHttp).toHaveLength(1);
      const h = atHttp[0]!['headers'] as Record<string, string>;
      expect(h['via']).toBe('1.1 hookgate');
      expect(h['webhook-signature']).toBeUndefined();

      // A port that is not captured: the app's own connection, as documented (NetworkPolicy's job).
      const direct = await app.request({ url: `http://${WORLD_IP}:9000/direct`, body: 'x' });
      expect(direct['status']).toBe(200);
      expect(
        (world.received('direct')[0]!['headers'] as Record<string, string>)['via'],
      ).toBeUndefined();

      // IPv6 on a captured port is reset in both directions: the sidecar listens on IPv4 only.
      const v6out = await app.request({ url: `http://[${WORLD_IP6}]:80/v6`, body: 'x' });
      expect(v6out['event']).toBe('error');
      const v6in = await world.request({
        url: `http://[${POD_IP6}]:${APP_PORT}/webhooks/payments`,
        body: '{}',
      });
      expect(v6in['event']).toBe('error');
      expect(world.received('http')).toHaveLength(1);
      expect(app.received('app')).toHaveLength(1);

      // Only signed requests ever reached the receiver.
      const judge = new Webhook(receiverSecret);
      for (const r of world.received('receiver')) {
        expect(() =>
          judge.verify(r['body'] as string, r['headers'] as Record<string, string>),
        ).not.toThrow();
      }
    });
  },
);

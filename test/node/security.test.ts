// The injected sidecar's security context as the kubelet and runc really apply it: UID 15000, no
// capabilities, a read-only root file system, writes only to its emptyDir.
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { kubectl, type Pod } from './kube.ts';
import { deployOrders, prepareNamespace, removeNamespace } from './workloads.ts';

const unsupported = inject('nodeUnsupported');

/** Runs a Node snippet inside the sidecar container and returns what it printed. */
function inSidecar(namespace: string, pod: string, code: string): Promise<string> {
  return kubectl(['-n', namespace, 'exec', pod, '-c', 'hookgate-proxy', '--', 'node', '-e', code]);
}

describe.skipIf(unsupported !== '')('the sidecar security context on the node', () => {
  let namespace = '';
  let app: Pod;

  beforeAll(async () => {
    ({ namespace } = await prepareNamespace('node-security'));
    app = await deployOrders(namespace);
  });

  afterAll(() => removeNamespace(namespace));

  it('runs as UID/GID 15000 with no capabilities in any set', async () => {
    const out = await inSidecar(
      namespace,
      app.metadata.name,
      `const s = require('fs').readFileSync('/proc/1/status', 'utf8');
       console.log(JSON.stringify({ uid: process.getuid(), gid: process.getgid(),
         caps: s.split('\\n').filter((l) => /^Cap(Inh|Prm|Eff|Bnd|Amb):/.test(l)).map((l) => l.split(/\\s+/)[1]) }));`,
    );
    const seen = JSON.parse(out) as { uid: number; gid: number; caps: string[] };
    expect(seen.uid).toBe(15000);
    expect(seen.gid).toBe(15000);
    expect(seen.caps).toEqual(Array(5).fill('0000000000000000'));
  });

  it('cannot write its root file system or its config, and can write its emptyDir', async () => {
    const out = await inSidecar(
      namespace,
      app.metadata.name,
      `const fs = require('fs');
       const tryWrite = (p) => { try { fs.writeFileSync(p, 'x'); return 'ok'; } catch (e) { return e.code; } };
       console.log(JSON.stringify({ root: tryWrite('/app/x'), tmp: tryWrite('/tmp/x'),
         config: tryWrite('/etc/hookgate/config/x'), data: tryWrite('/var/lib/hookgate/probe') }));`,
    );
    expect(JSON.parse(out)).toEqual({ root: 'EROFS', tmp: 'EROFS', config: 'EROFS', data: 'ok' });
  });

  it('holds its own projected token (our audience, bound to its pod) and not the namespace Secret (ADR 0020)', async () => {
    const out = await inSidecar(
      namespace,
      app.metadata.name,
      `const fs = require('fs');
       const t = fs.readFileSync('/var/run/secrets/hookgate.io/token', 'utf8').split('.');
       const c = JSON.parse(Buffer.from(t[1], 'base64url').toString());
       console.log(JSON.stringify({ secrets: fs.existsSync('/etc/hookgate/secrets'),
         aud: c.aud, pod: c['kubernetes.io'].pod.name, life: c.exp - c.iat }));`,
    );
    expect(JSON.parse(out)).toEqual({
      secrets: false,
      aud: ['hookgate.io/sidecar'],
      pod: app.metadata.name,
      life: 600,
    });
  });
});

// The operator as bench/config-push measures it, in a process of its own so its RSS and CPU are
// its own: the reconciler (one namespace, leader election off) and the config server on one
// replica, the way operator/main.ts composes them, with a serving certificate from a throwaway CA.
//
//   node bench/config-push/server.ts <kubeconfig> <namespace> <ca-out.pem>
//
// Prints one JSON line `{"port": N}` once the caches are listed and the server listens; stops on
// SIGTERM.
import { writeFileSync } from 'node:fs';
import { Registry } from 'prom-client';
import { createLogger } from '../../common/log.ts';
import { systemClock } from '../../operator/clock.ts';
import { SidecarAuthenticator } from '../../operator/config-server/auth.ts';
import { startConfigServer } from '../../operator/config-server/server.ts';
import { Operator } from '../../operator/controller.ts';
import { createCertificate } from '../../operator/certs/x509.ts';
import { KubeClient } from '../../operator/kube/client.ts';
import { loadClusterAccess } from '../../operator/kube/config.ts';

const [kubeconfig, namespace, caOut] = process.argv.slice(2);
if (kubeconfig === undefined || namespace === undefined || caOut === undefined) {
  process.stderr.write('usage: server.ts <kubeconfig> <namespace> <ca-out.pem>\n');
  process.exit(2);
}
const log = createLogger({ program: 'bench-operator' }, 'warn', (line) =>
  process.stderr.write(`${line}\n`),
);
const client = new KubeClient(await loadClusterAccess(kubeconfig));
const registry = new Registry();
const operator = new Operator({
  client,
  log,
  registry,
  identity: 'bench-config-push',
  namespaces: [namespace],
  workers: 2,
});
await operator.start();

const now = new Date();
const later = new Date(now.getTime() + 24 * 3600_000);
const ca = createCertificate({
  commonName: 'bench CA',
  notBefore: now,
  notAfter: later,
  isCA: true,
});
const serving = createCertificate({
  commonName: '127.0.0.1',
  notBefore: now,
  notAfter: later,
  isCA: false,
  hosts: ['127.0.0.1', 'localhost'],
  issuer: ca,
});
writeFileSync(caOut, ca.certPem);
const server = await startConfigServer({
  host: '127.0.0.1',
  port: 0,
  certificate: serving,
  caches: operator.caches,
  authenticator: new SidecarAuthenticator({ client, clock: systemClock, cacheMs: 10 * 60_000 }),
  ready: () => operator.readiness(),
  log,
  registry,
});
process.stdout.write(`${JSON.stringify({ port: server.port })}\n`);

process.once('SIGTERM', () => {
  void (async (): Promise<void> => {
    await server.close();
    await operator.stop();
    await client.close();
  })();
});

#!/usr/bin/env node
// hookgate-sidecar: the data plane next to each app container. Today it runs the admin server
// (health, readiness, metrics); it reports not-ready until a proxy configuration is loaded.
import { startAdminServer } from '../common/admin.ts';
import { onShutdown, startProgram } from '../common/cli.ts';
import { createRegistry } from '../common/metrics.ts';

const usage = `Usage: hookgate-sidecar [--help | --version]

Runs next to an application container. Admin server: /healthz, /readyz, /metrics.
Environment:
  HOOKGATE_ADMIN_ADDR   admin listen address (default 0.0.0.0:15020)
  HOOKGATE_LOG_LEVEL    debug | info | warn | error (default info)
`;

const start = startProgram('sidecar', usage, '0.0.0.0:15020');
if (start !== undefined) {
  const { log, admin } = start;
  const server = await startAdminServer(admin.host, admin.port, {
    registry: createRegistry('sidecar'),
    readiness: [{ name: 'config', check: () => Promise.resolve('no configuration loaded') }],
  });
  log.info('admin server listening', { host: admin.host, port: server.port });
  onShutdown(log, () => server.close());
}

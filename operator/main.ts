#!/usr/bin/env node
// hookgate-operator: the control plane. Today it connects to the Kubernetes API server and runs
// the admin server; /readyz reports whether the API server answers.
import { KubeConfig, VersionApi } from '@kubernetes/client-node';
import { startAdminServer } from '../common/admin.ts';
import { onShutdown, startProgram } from '../common/cli.ts';
import { createRegistry } from '../common/metrics.ts';

const usage = `Usage: hookgate-operator [--help | --version]

Reconciles hookgate.io resources. Admin server: /healthz, /readyz, /metrics.
Environment:
  KUBECONFIG            kubeconfig outside a cluster (default: in-cluster, then ~/.kube/config)
  HOOKGATE_ADMIN_ADDR   admin listen address (default 0.0.0.0:8080)
  HOOKGATE_LOG_LEVEL    debug | info | warn | error (default info)
`;

const start = startProgram('operator', usage, '0.0.0.0:8080');
if (start !== undefined) {
  const { log, admin } = start;
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromDefault();
  const server = kubeConfig.getCurrentCluster()?.server ?? '(none)';
  const versionApi = kubeConfig.makeApiClient(VersionApi);
  const apiServerReachable = async (): Promise<string | undefined> => {
    try {
      await versionApi.getCode();
      return undefined;
    } catch (err) {
      return `API server ${server} unreachable: ${(err as Error).message}`;
    }
  };
  const adminServer = await startAdminServer(admin.host, admin.port, {
    registry: createRegistry('operator'),
    readiness: [{ name: 'kubernetes', check: apiServerReachable }],
  });
  log.info('admin server listening', {
    host: admin.host,
    port: adminServer.port,
    apiServer: server,
  });
  const reason = await apiServerReachable();
  if (reason === undefined) log.info('connected to the API server', { apiServer: server });
  else log.warn('API server not reachable yet', { reason });
  onShutdown(log, () => adminServer.close());
}

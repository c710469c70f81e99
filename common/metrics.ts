// One Prometheus registry per program. Hookgate's own metrics carry the `hookgate_` prefix; the
// Node.js runtime's default metrics keep their conventional `process_*` / `nodejs_*` names.
import { Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { VERSION } from './version.ts';

/** Creates the registry for `program`, with runtime metrics and `hookgate_build_info`. */
export function createRegistry(program: 'operator' | 'sidecar'): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const info = new Gauge({
    name: 'hookgate_build_info',
    help: 'Always 1; labels say which Hookgate program and version is running.',
    labelNames: ['program', 'version', 'node'],
    registers: [registry],
  });
  info.set({ program, version: VERSION, node: process.versions.node }, 1);
  return registry;
}

#!/usr/bin/env node
// hookgate-sidecar's entry. `hookgate-sidecar iptables …` is the transparent-interception init
// container's job: it loads the rules code only, not the proxy and its dependencies, so the init
// container starts fast. Everything else is the proxy (sidecar/proxy.ts), started with a V8 heap
// sized for the container's memory limit.
if (process.argv[2] === 'iptables') {
  const { runInterceptionCommand } = await import('./interception/cli.ts');
  process.exitCode = runInterceptionCommand(process.argv.slice(3));
} else {
  // The heap is sized from the container's memory limit before the proxy loads (ADR 0016).
  const { startWithHeapBudget } = await import('./budget/relaunch.ts');
  startWithHeapBudget();
  await import('./proxy.ts');
}

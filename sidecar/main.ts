#!/usr/bin/env node
// hookgate-sidecar's entry. `hookgate-sidecar iptables …` is the transparent-interception init
// container's job: it loads the rules code only, not the proxy and its dependencies, so the init
// container starts fast. Everything else is the proxy (sidecar/proxy.ts).
if (process.argv[2] === 'iptables') {
  const { runInterceptionCommand } = await import('./interception/cli.ts');
  process.exitCode = runInterceptionCommand(process.argv.slice(3));
} else {
  await import('./proxy.ts');
}

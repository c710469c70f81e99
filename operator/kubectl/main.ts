#!/usr/bin/env node
// kubectl-hookgate: `kubectl hookgate ...` finds this program on PATH (kubectl's plugin rule).
// The real process: argv, stdout/stderr, the environment, the clock and Ctrl-C, handed to run().
import { homedir } from 'node:os';
import { run } from './run.ts';

const stop = new AbortController();
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => stop.abort());

process.exitCode = await run(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  home: homedir(),
  now: Date.now,
  signal: stop.signal,
});

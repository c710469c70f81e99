// What both programs do before their real work: answer --help / --version, read the admin
// address and log level from the environment, and stop cleanly on SIGTERM / SIGINT.
import { ENV_ADMIN_ADDR, ENV_LOG_LEVEL } from './env.ts';
import { createLogger, parseLogLevel, type Logger } from './log.ts';
import { VERSION } from './version.ts';

/** Parsed `host:port`. */
export interface ListenAddress {
  host: string;
  port: number;
}

/** Parses `host:port` (`[::1]:15020` for IPv6); the error names the variable and the fix. */
export function parseListenAddress(variable: string, value: string): ListenAddress {
  const match = /^(\[[^\]]+\]|[^:]+):(\d{1,5})$/.exec(value);
  const port = Number(match?.[2]);
  if (match === null || port > 65535) {
    throw new Error(`${variable}="${value}" is not host:port (for example 0.0.0.0:15020)`);
  }
  return { host: match[1]!.replace(/^\[|\]$/g, ''), port };
}

/** Start-up settings shared by both programs. */
export interface ProgramStart {
  log: Logger;
  admin: ListenAddress;
  /** Values of the `valueFlags` given on the command line (`--name value` or `--name=value`). */
  flags: Record<string, string>;
}

/** Parses `--name value` / `--name=value` for the allowed names; anything else is an error. */
export function parseFlags(
  argv: readonly string[],
  allowed: readonly string[],
): Record<string, string> {
  const flags: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const match = /^--([a-z][a-z-]*)(?:=(.*))?$/.exec(arg);
    if (match === null || !allowed.includes(match[1]!)) {
      throw new Error(`unknown argument "${arg}" (see --help)`);
    }
    const value = match[2] ?? argv[++i];
    if (value === undefined || value === '') throw new Error(`--${match[1]} needs a value`);
    flags[match[1]!] = value;
  }
  return flags;
}

/**
 * Handles `--help` / `--version` (returns undefined: the program should exit), else returns the
 * logger and admin address. Configuration errors are printed whole and exit with status 2.
 */
export function startProgram(
  program: 'operator' | 'sidecar',
  usage: string,
  defaultAdminAddr: string,
  argv: readonly string[] = process.argv.slice(2),
  valueFlags: readonly string[] = [],
): ProgramStart | undefined {
  if (argv.includes('--version')) {
    process.stdout.write(`hookgate-${program} ${VERSION}\n`);
    return undefined;
  }
  if (argv.includes('--help')) {
    process.stdout.write(usage);
    return undefined;
  }
  try {
    const flags = parseFlags(argv, valueFlags);
    const level = parseLogLevel(process.env[ENV_LOG_LEVEL]);
    const admin = parseListenAddress(
      ENV_ADMIN_ADDR,
      process.env[ENV_ADMIN_ADDR] ?? defaultAdminAddr,
    );
    return { log: createLogger({ program: `hookgate-${program}` }, level), admin, flags };
  } catch (err) {
    process.stderr.write(`hookgate-${program}: ${(err as Error).message}\n`);
    process.exitCode = 2;
    return undefined;
  }
}

/** Runs `stop` once on the first SIGTERM or SIGINT. */
export function onShutdown(log: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down', { signal });
    stop().then(
      () => log.info('stopped'),
      (err: unknown) => {
        log.error('shutdown failed', { error: (err as Error).message });
        process.exitCode = 1;
      },
    );
  };
  process.once('SIGTERM', handler);
  process.once('SIGINT', handler);
}

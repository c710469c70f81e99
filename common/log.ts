// Structured logs: one JSON object per line on stdout, fields not interpolated strings. Callers
// pass identifiers and outcomes, never secrets or payloads.

/** Severity, lowest first. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const rank: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** Field values a log line may carry. */
export type LogFields = Record<string, string | number | boolean | null | undefined>;

/** A logger bound to a component name and a minimum level. */
export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** The same sink and level, with `fields` added to every line. */
  child(fields: LogFields): Logger;
}

/** Parses a level name; unknown names are an error that names the accepted values. */
export function parseLogLevel(value: string | undefined, fallback: LogLevel = 'info'): LogLevel {
  if (value === undefined || value === '') return fallback;
  if (value in rank) return value as LogLevel;
  throw new Error(`log level "${value}" is not one of debug, info, warn, error`);
}

/** Creates a logger writing JSON lines to `write` (stdout by default). */
export function createLogger(
  base: LogFields,
  level: LogLevel = 'info',
  write: (line: string) => void = (line) => process.stdout.write(line + '\n'),
  now: () => Date = () => new Date(),
): Logger {
  const emit = (lineLevel: LogLevel, msg: string, fields: LogFields = {}): void => {
    if (rank[lineLevel] < rank[level]) return;
    write(JSON.stringify({ time: now().toISOString(), level: lineLevel, msg, ...base, ...fields }));
  };
  return {
    debug: (msg, fields) => emit('debug', msg, fields),
    info: (msg, fields) => emit('info', msg, fields),
    warn: (msg, fields) => emit('warn', msg, fields),
    error: (msg, fields) => emit('error', msg, fields),
    child: (fields) => createLogger({ ...base, ...fields }, level, write, now),
  };
}

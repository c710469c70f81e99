// The sidecar's errors: each has a stable `code` tests and callers branch on, and the HTTP status
// it maps to when it ends a request. Messages never contain secrets or payloads.

/** Stable error codes of the sidecar. */
export type SidecarErrorCode =
  | 'ERR_CONFIG_INVALID'
  | 'ERR_SECRET_UNREADABLE'
  | 'ERR_PAYLOAD_TOO_LARGE'
  | 'ERR_UNKNOWN_ENDPOINT'
  | 'ERR_DESTINATION_NOT_ALLOWED'
  | 'ERR_RATE_LIMITED'
  | 'ERR_CIRCUIT_OPEN'
  | 'ERR_UPSTREAM_FAILED'
  | 'ERR_DEADLINE_EXCEEDED'
  | 'ERR_SHUTTING_DOWN';

/** Base class of every sidecar error. */
export class SidecarError extends Error {
  readonly code: SidecarErrorCode;
  /** HTTP status when this error ends a request. */
  readonly statusCode: number;

  constructor(
    code: SidecarErrorCode,
    statusCode: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'SidecarError';
    this.code = code;
    this.statusCode = statusCode;
  }
}

/** A configuration that cannot be used; `problems` lists every issue with its path. */
export class ConfigError extends SidecarError {
  readonly problems: readonly string[];

  constructor(source: string, problems: readonly string[]) {
    super('ERR_CONFIG_INVALID', 500, `${source} is invalid:\n  ${problems.join('\n  ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

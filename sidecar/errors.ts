// The sidecar's errors: each has a stable `code` tests and callers branch on, and the HTTP status
// it maps to when it ends a request. Messages never contain secrets or payloads.

// Answers to a request are problems (problem.ts), not thrown errors; these are the faults code
// throws: a bad config, a body over its cap, the queue's and the signing library's own errors, all
// on this one base.

/** Stable error codes of the sidecar's own errors (the queue and signing add theirs). */
export type SidecarErrorCode = 'ERR_CONFIG_INVALID' | 'ERR_PAYLOAD_TOO_LARGE';

/** Base class of every sidecar error; `C` narrows the code for a part's own errors. */
export class SidecarError<C extends string = SidecarErrorCode> extends Error {
  readonly code: C;
  /** HTTP status when this error ends a request. */
  readonly statusCode: number;

  constructor(code: C, statusCode: number, message: string, options?: { cause?: unknown }) {
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

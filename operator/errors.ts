// The operator's errors: each has a stable `code` tests and callers branch on, the HTTP status it
// maps to (the API server's own status for API errors), and a `cause`. Messages never contain
// secret values.

/** Stable error codes of the operator. */
export type OperatorErrorCode =
  /** A command-line flag or environment variable is malformed. */
  | 'ERR_USAGE'
  /** The API server answered a request with an error status. */
  | 'ERR_KUBE_API'
  /** The API server could not be reached or the connection broke. */
  | 'ERR_KUBE_UNREACHABLE'
  /** A watch's resourceVersion is too old (410 Gone): the cache must be listed again. */
  | 'ERR_WATCH_EXPIRED'
  /** A watch delivered nothing for longer than the watchdog allows. */
  | 'ERR_WATCH_STALLED'
  /** The compiled configuration failed the sidecar's own schema: a bug, never published. */
  | 'ERR_CONFIG_INVALID'
  /** Leadership was lost while work was in flight. */
  | 'ERR_NOT_LEADER'
  /** A sidecar's token was refused (forged, expired, wrong audience, not bound to a live pod). */
  | 'ERR_SIDECAR_UNAUTHENTICATED';

/** Base class of every operator error. */
export class OperatorError extends Error {
  /** Stable code; tests and callers match on it, not on the message. */
  readonly code: OperatorErrorCode;
  /** HTTP status this error maps to (for API errors: the API server's status). */
  readonly statusCode: number;

  constructor(
    code: OperatorErrorCode,
    statusCode: number,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'OperatorError';
    this.code = code;
    this.statusCode = statusCode;
  }
}

/** An error status from the API server, with its `reason` (NotFound, Conflict, Expired, …). */
export class KubeApiError extends OperatorError {
  /** `Status.reason` from the API server's answer, if it sent one. */
  readonly reason: string | undefined;

  constructor(method: string, path: string, statusCode: number, reason?: string, detail?: string) {
    super(
      statusCode === 410 ? 'ERR_WATCH_EXPIRED' : 'ERR_KUBE_API',
      statusCode,
      `${method} ${path}: ${statusCode}${reason === undefined ? '' : ` ${reason}`}${
        detail === undefined ? '' : `: ${detail}`
      }`,
    );
    this.name = 'KubeApiError';
    this.reason = reason;
  }
}

/** True when `err` is an API answer with `statusCode`. */
export function isStatus(err: unknown, statusCode: number): boolean {
  return err instanceof OperatorError && err.statusCode === statusCode;
}

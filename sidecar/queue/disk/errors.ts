// Errors of the disk queue. Each has a stable `code`; messages name the directory or file and the
// fix, never a payload.
import { SidecarError } from '../../errors.ts';

/** Stable error codes of the disk queue. */
export type DiskQueueErrorCode =
  /** Another live process owns the directory. */
  | 'ERR_QUEUE_LOCKED'
  /** A record in the middle of the log is damaged (not a torn tail, which is repaired). */
  | 'ERR_QUEUE_CORRUPT'
  /** A write or fsync failed; the store refuses further writes until it is reopened. */
  | 'ERR_QUEUE_STORAGE'
  /** The store was closed. */
  | 'ERR_QUEUE_CLOSED';

/** An error of the disk queue. */
export class DiskQueueError extends SidecarError<DiskQueueErrorCode> {
  /** The damaged file, for ERR_QUEUE_CORRUPT. */
  readonly file: string | undefined;
  /** Byte offset of the damaged record in `file`. */
  readonly offset: number | undefined;

  constructor(
    code: DiskQueueErrorCode,
    message: string,
    options: { cause?: unknown; file?: string; offset?: number } = {},
  ) {
    super(code, 500, message, options.cause === undefined ? {} : { cause: options.cause });
    this.name = 'DiskQueueError';
    this.file = options.file;
    this.offset = options.offset;
  }
}

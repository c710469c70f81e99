// The files of a queue directory: log segments `log-<n>.seg` (appended to) and at most one
// snapshot `snap-<n>.seg` (the live state as of the end of `log-<n>`), plus the I/O helpers the
// writer, recovery and compaction share.
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { DiskQueueError } from './errors.ts';
import type { BodyLocation } from './state.ts';

/** One open file of the queue. */
export interface Segment {
  readonly n: number;
  readonly kind: 'log' | 'snap';
  readonly path: string;
  readonly fh: FileHandle;
  /** Bytes of whole records in it. */
  size: number;
}

/** The largest write batch: only the last batch's fsync can be cut short by a crash. */
export const MAX_BATCH_BYTES = 8 << 20;

/** Names of segment files. */
export const SEGMENT_FILE = /^(log|snap)-(\d{16})\.seg$/;

/** The file name of segment `n`. */
export function segmentFileName(kind: 'log' | 'snap', n: number): string {
  return `${kind}-${String(n).padStart(16, '0')}.seg`;
}

/** Writes all of `buf` at `position`. */
export async function writeAll(fh: FileHandle, buf: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesWritten } = await fh.write(buf, done, buf.length - done, position + done);
    done += bytesWritten;
  }
}

/** Makes creations, renames and deletions in `dir` durable. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Creates an empty log segment and makes its name durable before anything is written to it. */
export async function createLog(dir: string, n: number): Promise<Segment> {
  const path = join(dir, segmentFileName('log', n));
  const fh = await open(path, 'wx+', 0o600);
  try {
    await syncDir(dir);
  } catch (err) {
    await fh.close();
    throw err;
  }
  return { n, kind: 'log', path, fh, size: 0 };
}

/** Reads a body back from its segment. */
export async function readBody(loc: BodyLocation<Segment>): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(loc.length);
  let done = 0;
  while (done < loc.length) {
    const { bytesRead } = await loc.segment.fh.read(
      buf,
      done,
      loc.length - done,
      loc.offset + done,
    );
    if (bytesRead === 0) {
      throw new DiskQueueError(
        'ERR_QUEUE_CORRUPT',
        `queue file ${loc.segment.path} ends before the body at byte ${loc.offset}`,
        { file: loc.segment.path, offset: loc.offset },
      );
    }
    done += bytesRead;
  }
  return buf;
}

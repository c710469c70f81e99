// Compaction: the live deliveries, captured from the index between two write batches, are
// written to `snap-<n>.seg.tmp`, fdatasync'd, renamed to `snap-<n>.seg` and the directory
// fsync'd; only then may the files the snapshot replaces be deleted. A crash at any step leaves
// the complete old files or a complete snapshot (recovery deletes `*.tmp` and superseded files).
import { open, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { DiskQueueError } from './errors.ts';
import { encodePut, type PutMeta } from './record.ts';
import { readBody, segmentFileName, syncDir, writeAll, type Segment } from './segment.ts';
import type { BodyLocation, Entry, QueueIndex } from './state.ts';

/** Steps of a compaction, in order; the test hook can stop the process at each. */
export type CompactionStep = 'rolled' | 'written' | 'renamed' | 'dir-synced' | 'deleted' | 'done';

/** One live delivery as it was when the compaction started. */
export interface Captured {
  readonly entry: Entry<Segment>;
  readonly body: BodyLocation<Segment>;
  readonly cached: Buffer | undefined;
  readonly meta: PutMeta;
}

/** The put record's metadata of an entry as it is now. */
export function metaOf(entry: Entry<Segment>): PutMeta {
  const d = entry.delivery;
  return {
    id: d.deliveryId,
    ep: d.endpointName,
    url: d.url,
    m: d.method,
    h: d.headers,
    at: d.acceptedAt,
    o: d.ordered,
    s: entry.seq,
    st: entry.state,
    n: entry.nextAttemptAt,
    a: entry.attempts,
    r: entry.replays,
  };
}

/** Captures every live delivery (synchronously: the index must not change meanwhile). */
export function capture(index: QueueIndex<Segment>): Captured[] {
  return index
    .all()
    .map((entry) => ({ entry, body: entry.body, cached: entry.cached, meta: metaOf(entry) }));
}

/** A written, renamed and synced snapshot, open for reading. */
export interface Snapshot {
  readonly segment: Segment;
  /** Where each captured delivery's body now is in the snapshot, in capture order. */
  readonly bodyOffsets: readonly number[];
}

/** Writes the snapshot covering logs up to `covered`; `stopped` aborts it (the store closes). */
export async function writeSnapshot(
  dir: string,
  covered: number,
  captured: readonly Captured[],
  stopped: () => boolean,
  onStep: (step: CompactionStep) => Promise<void>,
): Promise<Snapshot> {
  const path = join(dir, segmentFileName('snap', covered));
  const tmpPath = `${path}.tmp`;
  const bodyOffsets: number[] = [];
  let size = 0;
  const out = await open(tmpPath, 'w', 0o600);
  try {
    let chunk: Buffer[] = [];
    let chunkBytes = 0;
    const flush = async (): Promise<void> => {
      await writeAll(out, Buffer.concat(chunk, chunkBytes), size - chunkBytes);
      chunk = [];
      chunkBytes = 0;
    };
    for (const c of captured) {
      if (stopped()) throw new DiskQueueError('ERR_QUEUE_CLOSED', 'closed while compacting');
      const record = encodePut(c.meta, c.cached ?? (await readBody(c.body)));
      bodyOffsets.push(size + record.bodyOffset);
      chunk.push(...record.buffers);
      chunkBytes += record.length;
      size += record.length;
      if (chunkBytes >= 1 << 20) await flush();
    }
    if (chunkBytes > 0) await flush();
    await out.datasync();
  } catch (err) {
    await out.close();
    await unlink(tmpPath).catch(() => undefined);
    throw err;
  }
  await out.close();
  await onStep('written');
  await rename(tmpPath, path);
  await onStep('renamed');
  await syncDir(dir);
  await onStep('dir-synced');
  const fh = await open(path, 'r');
  return { segment: { n: covered, kind: 'snap', path, fh, size }, bodyOffsets };
}

/** Closes (after reads in flight) and deletes the files a snapshot replaced. */
export async function retire(
  dir: string,
  old: readonly Segment[],
  onStep: (step: CompactionStep) => Promise<void>,
): Promise<void> {
  for (const s of old) {
    await s.fh.close();
    await unlink(s.path);
    await onStep('deleted');
  }
  await syncDir(dir);
  await onStep('done');
}

// Opening a queue directory: delete what an unfinished compaction left, then read the newest
// snapshot and the logs after it, record by record. A record that does not check out is a torn
// write (cut off) when it is in the last log and what follows could only be the last,
// unacknowledged write batch; anywhere else it is damage, reported with the file and offset.
import { open, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../../common/log.ts';
import { DiskQueueError } from './errors.ts';
import { intactRecordAfter, scanRecords, type ReadRecord } from './record.ts';
import { MAX_BATCH_BYTES, SEGMENT_FILE, type Segment } from './segment.ts';

/** Past this, a damaged tail is not scanned for intact records: it is damage. */
const MAX_TORN_TAIL_BYTES = 64 << 20;

/** A torn tail cut off the last log. */
export interface Truncation {
  readonly file: string;
  readonly offset: number;
  readonly bytes: number;
}

/** What {@link recoverDirectory} found: the open segments, oldest first. */
export interface Recovered {
  readonly segments: Segment[];
  readonly records: number;
  readonly truncated?: Truncation;
}

/** Reads the directory's records in order into `onRecord`; throws ERR_QUEUE_CORRUPT on damage. */
export async function recoverDirectory(
  dir: string,
  onRecord: (segment: Segment, record: ReadRecord) => void,
  logger?: Logger,
): Promise<Recovered> {
  const found: { kind: 'log' | 'snap'; n: number; name: string }[] = [];
  let snapshot = -1;
  for (const name of await readdir(dir)) {
    if (name.endsWith('.tmp')) {
      await unlink(join(dir, name)); // a compaction that did not finish
      continue;
    }
    const m = SEGMENT_FILE.exec(name);
    if (m === null) continue;
    const kind = m[1] as 'log' | 'snap';
    const n = Number(m[2]);
    found.push({ kind, n, name });
    if (kind === 'snap' && n > snapshot) snapshot = n;
  }
  // files the newest snapshot replaced (a compaction stopped while deleting them)
  const keep = found.filter((f) => (f.kind === 'snap' ? f.n === snapshot : f.n > snapshot));
  for (const f of found) if (!keep.includes(f)) await unlink(join(dir, f.name));
  keep.sort((a, b) => a.n - b.n || (a.kind === 'snap' ? -1 : 1));

  const segments: Segment[] = [];
  let records = 0;
  let truncated: Truncation | undefined;
  try {
    for (const [i, f] of keep.entries()) {
      const path = join(dir, f.name);
      const fh = await open(path, f.kind === 'log' ? 'r+' : 'r');
      const segment: Segment = { n: f.n, kind: f.kind, path, fh, size: 0 };
      segments.push(segment);
      const size = (await fh.stat()).size;
      const end = await scanRecords(fh, size, (record) => {
        records++;
        onRecord(segment, record);
      });
      if (end.kind === 'clean') {
        segment.size = size;
        continue;
      }
      // Only the last batch's fsync can have been cut short, so damage in the last log is a torn
      // write when what follows could all be that batch (a power cut may leave a hole with
      // intact records after it), or when no intact record follows at all.
      const last = i === keep.length - 1 && f.kind === 'log';
      const restBytes = size - end.offset;
      let torn = last && restBytes <= MAX_BATCH_BYTES;
      if (last && !torn && restBytes <= MAX_TORN_TAIL_BYTES) {
        const rest = Buffer.alloc(restBytes);
        await fh.read(rest, 0, restBytes, end.offset);
        torn = !intactRecordAfter(rest);
      }
      if (!torn) {
        throw new DiskQueueError(
          'ERR_QUEUE_CORRUPT',
          `queue file ${path} is damaged at byte ${end.offset} (${end.problem}), and it is not ` +
            `a torn write from a crash. Move ${dir} aside to start with an empty queue (keep it ` +
            `for inspection), or restore it from a backup.`,
          { file: path, offset: end.offset },
        );
      }
      await fh.truncate(end.offset);
      await fh.datasync();
      segment.size = end.offset;
      truncated = { file: path, offset: end.offset, bytes: restBytes };
      logger?.warn('queue log ended in a torn write; cut it off', {
        file: path,
        offset: end.offset,
        bytes: restBytes,
      });
    }
  } catch (err) {
    await Promise.all(segments.map((s) => s.fh.close().catch(() => undefined)));
    throw err;
  }
  return { segments, records, ...(truncated === undefined ? {} : { truncated }) };
}

// The log's record framing. Every record is a 12-byte header — magic "HQ", type, format version,
// payload length (u32 LE), CRC32 of header bytes 2..8 and the payload (u32 LE) — then the payload.
// The magic and CRC let recovery tell a torn tail (a crash mid-write) from damage in the middle.
import { crc32 } from 'node:zlib';
import type { FileHandle } from 'node:fs/promises';
import type { AttemptRecord, DeliveryState, Settlement } from '../store.ts';

/** Header size in bytes. */
export const HEADER_BYTES = 12;
const MAGIC_0 = 0x48; // 'H'
const MAGIC_1 = 0x51; // 'Q'
const FORMAT = 1;

/** Record types. */
export const RecordType = {
  /** A delivery's whole state and body: written at enqueue and by compaction. */
  put: 1,
  /** An attempt and what follows it. */
  settle: 2,
  /** Dead deliveries moved back to pending. */
  replay: 3,
  /** Deliveries deleted. */
  purge: 4,
} as const;
/** One of {@link RecordType}. */
export type RecordTypeCode = (typeof RecordType)[keyof typeof RecordType];

/** A delivery's metadata as a put record stores it (short keys: it is written per delivery). */
export interface PutMeta {
  readonly id: string;
  readonly ep: string;
  readonly url: string;
  readonly m: string;
  readonly h: Readonly<Record<string, string>>;
  readonly at: number;
  readonly o: boolean;
  /** Accept order, stable across compaction. */
  readonly s: number;
  readonly st: DeliveryState;
  readonly n: number;
  readonly a: readonly AttemptRecord[];
  readonly r: number;
}

/** Payloads of the JSON records. */
export interface SettlePayload {
  readonly id: string;
  readonly a: AttemptRecord;
  readonly x: Settlement;
}
/** Payload of a replay record. */
export interface ReplayPayload {
  readonly ids: readonly string[];
  readonly now: number;
}
/** Payload of a purge record. */
export interface PurgePayload {
  readonly ids: readonly string[];
}

function frame(type: RecordTypeCode, parts: readonly Buffer[]): Buffer[] {
  const length = parts.reduce((sum, p) => sum + p.length, 0);
  const header = Buffer.allocUnsafe(HEADER_BYTES);
  header[0] = MAGIC_0;
  header[1] = MAGIC_1;
  header[2] = type;
  header[3] = FORMAT;
  header.writeUInt32LE(length, 4);
  let crc = crc32(header.subarray(2, 8));
  for (const p of parts) crc = crc32(p, crc);
  header.writeUInt32LE(crc, 8);
  return [header, ...parts];
}

/** An encoded record: its buffers, total length, and where the body starts inside it. */
export interface EncodedRecord {
  readonly buffers: readonly Buffer[];
  readonly length: number;
  /** Offset of the body from the record's start (put records). */
  readonly bodyOffset: number;
}

/** Encodes a put record; the body is not copied. */
export function encodePut(meta: PutMeta, body: Buffer): EncodedRecord {
  const json = Buffer.from(JSON.stringify(meta));
  const metaLength = Buffer.allocUnsafe(4);
  metaLength.writeUInt32LE(json.length, 0);
  const buffers = frame(RecordType.put, [metaLength, json, body]);
  return {
    buffers,
    length: HEADER_BYTES + 4 + json.length + body.length,
    bodyOffset: HEADER_BYTES + 4 + json.length,
  };
}

/** Encodes a JSON record. */
export function encodeJson(
  type: RecordTypeCode,
  payload: SettlePayload | ReplayPayload | PurgePayload,
): EncodedRecord {
  const json = Buffer.from(JSON.stringify(payload));
  return { buffers: frame(type, [json]), length: HEADER_BYTES + json.length, bodyOffset: 0 };
}

/** A record read back from a file. */
export interface ReadRecord {
  readonly type: RecordTypeCode;
  /** Offset of the record's header in the file. */
  readonly offset: number;
  readonly length: number;
  readonly payload: Buffer;
}

/** Why a record could not be read at an offset. */
export type FrameProblem =
  'short header' | 'bad magic' | 'unknown format' | 'short payload' | 'crc';

/** Checks the record starting at `at` in `buf`; returns its payload length or the problem. */
export function checkFrame(buf: Buffer, at: number): number | FrameProblem {
  if (buf.length - at < HEADER_BYTES) return 'short header';
  if (buf[at] !== MAGIC_0 || buf[at + 1] !== MAGIC_1) return 'bad magic';
  const type = buf[at + 2]!;
  if (buf[at + 3] !== FORMAT || type < RecordType.put || type > RecordType.purge) {
    return 'unknown format';
  }
  const length = buf.readUInt32LE(at + 4);
  if (buf.length - at - HEADER_BYTES < length) return 'short payload';
  const crc = crc32(
    buf.subarray(at + HEADER_BYTES, at + HEADER_BYTES + length),
    crc32(buf.subarray(at + 2, at + 8)),
  );
  return crc === buf.readUInt32LE(at + 8) ? length : 'crc';
}

/** Decodes a put record's payload into its metadata and the body's offset within the payload. */
export function decodePut(payload: Buffer): { meta: PutMeta; bodyStart: number } {
  const metaLength = payload.readUInt32LE(0);
  const meta = JSON.parse(payload.subarray(4, 4 + metaLength).toString('utf8')) as PutMeta;
  return { meta, bodyStart: 4 + metaLength };
}

/** The outcome of scanning one file. */
export type ScanEnd =
  | { readonly kind: 'clean'; readonly size: number }
  | { readonly kind: 'damaged'; readonly offset: number; readonly problem: FrameProblem };

const CHUNK = 1 << 20;

/**
 * Reads every record of a file in order, calling `onRecord` for each, and stops at the end or at
 * the first record that does not check out (reported, not thrown: the caller decides whether it
 * is a torn tail or damage).
 */
export async function scanRecords(
  fh: FileHandle,
  size: number,
  onRecord: (record: ReadRecord) => void,
): Promise<ScanEnd> {
  let buf = Buffer.alloc(0);
  let bufStart = 0; // file offset of buf[0]
  let at = 0; // offset in buf of the next record
  for (;;) {
    const fileOffset = bufStart + at;
    if (fileOffset === size) return { kind: 'clean', size };
    let check = checkFrame(buf, at);
    if (check === 'short header' || check === 'short payload') {
      // refill: keep the unread rest, read at least a chunk or the whole record
      const rest = buf.subarray(at);
      const need =
        check === 'short payload' ? HEADER_BYTES + buf.readUInt32LE(at + 4) : HEADER_BYTES;
      const want = Math.min(Math.max(need, CHUNK), size - fileOffset);
      if (want <= rest.length || need > size - fileOffset) {
        return { kind: 'damaged', offset: fileOffset, problem: check };
      }
      const next = Buffer.allocUnsafe(want);
      rest.copy(next, 0);
      let filled = rest.length;
      while (filled < want) {
        const { bytesRead } = await fh.read(next, filled, want - filled, fileOffset + filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      buf = next.subarray(0, filled);
      bufStart = fileOffset;
      at = 0;
      check = checkFrame(buf, at);
      if (typeof check !== 'number') return { kind: 'damaged', offset: fileOffset, problem: check };
    } else if (typeof check !== 'number') {
      return { kind: 'damaged', offset: fileOffset, problem: check };
    }
    const type = buf[at + 2] as RecordTypeCode;
    onRecord({
      type,
      offset: fileOffset,
      length: HEADER_BYTES + check,
      payload: buf.subarray(at + HEADER_BYTES, at + HEADER_BYTES + check),
    });
    at += HEADER_BYTES + check;
  }
}

/** True when some intact record starts after `from` in `rest` (so the damage is not a torn tail). */
export function intactRecordAfter(rest: Buffer): boolean {
  for (let i = rest.indexOf(MAGIC_0, 1); i !== -1; i = rest.indexOf(MAGIC_0, i + 1)) {
    if (typeof checkFrame(rest, i) === 'number') return true;
  }
  return false;
}

import { crc32 } from 'node:zlib';
import type { Headers } from '../transport.js';

/**
 * The on-disk frame of one record. All integers big-endian.
 *
 *   0  u32   frame length: the bytes after this field
 *   4  u32   CRC32 of every byte after this field (magic to the last header)
 *   8  u8    magic (format version)
 *   9  i64   offset
 *  17  i64   timestamp (ms)
 *  25  i32   key length, -1 for a null key; then the key bytes
 *      i32   value length, -1 for a null value (tombstone); then the value bytes
 *      u16   header count; per header: u16 name length, name (UTF-8), u32 value length, value (UTF-8)
 */
export const RECORD_MAGIC = 1;
const LENGTH_FIELD = 4;
const FIXED_HEADER = 25;
/** Frame length of a record with null key, null value and no headers. */
export const MIN_FRAME_LENGTH = FIXED_HEADER - LENGTH_FIELD + 4 + 4 + 2;
const TWO_POW_32 = 0x1_0000_0000;

export interface RecordToEncode {
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: Headers | undefined;
  readonly timestamp: number;
}

export interface DecodedRecord {
  readonly offset: number;
  readonly timestamp: number;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: Headers;
}

/** Where a frame starts and what its fixed fields hold, without materialising key, value and headers. */
export interface FrameInfo {
  readonly offset: number;
  readonly timestamp: number;
  /** Total bytes of the frame, length field included. */
  readonly size: number;
}

export type FrameCheck =
  | { readonly kind: 'ok'; readonly frame: FrameInfo }
  /** The buffer ends before the frame does: read more, or (at the file's end) a torn write. */
  | { readonly kind: 'incomplete'; readonly needed: number }
  | { readonly kind: 'corrupt'; readonly reason: string };

const EMPTY_HEADERS: Headers = Object.freeze({});

export function encodedSize(record: RecordToEncode): number {
  let size = LENGTH_FIELD + MIN_FRAME_LENGTH;
  if (record.key !== null) size += record.key.length;
  if (record.value !== null) size += record.value.length;
  if (record.headers !== undefined) {
    for (const name in record.headers) {
      size += 6 + Buffer.byteLength(name) + Buffer.byteLength(record.headers[name]!);
    }
  }
  return size;
}

/** Writes the frame of `record` at `pos` and returns the position after it. `buf` must have room. */
export function encodeRecord(buf: Buffer, pos: number, offset: number, record: RecordToEncode): number {
  const start = pos;
  pos += 8;
  buf[pos] = RECORD_MAGIC;
  pos = writeInt64(buf, pos + 1, offset);
  pos = writeInt64(buf, pos, record.timestamp);
  pos = writeBytes(buf, pos, record.key);
  pos = writeBytes(buf, pos, record.value);
  const countPos = pos;
  pos += 2;
  let count = 0;
  if (record.headers !== undefined) {
    for (const name in record.headers) {
      const nameLength = buf.write(name, pos + 2, 'utf8');
      buf.writeUInt16BE(nameLength, pos);
      pos += 2 + nameLength;
      const valueLength = buf.write(record.headers[name]!, pos + 4, 'utf8');
      buf.writeUInt32BE(valueLength, pos);
      pos += 4 + valueLength;
      count++;
    }
  }
  buf.writeUInt16BE(count, countPos);
  buf.writeUInt32BE(pos - start - LENGTH_FIELD, start);
  buf.writeUInt32BE(crc32(buf.subarray(start + 8, pos)), start + 4);
  return pos;
}

/** Validates the frame at `pos` (length bounds, magic, CRC) and reads its fixed fields. */
export function checkFrame(buf: Buffer, pos: number, end: number = buf.length): FrameCheck {
  if (end - pos < LENGTH_FIELD) return { kind: 'incomplete', needed: LENGTH_FIELD };
  const frameLength = buf.readUInt32BE(pos);
  if (frameLength < MIN_FRAME_LENGTH)
    return { kind: 'corrupt', reason: `frame length ${frameLength} is too small` };
  const size = LENGTH_FIELD + frameLength;
  if (end - pos < size) return { kind: 'incomplete', needed: size };
  const stored = buf.readUInt32BE(pos + 4);
  if (crc32(buf.subarray(pos + 8, pos + size)) !== stored) return { kind: 'corrupt', reason: 'CRC mismatch' };
  if (buf[pos + 8] !== RECORD_MAGIC)
    return { kind: 'corrupt', reason: `unknown record format ${buf[pos + 8]}` };
  return {
    kind: 'ok',
    frame: { offset: readInt64(buf, pos + 9), timestamp: readInt64(buf, pos + 17), size },
  };
}

/** `checkFrame` without allocating, for the read path. */
export const FRAME_INCOMPLETE = 0;
export const FRAME_CORRUPT = -1;

/** The size of the valid frame at `pos`, or `FRAME_INCOMPLETE` / `FRAME_CORRUPT` (ask `checkFrame` why). */
export function frameStatus(buf: Buffer, pos: number): number {
  if (buf.length - pos < LENGTH_FIELD) return FRAME_INCOMPLETE;
  const frameLength = buf.readUInt32BE(pos);
  if (frameLength < MIN_FRAME_LENGTH) return FRAME_CORRUPT;
  const size = LENGTH_FIELD + frameLength;
  if (buf.length - pos < size) return FRAME_INCOMPLETE;
  if (
    buf[pos + 8] !== RECORD_MAGIC ||
    crc32(buf.subarray(pos + 8, pos + size)) !== buf.readUInt32BE(pos + 4)
  ) {
    return FRAME_CORRUPT;
  }
  return size;
}

/** How many bytes from `pos` the frame there needs (just the length field when that is not complete yet). */
export function frameBytesNeeded(buf: Buffer, pos: number): number {
  return buf.length - pos < LENGTH_FIELD ? LENGTH_FIELD : LENGTH_FIELD + buf.readUInt32BE(pos);
}

/** The offset of a validated frame. */
export function frameOffset(buf: Buffer, pos: number): number {
  return readInt64(buf, pos + 9);
}

/**
 * Reads the record of a validated frame. Key and value are views into `buf` (no copy), so callers hand out
 * buffers they never overwrite.
 */
export function decodeRecord(buf: Buffer, pos: number): DecodedRecord {
  let p = pos + FIXED_HEADER;
  const keyLength = buf.readInt32BE(p);
  p += 4;
  const key = keyLength < 0 ? null : buf.subarray(p, p + keyLength);
  if (keyLength > 0) p += keyLength;
  const valueLength = buf.readInt32BE(p);
  p += 4;
  const value = valueLength < 0 ? null : buf.subarray(p, p + valueLength);
  if (valueLength > 0) p += valueLength;
  const count = buf.readUInt16BE(p);
  p += 2;
  let headers = EMPTY_HEADERS;
  if (count > 0) {
    const h: Record<string, string> = {};
    for (let i = 0; i < count; i++) {
      const nameLength = buf.readUInt16BE(p);
      p += 2;
      const name = buf.toString('utf8', p, p + nameLength);
      p += nameLength;
      const valueLength = buf.readUInt32BE(p);
      p += 4;
      h[name] = buf.toString('utf8', p, p + valueLength);
      p += valueLength;
    }
    headers = h;
  }
  return { offset: readInt64(buf, pos + 9), timestamp: readInt64(buf, pos + 17), key, value, headers };
}

/** The key of a validated frame, as a view into `buf`. */
export function decodeKey(buf: Buffer, pos: number): Buffer | null {
  const keyLength = buf.readInt32BE(pos + FIXED_HEADER);
  return keyLength < 0 ? null : buf.subarray(pos + FIXED_HEADER + 4, pos + FIXED_HEADER + 4 + keyLength);
}

/** Whether a validated frame's value is null (a tombstone). */
export function isTombstone(buf: Buffer, pos: number): boolean {
  const keyLength = buf.readInt32BE(pos + FIXED_HEADER);
  return buf.readInt32BE(pos + FIXED_HEADER + 4 + Math.max(0, keyLength)) < 0;
}

function writeBytes(buf: Buffer, pos: number, bytes: Buffer | null): number {
  if (bytes === null) {
    buf.writeInt32BE(-1, pos);
    return pos + 4;
  }
  buf.writeInt32BE(bytes.length, pos);
  buf.set(bytes, pos + 4);
  return pos + 4 + bytes.length;
}

// Two 32-bit halves instead of BigInt: offsets and timestamps are safe integers, and this is faster.
function writeInt64(buf: Buffer, pos: number, value: number): number {
  const high = Math.floor(value / TWO_POW_32);
  buf.writeInt32BE(high, pos);
  buf.writeUInt32BE(value - high * TWO_POW_32, pos + 4);
  return pos + 8;
}

function readInt64(buf: Buffer, pos: number): number {
  return buf.readInt32BE(pos) * TWO_POW_32 + buf.readUInt32BE(pos + 4);
}

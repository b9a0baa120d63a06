import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { checkFrame, type FrameInfo } from './record-codec.js';
import { SparseIndex } from './sparse-index.js';

const SEGMENT_SUFFIX = '.log';
const SCAN_CHUNK_BYTES = 1 << 20;

/** `<baseOffset>.log` with the offset zero-padded to 20 digits, so names sort like offsets (as Kafka names them). */
export function segmentFileName(baseOffset: number): string {
  return `${String(baseOffset).padStart(20, '0')}${SEGMENT_SUFFIX}`;
}

/** The base offset of a segment file name, or undefined for any other file. */
export function parseSegmentFileName(name: string): number | undefined {
  if (!/^\d{20}\.log$/.test(name)) return undefined;
  return Number(name.slice(0, 20));
}

/** The corruption of a record that had been completely written (not a torn tail). */
export class CorruptLogError extends Error {
  constructor(path: string, position: number, reason: string) {
    super(`corrupt record in ${path} at byte ${position}: ${reason}`);
    this.name = 'CorruptLogError';
  }
}

/** One valid frame met while iterating a segment; `buf` is a fresh buffer the caller may keep views into. */
export interface FrameAt {
  readonly buf: Buffer;
  readonly pos: number;
  readonly frame: FrameInfo;
}

export interface ScanResult {
  /** Position after the last valid record. */
  readonly validEnd: number;
  /** Why the scan stopped before the end of the file, if it did. */
  readonly problem?: string;
}

/**
 * One segment file: records from `baseOffset` on, appended at the end and never changed afterwards
 * (compaction writes a new file and swaps it in). Holds the sparse index and the file handle, which is
 * reference-counted so that retention or compaction never closes it under a concurrent read.
 */
export class Segment {
  readonly path: string;
  readonly index: SparseIndex;
  /** Bytes readers may read: complete, valid records only. */
  size: number;
  /** Bytes already covered by the index, `nextOffset` and `maxTimestamp`. */
  scanned = 0;
  /** Offset after the last record scanned or appended (`baseOffset` when empty). */
  nextOffset: number;
  maxTimestamp = -Infinity;
  /** Deleted by retention or replaced by compaction: readers holding it must look the offset up again. */
  retired = false;

  private handle: FileHandle | undefined;
  private opening: Promise<FileHandle> | undefined;
  private refs = 0;
  private pinned = false;
  private closed = false;

  readonly baseOffset: number;
  private readonly writable: boolean;
  /** Keep the handle open while idle (read-only openers, so a segment replaced on disk stays consistent). */
  private readonly keepOpen: boolean;

  constructor(
    dir: string,
    baseOffset: number,
    size: number,
    indexIntervalBytes: number,
    writable: boolean,
    keepOpen: boolean,
  ) {
    this.baseOffset = baseOffset;
    this.writable = writable;
    this.keepOpen = keepOpen;
    this.path = join(dir, segmentFileName(baseOffset));
    this.size = size;
    this.nextOffset = baseOffset;
    this.index = new SparseIndex(indexIntervalBytes);
  }

  get fullyScanned(): boolean {
    return this.scanned >= this.size;
  }

  /** Creates the file of a new, empty segment and keeps it open for appends. */
  static async create(dir: string, baseOffset: number, indexIntervalBytes: number): Promise<Segment> {
    const segment = new Segment(dir, baseOffset, 0, indexIntervalBytes, true, false);
    segment.handle = await open(segment.path, 'wx+');
    segment.pinned = true;
    return segment;
  }

  /** Keeps the handle open while this is the active segment. */
  pin(): void {
    this.pinned = true;
  }

  unpin(): void {
    this.pinned = false;
    this.closeIfIdle();
  }

  async acquire(): Promise<FileHandle> {
    if (this.closed) throw new Error(`segment ${this.path} is closed`);
    if (this.retired && this.refs === 0 && this.handle === undefined) {
      throw new Error(`segment ${this.path} was retired`);
    }
    this.refs++;
    try {
      if (this.handle !== undefined) return this.handle;
      this.opening ??= open(this.path, this.writable ? 'r+' : 'r');
      const handle = await this.opening;
      this.handle = handle;
      this.opening = undefined;
      return handle;
    } catch (error) {
      this.opening = undefined;
      this.refs--;
      throw error;
    }
  }

  release(): void {
    this.refs--;
    this.closeIfIdle();
  }

  /** Reads exactly `length` bytes at `position` (fewer only if the file is shorter) into a new buffer. */
  async read(position: number, length: number): Promise<Buffer> {
    const handle = await this.acquire();
    try {
      return await readAt(handle, position, length);
    } finally {
      this.release();
    }
  }

  /** Records one appended frame in the index and bounds. */
  noteRecord(offset: number, position: number, timestamp: number, frameSize: number): void {
    this.index.add(offset, position);
    this.nextOffset = offset + 1;
    if (timestamp > this.maxTimestamp) this.maxTimestamp = timestamp;
    this.scanned = position + frameSize;
  }

  /**
   * Reads the file from `scanned` up to `limit` bytes, validating each frame, and extends the index.
   * Stops at the first frame that is incomplete or invalid and reports it; the caller decides whether that
   * is a torn tail to truncate (recovery), data not written yet (read-only tail), or corruption.
   */
  async scan(limit: number): Promise<ScanResult> {
    const handle = await this.acquire();
    try {
      let pos = this.scanned;
      let previous = this.nextOffset - 1;
      while (pos < limit) {
        const chunk = await readAt(handle, pos, Math.min(SCAN_CHUNK_BYTES, limit - pos));
        if (chunk.length === 0) return { validEnd: pos, problem: 'the file is shorter than expected' };
        let at = 0;
        while (at < chunk.length) {
          const check = checkFrame(chunk, at);
          if (check.kind === 'incomplete') {
            if (pos + at + check.needed > limit)
              return { validEnd: pos + at, problem: 'incomplete record at the end' };
            if (at === 0) {
              // A record larger than the chunk: read it whole.
              const whole = await readAt(handle, pos, check.needed);
              const again = checkFrame(whole, 0);
              if (again.kind !== 'ok')
                return { validEnd: pos, problem: again.kind === 'corrupt' ? again.reason : 'short read' };
              if (!this.acceptFrame(again.frame.offset, previous))
                return { validEnd: pos, problem: 'offset out of order' };
              previous = again.frame.offset;
              this.noteRecord(again.frame.offset, pos, again.frame.timestamp, again.frame.size);
              at = again.frame.size;
            }
            break;
          }
          if (check.kind === 'corrupt') return { validEnd: pos + at, problem: check.reason };
          const { frame } = check;
          if (!this.acceptFrame(frame.offset, previous))
            return { validEnd: pos + at, problem: 'offset out of order' };
          previous = frame.offset;
          this.noteRecord(frame.offset, pos + at, frame.timestamp, frame.size);
          at += frame.size;
        }
        pos += at;
      }
      return { validEnd: pos };
    } finally {
      this.release();
    }
  }

  /** Every record of the first `size` bytes, in order, read in large chunks. Throws on corruption. */
  async *frames(): AsyncGenerator<FrameAt> {
    let pos = 0;
    while (pos < this.size) {
      const chunk = await this.read(pos, Math.min(SCAN_CHUNK_BYTES, this.size - pos));
      if (chunk.length === 0) throw new CorruptLogError(this.path, pos, 'the file is shorter than expected');
      let at = 0;
      while (at < chunk.length) {
        let check = checkFrame(chunk, at);
        if (check.kind === 'incomplete' && at === 0 && check.needed <= this.size - pos) {
          const whole = await this.read(pos, check.needed);
          check = checkFrame(whole, 0);
          if (check.kind === 'ok') {
            yield { buf: whole, pos: 0, frame: check.frame };
            at = check.frame.size;
            break;
          }
        }
        if (check.kind === 'incomplete') {
          if (at === 0) throw new CorruptLogError(this.path, pos, 'record runs past the end of the segment');
          break;
        }
        if (check.kind === 'corrupt') throw new CorruptLogError(this.path, pos + at, check.reason);
        yield { buf: chunk, pos: at, frame: check.frame };
        at += check.frame.size;
      }
      pos += at;
    }
  }

  /** Marks the segment gone; the handle closes once no read holds it. */
  retire(): void {
    this.retired = true;
    this.pinned = false;
    this.closeIfIdle();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.pinned = false;
    const handle = this.handle ?? (this.opening ? await this.opening.catch(() => undefined) : undefined);
    this.handle = undefined;
    await handle?.close();
  }

  private acceptFrame(offset: number, previous: number): boolean {
    return offset >= this.baseOffset && offset > previous;
  }

  private closeIfIdle(): void {
    if (this.refs > 0 || this.pinned || this.handle === undefined) return;
    if (this.keepOpen && !this.retired) return;
    const handle = this.handle;
    this.handle = undefined;
    void handle.close().catch(() => undefined);
  }
}

export async function readAt(handle: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await handle.read(buf, filled, length - filled, position + filled);
    if (bytesRead === 0) break;
    filled += bytesRead;
  }
  return filled === length ? buf : buf.subarray(0, filled);
}

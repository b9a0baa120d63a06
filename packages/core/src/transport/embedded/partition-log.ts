import { mkdir, readdir, rm, stat } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncDirectory, isDurableTempFile, isErrno } from './durable-file.js';
import {
  checkFrame,
  decodeRecord,
  encodedSize,
  encodeRecord,
  FRAME_INCOMPLETE,
  frameBytesNeeded,
  frameOffset,
  frameStatus,
  type DecodedRecord,
  type RecordToEncode,
} from './record-codec.js';
import { CorruptLogError, parseSegmentFileName, Segment, segmentFileName } from './segment.js';

/**
 * When appended bytes are forced to stable storage. Every `send()` is acknowledged only after its bytes went to
 * the file through a `write` syscall (they sit in the OS page cache, not in this process), so a crash or
 * `kill -9` of the process never loses an acknowledged record whatever the policy. The policy covers a crash
 * of the machine (power loss, kernel panic):
 * - `always`: fdatasync before acknowledging; nothing acknowledged is lost. Slowest.
 * - `interval`: fdatasync every `fsyncIntervalMs`, on segment roll and on close; a power loss can lose up to
 *   that interval of acknowledged records (recovery then truncates any torn tail).
 * - `never`: leave it to the OS (typically ~30 s of dirty pages at risk on power loss).
 */
export type FsyncPolicy = 'always' | 'interval' | 'never';

export interface PartitionLogOptions {
  readonly dir: string;
  readonly readOnly: boolean;
  readonly segmentBytes: number;
  readonly indexIntervalBytes: number;
  readonly readChunkBytes: number;
  readonly fsync: FsyncPolicy;
  /** Read-only openers look for records appended by the writer process at most this often. */
  readonly tailIntervalMs: number;
  /** Called after each append becomes readable. */
  readonly onAppend: () => void;
}

/** What recovery found at the end of the last segment when the log was opened for writing. */
export interface RecoveryReport {
  readonly segment: string;
  readonly truncatedBytes: number;
  readonly reason: string;
}

/** A consumer's read position in one partition, kept between reads so that sequential reads never seek. */
export interface ReadCursor {
  /** The next offset wanted. */
  offset: number;
  segment: Segment | undefined;
  /** File position, within `segment`, of the next frame to look at. */
  position: number;
  /** The last bytes read from `segment` (never overwritten: records handed out are views into it). */
  chunk: Buffer | undefined;
  chunkStart: number;
  /** The chunk after `chunk`, read ahead while `chunk` is being decoded. */
  prefetch: Prefetch | undefined;
}

interface Prefetch {
  readonly segment: Segment;
  readonly start: number;
  readonly data: Promise<Buffer>;
}

export function newCursor(offset: number): ReadCursor {
  return { offset, segment: undefined, position: 0, chunk: undefined, chunkStart: 0, prefetch: undefined };
}

interface PendingAppend {
  readonly records: readonly RecordToEncode[];
  readonly resolve: (baseOffset: number) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * One partition: an ordered list of segments, the last one active. Appends are serialised and batched
 * (group commit: what arrives while a write is in flight goes out in the next single write).
 */
export class PartitionLog {
  private segments: Segment[] = [];
  private pending: PendingAppend[] = [];
  private writing: Promise<void> | undefined;
  private failure: unknown;
  private dirty = false;
  private syncing: Promise<void> | undefined;
  private lastTail = 0;
  private tailing: Promise<void> | undefined;
  private maintenance: Promise<unknown> = Promise.resolve();
  private closed = false;
  recovery: RecoveryReport | undefined;

  private readonly options: PartitionLogOptions;

  private constructor(options: PartitionLogOptions) {
    this.options = options;
  }

  static async open(options: PartitionLogOptions): Promise<PartitionLog> {
    const log = new PartitionLog(options);
    if (options.readOnly) await log.loadReadOnly();
    else await log.loadForWriting();
    return log;
  }

  get dir(): string {
    return this.options.dir;
  }

  get indexIntervalBytes(): number {
    return this.options.indexIntervalBytes;
  }

  /** The first offset still stored. */
  get startOffset(): number {
    return this.segments[0]?.baseOffset ?? 0;
  }

  /** The offset the next record appended will get. */
  get endOffset(): number {
    return this.segments.at(-1)?.nextOffset ?? 0;
  }

  get sizeBytes(): number {
    let total = 0;
    for (const segment of this.segments) total += segment.size;
    return total;
  }

  /** The first offset of the active segment: every offset below it is in a closed segment. */
  get activeBaseOffset(): number {
    return this.segments.at(-1)?.baseOffset ?? 0;
  }

  /** Every segment but the active one: the ones retention and compaction may touch. */
  closedSegments(): Segment[] {
    return this.segments.slice(0, -1);
  }

  /** Appends records in order; resolves with the offset of the first once they are written to the file. */
  append(records: readonly RecordToEncode[]): Promise<number> {
    if (this.options.readOnly) return Promise.reject(new Error('the transport was opened read-only'));
    if (this.closed) return Promise.reject(new Error('the partition log is closed'));
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.pending.push({ records, resolve, reject });
      this.writing ??= this.writeLoop();
    });
  }

  /**
   * Reads up to `maxRecords` records from `cursor.offset` on and advances the cursor past them. Offsets may
   * have gaps (compaction); a cursor before the start of the log moves to the start.
   */
  async read(cursor: ReadCursor, maxRecords: number): Promise<DecodedRecord[]> {
    const out: DecodedRecord[] = [];
    if (this.closed) return out;
    if (this.options.readOnly && cursor.offset >= this.endOffset) await this.tail();
    if (cursor.offset < this.startOffset) {
      cursor.offset = this.startOffset;
      cursor.segment = undefined;
    }
    if (cursor.offset >= this.endOffset) return out;
    let segment = cursor.segment;
    while (out.length < maxRecords) {
      if (segment === undefined || segment.retired) {
        segment = await this.seek(cursor);
        if (segment === undefined) break;
      }
      if (cursor.position >= segment.size) {
        const next = this.segmentAfter(segment);
        if (next === undefined) break;
        segment = next;
        cursor.segment = next;
        cursor.position = 0;
        cursor.chunk = undefined;
        cursor.prefetch = undefined;
        continue;
      }
      let chunk = cursor.chunk;
      let at = cursor.position - cursor.chunkStart;
      let size =
        chunk !== undefined && at >= 0 && at < chunk.length ? frameStatus(chunk, at) : FRAME_INCOMPLETE;
      if (size === FRAME_INCOMPLETE) {
        try {
          chunk = await this.nextChunk(cursor, segment);
          at = 0;
          size = frameStatus(chunk, 0);
          if (size === FRAME_INCOMPLETE && chunk.length < segment.size - cursor.position) {
            // A record larger than a chunk: read it whole.
            chunk = await segment.read(cursor.position, frameBytesNeeded(chunk, 0));
            cursor.chunk = chunk;
            cursor.prefetch = undefined;
            size = frameStatus(chunk, 0);
          }
        } catch (error) {
          if (segment.retired) continue;
          if (this.closed) break;
          throw error;
        }
      }
      if (size <= 0) {
        const check = checkFrame(chunk!, at);
        throw new CorruptLogError(
          segment.path,
          cursor.position,
          check.kind === 'corrupt' ? check.reason : 'truncated',
        );
      }
      const offset = frameOffset(chunk!, at);
      if (offset >= cursor.offset) {
        out.push(decodeRecord(chunk!, at));
        cursor.offset = offset + 1;
      }
      cursor.position += size;
    }
    return out;
  }

  /**
   * Makes `cursor.chunk` start at `cursor.position`: from the chunk read ahead when it follows on (keeping the
   * few bytes of a record cut at the old chunk's end), else by a read. Then reads the following chunk ahead.
   */
  private async nextChunk(cursor: ReadCursor, segment: Segment): Promise<Buffer> {
    const { readChunkBytes } = this.options;
    const old = cursor.chunk;
    const prefetch = cursor.prefetch;
    cursor.prefetch = undefined;
    let chunk: Buffer;
    if (
      old !== undefined &&
      prefetch !== undefined &&
      prefetch.segment === segment &&
      prefetch.start === cursor.chunkStart + old.length &&
      cursor.position >= cursor.chunkStart &&
      cursor.position <= prefetch.start
    ) {
      const ahead = await prefetch.data;
      const tail = old.subarray(cursor.position - cursor.chunkStart);
      chunk = tail.length > 0 ? Buffer.concat([tail, ahead]) : ahead;
    } else {
      chunk = await segment.read(cursor.position, Math.min(readChunkBytes, segment.size - cursor.position));
    }
    cursor.chunk = chunk;
    cursor.chunkStart = cursor.position;
    const aheadStart = cursor.position + chunk.length;
    if (aheadStart < segment.size) {
      const data = segment.read(aheadStart, Math.min(readChunkBytes, segment.size - aheadStart));
      data.catch(() => undefined); // a read-ahead nobody waits for must not become an unhandled rejection
      cursor.prefetch = { segment, start: aheadStart, data };
    }
    return chunk;
  }

  /**
   * Forces appended bytes to stable storage (no-op with `fsync: 'never'` or when nothing changed). A call
   * made while another sync runs waits for it (and for one more if appends came in between); after a
   * failed fsync every call rejects, since what was acknowledged is in doubt.
   */
  async sync(): Promise<void> {
    if (this.failure) throw this.failure;
    while (this.syncing) await this.syncing.catch(() => undefined);
    if (this.failure) throw this.failure;
    if (!this.dirty || this.options.fsync === 'never') return;
    const active = this.segments.at(-1);
    if (active === undefined) return;
    this.dirty = false;
    this.syncing = this.datasync(active).catch((error: unknown) => {
      // After a failed fsync the kernel may have dropped the dirty pages: what was acknowledged is in doubt.
      this.failure ??= new Error(
        `fsync of ${active.path} failed; the partition log refuses further appends`,
        {
          cause: error,
        },
      );
      throw this.failure;
    });
    try {
      await this.syncing;
    } finally {
      this.syncing = undefined;
    }
  }

  /** Read-only openers: picks up what the writer process appended since the last look. */
  catchUp(): Promise<void> {
    return this.options.readOnly ? this.tail(true) : Promise.resolve();
  }

  /** Runs `task` after every maintenance task queued before it (retention and compaction never overlap). */
  exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.maintenance.then(task, task);
    this.maintenance = run.catch(() => undefined);
    return run;
  }

  /** Deletes closed segments (retention). Readers on them move to the new start. */
  async removeSegments(doomed: readonly Segment[]): Promise<void> {
    for (const segment of doomed) {
      if (segment === this.segments.at(-1)) throw new Error('the active segment cannot be removed');
      // Held open across the unlink so a reader in the middle of it finishes on the old bytes.
      await segment.acquire();
      try {
        this.segments = this.segments.filter((s) => s !== segment);
        segment.retire();
        await rm(segment.path, { force: true });
      } finally {
        segment.release();
      }
    }
  }

  /**
   * Swaps a closed segment for a rewritten one (compaction); `replacement` undefined drops it. `rewrite` puts
   * the new file in place (rename over the old one, or delete it) while the old file is held open, so a reader
   * in the middle of the old segment finishes on the bytes its index describes.
   */
  async replaceSegment(
    old: Segment,
    replacement: Segment | undefined,
    rewrite: () => Promise<void>,
  ): Promise<void> {
    await old.acquire();
    try {
      await rewrite();
      const index = this.segments.indexOf(old);
      if (index < 0) throw new Error(`segment ${old.path} is no longer part of the log`);
      if (replacement === undefined) this.segments.splice(index, 1);
      else this.segments[index] = replacement;
      old.retire();
    } finally {
      old.release();
    }
  }

  /** Waits for appends in flight, syncs (unless `never`) and closes the files. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    while (this.writing !== undefined) await this.writing;
    await this.maintenance;
    if (!this.options.readOnly && this.options.fsync !== 'never') {
      this.dirty = true;
      await this.sync();
    }
    await Promise.all(this.segments.map((s) => s.close()));
  }

  private async loadForWriting(): Promise<void> {
    const { dir } = this.options;
    await mkdir(dir, { recursive: true });
    const bases: number[] = [];
    for (const name of await readdir(dir)) {
      const base = parseSegmentFileName(name);
      if (base !== undefined) bases.push(base);
      else if (name.endsWith('.cleaned') || isDurableTempFile(name))
        await rm(join(dir, name), { force: true });
    }
    bases.sort((a, b) => a - b);
    if (bases.length === 0) {
      this.segments = [await Segment.create(dir, 0, this.options.indexIntervalBytes)];
      if (this.options.fsync !== 'never') await fsyncDirectory(dir);
      return;
    }
    this.segments = await this.segmentsFor(bases);
    const active = this.segments.at(-1)!;
    active.pin();
    const fileSize = active.size;
    const scan = await active.scan(fileSize);
    active.size = scan.validEnd;
    if (scan.validEnd < fileSize) {
      // A torn tail (a write the process or machine died in the middle of): cut it and continue from there.
      const handle = await active.acquire();
      try {
        await handle.truncate(scan.validEnd);
        if (this.options.fsync !== 'never') await handle.datasync();
      } finally {
        active.release();
      }
      active.index.truncate(scan.validEnd);
      this.recovery = {
        segment: active.path,
        truncatedBytes: fileSize - scan.validEnd,
        reason: scan.problem ?? 'unknown',
      };
    }
  }

  private async loadReadOnly(): Promise<void> {
    this.segments = [];
    await this.tail(true);
  }

  private async segmentsFor(bases: readonly number[]): Promise<Segment[]> {
    const { dir, indexIntervalBytes, readOnly } = this.options;
    return Promise.all(
      bases.map(async (base, i) => {
        const { size } = await stat(join(dir, segmentFileName(base)));
        const last = i === bases.length - 1;
        return new Segment(dir, base, size, indexIntervalBytes, !readOnly && last, readOnly);
      }),
    );
  }

  /** Read-only openers: picks up segments and records the writer process appended, removed or rolled. */
  private tail(force = false): Promise<void> {
    const now = Date.now();
    if (!force && now - this.lastTail < this.options.tailIntervalMs) return this.tailing ?? Promise.resolve();
    this.lastTail = now;
    this.tailing ??= this.tailNow().finally(() => {
      this.tailing = undefined;
    });
    return this.tailing;
  }

  private async tailNow(): Promise<void> {
    const { dir } = this.options;
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return;
      throw error;
    }
    const onDisk = new Set<number>();
    for (const name of names) {
      const base = parseSegmentFileName(name);
      if (base !== undefined) onDisk.add(base);
    }
    for (const segment of this.segments) {
      if (!onDisk.has(segment.baseOffset)) segment.retire();
    }
    this.segments = this.segments.filter((s) => !s.retired);
    const lastKnown = this.segments.at(-1);
    const added = [...onDisk]
      .filter((b) => lastKnown === undefined || b > lastKnown.baseOffset)
      .sort((a, b) => a - b);
    // The previous last segment first: if the writer rolled, its remaining records are complete now.
    if (lastKnown !== undefined) await this.scanToEnd(lastKnown);
    if (added.length === 0) return;
    let fresh: Segment[];
    try {
      fresh = await this.segmentsFor(added);
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return; // removed between readdir and stat; the next tail sees it
      throw error;
    }
    this.segments.push(...fresh);
    const last = fresh.at(-1)!;
    await this.scanToEnd(last);
  }

  private async scanToEnd(segment: Segment): Promise<void> {
    let size: number;
    try {
      size = (await stat(segment.path)).size;
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return;
      throw error;
    }
    // Stops quietly at a record still being written; the next tail continues from there.
    const scan = await segment.scan(size);
    segment.size = scan.validEnd;
  }

  /** Finds the segment holding `cursor.offset` and positions the cursor at or before it. */
  private async seek(cursor: ReadCursor): Promise<Segment | undefined> {
    if (cursor.offset < this.startOffset) cursor.offset = this.startOffset;
    let lo = 0;
    let hi = this.segments.length - 1;
    let found = 0;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.segments[mid]!.baseOffset <= cursor.offset) {
        found = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    const segment = this.segments[found];
    if (segment === undefined) return undefined;
    if (!segment.fullyScanned) {
      const scan = await segment.scan(segment.size);
      if (scan.problem !== undefined && segment !== this.segments.at(-1)) {
        throw new CorruptLogError(segment.path, scan.validEnd, scan.problem);
      }
    }
    cursor.segment = segment;
    cursor.position = segment.index.floorPosition(cursor.offset);
    cursor.chunk = undefined;
    cursor.prefetch = undefined;
    return segment;
  }

  private segmentAfter(segment: Segment): Segment | undefined {
    let lo = 0;
    let hi = this.segments.length - 1;
    let found: Segment | undefined;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const candidate = this.segments[mid]!;
      if (candidate.baseOffset > segment.baseOffset) {
        found = candidate;
        hi = mid - 1;
      } else {
        lo = mid + 1;
      }
    }
    return found;
  }

  private async writeLoop(): Promise<void> {
    try {
      while (this.pending.length > 0) {
        const batch = this.pending;
        this.pending = [];
        await this.writeBatch(batch);
      }
    } finally {
      this.writing = undefined;
    }
  }

  private async writeBatch(batch: readonly PendingAppend[]): Promise<void> {
    try {
      if (this.failure !== undefined) throw this.failure;
      let total = 0;
      for (const append of batch) for (const record of append.records) total += encodedSize(record);
      let active = this.segments.at(-1)!;
      if (active.size > 0 && active.size + total > this.options.segmentBytes)
        active = await this.roll(active);

      const buf = Buffer.allocUnsafe(total);
      const start = active.size;
      const firstOffset = active.nextOffset;
      let offset = firstOffset;
      let pos = 0;
      const notes: number[] = [];
      for (const append of batch) {
        for (const record of append.records) {
          const end = encodeRecord(buf, pos, offset, record);
          notes.push(offset, start + pos, record.timestamp, end - pos);
          pos = end;
          offset++;
        }
      }
      const handle = await active.acquire();
      try {
        await writeFully(handle, buf, start);
        if (this.options.fsync === 'always') await handle.datasync();
      } catch (error) {
        await this.undoPartialWrite(handle, start, error);
        throw error;
      } finally {
        active.release();
      }
      for (let i = 0; i < notes.length; i += 4)
        active.noteRecord(notes[i]!, notes[i + 1]!, notes[i + 2]!, notes[i + 3]!);
      active.size = start + total;
      this.dirty = this.options.fsync === 'interval';
      let base = firstOffset;
      for (const append of batch) {
        append.resolve(base);
        base += append.records.length;
      }
      this.options.onAppend();
    } catch (error) {
      for (const append of batch) append.reject(error);
    }
  }

  private async undoPartialWrite(handle: FileHandle, size: number, cause: unknown): Promise<void> {
    try {
      await handle.truncate(size);
    } catch {
      // The file may now hold a partial record that a later append would follow: refuse further appends.
      this.failure = new Error(`partition log ${this.options.dir} is unusable after a failed write`, {
        cause,
      });
    }
  }

  private async roll(active: Segment): Promise<Segment> {
    if (this.options.fsync !== 'never') await this.datasync(active);
    const next = await Segment.create(this.options.dir, active.nextOffset, this.options.indexIntervalBytes);
    if (this.options.fsync !== 'never') await fsyncDirectory(this.options.dir);
    this.segments.push(next);
    active.unpin();
    return next;
  }

  private async datasync(segment: Segment): Promise<void> {
    const handle = await segment.acquire();
    try {
      await handle.datasync();
    } finally {
      segment.release();
    }
  }
}

async function writeFully(handle: FileHandle, buf: Buffer, position: number): Promise<void> {
  let written = 0;
  while (written < buf.length) {
    const { bytesWritten } = await handle.write(buf, written, buf.length - written, position + written);
    written += bytesWritten;
  }
}

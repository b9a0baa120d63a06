import { readFile, rename, rm, open } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncDirectory, isErrno, writeFileDurably } from './durable-file.js';
import { decodeKey, isTombstone } from './record-codec.js';
import type { PartitionLog } from './partition-log.js';
import { Segment } from './segment.js';

export interface CompactionOptions {
  readonly now: number;
  /**
   * A tombstone is removed only by a pass after the one that first cleaned it, and only once it is older
   * than this, so consumers get the chance to see the delete (Kafka's `delete.retention.ms`).
   */
  readonly tombstoneRetentionMs: number;
}

export interface CompactionResult {
  readonly segmentsRewritten: number;
  readonly recordsRemoved: number;
}

const CHECKPOINT_FILE = 'cleaner-checkpoint.json';
const NO_CHECKPOINT: CleanerCheckpoint = { cleanedThrough: 0, oldestTombstone: null };

interface CleanerCheckpoint {
  /** Offsets below this were covered by a finished pass. */
  readonly cleanedThrough: number;
  /** The timestamp of the oldest tombstone that pass kept (a later pass removes it once it expires). */
  readonly oldestTombstone: number | null;
}

/**
 * Rewrites the closed segments of a partition keeping only the newest record per key. Offsets are kept, so
 * the log gets gaps. The active segment is never touched, and a record is only dropped when a newer one
 * with the same key exists in the closed segments. Each rewritten segment replaces the old one atomically
 * (write `<segment>.cleaned`, fsync, rename); a crash mid-pass leaves a `.cleaned` file removed on open.
 */
export function compactLog(log: PartitionLog, options: CompactionOptions): Promise<CompactionResult> {
  return log.exclusive(async () => {
    const closed = log.closedSegments();
    const cleanedThrough = log.activeBaseOffset;
    const previous = await readCheckpoint(log.dir);
    const tombstoneCutoff = options.now - options.tombstoneRetentionMs;
    // Nothing was closed since the last pass, and no tombstone it kept has expired yet: nothing to do.
    const tombstoneDue = previous.oldestTombstone !== null && previous.oldestTombstone <= tombstoneCutoff;
    if (closed.length === 0 || (previous.cleanedThrough >= cleanedThrough && !tombstoneDue)) {
      return { segmentsRewritten: 0, recordsRemoved: 0 };
    }

    const newest = new Map<string, number>();
    for (const segment of closed) {
      for await (const { buf, pos, frame } of segment.frames()) {
        const key = decodeKey(buf, pos);
        if (key !== null) newest.set(key.toString('latin1'), frame.offset);
      }
    }

    let segmentsRewritten = 0;
    let recordsRemoved = 0;
    let oldestTombstone: number | null = null;
    for (const segment of closed) {
      const kept: Buffer[] = [];
      const replacement = new Segment(log.dir, segment.baseOffset, 0, log.indexIntervalBytes, false, false);
      let removed = 0;
      let size = 0;
      for await (const { buf, pos, frame } of segment.frames()) {
        const key = decodeKey(buf, pos);
        const superseded = key !== null && newest.get(key.toString('latin1')) !== frame.offset;
        const tombstone = key !== null && isTombstone(buf, pos);
        const expiredTombstone =
          tombstone && frame.offset < previous.cleanedThrough && frame.timestamp <= tombstoneCutoff;
        if (superseded || expiredTombstone) {
          removed++;
          continue;
        }
        if (tombstone && (oldestTombstone === null || frame.timestamp < oldestTombstone)) {
          oldestTombstone = frame.timestamp;
        }
        replacement.noteRecord(frame.offset, size, frame.timestamp, frame.size);
        kept.push(buf.subarray(pos, pos + frame.size));
        size += frame.size;
      }
      if (removed === 0) continue;
      replacement.size = size;
      const cleaned = `${segment.path}.cleaned`;
      if (size > 0) await writeSynced(cleaned, kept);
      await log.replaceSegment(segment, size > 0 ? replacement : undefined, async () => {
        if (size > 0) await rename(cleaned, segment.path);
        else await rm(segment.path, { force: true });
        await fsyncDirectory(log.dir);
      });
      segmentsRewritten++;
      recordsRemoved += removed;
    }
    if (cleanedThrough !== previous.cleanedThrough || oldestTombstone !== previous.oldestTombstone) {
      const checkpoint: CleanerCheckpoint = { cleanedThrough, oldestTombstone };
      await writeFileDurably(join(log.dir, CHECKPOINT_FILE), JSON.stringify(checkpoint));
    }
    return { segmentsRewritten, recordsRemoved };
  });
}

async function readCheckpoint(dir: string): Promise<CleanerCheckpoint> {
  try {
    const parsed: unknown = JSON.parse(await readFile(join(dir, CHECKPOINT_FILE), 'utf8'));
    if (typeof parsed === 'object' && parsed !== null) {
      const { cleanedThrough, oldestTombstone } = parsed as Partial<Record<keyof CleanerCheckpoint, unknown>>;
      if (
        typeof cleanedThrough === 'number' &&
        (typeof oldestTombstone === 'number' || oldestTombstone === null)
      ) {
        return { cleanedThrough, oldestTombstone };
      }
    }
    return NO_CHECKPOINT;
  } catch (error) {
    if (isErrno(error, 'ENOENT')) return NO_CHECKPOINT;
    throw error;
  }
}

const WRITE_CHUNK_BYTES = 1 << 20;

async function writeSynced(path: string, buffers: readonly Buffer[]): Promise<void> {
  const handle = await open(path, 'w');
  try {
    let group: Buffer[] = [];
    let groupBytes = 0;
    for (let i = 0; i <= buffers.length; i++) {
      const buf = buffers[i];
      if (buf === undefined || groupBytes + buf.length > WRITE_CHUNK_BYTES) {
        if (groupBytes > 0) await handle.writeFile(Buffer.concat(group, groupBytes));
        group = [];
        groupBytes = 0;
      }
      if (buf !== undefined) {
        group.push(buf);
        groupBytes += buf.length;
      }
    }
    await handle.datasync();
  } finally {
    await handle.close();
  }
}

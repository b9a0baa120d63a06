import { open, readFile, rename, writeFile, type FileHandle } from 'node:fs/promises';
import { writeFileDurably } from '@datamesh/core';

/** How far the file is known to be complete, and the newest input offset in it per topic-partition. */
export interface FileWatermark {
  bytes: number;
  offsets: Record<string, number>;
}

/**
 * An append-only JSON Lines file with a sidecar watermark. On open, lines past the watermark are
 * re-read to learn their offsets and a torn last line (a crash mid-write) is cut off, so replays after
 * a crash can be recognised and skipped.
 */
export class JsonlFile {
  readonly path: string;
  private readonly handle: FileHandle;
  private readonly watermark: FileWatermark;

  private constructor(path: string, handle: FileHandle, watermark: FileWatermark) {
    this.path = path;
    this.handle = handle;
    this.watermark = watermark;
  }

  static async open(path: string): Promise<JsonlFile> {
    const watermark: FileWatermark = await readFile(`${path}.watermark.json`, 'utf8')
      .then((t) => JSON.parse(t) as FileWatermark)
      .catch(() => ({ bytes: 0, offsets: {} }));
    const handle = await open(path, 'a+');
    const size = (await handle.stat()).size;
    if (size < watermark.bytes) {
      await handle.close();
      throw new Error(
        `${path} is shorter (${size} bytes) than its watermark says (${watermark.bytes}); it was changed outside datamesh`,
      );
    }
    if (size > watermark.bytes) {
      const tail = Buffer.alloc(size - watermark.bytes);
      await handle.read(tail, 0, tail.length, watermark.bytes);
      const complete = tail.lastIndexOf(0x0a) + 1;
      for (const line of tail.subarray(0, complete).toString('utf8').split('\n')) {
        if (line) noteOffset(watermark, JSON.parse(line) as LineWithPosition);
      }
      if (complete < tail.length) await handle.truncate(watermark.bytes + complete);
      watermark.bytes += complete;
    }
    return new JsonlFile(path, handle, watermark);
  }

  /** The newest offset already in the file for a topic-partition, or -1. */
  lastOffset(topic: string, partition: number): number {
    return this.watermark.offsets[`${topic}/${partition}`] ?? -1;
  }

  /** Appends lines and makes them durable (write + fsync), then moves the watermark. */
  async append(lines: readonly LineWithPosition[], fsync: boolean): Promise<void> {
    if (lines.length === 0) return;
    const text = Buffer.from(lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    await this.handle.write(text);
    if (fsync) await this.handle.sync();
    this.watermark.bytes += text.length;
    for (const line of lines) noteOffset(this.watermark, line);
    // Durable only when the data is: with fsync off, a power loss may leave a watermark past the data.
    const sidecar = `${this.path}.watermark.json`;
    if (fsync) {
      await writeFileDurably(sidecar, JSON.stringify(this.watermark));
    } else {
      await writeFile(`${sidecar}.tmp`, JSON.stringify(this.watermark));
      await rename(`${sidecar}.tmp`, sidecar);
    }
  }

  close(): Promise<void> {
    return this.handle.close();
  }
}

export interface LineWithPosition {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly [field: string]: unknown;
}

function noteOffset(watermark: FileWatermark, line: LineWithPosition): void {
  const id = `${line.topic}/${line.partition}`;
  watermark.offsets[id] = Math.max(watermark.offsets[id] ?? -1, line.offset);
}

import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TopicPartitionOffset } from '../transport.js';
import { isErrno, writeFileDurably } from './durable-file.js';

/** Committed next offsets of one group: topic -> partition -> offset. */
export type CommittedOffsets = Map<string, Map<number, number>>;

interface GroupFile {
  readonly group: string;
  readonly offsets: Record<string, Record<string, number>>;
}

/**
 * Each group's committed offsets in `<dir>/<group>.json`, replaced atomically and durably on every commit
 * (temp file + fsync + rename + directory fsync), so a commit that returned survives a crash.
 */
export class GroupOffsetStore {
  private readonly writes = new Map<string, Promise<void>>();

  private readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  async load(group: string): Promise<CommittedOffsets> {
    // A save under way is what a reader must see.
    await this.writes.get(group)?.catch(() => undefined);
    let text: string;
    try {
      text = await readFile(this.pathOf(group), 'utf8');
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return new Map();
      throw error;
    }
    const parsed = JSON.parse(text) as GroupFile;
    const offsets: CommittedOffsets = new Map();
    for (const [topic, partitions] of Object.entries(parsed.offsets ?? {})) {
      const byPartition = new Map<number, number>();
      for (const [partition, offset] of Object.entries(partitions))
        byPartition.set(Number(partition), offset);
      offsets.set(topic, byPartition);
    }
    return offsets;
  }

  /** Writes the group's offsets; writes of one group happen one after the other, in call order. */
  save(group: string, offsets: CommittedOffsets): Promise<void> {
    const file: GroupFile = {
      group,
      offsets: Object.fromEntries(
        [...offsets].map(([topic, partitions]) => [
          topic,
          Object.fromEntries([...partitions].map(([p, o]) => [String(p), o])),
        ]),
      ),
    };
    const text = `${JSON.stringify(file)}\n`;
    const previous = this.writes.get(group) ?? Promise.resolve();
    const write = previous
      .catch(() => undefined)
      .then(async () => {
        await mkdir(this.dir, { recursive: true });
        await writeFileDurably(this.pathOf(group), text);
      });
    this.writes.set(group, write);
    void write
      .finally(() => {
        if (this.writes.get(group) === write) this.writes.delete(group);
      })
      .catch(() => undefined);
    return write;
  }

  private pathOf(group: string): string {
    return join(this.dir, `${encodeURIComponent(group)}.json`);
  }
}

export function toOffsetList(offsets: CommittedOffsets, topics: readonly string[]): TopicPartitionOffset[] {
  const out: TopicPartitionOffset[] = [];
  for (const topic of topics) {
    const partitions = offsets.get(topic);
    if (partitions === undefined) continue;
    for (const [partition, offset] of [...partitions].sort((a, b) => a[0] - b[0]))
      out.push({ topic, partition, offset });
  }
  return out;
}

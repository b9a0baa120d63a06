import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { TopicPartitionOffset } from '../transport.js';
import { fsyncDirectory, isDurableTempFile, isErrno, replaceFile } from './durable-file.js';
import { checkFrame, decodeRecord, encodedSize, encodeRecord, type RecordToEncode } from './record-codec.js';
import type { TopicRegistry } from './topic-registry.js';

const FILE = 'transaction.journal';

/** A transaction's records for one partition, and the offset the first of them gets. */
export interface JournalPartition {
  readonly topic: string;
  readonly partition: number;
  readonly base: number;
  readonly records: readonly RecordToEncode[];
}

export interface JournalEntry {
  readonly partitions: readonly JournalPartition[];
  /** Per consumer group, the offsets the transaction commits. */
  readonly offsets: ReadonlyMap<string, readonly TopicPartitionOffset[]>;
}

/** What opening the log did to complete a transaction that was committed but not wholly applied. */
export interface TransactionRecovery {
  /** Records of the transaction appended on opening (0: all of them were already in their partitions). */
  readonly appended: number;
  /** Consumer groups whose offsets the transaction committed, stored on opening. */
  readonly groups: readonly string[];
}

/** What precedes the records in a journal: its layout and the offsets the transaction commits. */
interface JournalHeader {
  readonly version: 1;
  readonly partitions: readonly {
    readonly topic: string;
    readonly partition: number;
    readonly base: number;
    readonly count: number;
  }[];
  readonly offsets: Readonly<Record<string, readonly TopicPartitionOffset[]>>;
}

/**
 * The journal file: u32 length of a JSON `JournalHeader`, the header, then each partition's records in the log's
 * own frames (`record-codec`), with the offsets they get, one partition after the other. Frames, not JSON: a
 * source's every batch goes through a journal, and base64 in JSON cost twice what appending the records did.
 */
function encodeJournal(entry: JournalEntry): Buffer {
  const header: JournalHeader = {
    version: 1,
    partitions: entry.partitions.map((p) => ({
      topic: p.topic,
      partition: p.partition,
      base: p.base,
      count: p.records.length,
    })),
    offsets: Object.fromEntries(entry.offsets),
  };
  const head = Buffer.from(JSON.stringify(header));
  let size = 4 + head.length;
  for (const p of entry.partitions) for (const r of p.records) size += encodedSize(r);
  const buf = Buffer.allocUnsafe(size);
  buf.writeUInt32BE(head.length, 0);
  head.copy(buf, 4);
  let pos = 4 + head.length;
  for (const p of entry.partitions) {
    p.records.forEach((r, i) => (pos = encodeRecord(buf, pos, p.base + i, r)));
  }
  return buf;
}

function decodeJournal(buf: Buffer, path: string): { header: JournalHeader; records: RecordToEncode[][] } {
  const fail = (why: string): never => {
    throw new Error(
      `${path} is damaged (${why}): the transaction it holds cannot be completed. Remove the file to give it up`,
    );
  };
  if (buf.length < 4) fail('too short');
  const headLength = buf.readUInt32BE(0);
  let header: JournalHeader;
  try {
    header = JSON.parse(buf.toString('utf8', 4, 4 + headLength)) as JournalHeader;
  } catch {
    return fail('unreadable header');
  }
  if (header.version !== 1) fail(`version ${String(header.version)}, which this version cannot read`);
  let pos = 4 + headLength;
  const records = header.partitions.map((p) =>
    Array.from({ length: p.count }, () => {
      const check = checkFrame(buf, pos);
      if (check.kind !== 'ok') return fail(`a record of ${p.topic}/${p.partition} is ${check.kind}`);
      const { key, value, headers, timestamp } = decodeRecord(buf, pos);
      pos += check.frame.size;
      return { key, value, headers: Object.keys(headers).length > 0 ? headers : undefined, timestamp };
    }),
  );
  return { header, records };
}

/**
 * The commit point of the embedded log's transactions: `<dir>/transaction.journal` holds the transaction being
 * applied — its records per partition with the offset each partition's first record gets, and the consumer
 * offsets it commits. A transaction is committed once its journal is in place (written to a temp file and
 * renamed, so it is whole or absent); its records are appended and its offsets stored after that, and the
 * journal is removed once they are. Opening the log finishes a journal it finds: a partition whose end is
 * short of `base + records` gets the records it lacks. Commits run one at a time, so one journal at most exists.
 *
 * The journal is fsynced under the `always` policy only: under the others it survives a crash of the process
 * (the page cache keeps it) but not a power loss, as the records themselves.
 */
export class TransactionJournal {
  private readonly dir: string;
  private readonly sync: boolean;

  constructor(dir: string, sync: boolean) {
    this.dir = dir;
    this.sync = sync;
  }

  private get path(): string {
    return join(this.dir, FILE);
  }

  async write(entry: JournalEntry): Promise<void> {
    await replaceFile(this.path, encodeJournal(entry), this.sync);
  }

  async clear(): Promise<void> {
    await rm(this.path, { force: true });
    if (this.sync) await fsyncDirectory(this.dir);
  }

  /**
   * Finishes the transaction a crash left half applied, if any: appends what its partitions lack and stores
   * its offsets, then removes the journal.
   */
  async complete(
    topics: TopicRegistry,
    storeOffsets: (group: string, offsets: readonly TopicPartitionOffset[]) => Promise<void>,
  ): Promise<TransactionRecovery | undefined> {
    for (const name of await readdir(this.dir)) {
      if (isDurableTempFile(name) && name.startsWith(`.${FILE}`))
        await rm(join(this.dir, name), { force: true });
    }
    let buf: Buffer;
    try {
      buf = await readFile(this.path);
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return undefined;
      throw error;
    }
    const { header, records } = decodeJournal(buf, this.path);
    let appended = 0;
    for (const [i, p] of header.partitions.entries()) {
      const log = topics.get(p.topic)?.logs[p.partition];
      if (!log) {
        throw new Error(
          `${this.path} holds a committed transaction for ${p.topic}/${p.partition}, which the log no longer has; ` +
            `restore that topic's directory, or remove the journal to give up the transaction`,
        );
      }
      // Records before `base` lost with a power loss (possible under the `interval` and `never` policies) shift
      // the transaction's records down: they are all appended, as any record acknowledged after the loss.
      const missing = records[i]!.slice(Math.max(0, log.endOffset - p.base));
      if (missing.length === 0) continue;
      await log.append(missing);
      // Before the journal goes: from here on the records alone vouch for the transaction.
      await log.sync();
      appended += missing.length;
    }
    const groups = Object.keys(header.offsets);
    for (const group of groups) await storeOffsets(group, header.offsets[group]!);
    await this.clear();
    return { appended, groups };
  }
}

import { open, readFile, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import type { TopicPartitionOffset } from '../transport.js';
import { isErrno } from './durable-file.js';
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

/** `DMTJ`: the first bytes of a journal. */
const MAGIC = 0x444d544a;
/** Magic, body length, CRC32 of the body. */
const FRAME_HEADER = 12;

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
 * The journal file: magic, u32 body length and u32 CRC32 of the body, then the body: u32 length of a JSON
 * `JournalHeader`, the header, and each partition's records in the log's own frames (`record-codec`), with the
 * offsets they get, one partition after the other. Frames, not JSON: a source's every batch goes through a
 * journal, and base64 in JSON cost twice what appending the records did.
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
  let size = FRAME_HEADER + 4 + head.length;
  for (const p of entry.partitions) for (const r of p.records) size += encodedSize(r);
  const buf = Buffer.allocUnsafe(size);
  let pos = FRAME_HEADER;
  buf.writeUInt32BE(head.length, pos);
  head.copy(buf, pos + 4);
  pos += 4 + head.length;
  for (const p of entry.partitions) {
    p.records.forEach((r, i) => (pos = encodeRecord(buf, pos, p.base + i, r)));
  }
  buf.writeUInt32BE(MAGIC, 0);
  buf.writeUInt32BE(size - FRAME_HEADER, 4);
  buf.writeUInt32BE(crc32(buf.subarray(FRAME_HEADER)), 8);
  return buf;
}

/**
 * The body of a whole journal, or undefined for an empty file or a torn one: a crash while the journal was
 * written, before the commit it was for had appended anything.
 */
function journalBody(file: Buffer): Buffer | undefined {
  if (file.length < FRAME_HEADER || file.readUInt32BE(0) !== MAGIC) return undefined;
  const length = file.readUInt32BE(4);
  if (file.length < FRAME_HEADER + length) return undefined;
  const body = file.subarray(FRAME_HEADER, FRAME_HEADER + length);
  return crc32(body) === file.readUInt32BE(8) ? body : undefined;
}

function decodeJournal(buf: Buffer, path: string): { header: JournalHeader; records: RecordToEncode[][] } {
  const fail = (why: string): never => {
    throw new Error(
      `${path} is damaged (${why}): the transaction it holds cannot be completed. Remove the file to give it up`,
    );
  };
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
 * offsets it commits. A transaction is committed once its journal is written whole (a checksum tells a torn
 * write, which opening ignores: nothing of that transaction was appended yet); its records are appended and its
 * offsets stored after that, and the journal is emptied once they are. Opening the log finishes a journal it
 * finds: a partition whose end is short of `base + records` gets the records it lacks. Commits run one at a time,
 * so the file holds one journal at most; it stays open, written in place and truncated (two calls a commit).
 *
 * The journal is fsynced under the `always` policy only: under the others it survives a crash of the process
 * (the page cache keeps it) but not a power loss, as the records themselves.
 */
export class TransactionJournal {
  private readonly dir: string;
  private readonly sync: boolean;
  private handle: Promise<FileHandle> | undefined;

  constructor(dir: string, sync: boolean) {
    this.dir = dir;
    this.sync = sync;
  }

  private get path(): string {
    return join(this.dir, FILE);
  }

  async write(entry: JournalEntry): Promise<void> {
    const buf = encodeJournal(entry);
    this.handle ??= open(this.path, 'w');
    const handle = await this.handle;
    let written = 0;
    while (written < buf.length) {
      written += (await handle.write(buf, written, buf.length - written, written)).bytesWritten;
    }
    if (this.sync) await handle.datasync();
  }

  /** Empties the journal: its transaction is wholly applied. */
  async clear(): Promise<void> {
    if (!this.handle) return;
    const handle = await this.handle;
    await handle.truncate(0);
    if (this.sync) await handle.datasync();
  }

  async close(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    await (await handle)?.close();
  }

  /**
   * Finishes the transaction a crash left half applied, if any: appends what its partitions lack and stores
   * its offsets, then removes the journal.
   */
  async complete(
    topics: TopicRegistry,
    storeOffsets: (group: string, offsets: readonly TopicPartitionOffset[]) => Promise<void>,
  ): Promise<TransactionRecovery | undefined> {
    let file: Buffer;
    try {
      file = await readFile(this.path);
    } catch (error) {
      if (isErrno(error, 'ENOENT')) return undefined;
      throw error;
    }
    const buf = journalBody(file);
    if (buf === undefined) return undefined;
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
    const handle = await open(this.path, 'r+');
    try {
      await handle.truncate(0);
      await handle.datasync();
    } finally {
      await handle.close();
    }
    return { appended, groups };
  }
}

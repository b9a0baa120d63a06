import { appendFile, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { newCursor, PartitionLog, type PartitionLogOptions } from './partition-log.js';
import { encodedSize, encodeRecord, type DecodedRecord, type RecordToEncode } from './record-codec.js';
import { CorruptLogError, Segment, segmentFileName } from './segment.js';

let dir = '';
const opened: PartitionLog[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'datamesh-partition-log-'));
});
afterEach(async () => {
  await Promise.all(opened.splice(0).map((log) => log.close()));
  await rm(dir, { recursive: true, force: true });
});

async function openLog(overrides: Partial<PartitionLogOptions> = {}): Promise<PartitionLog> {
  const log = await PartitionLog.open({
    dir,
    readOnly: false,
    segmentBytes: 1 << 20,
    indexIntervalBytes: 256,
    readChunkBytes: 4096,
    fsync: 'never',
    tailIntervalMs: 0,
    onAppend: () => undefined,
    ...overrides,
  });
  opened.push(log);
  return log;
}

function record(i: number): RecordToEncode {
  return {
    key: Buffer.from(`k${i}`),
    value: Buffer.from(`value-${i}`),
    headers: { n: String(i) },
    timestamp: 1000 + i,
  };
}

function records(from: number, count: number): RecordToEncode[] {
  return Array.from({ length: count }, (_, i) => record(from + i));
}

async function readAll(log: PartitionLog, from = 0, batch = 1000): Promise<DecodedRecord[]> {
  const cursor = newCursor(from);
  const out: DecodedRecord[] = [];
  for (;;) {
    const got = await log.read(cursor, batch);
    if (got.length === 0) return out;
    out.push(...got);
  }
}

async function closeLog(log: PartitionLog): Promise<void> {
  opened.splice(opened.indexOf(log), 1);
  await log.close();
}

describe('PartitionLog', () => {
  it('assigns contiguous offsets from 0 and reads the records back intact', async () => {
    const log = await openLog();
    expect(await log.append(records(0, 3))).toBe(0);
    expect(await log.append(records(3, 2))).toBe(3);
    expect(log.endOffset).toBe(5);
    const read = await readAll(log);
    expect(read.map((r) => r.offset)).toEqual([0, 1, 2, 3, 4]);
    expect(read.map((r) => r.value?.toString())).toEqual([0, 1, 2, 3, 4].map((i) => `value-${i}`));
    expect(read[4]?.headers).toEqual({ n: '4' });
    expect(read[4]?.timestamp).toBe(1004);
  });

  it('groups concurrent appends into ordered, contiguous offsets', async () => {
    const log = await openLog();
    const bases = await Promise.all(Array.from({ length: 50 }, (_, i) => log.append(records(i * 3, 3))));
    expect(bases).toEqual(Array.from({ length: 50 }, (_, i) => i * 3));
    const read = await readAll(log);
    expect(read.map((r) => r.value?.toString())).toEqual(Array.from({ length: 150 }, (_, i) => `value-${i}`));
  });

  it('rolls to a new segment past segmentBytes and reads across segments', async () => {
    const log = await openLog({ segmentBytes: 1000 });
    for (let i = 0; i < 20; i++) await log.append(records(i * 5, 5));
    const files = (await readdir(dir)).filter((f) => f.endsWith('.log')).sort();
    expect(files.length).toBeGreaterThan(5);
    expect(files[0]).toBe(segmentFileName(0));
    expect(files[0]).toBe('00000000000000000000.log');
    for (const file of files) expect((await stat(join(dir, file))).size).toBeLessThanOrEqual(1000);
    expect((await readAll(log, 0, 7)).map((r) => r.offset)).toEqual(Array.from({ length: 100 }, (_, i) => i));
  });

  it('seeks to an offset through the sparse index, also in segments not scanned since opening', async () => {
    const first = await openLog({ segmentBytes: 2000 });
    for (let i = 0; i < 20; i++) await first.append(records(i * 10, 10));
    await closeLog(first);
    const log = await openLog({ segmentBytes: 2000 });
    for (const from of [57, 0, 199, 120, 1]) {
      const [r] = await log.read(newCursor(from), 1);
      expect(r?.offset).toBe(from);
      expect(r?.value?.toString()).toBe(`value-${from}`);
    }
    expect(await log.read(newCursor(200), 10)).toEqual([]);
  });

  it('keeps reading from its cursor in large chunks instead of re-reading the segment', async () => {
    const log = await openLog({ readChunkBytes: 64 * 1024 });
    await log.append(records(0, 1000));
    const reads = vi.spyOn(Segment.prototype, 'read');
    const cursor = newCursor(0);
    let total = 0;
    for (;;) {
      const got = await log.read(cursor, 10);
      if (got.length === 0) break;
      total += got.length;
    }
    expect(total).toBe(1000);
    const bytes = reads.mock.calls.reduce((sum, [, length]) => sum + length, 0);
    expect(reads.mock.calls.length).toBeLessThan(5);
    expect(bytes).toBeLessThan(2 * log.sizeBytes);
    reads.mockRestore();
  });

  it('reads records that straddle chunks or are larger than a chunk, with read-ahead', async () => {
    const log = await openLog({ readChunkBytes: 100 });
    const sizes = Array.from({ length: 200 }, (_, i) => (i * 37) % 700);
    await log.append(
      sizes.map((n, i) => ({ key: null, value: Buffer.alloc(n, i % 256), headers: undefined, timestamp: i })),
    );
    for (const batch of [1, 7, 1000]) {
      const read = await readAll(log, 0, batch);
      expect(read.map((r) => r.value?.length)).toEqual(sizes);
      expect(read.every((r, i) => r.value!.every((b) => b === i % 256))).toBe(true);
    }
  });

  it('cuts a torn tail on open and continues from the last complete record', async () => {
    const first = await openLog();
    await first.append(records(0, 10));
    await closeLog(first);
    const torn = Buffer.alloc(encodedSize(record(10)));
    encodeRecord(torn, 0, 10, record(10));
    const segment = join(dir, segmentFileName(0));
    const goodSize = (await stat(segment)).size;
    await appendFile(segment, torn.subarray(0, torn.length - 5));

    const log = await openLog();
    expect(log.recovery).toMatchObject({
      truncatedBytes: torn.length - 5,
      reason: 'incomplete record at the end',
    });
    expect((await stat(segment)).size).toBe(goodSize);
    expect(log.endOffset).toBe(10);
    expect(await log.append([record(99)])).toBe(10);
    const read = await readAll(log);
    expect(read.map((r) => r.offset)).toEqual(Array.from({ length: 11 }, (_, i) => i));
    expect(read[10]?.value?.toString()).toBe('value-99');
  });

  it('drops a last record whose CRC does not match (bytes half-written before a machine crash)', async () => {
    const first = await openLog();
    await first.append(records(0, 10));
    await closeLog(first);
    const segment = join(dir, segmentFileName(0));
    const bytes = await readFile(segment);
    bytes[bytes.length - 2]! ^= 0xff;
    await writeFile(segment, bytes);

    const log = await openLog();
    expect(log.recovery?.reason).toBe('CRC mismatch');
    expect(log.endOffset).toBe(9);
    expect((await readAll(log)).length).toBe(9);
  });

  it('lets a read-only opener follow what the writer appends, across rolls, stopping before a partial record', async () => {
    const writer = await openLog({ segmentBytes: 600 });
    await writer.append(records(0, 5));
    const reader = await openLog({ readOnly: true, segmentBytes: 600 });
    const cursor = newCursor(0);
    expect((await reader.read(cursor, 100)).length).toBe(5);
    for (let i = 1; i < 8; i++) await writer.append(records(i * 5, 5));
    const more = await reader.read(cursor, 100);
    expect(more.map((r) => r.offset)).toEqual(Array.from({ length: 35 }, (_, i) => i + 5));

    // Bytes of a record still being written: the reader waits for the rest instead of failing.
    const partial = Buffer.alloc(encodedSize(record(40)));
    encodeRecord(partial, 0, 40, record(40));
    const files = (await readdir(dir)).filter((f) => f.endsWith('.log')).sort();
    await appendFile(join(dir, files.at(-1)!), partial.subarray(0, 8));
    expect(await reader.read(cursor, 100)).toEqual([]);
    expect(reader.endOffset).toBe(40);
    await expect(reader.append([record(1)])).rejects.toThrow(/read-only/);
  });

  it('fails loudly on a corrupt record inside a closed segment', async () => {
    const first = await openLog({ segmentBytes: 500 });
    for (let i = 0; i < 10; i++) await first.append(records(i * 3, 3));
    await closeLog(first);
    const segment = join(dir, segmentFileName(0));
    const bytes = await readFile(segment);
    bytes[40]! ^= 0xff;
    await writeFile(segment, bytes);
    const log = await openLog({ segmentBytes: 500 });
    await expect(readAll(log)).rejects.toBeInstanceOf(CorruptLogError);
  });

  it('refuses appends once closed', async () => {
    const log = await openLog();
    await closeLog(log);
    await expect(log.append([record(0)])).rejects.toThrow(/closed/);
  });

  it('syncs to disk with fsync "always" before acknowledging', async () => {
    const log = await openLog({ fsync: 'always' });
    const datasync = vi.fn();
    const acquire = Segment.prototype.acquire;
    const spy = vi.spyOn(Segment.prototype, 'acquire').mockImplementation(async function (this: Segment) {
      const handle = await acquire.call(this);
      const original = handle.datasync.bind(handle);
      handle.datasync = async () => {
        datasync();
        await original();
      };
      return handle;
    });
    await log.append(records(0, 3));
    expect(datasync).toHaveBeenCalled();
    spy.mockRestore();
  });
});

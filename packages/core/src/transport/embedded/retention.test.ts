import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { newCursor, PartitionLog } from './partition-log.js';
import type { RecordToEncode } from './record-codec.js';
import { applyRetention } from './retention.js';

let dir = '';
let log: PartitionLog;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'datamesh-retention-'));
  log = await PartitionLog.open({
    dir,
    readOnly: false,
    segmentBytes: 1000,
    indexIntervalBytes: 256,
    readChunkBytes: 4096,
    fsync: 'never',
    tailIntervalMs: 0,
    onAppend: () => undefined,
  });
});
afterEach(async () => {
  await log.close();
  await rm(dir, { recursive: true, force: true });
});

function batch(from: number, count: number, timestamp: number): RecordToEncode[] {
  return Array.from({ length: count }, (_, i) => ({
    key: Buffer.from(`k${from + i}`),
    value: Buffer.alloc(40, 1),
    headers: undefined,
    timestamp,
  }));
}

async function segmentCount(): Promise<number> {
  return (await readdir(dir)).filter((f) => f.endsWith('.log')).length;
}

describe('applyRetention', () => {
  it('deletes the oldest closed segments while the partition stays above retentionBytes', async () => {
    for (let i = 0; i < 30; i++) await log.append(batch(i * 4, 4, 1));
    const before = await segmentCount();
    expect(before).toBeGreaterThan(5);
    const deleted = await applyRetention(log, { retentionBytes: 2500 }, Date.now());
    expect(deleted).toBeGreaterThan(0);
    expect(await segmentCount()).toBe(before - deleted);
    expect(log.sizeBytes).toBeGreaterThanOrEqual(2500);
    expect(log.sizeBytes).toBeLessThan(2500 + 1000);
    expect(log.startOffset).toBeGreaterThan(0);
    expect(log.endOffset).toBe(120);
  });

  it('deletes closed segments whose newest record is older than retentionMs, never the active one', async () => {
    const now = 1_000_000;
    for (let i = 0; i < 10; i++) await log.append(batch(i * 4, 4, now - 10_000));
    const oldEnd = log.endOffset;
    for (let i = 0; i < 10; i++) await log.append(batch(100 + i * 4, 4, now - 10));
    const deleted = await applyRetention(log, { retentionMs: 5_000 }, now);
    expect(deleted).toBeGreaterThan(0);
    // Every remaining segment holds a record newer than the cutoff, except possibly the one straddling it.
    expect(log.startOffset).toBeLessThanOrEqual(oldEnd);
    expect(log.startOffset).toBeGreaterThan(0);

    expect(await applyRetention(log, { retentionMs: 0 }, now + 1_000_000)).toBeGreaterThan(0);
    expect(await segmentCount()).toBe(1);
    expect(log.endOffset).toBe(80);
  });

  it('moves a reader positioned in a deleted segment to the new start of the log', async () => {
    for (let i = 0; i < 30; i++) await log.append(batch(i * 4, 4, 1));
    const cursor = newCursor(0);
    expect((await log.read(cursor, 2)).map((r) => r.offset)).toEqual([0, 1]);
    await applyRetention(log, { retentionBytes: 1500 }, Date.now());
    const next = await log.read(cursor, 1);
    expect(next[0]?.offset).toBe(log.startOffset);
  });

  it('does nothing without a retention setting', async () => {
    for (let i = 0; i < 30; i++) await log.append(batch(i * 4, 4, 1));
    expect(await applyRetention(log, {}, Date.now())).toBe(0);
  });
});

import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { compactLog } from './compaction.js';
import { newCursor, PartitionLog } from './partition-log.js';
import type { DecodedRecord } from './record-codec.js';

let dir = '';
const opened: PartitionLog[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'datamesh-compaction-'));
});
afterEach(async () => {
  await Promise.all(opened.splice(0).map((l) => l.close()));
  await rm(dir, { recursive: true, force: true });
});

async function openLog(): Promise<PartitionLog> {
  const log = await PartitionLog.open({
    dir,
    readOnly: false,
    segmentBytes: 400,
    indexIntervalBytes: 128,
    readChunkBytes: 1024,
    fsync: 'never',
    tailIntervalMs: 0,
    onAppend: () => undefined,
  });
  opened.push(log);
  return log;
}

function put(key: string, value: string | null) {
  return {
    key: Buffer.from(key),
    value: value === null ? null : Buffer.from(value),
    headers: undefined,
    timestamp: 1,
  };
}

async function readAll(log: PartitionLog): Promise<DecodedRecord[]> {
  const cursor = newCursor(0);
  const out: DecodedRecord[] = [];
  for (let got = await log.read(cursor, 3); got.length > 0; got = await log.read(cursor, 3)) out.push(...got);
  return out;
}

const summary = (records: readonly DecodedRecord[]) =>
  records.map((r) => `${r.offset}:${r.key?.toString()}=${r.value?.toString() ?? 'null'}`);

describe('compactLog', () => {
  it('keeps the newest record per key in closed segments, with their offsets, and never touches the active one', async () => {
    const log = await openLog();
    // 3 keys updated over and over: offsets 0..29.
    for (let i = 0; i < 30; i++) await log.append([put(`key-${i % 3}`, `v${i}`)]);
    expect(log.closedSegments().length).toBeGreaterThan(2);
    const activeBase = log.closedSegments().at(-1)!.nextOffset;

    const result = await compactLog(log, { now: 10, tombstoneRetentionMs: 0 });
    expect(result.recordsRemoved).toBeGreaterThan(0);
    const records = await readAll(log);
    const offsets = records.map((r) => r.offset);
    expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
    expect(offsets.at(-1)).toBe(29);
    expect(records.length).toBeLessThan(30);
    // The newest value of each key is still there, at its original offset.
    for (const k of [0, 1, 2]) expect(summary(records)).toContain(`${27 + k}:key-${k}=v${27 + k}`);
    // Within the closed segments, each key appears at most once.
    const closedKeys = records.filter((r) => r.offset < activeBase).map((r) => r.key?.toString());
    expect(new Set(closedKeys).size).toBe(closedKeys.length);
    // The active segment is as it was.
    expect(offsets.filter((o) => o >= activeBase)).toEqual(
      Array.from({ length: 30 - activeBase }, (_, i) => activeBase + i),
    );
  });

  it('keeps a tombstone through the first pass and removes it in a later one', async () => {
    const log = await openLog();
    await log.append([put('gone', 'v1'), put('stay', 'a')]);
    await log.append([put('gone', null)]);
    // Filler under other keys so that the tombstone ends up in a closed segment.
    for (let i = 0; i < 20; i++) await log.append([put(`filler-${i}`, 'x'.repeat(20))]);

    await compactLog(log, { now: 10, tombstoneRetentionMs: 0 });
    let records = summary(await readAll(log));
    expect(records).not.toContain('0:gone=v1');
    expect(records).toContain('2:gone=null');
    expect(records).toContain('1:stay=a');

    await compactLog(log, { now: 10, tombstoneRetentionMs: 0 });
    records = summary(await readAll(log));
    expect(records.some((r) => r.includes(':gone='))).toBe(false);
    expect(records).toContain('1:stay=a');
  });

  it('keeps tombstones younger than tombstoneRetentionMs', async () => {
    const log = await openLog();
    await log.append([put('gone', 'v1'), put('gone', null)]);
    for (let i = 0; i < 20; i++) await log.append([put(`filler-${i}`, 'x'.repeat(20))]);
    await compactLog(log, { now: 10, tombstoneRetentionMs: 1_000 });
    await compactLog(log, { now: 10, tombstoneRetentionMs: 1_000 });
    expect(summary(await readAll(log))).toContain('1:gone=null');
  });

  it('skips a pass when nothing was closed since the last one and no kept tombstone has expired', async () => {
    const log = await openLog();
    for (let i = 0; i < 30; i++) await log.append([put(`key-${i % 3}`, `v${i}`)]);
    await log.append([put('key-0', null)]);
    for (let i = 0; i < 10; i++) await log.append([put(`filler-${i}`, 'x'.repeat(20))]);
    expect((await compactLog(log, { now: 10, tombstoneRetentionMs: 100 })).segmentsRewritten).toBeGreaterThan(
      0,
    );
    const checkpoint = JSON.parse(await readFile(join(dir, 'cleaner-checkpoint.json'), 'utf8')) as unknown;
    expect(checkpoint).toEqual({ cleanedThrough: log.activeBaseOffset, oldestTombstone: 1 });
    // The tombstone (timestamp 1) is not expired at now = 50: nothing to read or rewrite.
    expect(await compactLog(log, { now: 50, tombstoneRetentionMs: 100 })).toEqual({
      segmentsRewritten: 0,
      recordsRemoved: 0,
    });
    // At now = 200 it is: the pass runs and removes it.
    expect((await compactLog(log, { now: 200, tombstoneRetentionMs: 100 })).recordsRemoved).toBe(1);
  });

  it('survives reopening, and a leftover .cleaned file from a crash mid-pass is removed', async () => {
    const log = await openLog();
    for (let i = 0; i < 30; i++) await log.append([put(`key-${i % 3}`, `v${i}`)]);
    await compactLog(log, { now: 10, tombstoneRetentionMs: 0 });
    const before = summary(await readAll(log));
    await log.close();
    opened.splice(opened.indexOf(log), 1);
    await writeFile(join(dir, '00000000000000000000.log.cleaned'), 'partial');

    const reopened = await openLog();
    expect(summary(await readAll(reopened))).toEqual(before);
    expect((await readdir(dir)).some((f) => f.endsWith('.cleaned'))).toBe(false);
    expect(await reopened.append([put('key-0', 'after')])).toBe(30);
  });
});

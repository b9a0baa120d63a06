import { appendFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { envelopeSchemas, parseConfig, type SinkRecord } from '@datamesh/core';
import { createTestContext } from '@datamesh/testkit';
import { fileSink } from './file-sink.js';
import { JsonlFile, type LineWithPosition } from './jsonl-file.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'datamesh-jsonl-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const line = (offset: number, partition = 0): LineWithPosition => ({
  topic: 't',
  partition,
  offset,
  n: offset,
});

async function lines(path: string): Promise<LineWithPosition[]> {
  const text = await readFile(path, 'utf8');
  expect(text === '' || text.endsWith('\n')).toBe(true);
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as LineWithPosition);
}

describe('JsonlFile', () => {
  it('appends lines and remembers the newest offset per topic-partition across reopening', async () => {
    const path = join(dir, 'out.jsonl');
    const file = await JsonlFile.open(path);
    expect(file.lastOffset('t', 0)).toBe(-1);
    await file.append([line(0), line(1), line(0, 1)], true);
    await file.close();
    const reopened = await JsonlFile.open(path);
    expect(reopened.lastOffset('t', 0)).toBe(1);
    expect(reopened.lastOffset('t', 1)).toBe(0);
    await reopened.close();
    expect(await lines(path)).toEqual([line(0), line(1), line(0, 1)]);
  });

  it('cuts a torn last line (a crash mid-write) on reopen and appends after the last whole line', async () => {
    const path = join(dir, 'out.jsonl');
    const file = await JsonlFile.open(path);
    await file.append([line(0), line(1)], true);
    await file.close();
    const whole = (await stat(path)).size;
    await appendFile(path, '{"topic":"t","partition":0,"off');

    const reopened = await JsonlFile.open(path);
    expect((await stat(path)).size).toBe(whole);
    expect(reopened.lastOffset('t', 0)).toBe(1);
    await reopened.append([line(2)], true);
    await reopened.close();
    expect(await lines(path)).toEqual([line(0), line(1), line(2)]);
  });

  it('learns whole lines written after the watermark (a crash before the sidecar was updated)', async () => {
    const path = join(dir, 'out.jsonl');
    const file = await JsonlFile.open(path);
    await file.append([line(0)], true);
    await file.close();
    await appendFile(path, `${JSON.stringify(line(1))}\n${JSON.stringify(line(2))}\n{"torn`);

    const reopened = await JsonlFile.open(path);
    expect(reopened.lastOffset('t', 0)).toBe(2);
    await reopened.close();
    expect(await lines(path)).toEqual([line(0), line(1), line(2)]);
  });

  it('refuses a file shorter than its watermark', async () => {
    const path = join(dir, 'out.jsonl');
    const file = await JsonlFile.open(path);
    await file.append([line(0), line(1)], true);
    await file.close();
    await writeFile(path, '');
    await expect(JsonlFile.open(path)).rejects.toThrow(/shorter .* than its watermark/);
  });
});

describe('fileSink replay', () => {
  const source = { connector: 'test', name: 'shop', ts_ms: 1, snapshot: 'false' };
  const schema = envelopeSchemas({
    name: 'shop.orders',
    fields: [{ name: 'id', type: 'int' }],
    keyFields: ['id'],
  });
  const records: SinkRecord[] = [0, 1, 2, 3, 4].map((offset) => ({
    schema,
    topic: 'orders',
    position: { topic: 'orders', partition: 0, offset },
    event: { key: { id: offset }, value: { before: null, after: { id: offset }, op: 'c', ts_ms: 2, source } },
  }));

  it('skips what the file already holds by watermark, and counts what it skipped', async () => {
    const config = parseConfig(fileSink.config, { path: join(dir, 'sink', 'out.jsonl'), fsync: false });
    const first = await fileSink.create(config, await createTestContext({ plugin: 'file' }));
    await first.write(records.slice(0, 3));
    await first.flush();
    await first.close?.();

    // A restart replays from before the last commit: offsets 1..4, of which 1 and 2 are in the file.
    const ctx = await createTestContext({ plugin: 'file' });
    const second = await fileSink.create(config, ctx);
    await second.write(records.slice(1));
    await second.write(records.slice(3)); // and a replay within the same instance
    await second.flush();
    await second.close?.();

    expect((await lines(config.path)).map((l) => l.offset)).toEqual([0, 1, 2, 3, 4]);
    expect(
      await ctx.registry.getSingleMetricAsString('datamesh_plugin_file_replayed_events_skipped_total'),
    ).toMatch(/ 4$/m);
  });

  it('writes the row state only in row format, null for deletes', async () => {
    const config = parseConfig(fileSink.config, { path: join(dir, 'rows.jsonl'), format: 'row' });
    const sink = await fileSink.create(config, await createTestContext({ plugin: 'file' }));
    const deleted: SinkRecord = {
      schema,
      topic: 'orders',
      position: { topic: 'orders', partition: 0, offset: 5 },
      event: { key: { id: 0 }, value: { before: { id: 0 }, after: null, op: 'd', ts_ms: 3, source } },
    };
    await sink.write([records[0]!, deleted]);
    await sink.flush();
    await sink.close?.();
    expect(await lines(config.path)).toEqual([
      { topic: 'orders', partition: 0, offset: 0, key: { id: 0 }, row: { id: 0 } },
      { topic: 'orders', partition: 0, offset: 5, key: { id: 0 }, row: null },
    ]);
  });
});

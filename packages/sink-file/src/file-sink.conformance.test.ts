import { mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { envelopeSchemas, type SinkRecord } from '@datamesh/core';
import { describeSinkConformance } from '@datamesh/testkit';
import { fileSink } from './file-sink.js';

const dir = mkdtempSync(join(tmpdir(), 'datamesh-file-sink-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

const source = { connector: 'test', name: 'shop', ts_ms: 1_700_000_000_000, snapshot: 'false' };
const schema = envelopeSchemas({
  name: 'shop.orders',
  fields: [
    { name: 'id', type: 'int' },
    { name: 'amount', type: 'int' },
  ],
  keyFields: ['id'],
});
const records: SinkRecord[] = Array.from({ length: 10 }, (_, i) => ({
  schema,
  topic: 'shop.orders',
  position: { topic: 'shop.orders', partition: i % 2, offset: Math.floor(i / 2) },
  event:
    i === 9
      ? { key: { id: 4 }, value: null }
      : {
          key: { id: i % 5 },
          value: {
            before: null,
            after: { id: i % 5, amount: 100 * i },
            op: i < 5 ? 'c' : 'u',
            ts_ms: 1_700_000_000_000 + i,
            source,
          },
        },
}));

describeSinkConformance('file', {
  plugin: fileSink,
  config: () => ({ path: join(dir, `run-${files++}`, 'events.jsonl') }),
  records,
  idempotent: true,
  readBack: async ({ path }) => {
    const text = await readFile(path, 'utf8').catch(() => '');
    return text
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as unknown);
  },
  invalidConfigs: [
    { config: {}, paths: ['/path'] },
    { config: { path: '', format: 'csv', fsync: 'yes' }, paths: ['/path', '/format', '/fsync'] },
  ],
});

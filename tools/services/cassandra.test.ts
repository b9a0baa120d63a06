// The cassandra service end to end: a real CQL roundtrip through cassandra-driver on a table WITH cdc = true,
// and proof that the node really records CDC: the commitlog segment holding the writes is hard-linked into
// cdc_raw with a `_cdc.idx` whose durable offset is past them (commitlog_sync: batch makes that immediate).
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import cassandra from 'cassandra-driver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useServices } from './testing.mjs';

const KEYSPACE = `dm_test_${process.pid}_${Date.now().toString(36)}`;

let client: cassandra.Client;
let cdcRawDir: string;

beforeAll(async () => {
  const { cassandra: endpoint } = await useServices('cassandra');
  cdcRawDir = endpoint.cdcRawDir;
  client = new cassandra.Client({
    contactPoints: [`${endpoint.host}:${endpoint.port}`],
    localDataCenter: endpoint.localDataCenter,
  });
  await client.connect();
  await client.execute(
    `CREATE KEYSPACE ${KEYSPACE} WITH replication = {'class': 'SimpleStrategy', 'replication_factor': 1}`,
  );
  await client.execute(
    `CREATE TABLE ${KEYSPACE}.orders (id int PRIMARY KEY, customer text, total decimal, tags set<text>) WITH cdc = true`,
  );
}, 300_000);

afterAll(async () => {
  if (client === undefined) return;
  try {
    await client.execute(`DROP KEYSPACE IF EXISTS ${KEYSPACE}`);
  } finally {
    await client.shutdown();
  }
}, 60_000);

type CdcIndex = { segment: string; offset: number; completed: boolean };

/** Every `CommitLog-<version>-<id>_cdc.idx` in cdc_raw: line 1 is the durable offset, line 2 `COMPLETED`. */
function cdcIndexes(): CdcIndex[] {
  return readdirSync(cdcRawDir)
    .filter((f) => f.endsWith('_cdc.idx'))
    .map((f) => {
      const [offset = '', state = ''] = readFileSync(join(cdcRawDir, f), 'utf8').split('\n');
      return {
        segment: f.replace(/_cdc\.idx$/, '.log'),
        offset: Number(offset),
        completed: state === 'COMPLETED',
      };
    });
}

describe('cassandra service', () => {
  it('answers CQL with a 5.0 release', async () => {
    const row = (await client.execute('SELECT release_version FROM system.local')).first();
    expect(String(row.get('release_version'))).toMatch(/^5\.0\./);
  });

  it('roundtrips inserts, updates and deletes on a CDC table', async () => {
    const insert = `INSERT INTO ${KEYSPACE}.orders (id, customer, total, tags) VALUES (?, ?, ?, ?)`;
    await client.execute(insert, [1, 'ada', cassandra.types.BigDecimal.fromString('12.50'), ['new']], {
      prepare: true,
    });
    await client.execute(insert, [2, 'bob', cassandra.types.BigDecimal.fromString('7.25'), ['new', 'gift']], {
      prepare: true,
    });
    await client.execute(insert, [3, 'cyd', cassandra.types.BigDecimal.fromString('1.00'), null], {
      prepare: true,
    });
    await client.execute(
      `UPDATE ${KEYSPACE}.orders SET total = ?, tags = tags + ? WHERE id = ?`,
      [cassandra.types.BigDecimal.fromString('13.75'), ['paid'], 1],
      { prepare: true },
    );
    await client.execute(`DELETE FROM ${KEYSPACE}.orders WHERE id = ?`, [2], { prepare: true });
    await client.execute(`DELETE customer FROM ${KEYSPACE}.orders WHERE id = ?`, [3], { prepare: true });

    const rows = (await client.execute(`SELECT id, customer, total, tags FROM ${KEYSPACE}.orders`)).rows
      .map((r) => ({
        id: r.get('id') as number,
        customer: r.get('customer') as string | null,
        total: String(r.get('total')),
        tags: r.get('tags') as string[] | null,
      }))
      .sort((a, b) => a.id - b.id);
    expect(rows).toEqual([
      { id: 1, customer: 'ada', total: '13.75', tags: ['new', 'paid'] },
      { id: 3, customer: null, total: '1.00', tags: null },
    ]);
  });

  it('has cdc = true in the table schema', async () => {
    const row = (
      await client.execute(
        'SELECT extensions, cdc FROM system_schema.tables WHERE keyspace_name = ? AND table_name = ?',
        [KEYSPACE, 'orders'],
      )
    ).first();
    expect(row).toBeDefined();
    // 5.0 keeps the flag in its own column (older releases in `extensions`); the column is authoritative.
    expect(row.get('cdc')).toBe(true);
  });

  it('records the writes in cdc_raw: a hard-linked segment with a _cdc.idx past them', async () => {
    const before = new Map(cdcIndexes().map((i) => [i.segment, i.offset]));
    await client.execute(`INSERT INTO ${KEYSPACE}.orders (id, customer) VALUES (?, ?)`, [42, 'cdc-probe'], {
      prepare: true,
    });
    // commitlog_sync: batch acknowledges a write after its fsync, and that fsync rewrote the idx; the short
    // retry only covers reading an idx while it is being rewritten (it can be empty for a moment).
    let advanced: CdcIndex | undefined;
    for (let attempt = 0; attempt < 50 && advanced === undefined; attempt++) {
      advanced = cdcIndexes().find((i) => i.offset > (before.get(i.segment) ?? 0));
      if (advanced === undefined) await sleep(100);
    }
    expect(advanced, `no _cdc.idx in ${cdcRawDir} advanced after a write`).toBeDefined();
    const index = advanced!;
    expect(index.offset).toBeGreaterThan(0);
    // The segment next to its index is a hard link of the live commitlog segment (Cassandra 4+ behaviour).
    const segment = join(cdcRawDir, index.segment);
    expect(existsSync(segment)).toBe(true);
    if (!index.completed) expect(statSync(segment).nlink).toBe(2);
    expect(statSync(segment).size).toBeGreaterThanOrEqual(index.offset);
    // The probe row is in the durable part of the segment, i.e. before the offset the index promises.
    const durable = readFileSync(segment).subarray(0, index.offset);
    expect(durable.includes(Buffer.from('cdc-probe'))).toBe(true);
  });
});

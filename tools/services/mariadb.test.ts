// The mariadb service end to end: a real SQL roundtrip through mysql2 over TCP with the root password, the
// binlog settings CDC needs, and proof that they take effect: an insert gets a GTID and is written to the
// binary log as a row event for our table.
import mysql from 'mysql2/promise';
import type { Connection, RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useServices } from './testing.mjs';
import type { ServiceEndpoints } from './testing.mjs';

const TABLE = `dm_test_${process.pid}_${Date.now().toString(36)}`;

let endpoint: ServiceEndpoints['mariadb'];
let connection: Connection;

beforeAll(async () => {
  ({ mariadb: endpoint } = await useServices('mariadb'));
  connection = await mysql.createConnection({ ...endpoint, charset: 'utf8mb4' });
  await connection.query(
    `CREATE TABLE ${TABLE} (id int PRIMARY KEY, name varchar(64) NOT NULL, amount decimal(10, 2) NULL)`,
  );
}, 300_000);

afterAll(async () => {
  if (connection === undefined) return;
  try {
    await connection.query(`DROP TABLE IF EXISTS ${TABLE}`);
  } finally {
    await connection.end();
  }
}, 60_000);

async function one(sql: string): Promise<RowDataPacket> {
  const [rows] = await connection.query<RowDataPacket[]>(sql);
  const [row] = rows;
  if (row === undefined) throw new Error(`no row from ${sql}`);
  return row;
}

describe('mariadb service', () => {
  it('stores and reads back rows over TCP, in utf8mb4', async () => {
    await connection.query(`INSERT INTO ${TABLE} VALUES (?, ?, ?), (?, ?, ?)`, [
      1,
      'first',
      '12.50',
      2,
      'zweite ünïcødé 🚀',
      null,
    ]);
    const [rows] = await connection.query<RowDataPacket[]>(
      `SELECT id, name, amount FROM ${TABLE} ORDER BY id`,
    );
    expect(rows.map((row) => ({ ...row }))).toEqual([
      { id: 1, name: 'first', amount: '12.50' },
      { id: 2, name: 'zweite ünïcødé 🚀', amount: null },
    ]);
    expect(await one('SELECT DATABASE() AS db, @@port AS port')).toEqual({
      db: endpoint.database,
      port: endpoint.port,
    });
  });

  it('refuses a wrong password', async () => {
    await expect(mysql.createConnection({ ...endpoint, password: 'not-the-password' })).rejects.toThrow(
      /Access denied/,
    );
  });

  it('runs with the binlog settings CDC needs', async () => {
    const settings = await one(
      'SELECT @@log_bin AS log_bin, @@binlog_format AS format, @@binlog_row_image AS row_image, ' +
        '@@binlog_row_metadata AS row_metadata, @@log_bin_compress AS compress, @@server_id AS server_id',
    );
    expect({ ...settings }).toEqual({
      log_bin: 1,
      format: 'ROW',
      row_image: 'FULL',
      row_metadata: 'FULL',
      compress: 0,
      server_id: 1,
    });
  });

  it('gives a write a GTID and logs it as a row event', async () => {
    const { File: file, Position: position } = await one('SHOW MASTER STATUS');
    await connection.query(`INSERT INTO ${TABLE} VALUES (42, 'captured', '99.95')`);

    const gtid = await one(
      'SELECT @@gtid_domain_id AS domain, @@gtid_binlog_pos AS binlog_pos, @@gtid_current_pos AS current_pos, ' +
        '@@last_gtid AS ours',
    );
    // domain-server_id-sequence, server_id 1; @@last_gtid is this session's last transaction: our insert.
    expect(gtid['ours']).toMatch(new RegExp(`^${gtid['domain']}-1-\\d+$`));
    expect(gtid['binlog_pos']).toMatch(new RegExp(`^${gtid['domain']}-1-\\d+$`));
    expect(gtid['current_pos']).toBe(gtid['binlog_pos']);

    const [events] = await connection.query<RowDataPacket[]>(
      `SHOW BINLOG EVENTS IN '${file}' FROM ${position}`,
    );
    const types = events.map((event) => String(event['Event_type']));
    // "table_id: 18 (datamesh.dm_test_…)", then "table_id: 18 flags: STMT_END_F" for the rows.
    const tableMap = events.findIndex(
      (event) =>
        event['Event_type'] === 'Table_map' &&
        String(event['Info']).endsWith(`(${endpoint.database}.${TABLE})`),
    );
    expect(tableMap, `a Table_map for ${TABLE} among ${types.join(', ')}`).toBeGreaterThanOrEqual(0);
    const tableId = /^table_id: (\d+)/.exec(String(events[tableMap]?.['Info']))?.[1];
    const rows = events[tableMap + 1];
    expect(String(rows?.['Event_type'])).toMatch(/^Write_rows(_v1)?$/);
    expect(String(rows?.['Info'])).toMatch(new RegExp(`^table_id: ${tableId} `));
    // The transaction holding the row event opens with our GTID.
    const begins = events.slice(0, tableMap).filter((event) => event['Event_type'] === 'Gtid');
    expect(String(begins.at(-1)?.['Info'])).toBe(`BEGIN GTID ${gtid['ours']}`);
  });
});

// The postgres-replica service: PostgreSQL 18 answering SQL like postgres-latest, but with wal_level=replica,
// so logical decoding is refused, both through SQL (pg_create_logical_replication_slot) and on a logical
// replication connection (CREATE_REPLICATION_SLOT … LOGICAL, what a CDC connector sends).
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useServices } from './testing.mjs';
import type { ServiceEndpoints } from './testing.mjs';

const SLOT = `dm_slot_${process.pid}_${Date.now().toString(36)}`;
// object_not_in_prerequisite_state; PostgreSQL 16+ quotes the setting names in the message, 15 does not.
const REFUSED = {
  code: '55000',
  message: expect.stringMatching(/logical decoding requires "?wal_level"? >= "?logical"?/),
};

let endpoint: ServiceEndpoints['postgres-replica'];
let client: pg.Client;

beforeAll(async () => {
  ({ 'postgres-replica': endpoint } = await useServices('postgres-replica'));
  client = new pg.Client({ connectionString: endpoint.connectionString });
  await client.connect();
}, 300_000);

afterAll(async () => {
  if (client === undefined) return;
  try {
    // Only there if the server wrongly accepted it; a forgotten slot keeps WAL forever.
    await client.query(
      'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1',
      [SLOT],
    );
  } finally {
    await client.end();
  }
}, 60_000);

describe('postgres-replica service', () => {
  it('is PostgreSQL 18 answering on its own port and database', async () => {
    const { rows } = await client.query<{ version: number; db: string; port: number }>(
      "SELECT current_setting('server_version_num')::int AS version, current_database() AS db, inet_server_port() AS port",
    );
    expect(Math.floor(rows[0]!.version / 10_000)).toBe(18);
    expect(rows[0]).toMatchObject({ db: 'datamesh', port: 55434 });
    expect(endpoint.port).toBe(55434);
  });

  it('runs with wal_level=replica', async () => {
    const { rows } = await client.query<{ wal_level: string }>('SHOW wal_level');
    expect(rows[0]?.wal_level).toBe('replica');
  });

  it('refuses to create a logical replication slot', async () => {
    await expect(
      client.query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", [SLOT]),
    ).rejects.toMatchObject(REFUSED);
  });

  it('lets the cdc role connect for replication, but refuses it a logical slot', async () => {
    const replication = new pg.Client({
      connectionString: `postgresql://cdc:cdc@${endpoint.host}:${endpoint.port}/${endpoint.database}?replication=database`,
    });
    await replication.connect();
    try {
      const { rows } = await replication.query('IDENTIFY_SYSTEM');
      expect(rows[0]).toMatchObject({ dbname: endpoint.database });
      await expect(
        replication.query(`CREATE_REPLICATION_SLOT ${SLOT} TEMPORARY LOGICAL pgoutput`),
      ).rejects.toMatchObject(REFUSED);
    } finally {
      await replication.end();
    }
  });
});

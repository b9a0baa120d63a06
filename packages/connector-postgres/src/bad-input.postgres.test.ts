// What a user gets wrong, and what the server does to a running source, against the harness's real Postgres 15:
// each case fails with a message that says what to change, or recovers with nothing lost.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineSink, Type, type SinkRecord } from '@datamesh/core';
import { runTestPipeline } from '@datamesh/testkit';
import { TcpProxy } from '@datamesh/services/tcp-proxy';
import { postgresSource } from './postgres-source.js';
import { postgresFixture, type PostgresFixture } from './__fixtures__/postgres-fixture.js';
import { startSource } from './__fixtures__/source-driver.js';

let db: PostgresFixture;

beforeAll(async () => {
  db = await postgresFixture('bad');
  await db.sql(`CREATE TABLE orders (id int PRIMARY KEY, note text)`);
  await db.sql(`CREATE TABLE keyless (note text)`);
}, 300_000);

afterAll(async () => {
  await db?.sql(`DROP ROLE IF EXISTS ${db.database}_plain`).catch(() => undefined);
  await db?.close();
}, 60_000);

describe('postgres source refuses bad setups clearly', () => {
  it('a role without the REPLICATION attribute', async () => {
    const role = `${db.database}_plain`;
    await db.sql(`CREATE ROLE ${role} LOGIN PASSWORD 'plain'`);
    await db.sql(`GRANT SELECT ON ALL TABLES IN SCHEMA public TO ${role}`);
    await expect(
      startSource(db, { user: role, password: 'plain', tables: ['public.orders'], slot: 'plain' }),
    ).rejects.toThrow(/needs the REPLICATION attribute \(ALTER ROLE <user> REPLICATION\)/);
  });

  it('a server whose wal_level is not logical', async () => {
    const replica = await postgresFixture('walreplica', 'postgres-replica');
    try {
      await replica.sql(`CREATE TABLE orders (id int PRIMARY KEY)`);
      await expect(startSource(replica, { tables: ['public.orders'], slot: 'replica' })).rejects.toThrow(
        /wal_level is "replica", and logical replication needs "logical": set wal_level = logical/,
      );
    } finally {
      await replica.close();
    }
  });

  it('a table without a primary key', async () => {
    await expect(startSource(db, { tables: ['public.keyless'], slot: 'keyless' })).rejects.toThrow(
      /table public.keyless has no primary key.*ADD PRIMARY KEY/,
    );
  });

  it('a table whose replica identity is another unique index', async () => {
    await db.sql(`CREATE TABLE indexed (id int PRIMARY KEY, code text NOT NULL UNIQUE)`);
    await db.sql(`ALTER TABLE indexed REPLICA IDENTITY USING INDEX indexed_code_key`);
    await expect(startSource(db, { tables: ['public.indexed'], slot: 'indexed' })).rejects.toThrow(
      /REPLICA IDENTITY USING INDEX: its deletes and key changes would not carry the primary key/,
    );
  });

  it('a table that does not exist', async () => {
    await expect(
      startSource(db, { tables: ['public.orders', 'shop.nothing'], slot: 'nothing' }),
    ).rejects.toThrow(/no table matches "shop.nothing"/);
  });

  it('wrong credentials name the server and the user, never the password', async () => {
    const error = await startSource(db, { tables: ['public.orders'], password: 'not-the-secret' }).catch(
      (e: Error) => e,
    );
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(
      /cannot connect to Postgres at 127.0.0.1:\d+ .*user postgres.*password/,
    );
    expect((error as Error).message).not.toContain('not-the-secret');
  });

  it('a slot already in use by another connection', async () => {
    const config = {
      tables: ['public.orders'],
      slot: 'shared',
      publication: 'shared',
      snapshot: { mode: 'never' },
    };
    const first = await startSource(db, config);
    try {
      await expect(startSource(db, config)).rejects.toThrow(
        /replication slot "shared" is in use by another connection .*give this source a slot of its own/,
      );
    } finally {
      await first.stop();
    }
  });

  it('a publication the user owns that lacks a captured table', async () => {
    await db.sql(`CREATE PUBLICATION owned FOR TABLE keyless`);
    await expect(
      startSource(db, {
        tables: ['public.orders'],
        slot: 'owned',
        publication: 'owned',
        createPublication: false,
      }),
    ).rejects.toThrow(/publication "owned" lacks orders, datamesh.watermarks, datamesh.signals: add them/);
  });

  it('a publication dropped while streaming halts the source with what to do', async () => {
    const config = {
      tables: ['public.orders'],
      slot: 'dropped',
      publication: 'dropped',
      snapshot: { mode: 'never' },
    };
    const running = await startSource(db, config);
    try {
      await db.sql(`INSERT INTO orders VALUES (1, 'before')`);
      await running.read(1);
      await db.sql(`DROP PUBLICATION dropped`);
      await db.sql(`INSERT INTO orders VALUES (2, 'after')`);
      const error = await running.readUntil(() => false, 10_000).catch((e: Error) => e);
      expect(error).toMatchObject({ name: 'TaskHaltedError' });
      expect((error as Error).message).toMatch(/publication "dropped" was dropped .*recreate slot "dropped"/);
    } finally {
      await running.stop();
    }
  });
});

describe('postgres source and a server that goes away', () => {
  it('reconnects after its connection is terminated and resumes with nothing lost or repeated', async () => {
    await db.sql(`CREATE TABLE resilient (id int PRIMARY KEY)`);
    const { run, received } = await collectTable('resilient', {});
    try {
      for (let round = 0; round < 3; round++) {
        const from = round * 100 + 1;
        await db.sql(`INSERT INTO resilient SELECT g FROM generate_series($1::int, $1::int + 99) g`, [from]);
        await run.until(() => (received.length >= from + 99 ? true : undefined), 30_000);
        // Cut the replication connection (and the source's other session) as a server restart would.
        const { rows } = await db.sql(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'datamesh'`,
          [db.database],
        );
        expect(rows.length).toBeGreaterThanOrEqual(2);
      }
      await db.sql(`INSERT INTO resilient SELECT g FROM generate_series(301, 400) g`);
      await run.until(() => (received.length >= 400 ? true : undefined), 60_000);
      await new Promise((resolve) => setTimeout(resolve, 500));
      const ids = received.map((r) => r.event.key!['id'] as number);
      expect(new Set(ids).size).toBe(400);
      expect(ids.length).toBe(400); // the embedded log may replay after a crash; a terminated session is not one
      expect(run.node.health().find((t) => t.id.endsWith('.pg'))!.restarts).toBeGreaterThanOrEqual(3);
    } finally {
      await run.stop();
    }
  }, 90_000);

  it('waits out a server that cannot be reached for a while, then resumes with nothing lost or repeated', async () => {
    await db.sql(`CREATE TABLE outage (id int PRIMARY KEY)`);
    // The source reaches Postgres through a proxy; cutting it is a server gone, as in a restart.
    const proxy = new TcpProxy(0, { host: db.connection.host, port: db.connection.port });
    await proxy.open();
    const { run, received } = await collectTable('outage', { port: proxy.port });
    try {
      await db.sql(`INSERT INTO outage SELECT g FROM generate_series(1, 100) g`);
      await run.until(() => (received.length >= 100 ? true : undefined), 30_000);
      await proxy.cut();
      await db.sql(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'datamesh'`,
        [db.database],
      );
      await db.sql(`INSERT INTO outage SELECT g FROM generate_series(101, 200) g`);
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      expect(run.node.health().find((t) => t.id.endsWith('.pg'))!.state).not.toBe('failed');
      await proxy.open();
      await db.sql(`INSERT INTO outage SELECT g FROM generate_series(201, 300) g`);
      await run.until(() => (received.length >= 300 ? true : undefined), 60_000);
      await new Promise((resolve) => setTimeout(resolve, 500));
      const ids = received.map((r) => r.event.key!['id'] as number).sort((a, b) => a - b);
      expect(ids).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    } finally {
      await run.stop();
      await proxy.cut();
    }
  }, 90_000);
});

/** A node running a pipeline from `public.<table>` (slot and publication of that name) into memory. */
async function collectTable(table: string, config: Record<string, unknown>) {
  const received: SinkRecord[] = [];
  const collect = defineSink({
    name: 'collect',
    version: '1.0.0',
    config: Type.Object({}),
    create: () => ({ write: async (records) => void received.push(...records), flush: async () => {} }),
  });
  const run = await runTestPipeline({
    plugins: [postgresSource, collect],
    pipeline: {
      apiVersion: 'datamesh/v1',
      kind: 'Pipeline',
      name: table,
      sources: [
        {
          name: 'pg',
          plugin: 'postgres',
          config: {
            ...db.connection,
            tables: [`public.${table}`],
            slot: table,
            publication: table,
            ...config,
          },
        },
      ],
      sinks: [{ name: 'out', plugin: 'collect', inputs: ['pg'] }],
    },
  });
  return { run, received };
}

// Schema changes seen in the log, through a real node: a compatible ALTER registers a new schema version and
// events flow on; an incompatible one halts the source at that change, with nothing after it written.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineSink, Type } from '@datamesh/core';
import { runTestPipeline } from '@datamesh/testkit';
import { postgresSource } from './postgres-source.js';
import { postgresFixture, type PostgresFixture } from './__fixtures__/postgres-fixture.js';

let db: PostgresFixture;

beforeAll(async () => {
  db = await postgresFixture('schema');
}, 300_000);

afterAll(async () => {
  await db?.close();
}, 60_000);

/** The pipeline needs a sink; the test reads the source's topic instead. */
const discard = defineSink({
  name: 'discard',
  version: '1.0.0',
  config: Type.Object({}),
  create: () => ({ write: async () => {}, flush: async () => {} }),
});

function pipeline(table: string, slot: string) {
  return {
    apiVersion: 'datamesh/v1',
    kind: 'Pipeline',
    name: 'capture',
    sinks: [{ name: 'out', plugin: 'discard', inputs: ['pg'] }],
    sources: [
      {
        name: 'pg',
        plugin: 'postgres',
        config: { ...db.connection, tables: [`public.${table}`], slot, publication: `${slot}_pub` },
      },
    ],
  };
}

describe('postgres source schema changes', () => {
  it('registers a compatible change as a new version and keeps streaming', async () => {
    await db.sql(`CREATE TABLE evolving (id int PRIMARY KEY, name text)`);
    await db.sql(`INSERT INTO evolving VALUES (1, 'one')`);
    const run = await runTestPipeline({
      plugins: [postgresSource, discard],
      pipeline: pipeline('evolving', 'evolving'),
    });
    try {
      const topic = 'pg.public.evolving';
      await run.until(async () => ((await run.readTopic(topic)).length >= 1 ? true : undefined), 20_000);
      await db.sql(`ALTER TABLE evolving ADD COLUMN email text`);
      await db.sql(`INSERT INTO evolving VALUES (2, 'two', 'two@example.com')`);
      await db.sql(`ALTER TABLE evolving DROP COLUMN name`);
      await db.sql(`INSERT INTO evolving VALUES (3, 'three@example.com')`);
      const events = await run.until(async () => {
        const read = await run.readTopic(topic);
        return read.length >= 3 ? read : undefined;
      }, 20_000);
      expect(events.map((e) => e.value?.after)).toEqual([
        { id: 1, name: 'one' },
        { id: 2, name: 'two', email: 'two@example.com' },
        { id: 3, email: 'three@example.com' },
      ]);
      const versions = await fetch(`${run.node.schemaRegistryUrl}/subjects/${topic}-value/versions`);
      expect(await versions.json()).toEqual([1, 2, 3]);
    } finally {
      await run.stop();
    }
  });

  it('halts at an incompatible change, having written everything before it and nothing after', async () => {
    await db.sql(`CREATE TABLE narrowing (id int PRIMARY KEY, code text)`);
    await db.sql(`INSERT INTO narrowing VALUES (1, 'a')`);
    const run = await runTestPipeline({
      plugins: [postgresSource, discard],
      pipeline: pipeline('narrowing', 'narrowing'),
    });
    try {
      const topic = 'pg.public.narrowing';
      await run.until(async () => ((await run.readTopic(topic)).length >= 1 ? true : undefined), 20_000);
      await db.sql(`INSERT INTO narrowing VALUES (2, 'b')`);
      await db.sql(`ALTER TABLE narrowing ALTER COLUMN code TYPE int USING length(code)`);
      await db.sql(`INSERT INTO narrowing VALUES (3, 3)`);
      const task = await run.until(() => {
        const failed = run.node.health().find((t) => t.state === 'failed');
        return failed;
      }, 20_000);
      expect(task.lastError).toMatch(/changed incompatibly/);
      expect(task.lastError).toMatch(/nothing after its last position was written/);
      const events = await run.readTopic(topic);
      expect(events.map((e) => e.value?.after)).toEqual([
        { id: 1, code: 'a' },
        { id: 2, code: 'b' },
      ]);
    } finally {
      await run.stop();
    }
  });
});

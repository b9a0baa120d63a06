// The Postgres source against the harness's real Postgres 15: snapshot rows, live changes in their envelope
// shapes, TOAST, key changes, truncates, schema changes and acknowledgement of the slot.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  parseConfig,
  type Position,
  type SourceBatch,
  type SourceBatchEvent,
  type SourceTask,
} from '@datamesh/core';
import { createTestContext, type TestContext } from '@datamesh/testkit';
import { postgresSource } from './postgres-source.js';
import { postgresFixture, type PostgresFixture } from './__fixtures__/postgres-fixture.js';

let db: PostgresFixture;

beforeAll(async () => {
  db = await postgresFixture('source');
}, 300_000);

afterAll(async () => {
  await db?.close();
}, 60_000);

function configOf(extra: Record<string, unknown>) {
  return parseConfig(postgresSource.config, { ...db.connection, ...extra }, 'source "pg"');
}

interface Running {
  readonly task: SourceTask;
  readonly ctx: TestContext;
}

async function start(extra: Record<string, unknown>, from?: Position): Promise<Running> {
  const ctx = await createTestContext({ plugin: 'postgres', stage: 'pg' });
  const task = await postgresSource.create(configOf(extra), ctx);
  await task.start(from);
  return { task, ctx };
}

async function stop({ task, ctx }: Running): Promise<void> {
  ctx.abortController.abort();
  await task.stop();
}

/** Reads until `count` events arrived (or fails after `ms`); returns them and the last batch's position. */
async function readEvents(task: SourceTask, count: number, ms = 15_000) {
  const events: SourceBatchEvent[] = [];
  let last: SourceBatch | undefined;
  const deadline = Date.now() + ms;
  while (events.length < count) {
    if (Date.now() > deadline) throw new Error(`only ${events.length} of ${count} events after ${ms} ms`);
    const batch = await task.read(AbortSignal.timeout(1_000));
    if (batch) {
      events.push(...batch.events);
      last = batch;
    }
  }
  return { events, position: last!.position };
}

const summary = (e: SourceBatchEvent) =>
  e.event.value === null
    ? `tombstone ${JSON.stringify(e.event.key)}`
    : `${e.event.value.op} ${JSON.stringify(e.event.key)}`;

describe('postgres source', () => {
  it('snapshots existing rows, then streams inserts, updates, deletes, key changes and truncates', async () => {
    await db.sql(
      `CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, price numeric(10,2), tags text[])`,
    );
    await db.sql(
      `INSERT INTO items SELECT g, 'item ' || g, g * 1.5, ARRAY['a','b'] FROM generate_series(1, 10) g`,
    );
    const running = await start({
      tables: ['public.items'],
      slot: 'items_slot',
      publication: 'items_pub',
      snapshot: { chunkSize: 4 },
    });
    try {
      const snapshot = await readEvents(running.task, 10);
      expect(snapshot.events.map(summary)).toEqual(Array.from({ length: 10 }, (_, i) => `r {"id":${i + 1}}`));
      const first = snapshot.events[0]!.event.value!;
      expect(first.after).toEqual({ id: 1, name: 'item 1', price: expect.any(Buffer), tags: ['a', 'b'] });
      expect(first.source).toMatchObject({
        connector: 'postgresql',
        snapshot: 'true',
        db: db.database,
        schema: 'public',
        table: 'items',
      });
      expect(snapshot.events[0]!.schemas).toBeDefined();

      await db.sql(`INSERT INTO items VALUES (11, 'eleven', 11, NULL)`);
      await db.sql(`UPDATE items SET name = 'one' WHERE id = 1`);
      await db.sql(`DELETE FROM items WHERE id = 2`);
      await db.sql(`UPDATE items SET id = 30 WHERE id = 3`);
      await db.sql(`TRUNCATE items`);
      const live = await readEvents(running.task, 8);
      expect(live.events.map(summary)).toEqual([
        'c {"id":11}',
        'u {"id":1}',
        'd {"id":2}',
        'tombstone {"id":2}',
        'd {"id":3}',
        'tombstone {"id":3}',
        'c {"id":30}',
        't null',
      ]);
      const update = live.events[1]!.event.value!;
      expect(update.before).toBeNull(); // REPLICA IDENTITY DEFAULT sends no old row
      expect(update.after).toMatchObject({ id: 1, name: 'one' });
      expect(update.source.snapshot).toBe('false');
      expect(typeof update.source['lsn']).toBe('number');
      expect(live.events[4]!.event.headers).toEqual({ 'datamesh.newkey': '{"id":30}' });
      expect(live.events[6]!.event.headers).toEqual({ 'datamesh.oldkey': '{"id":3}' });
      expect(live.events[6]!.event.value!.after).toMatchObject({ id: 30, name: 'item 3' });
    } finally {
      await stop(running);
    }
  });
});

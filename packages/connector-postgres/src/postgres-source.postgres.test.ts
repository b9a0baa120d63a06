// The Postgres source against the harness's real Postgres 15: snapshot rows, live changes in their envelope
// shapes, TOAST, key changes, truncates, schema changes and acknowledgement of the slot.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postgresFixture, type PostgresFixture } from './__fixtures__/postgres-fixture.js';
import { applyEvents, startSource, summary } from './__fixtures__/source-driver.js';

let db: PostgresFixture;

beforeAll(async () => {
  db = await postgresFixture('source');
}, 300_000);

afterAll(async () => {
  await db?.close();
}, 60_000);

describe('postgres source', () => {
  it('snapshots existing rows, then streams inserts, updates, deletes, key changes and truncates', async () => {
    await db.sql(
      `CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, price numeric(10,2), tags text[])`,
    );
    await db.sql(
      `INSERT INTO items SELECT g, 'item ' || g, g * 1.5, ARRAY['a','b'] FROM generate_series(1, 10) g`,
    );
    const running = await startSource(db, {
      tables: ['public.items'],
      slot: 'items_slot',
      publication: 'items_pub',
      snapshot: { chunkSize: 4 },
    });
    try {
      const snapshot = await running.read(10);
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
      const live = await running.read(8);
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
      await running.stop();
    }
  });

  it('advances the slot only when acknowledged, and on an idle table through keepalives', async () => {
    await db.sql(`CREATE TABLE quiet (id int PRIMARY KEY)`);
    await db.sql(`CREATE TABLE busy (id serial PRIMARY KEY, note text)`);
    const slotLsn = async () =>
      (
        await db.sql(
          `SELECT confirmed_flush_lsn::text AS lsn FROM pg_replication_slots WHERE slot_name = 'quiet'`,
        )
      ).rows[0]!.lsn as string;
    const running = await startSource(db, {
      tables: ['public.quiet'],
      slot: 'quiet',
      publication: 'quiet',
      snapshot: { mode: 'never' },
      heartbeatIntervalMs: 200,
    });
    try {
      await db.sql(`INSERT INTO quiet VALUES (1)`);
      const { position } = await running.read(1);
      const created = await slotLsn();
      // Read, not acknowledged: the slot holds.
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(await slotLsn()).toBe(created);
      await running.task.acknowledge(position);
      await expectEventually(async () => (await slotLsn()) === position['lsn']);
      // Only a table outside the capture is written to: the quiet table's slot still moves along.
      for (let i = 0; i < 20; i++)
        await db.sql(`INSERT INTO busy (note) SELECT repeat('x', 1000) FROM generate_series(1, 50)`);
      const walEnd = (await db.sql(`SELECT pg_current_wal_lsn()::text AS lsn`)).rows[0]!.lsn as string;
      // No events, but positions that pass the WAL written meanwhile.
      let moved: Record<string, unknown> | undefined;
      await expectEventually(async () => {
        const batch = await running.task.read(AbortSignal.timeout(500));
        expect((batch?.events ?? []).map(summary)).toEqual([]);
        if (batch) moved = batch.position;
        return moved !== undefined && lsnValue(moved['lsn'] as string) >= lsnValue(walEnd);
      }, 10_000);
      await running.task.acknowledge(moved!);
      await expectEventually(async () => lsnValue(await slotLsn()) >= lsnValue(walEnd));
    } finally {
      await running.stop();
    }
  });

  it('resumes inside a large transaction without repeating or losing a change', async () => {
    await db.sql(`CREATE TABLE bulk (id int PRIMARY KEY, v text)`);
    const config = {
      tables: ['public.bulk'],
      slot: 'bulk',
      publication: 'bulk',
      maxBatchSize: 300,
      snapshot: { mode: 'never' },
    };
    const first = await startSource(db, config);
    await db.sql(`INSERT INTO bulk SELECT g, 'v' || g FROM generate_series(1, 2000) g`);
    const part = await first.read(700);
    await first.stop(); // a crash: nothing acknowledged
    expect(part.position['tx']).toBeDefined();
    const written = part.events.length;
    const second = await startSource(db, config, part.position);
    try {
      const rest = await second.read(2000 - written);
      const ids = [...part.events, ...rest.events].map((e) => e.event.key!['id']);
      expect(ids).toEqual(Array.from({ length: 2000 }, (_, i) => i + 1));
      expect(rest.position['tx']).toBeUndefined();
    } finally {
      await second.stop();
    }
  });

  it('snapshots a table under concurrent writes, across a crash, into exactly the table', async () => {
    await db.sql(`CREATE TABLE churn (id int PRIMARY KEY, v int NOT NULL)`);
    await db.sql(`INSERT INTO churn SELECT g, 0 FROM generate_series(1, 3000) g`);
    const config = {
      tables: ['public.churn'],
      slot: 'churn',
      publication: 'churn',
      snapshot: { chunkSize: 97 },
    };
    let writing = true;
    let writes = 0;
    const writer = (async () => {
      while (writing) {
        const id = 1 + Math.floor(Math.random() * 3300);
        const roll = Math.random();
        if (roll < 0.6)
          await db.sql(`INSERT INTO churn VALUES ($1, 1) ON CONFLICT (id) DO UPDATE SET v = churn.v + 1`, [
            id,
          ]);
        else if (roll < 0.8) await db.sql(`DELETE FROM churn WHERE id = $1`, [id]);
        else await db.sql(`UPDATE churn SET v = v + 1 WHERE id BETWEEN $1 AND $1 + 20`, [id]);
        writes++;
      }
    })();
    const state = new Map<string, Record<string, unknown>>();
    const first = await startSource(db, config);
    const early = await first.read(1200);
    applyEvents(state, early.events);
    await first.stop(); // crash in the middle of the snapshot
    expect((early.position['snapshots'] as unknown[]).length).toBe(1);
    const second = await startSource(db, config, early.position);
    try {
      // Writes go on for a while after the restart, into the remaining chunks.
      const until = Date.now() + 3_000;
      while (Date.now() < until) {
        const batch = await second.task.read(AbortSignal.timeout(500));
        if (batch) applyEvents(state, batch.events);
      }
      writing = false;
      await writer;
      // Drain: the last writes, and whatever chunks remain.
      for (let quiet = 0; quiet < 3;) {
        const batch = await second.task.read(AbortSignal.timeout(1_000));
        if (batch && batch.events.length > 0) {
          applyEvents(state, batch.events);
          quiet = 0;
        } else quiet++;
      }
      const { rows } = await db.sql(`SELECT id, v FROM churn ORDER BY id`);
      const expected = new Map(rows.map((r) => [JSON.stringify({ id: r.id }), { id: r.id, v: r.v }]));
      expect(writes).toBeGreaterThan(50);
      expect(new Map([...state].sort())).toEqual(new Map([...expected].sort()));
    } finally {
      writing = false;
      await second.stop();
    }
  });

  it('fills unchanged TOASTed values by fetching them, with a placeholder, or from REPLICA IDENTITY FULL', async () => {
    await db.sql(`CREATE TABLE docs (id int PRIMARY KEY, body text, n int)`);
    await db.sql(`ALTER TABLE docs ALTER COLUMN body SET STORAGE EXTERNAL`); // out of line, uncompressed
    const big = 'x'.repeat(20_000);
    await db.sql(`INSERT INTO docs VALUES (1, $1, 0), (2, $1, 0)`, [big]);
    const fetch = await startSource(db, {
      tables: ['public.docs'],
      slot: 'docs',
      publication: 'docs',
      snapshot: { mode: 'never' },
    });
    try {
      await db.sql(`UPDATE docs SET n = 1 WHERE id = 1`);
      const { events } = await fetch.read(1);
      expect(events[0]!.event.value!.after).toEqual({ id: 1, body: big, n: 1 });
      // Deleted before the source fetched the value: null, and the event says which column is unavailable.
      await db.sql(`INSERT INTO docs VALUES (3, $1, 0)`, [big]);
      await db.sql(`UPDATE docs SET n = 1 WHERE id = 3`);
      await db.sql(`DELETE FROM docs WHERE id = 3`);
      const gone = await fetch.read(4);
      const update = gone.events.find((e) => e.event.value?.op === 'u')!;
      expect(update.event.value!.after).toEqual({ id: 3, body: null, n: 1 });
      expect(update.event.headers).toEqual({ 'datamesh.toast.unavailable': 'body' });
    } finally {
      await fetch.stop();
    }
    const placeholder = await startSource(db, {
      tables: ['public.docs'],
      slot: 'docs_placeholder',
      publication: 'docs',
      snapshot: { mode: 'never' },
      toast: 'placeholder',
    });
    try {
      await db.sql(`UPDATE docs SET n = 2 WHERE id = 2`);
      const { events } = await placeholder.read(1);
      expect(events.at(-1)!.event.value!.after).toEqual({
        id: 2,
        body: '__datamesh_unavailable_value',
        n: 2,
      });
    } finally {
      await placeholder.stop();
    }
    await db.sql(`ALTER TABLE docs REPLICA IDENTITY FULL`);
    const full = await startSource(db, {
      tables: ['public.docs'],
      slot: 'docs_full',
      publication: 'docs',
      snapshot: { mode: 'never' },
      toast: 'placeholder',
    });
    try {
      await db.sql(`UPDATE docs SET n = 3 WHERE id = 2`);
      const { events } = await full.read(1);
      const value = events.at(-1)!.event.value!;
      expect(value.after).toEqual({ id: 2, body: big, n: 3 });
      expect(value.before).toEqual({ id: 2, body: big, n: 2 });
    } finally {
      await full.stop();
    }
  });

  it('takes a snapshot asked for through the signal table while streaming: a table, or a set of keys', async () => {
    await db.sql(`CREATE TABLE parts (id int PRIMARY KEY, name text)`);
    await db.sql(`INSERT INTO parts SELECT g, 'p' || g FROM generate_series(1, 30) g`);
    const running = await startSource(db, {
      tables: ['public.parts'],
      slot: 'parts',
      publication: 'parts',
      snapshot: { mode: 'never', chunkSize: 8 },
    });
    try {
      await db.sql(`INSERT INTO parts VALUES (31, 'live')`);
      expect((await running.read(1)).events.map(summary)).toEqual(['c {"id":31}']);
      await db.sql(
        `INSERT INTO datamesh.signals (slot_name, kind, payload) VALUES ('parts', 'execute-snapshot', '{"tables":["public.parts"],"keys":[["3"],["5"],["99"]]}')`,
      );
      const keyed = await running.read(2);
      expect(keyed.events.map(summary)).toEqual(['r {"id":3}', 'r {"id":5}']);
      expect(keyed.events[0]!.event.value!.source.snapshot).toBe('incremental');
      await db.sql(
        `INSERT INTO datamesh.signals (slot_name, kind, payload) VALUES ('parts', 'execute-snapshot', '{}')`,
      );
      const whole = await running.read(31);
      expect(whole.events.map((e) => e.event.key!['id'])).toEqual(
        Array.from({ length: 31 }, (_, i) => i + 1),
      );
    } finally {
      await running.stop();
    }
  });

  it('holds at most maxBufferedBytes of received changes while reading slowly (backpressure)', async () => {
    await db.sql(`CREATE TABLE flood (id int PRIMARY KEY, note text)`);
    const running = await startSource(db, {
      tables: ['public.flood'],
      slot: 'flood',
      publication: 'flood',
      snapshot: { mode: 'never' },
      maxBufferedBytes: 65_536,
      maxBatchSize: 100,
    });
    try {
      await db.sql(`INSERT INTO flood SELECT g, md5(g::text) FROM generate_series(1, 20000) g`);
      const buffered = () =>
        running.ctx.registry.getSingleMetric('datamesh_plugin_postgres_buffered_changes')!.get();
      let read = 0;
      let most = 0;
      while (read < 20_000) {
        const batch = await running.task.read(AbortSignal.timeout(1_000));
        read += batch?.events.length ?? 0;
        most = Math.max(most, (await buffered()).values[0]?.value ?? 0);
        if (read % 2000 < 100) await new Promise((resolve) => setTimeout(resolve, 20)); // a slow transport
      }
      expect(read).toBe(20_000);
      // ~500 bytes per change estimated: ~130 changes, plus what one socket read brings before the pause.
      expect(most).toBeGreaterThan(0);
      expect(most).toBeLessThan(2_000);
    } finally {
      await running.stop();
    }
  });

  it('captures a partitioned table under its own name: snapshot once, changes of every partition', async () => {
    await db.sql(`CREATE SCHEMA part`);
    await db.sql(
      `CREATE TABLE part.readings (id int, day date, v int, PRIMARY KEY (id, day)) PARTITION BY RANGE (day)`,
    );
    await db.sql(
      `CREATE TABLE part.readings_2025 PARTITION OF part.readings FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')`,
    );
    await db.sql(
      `CREATE TABLE part.readings_2026 PARTITION OF part.readings FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')`,
    );
    await db.sql(`INSERT INTO part.readings VALUES (1, '2025-06-01', 1), (2, '2026-06-01', 2)`);
    // An empty table first: its empty chunk must not disturb the next table's window.
    await db.sql(`CREATE TABLE part.aaa_empty (id int PRIMARY KEY)`);
    const running = await startSource(db, {
      tables: ['part.*'],
      slot: 'readings',
      publication: 'readings',
      snapshot: { chunkSize: 1 },
    });
    try {
      const snapshot = await running.readUntil(
        (events) => events.filter((e) => e.stream === 'part.readings').length >= 2,
      );
      const streams = new Set(snapshot.events.map((e) => e.stream));
      expect(streams.has('part.readings_2025')).toBe(false); // partitions are not captured on their own
      await db.sql(`INSERT INTO part.readings VALUES (3, '2025-07-01', 3), (4, '2026-07-01', 4)`);
      const live = await running.readUntil(
        (events) => events.filter((e) => e.event.value?.op === 'c').length >= 2,
      );
      expect(
        live.events.filter((e) => e.event.value?.op === 'c').map((e) => [e.stream, e.event.key]),
      ).toEqual([
        ['part.readings', { id: 3, day: expect.any(Number) }],
        ['part.readings', { id: 4, day: expect.any(Number) }],
      ]);
    } finally {
      await running.stop();
    }
  });
});

async function expectEventually(probe: () => Promise<boolean>, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function lsnValue(text: string): bigint {
  const [high, low] = text.split('/') as [string, string];
  return (BigInt(`0x${high}`) << 32n) | BigInt(`0x${low}`);
}

import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase } from '@datamesh/services/postgres-database';
import { useServices, type ServiceEndpoints } from '@datamesh/services/testing';
import { isolatedHome, eventually, mesh, MeshNodeProcess } from './__fixtures__/mesh-process.js';
import { analyse, ChangeGenerator, type Line } from './__fixtures__/ledger-workload.js';

// The Postgres source in a real node on real Kafka, killed with SIGKILL at random points while a generator writes
// a mix of inserts, updates and deletes and while the initial snapshot runs. A checker then proves that every
// committed change arrived once, in commit order per key, and that the snapshot and the log together rebuild
// exactly the table.

let home: string;
let env: NodeJS.ProcessEnv;
let remove: () => Promise<void>;
let kafka: ServiceEndpoints['kafka'];
let postgres: ServiceEndpoints['postgres'];
let dropDatabase: (() => Promise<void>) | undefined;
let database: string;
const run = Date.now().toString(36);

beforeAll(async () => {
  ({ home, env, remove } = await isolatedHome('datamesh-postgres-e2e-'));
  ({ kafka, postgres } = await useServices('kafka', 'postgres'));
  ({ name: database, drop: dropDatabase } = await createDatabase(postgres, 'dm_e2e'));
}, 300_000);

afterAll(async () => {
  await dropDatabase?.();
  await remove?.();
}, 60_000);

async function readLines(file: string): Promise<Line[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Line);
}

describe('mesh node start with the Postgres source on Kafka', () => {
  it('survives kill -9 during load and snapshot: every committed change once, in order per key', async () => {
    const db = new pg.Client({ ...clientConfig(), database });
    await db.connect();
    const existing = 5000;
    await db.query(`CREATE TABLE ledger (id int PRIMARY KEY, ver bigint NOT NULL, note text NOT NULL)`);
    await db.query(`ALTER TABLE ledger REPLICA IDENTITY FULL`); // deletes carry the version they remove
    await db.query(`INSERT INTO ledger SELECT g, -g, 'existing' FROM generate_series(1, $1::int) g`, [
      existing,
    ]);

    const out = join(home, 'ledger.jsonl');
    const pipeline = join(home, 'ledger.yaml');
    const { host, port, user } = postgres;
    await writeFile(
      pipeline,
      `apiVersion: datamesh/v1\nkind: Pipeline\nname: ledger-${run}\nsources:\n` +
        `  - name: pg-${run}\n    plugin: postgres\n    config: { host: ${host}, port: ${port}, database: ${database}, ` +
        `user: ${user}, password: "\${PGPASSWORD}", tables: [public.ledger], slot: ledger, publication: ledger, ` +
        `snapshot: { chunkSize: 250 }, maxBatchSize: 500 }\n` +
        `sinks:\n  - { name: out, plugin: file, inputs: [pg-${run}], config: { path: ${out} } }\n`,
    );
    const config = join(home, 'node.yaml');
    await writeFile(
      config,
      `apiVersion: datamesh/v1\nkind: Node\ndataDir: ${join(home, 'data')}\nhttp: { port: 0 }\ntasks: { flushIntervalMs: 100 }\n` +
        `transport: { kind: kafka, partitions: 3, kafka: { brokers: [${kafka.brokers[0]}], sessionTimeoutMs: 6000 } }\n` +
        `pipelines: [${pipeline}]\n`,
    );
    const nodeEnv = { ...env, PGPASSWORD: postgres.password };
    const writerClient = new pg.Client({ ...clientConfig(), database });
    await writerClient.connect();
    const generator = new ChangeGenerator(writerClient, existing);
    try {
      for (let crash = 0; crash < 3; crash++) {
        const node = new MeshNodeProcess(['--config', config], nodeEnv);
        await node.url(60_000);
        if (crash === 0) {
          // Changes count from the moment the slot exists: the node creates it as it starts.
          await eventually(async () => {
            const { rows } = await db.query(`SELECT 1 FROM pg_replication_slots WHERE slot_name = 'ledger'`);
            return rows.length > 0 ? true : undefined;
          }, 30_000);
          generator.start(400);
        }
        await new Promise((r) => setTimeout(r, 1500 + Math.floor(Math.random() * 2000)));
        node.child.kill('SIGKILL');
        await node.exited;
      }
      await generator.stop();
      const last = new MeshNodeProcess(['--config', config], nodeEnv);
      await last.url(60_000);
      const expectedChanges = [...generator.committed.values()].reduce((n, v) => n + v.length, 0);
      const { rows } = await db.query<{ id: number; ver: string }>(`SELECT id, ver FROM ledger ORDER BY id`);
      const table = JSON.stringify(rows.map((r) => [r.id, Number(r.ver)]));
      const stateOf = (result: ReturnType<typeof analyse>) =>
        JSON.stringify([...result.state.entries()].sort((a, b) => a[0] - b[0]));
      await eventually(async () => {
        const result = analyse(await readLines(out));
        return result.changes >= expectedChanges && stateOf(result) === table ? true : undefined;
      }, 120_000).catch(() => undefined); // the assertions below say what is missing
      await new Promise((r) => setTimeout(r, 1000)); // anything late would show as a duplicate
      last.child.kill('SIGTERM');
      expect(await last.exited).toBe(0);

      const { logged, snapshotRows, ...result } = analyse(await readLines(out));
      // Every committed change once, in commit order per key.
      expect(generator.count).toBeGreaterThan(1000);
      const mismatched = [...generator.committed.entries()].filter(
        ([id, vers]) => JSON.stringify(logged.get(id) ?? []) !== JSON.stringify(vers),
      );
      expect(
        mismatched.slice(0, 5).map(([id, vers]) => ({ id, committed: vers, logged: logged.get(id) })),
      ).toEqual([]);
      expect([...logged.keys()].filter((id) => !generator.committed.has(id))).toEqual([]);
      // The snapshot and the log together are exactly the table.
      expect(snapshotRows).toBeGreaterThan(0);
      expect(stateOf({ logged, snapshotRows, ...result })).toBe(table);
    } finally {
      await generator.stop();
      await writerClient.end();
      await db.end();
    }
  }, 300_000);
});

describe('mesh source snapshot', () => {
  it('asks the running Postgres source for a snapshot of some keys, then of a table', async () => {
    const db = new pg.Client({ ...clientConfig(), database });
    await db.connect();
    try {
      await db.query(`CREATE TABLE parts (id int PRIMARY KEY, name text)`);
      await db.query(`INSERT INTO parts SELECT g, 'part ' || g FROM generate_series(1, 20) g`);
      const out = join(home, 'parts.jsonl');
      const pipeline = join(home, 'parts.yaml');
      const { host, port, user } = postgres;
      await writeFile(
        pipeline,
        `apiVersion: datamesh/v1\nkind: Pipeline\nname: parts\nsources:\n` +
          `  - name: pg\n    plugin: postgres\n    config: { host: ${host}, port: ${port}, database: ${database}, ` +
          `user: ${user}, password: "\${PGPASSWORD}", tables: [public.parts], slot: parts, publication: parts, ` +
          `snapshot: { mode: never } }\n` +
          `sinks:\n  - { name: out, plugin: file, inputs: [pg], config: { path: ${out} } }\n`,
      );
      const config = join(home, 'parts-node.yaml');
      await writeFile(
        config,
        `apiVersion: datamesh/v1\nkind: Node\ndataDir: ${join(home, 'parts-data')}\nhttp: { port: 0 }\n` +
          `tasks: { flushIntervalMs: 100 }\npipelines: [${pipeline}]\n`,
      );
      const cliEnv = { ...env, PGPASSWORD: postgres.password, OCLIF_COLUMNS: '1000' };
      const node = new MeshNodeProcess(['--config', config], cliEnv);
      try {
        await node.url(60_000);
        await eventually(async () => {
          const { rows } = await db.query(`SELECT 1 FROM pg_replication_slots WHERE slot_name = 'parts'`);
          return rows.length > 0 ? true : undefined;
        }, 30_000);
        await db.query(`INSERT INTO parts VALUES (21, 'live')`);
        await eventually(async () => ((await readLines(out)).length >= 1 ? true : undefined), 30_000);

        const keyed = mesh(
          [
            'source',
            'snapshot',
            pipeline,
            '--source',
            'pg',
            '--table',
            'public.parts',
            '--key',
            '4',
            '--key',
            '7',
          ],
          cliEnv,
        );
        expect(keyed.stderr).toBe('');
        expect(keyed.stdout).toMatch(/snapshot \d+ requested from source "pg": 2 key\(s\) of public.parts/);
        const lines = await eventually(async () => {
          const read = await readLines(out);
          return read.length >= 3 ? read : undefined;
        }, 30_000);
        expect(lines.map((l) => `${l.op} ${l.key!.id}`)).toEqual(['c 21', 'r 4', 'r 7']);

        const whole = mesh(['source', 'snapshot', pipeline, '--source', 'pg'], cliEnv);
        expect(whole.status).toBe(0);
        await eventually(async () => ((await readLines(out)).length >= 3 + 21 ? true : undefined), 30_000);

        const wrongStage = mesh(['source', 'snapshot', pipeline, '--source', 'nope'], cliEnv);
        expect(wrongStage.status).toBe(2);
        expect(wrongStage.stderr).toMatch(/pipeline "parts" has no source "nope"; its sources: pg/);
        const wrongTable = mesh(
          ['source', 'snapshot', pipeline, '--source', 'pg', '--table', 'public.other'],
          cliEnv,
        );
        expect(wrongTable.status).toBe(2);
        expect(wrongTable.stderr).toMatch(/does not capture public.other; it captures public.parts/);
      } finally {
        node.child.kill('SIGTERM');
        await node.exited;
      }
    } finally {
      await db.end();
    }
  }, 180_000);
});

function clientConfig(): pg.ClientConfig {
  const { host, port, user, password } = postgres;
  return { host, port, user, password };
}

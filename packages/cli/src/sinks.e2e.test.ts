import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import kafkajs from 'kafkajs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { avroType, decodeWire, readSchemaId, SchemaRegistryClient, type AvroType } from '@datamesh/core';
import { createDatabase } from '@datamesh/services/postgres-database';
import { TcpProxy } from '@datamesh/services/tcp-proxy';
import { useServices, type ServiceEndpoints } from '@datamesh/services/testing';
import { KafkaTransport } from '@datamesh/transport-kafka';
import { analyse, ChangeGenerator, type Line } from './__fixtures__/ledger-workload.js';
import { isolatedHome, eventually, mesh, MeshNodeProcess } from './__fixtures__/mesh-process.js';

// Postgres → Kafka → the Elasticsearch sink (on the real OpenSearch) and the Kafka sink, in a real node on real
// services. Checkers compare the index and the output topic with the source table row by row: after every kind of
// change, after kill -9 at random points under load, and after the search engine was gone for a minute.

let home: string;
let env: NodeJS.ProcessEnv;
let remove: () => Promise<void>;
let kafka: ServiceEndpoints['kafka'];
let postgres: ServiceEndpoints['postgres'];
let opensearch: ServiceEndpoints['opensearch'];
let dropDatabase: (() => Promise<void>) | undefined;
let database: string;
let transport: KafkaTransport;
const run = Date.now().toString(36);

beforeAll(async () => {
  ({ home, env, remove } = await isolatedHome('datamesh-sinks-e2e-'));
  ({ kafka, postgres, opensearch } = await useServices('kafka', 'postgres', 'opensearch'));
  ({ name: database, drop: dropDatabase } = await createDatabase(postgres, 'dm_sinks'));
  transport = await KafkaTransport.connect({ brokers: kafka.brokers });
}, 300_000);

afterAll(async () => {
  await transport?.close();
  await dropDatabase?.();
  await remove?.();
}, 60_000);

function clientConfig(): pg.ClientConfig {
  const { host, port, user, password } = postgres;
  return { host, port, user, password, database };
}

/** A pipeline file capturing `table` into the index and the output topic, and a node config on Kafka. */
async function setup(
  name: string,
  table: string,
  sinks: { search: Record<string, unknown>; topic: Record<string, unknown> },
) {
  const { host, port, user } = postgres;
  const pipeline = join(home, `${name}.yaml`);
  const pipelineName = `${name}-${run}`;
  await writeFile(
    pipeline,
    JSON.stringify({
      apiVersion: 'datamesh/v1',
      kind: 'Pipeline',
      name: pipelineName,
      owner: 'team-e2e',
      sources: [
        {
          name: `${name}-pg-${run}`,
          plugin: 'postgres',
          config: {
            host,
            port,
            database,
            user,
            password: '${PGPASSWORD}',
            tables: [`public.${table}`],
            slot: `${name}_${run}`,
            publication: `${name}_${run}`,
            snapshot: { chunkSize: 250 },
            maxBatchSize: 500,
          },
        },
      ],
      sinks: [
        { name: 'search', plugin: 'elasticsearch', inputs: [`${name}-pg-${run}`], config: sinks.search },
        { name: 'topic', plugin: 'kafka', inputs: [`${name}-pg-${run}`], config: sinks.topic },
      ],
    }),
  );
  const config = join(home, `${name}-node.yaml`);
  await writeFile(
    config,
    `apiVersion: datamesh/v1\nkind: Node\ndataDir: ${join(home, `${name}-data`)}\nhttp: { port: 0 }\n` +
      `tasks: { flushIntervalMs: 200 }\n` +
      `transport: { kind: kafka, partitions: 3, kafka: { brokers: [${kafka.brokers[0]}], sessionTimeoutMs: 6000 } }\n` +
      `pipelines: [${pipeline}]\n`,
  );
  return { config, pipelineName, nodeEnv: { ...env, PGPASSWORD: postgres.password } };
}

interface HistoryValue {
  op: string;
  after?: { ver?: number } | null;
  before?: { ver?: number } | null;
  source?: { commitLsn?: number; lsn?: number; snapshot?: string };
}

/** Every document of an index, by id, after a refresh. */
async function documents(
  url: string,
  index: string,
  withVersion = false,
): Promise<Map<string, Record<string, unknown>>> {
  const refreshed = await fetch(`${url}/${index}/_refresh`, { method: 'POST' });
  if (refreshed.status === 404) return new Map();
  const response = await fetch(`${url}/${index}/_search?size=10000`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: { match_all: {} }, version: withVersion }),
  });
  const body = (await response.json()) as {
    hits: { hits: { _id: string; _version?: number; _source: Record<string, unknown> }[] };
  };
  return new Map(
    body.hits.hits.map((h) => [h._id, withVersion ? { ...h._source, _version: h._version } : h._source]),
  );
}

/** Every record of a topic, read committed, from the beginning to its current end. */
async function topicRecords(topic: string) {
  const described = await transport.describeTopic(topic);
  if (!described) return [];
  const ends = described.endOffsets;
  const consumer = transport.consumer({ group: `e2e-read-${topic}-${Date.now()}`, topics: [topic] });
  const records = [];
  try {
    const deadline = Date.now() + 60_000;
    while (!consumer.readUpTo!(topic, ends) && Date.now() < deadline) {
      records.push(...(await consumer.poll({ maxRecords: 10_000, maxWaitMs: 200 })));
    }
  } finally {
    await consumer.close();
  }
  return records;
}

/** Decodes Confluent wire-format Avro with the node's own registry. */
function avroDecoder(registryUrl: string) {
  const client = new SchemaRegistryClient({ url: registryUrl });
  const types = new Map<number, AvroType>();
  return async (buffer: Buffer): Promise<Record<string, unknown>> => {
    const id = readSchemaId(buffer);
    let type = types.get(id);
    if (!type) {
      type = avroType(JSON.parse((await client.schemaById(id)).schema));
      types.set(id, type);
    }
    return decodeWire(buffer, type) as Record<string, unknown>;
  };
}

/** A ledger-shaped table's rows in id order, and as JSON `[id, ver, note]` triples (ids as text, as document ids). */
async function ledgerRows(db: pg.Client, table: string) {
  const { rows } = await db.query<{ id: number; ver: string; note: string }>(
    `SELECT id, ver, note FROM ${table} ORDER BY id`,
  );
  return { rows, text: JSON.stringify(rows.map((r) => [String(r.id), Number(r.ver), r.note])) };
}

/** A ledger-shaped index's documents in the same form as `ledgerRows`' text. */
async function ledgerIndex(index: string): Promise<string> {
  return JSON.stringify(
    [...(await documents(opensearch.url, index)).entries()]
      .map(([id, d]) => [id, d['ver'], d['note']] as const)
      .sort((a, b) => Number(a[0]) - Number(b[0])),
  );
}

async function metric(url: string, pattern: RegExp): Promise<number | undefined> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const match = text.split('\n').find((l) => pattern.test(l));
  return match === undefined ? undefined : Number(match.split(' ').at(-1));
}

describe('Postgres → Kafka → Elasticsearch sink (OpenSearch) and Kafka sink', () => {
  it('index and output topic match the table after inserts, updates, deletes, a key change and an added column; a document the index refuses goes to the dead-letter topic', async () => {
    const db = new pg.Client(clientConfig());
    await db.connect();
    const index = `accounts-${run}`;
    const topic = `accounts-out-${run}`;
    const { config, pipelineName, nodeEnv } = await setup('accounts', 'accounts', {
      // `code` as a keyword: a value over Lucene's 32 766-byte term limit is a document the index refuses.
      search: { url: opensearch.url, index, mapping: { fields: { code: 'keyword' } } },
      topic: { topic, envelope: 'row', format: 'avro' },
    });
    await db.query(
      `CREATE TABLE accounts (id int PRIMARY KEY, owner text NOT NULL, balance numeric(12,2) NOT NULL,
         score numeric, opened date, tags text[], code text)`,
    );
    await db.query(
      `INSERT INTO accounts SELECT g, 'owner ' || g, g * 1.25, g / 7.0, date '2020-01-01' + g, ARRAY['t' || (g % 5)], 'c' || g
         FROM generate_series(1, 300) g`,
    );
    const node = new MeshNodeProcess(['--config', config], nodeEnv);
    try {
      const url = await node.url(60_000);
      await db.query(
        `INSERT INTO accounts SELECT g, 'late ' || g, -g * 0.5, NULL, date '1969-12-31' - g, ARRAY[]::text[], NULL
           FROM generate_series(301, 400) g`,
      );
      await db.query(`UPDATE accounts SET balance = balance + 1000, tags = tags || '{vip}' WHERE id % 5 = 0`);
      await db.query(`DELETE FROM accounts WHERE id % 13 = 0`);
      await db.query(`UPDATE accounts SET id = 100000 WHERE id = 7`); // a primary-key change
      await db.query(`ALTER TABLE accounts ADD COLUMN region text`); // a compatible schema change
      await db.query(`UPDATE accounts SET region = 'eu-' || (id % 3) WHERE id % 4 = 0`);
      await db.query(
        `INSERT INTO accounts SELECT g, 'new ' || g, g, g, NULL, NULL, 'c', 'us' FROM generate_series(401, 420) g`,
      );
      // A code too long for a keyword term: the index refuses the document; the pipeline must go on past it.
      await db.query(
        `INSERT INTO accounts VALUES (99999, 'immense', 0, 0, NULL, NULL, repeat('x', 40000), NULL)`,
      );
      await db.query(
        `INSERT INTO accounts SELECT g, 'after', 1, 1, NULL, NULL, 'c', 'ap' FROM generate_series(500, 509) g`,
      );

      const { rows } = await db.query<Record<string, unknown>>(
        `SELECT id, owner, balance::text AS balance, score::text AS score, to_char(opened, 'YYYY-MM-DD') AS opened,
                tags, region FROM accounts ORDER BY id`,
      );
      const expected = (wanted: readonly Record<string, unknown>[]) =>
        JSON.stringify(wanted.map((r) => ({ ...r, id: String(r['id']) })));
      const indexed = async () =>
        JSON.stringify(
          [...(await documents(opensearch.url, index)).entries()]
            .map(([id, d]) => ({
              id,
              owner: d['owner'],
              balance: d['balance'],
              score: d['score'] ?? null,
              opened: d['opened'] ?? null,
              tags: d['tags'] ?? null,
              region: d['region'] ?? null,
            }))
            .sort((a, b) => Number(a.id) - Number(b.id)),
        );
      const withoutRefused = rows.filter((r) => r['id'] !== 99999);
      await eventually(
        async () => ((await indexed()) === expected(withoutRefused) ? true : undefined),
        90_000,
      ).catch(() => undefined);
      expect(JSON.parse(await indexed())).toEqual(JSON.parse(expected(withoutRefused)));

      // The output topic: the row state per key, deletes as tombstones; its last record per key is the table.
      const decode = avroDecoder(`${url}/schema-registry`);
      const state = new Map<number, Record<string, unknown>>();
      await eventually(async () => {
        state.clear();
        for (const record of await topicRecords(topic)) {
          const key = await decode(record.key!);
          if (record.value === null) state.delete(key['id'] as number);
          else state.set(key['id'] as number, await decode(record.value));
        }
        return state.size === rows.length ? true : undefined;
      }, 60_000).catch(() => undefined);
      expect(
        [...state.values()]
          .map((r) => ({ id: r['id'], owner: r['owner'], tags: r['tags'], region: r['region'] ?? null }))
          .sort((a, b) => (a.id as number) - (b.id as number)),
      ).toEqual(rows.map((r) => ({ id: r['id'], owner: r['owner'], tags: r['tags'], region: r['region'] })));

      // The refused document: in the dead-letter topic with why and where, counted on the stage.
      const letters = await topicRecords(`datamesh.dlq.${pipelineName}`);
      expect(letters).toHaveLength(1);
      expect(letters[0]!.headers).toMatchObject({
        'datamesh.dlq.stage': 'search',
        'datamesh.dlq.plugin': 'elasticsearch',
        'datamesh.dlq.kind': 'sink',
      });
      expect(letters[0]!.headers['datamesh.dlq.error']).toMatch(/99999/);
      expect((await decode(letters[0]!.key!))['id']).toBe(99999);
      expect(await metric(url, /^datamesh_dead_letters_total\{.*stage="search"/)).toBe(1);

      // mesh dlq on Kafka: tail shows it decoded; a replay reaches the sink again, which refuses it again.
      const tail = mesh(['dlq', 'tail', pipelineName, '--config', config, '--json'], nodeEnv);
      expect(tail.status, tail.stderr).toBe(0);
      const tailed = JSON.parse(tail.stdout) as Record<string, unknown>[];
      expect(tailed).toEqual([
        expect.objectContaining({ stage: 'search', kind: 'sink', replays: 0, key: { id: 99999 } }),
      ]);
      const replayed = mesh(['dlq', 'replay', pipelineName, '--config', config], nodeEnv);
      expect(replayed.status, replayed.stderr).toBe(0);
      let again: Awaited<ReturnType<typeof topicRecords>> = [];
      await eventually(async () => {
        again = await topicRecords(`datamesh.dlq.${pipelineName}`);
        return again.length >= 2 ? true : undefined;
      }, 60_000).catch(() => undefined);
      expect(again.map((l) => l.headers['datamesh.dlq.replays'])).toEqual(['0', '1']);

      // The output topic is in the catalog, with the pipeline's owner.
      const shown = mesh(['catalog', 'show', topic, '--url', url, '--json'], env);
      expect(shown.status, shown.stderr).toBe(0);
      expect(JSON.parse(shown.stdout)).toMatchObject({ kind: 'sink', owner: 'team-e2e', format: 'avro' });
    } finally {
      node.child.kill('SIGTERM');
      await node.exited;
      await db.end();
    }
  }, 240_000);

  it('survives kill -9 at random points under load: the index is the table, the topic has every change once', async () => {
    const db = new pg.Client(clientConfig());
    await db.connect();
    const existing = 3000;
    await db.query(`CREATE TABLE ledger (id int PRIMARY KEY, ver bigint NOT NULL, note text NOT NULL)`);
    await db.query(`ALTER TABLE ledger REPLICA IDENTITY FULL`);
    await db.query(`INSERT INTO ledger SELECT g, -g, 'existing' FROM generate_series(1, $1::int) g`, [
      existing,
    ]);
    const index = `ledger-${run}`;
    const topic = `ledger-out-${run}`;
    const { config, nodeEnv, pipelineName } = await setup('ledger', 'ledger', {
      search: { url: opensearch.url, index, bulk: { maxActions: 200 } },
      topic: { topic, format: 'json', envelope: 'envelope', exactlyOnce: true },
    });
    const writer = new pg.Client(clientConfig());
    await writer.connect();
    const generator = new ChangeGenerator(writer, existing, 6000);
    try {
      for (let crash = 0; crash < 3; crash++) {
        const node = new MeshNodeProcess(['--config', config], nodeEnv);
        await node.url(60_000);
        if (crash === 0) {
          await eventually(async () => {
            const slots = await db.query(`SELECT 1 FROM pg_replication_slots WHERE slot_name = $1`, [
              `ledger_${run}`,
            ]);
            return slots.rows.length > 0 ? true : undefined;
          }, 30_000);
          generator.start(300);
        }
        await new Promise((r) => setTimeout(r, 2000 + Math.floor(Math.random() * 3000)));
        node.child.kill('SIGKILL');
        await node.exited;
      }
      await generator.stop();
      const last = new MeshNodeProcess(['--config', config], nodeEnv);
      await last.url(60_000);
      const { rows, text: table } = await ledgerRows(db, 'ledger');
      const indexed = () => ledgerIndex(index);
      const lines = async (): Promise<Line[]> =>
        (await topicRecords(topic)).map((r) => {
          const value = r.value === null ? null : (JSON.parse(r.value.toString('utf8')) as Omit<Line, 'key'>);
          return {
            key: JSON.parse(r.key!.toString('utf8')) as { id: number },
            op: value?.op ?? null,
            before: value?.before ?? null,
            after: value?.after ?? null,
          };
        });
      const expectedChanges = [...generator.committed.values()].reduce((n, v) => n + v.length, 0);
      await eventually(
        async () =>
          (await indexed()) === table && analyse(await lines()).changes >= expectedChanges ? true : undefined,
        120_000,
      ).catch(() => undefined);
      last.child.kill('SIGTERM');
      expect(await last.exited).toBe(0);

      expect(generator.count).toBeGreaterThan(500);
      // Nothing of a well-formed table may end up as a dead letter (a failure of the engine is retried instead).
      const letters = await topicRecords(`datamesh.dlq.${pipelineName}`);
      expect(letters.map((l) => l.headers['datamesh.dlq.error'])).toEqual([]);
      // On a mismatch, say for the first keys what the index holds (with its version) and what the output topic —
      // the same input, read by the other sink — carried for them, in order.
      const wanted = new Map(rows.map((r) => [String(r.id), [Number(r.ver), r.note]]));
      const docs = await documents(opensearch.url, index, true);
      const wrong = [...new Set([...wanted.keys(), ...docs.keys()])]
        .filter(
          (id) =>
            JSON.stringify(wanted.get(id)) !==
            JSON.stringify(docs.has(id) ? [docs.get(id)!['ver'], docs.get(id)!['note']] : undefined),
        )
        .slice(0, 3);
      const history = async (id: string) =>
        (await topicRecords(topic))
          .filter((r) => JSON.parse(r.key!.toString('utf8')).id === Number(id))
          .map((r) => {
            const v = r.value === null ? null : (JSON.parse(r.value.toString('utf8')) as HistoryValue);
            return v === null
              ? `${r.partition}@${r.offset} tombstone`
              : `${r.partition}@${r.offset} ${v['op']} ver=${v['after']?.ver ?? v['before']?.ver} commitLsn=${v['source']?.commitLsn} lsn=${v['source']?.lsn} snapshot=${v['source']?.snapshot}`;
          });
      const explained = await Promise.all(
        wrong.map(async (id) => ({
          id,
          table: wanted.get(id),
          index: docs.get(id),
          topic: await history(id),
        })),
      );
      expect(explained).toEqual([]);
      expect(JSON.parse(await indexed())).toEqual(JSON.parse(table));
      const { logged, state } = analyse(await lines());
      const mismatched = [...generator.committed.entries()].filter(
        ([id, vers]) => JSON.stringify(logged.get(id) ?? []) !== JSON.stringify(vers),
      );
      expect(
        mismatched.slice(0, 5).map(([id, vers]) => ({ id, committed: vers, topic: logged.get(id) })),
      ).toEqual([]);
      expect(JSON.stringify([...state.entries()].sort((a, b) => a[0] - b[0]))).toBe(
        JSON.stringify(rows.map((r) => [r.id, Number(r.ver)])),
      );
    } finally {
      await generator.stop();
      await writer.end();
      await db.end();
    }
  }, 300_000);

  it('rides out the search engine gone for a minute: backoff, catch-up, nothing lost, memory bounded', async () => {
    const db = new pg.Client(clientConfig());
    await db.connect();
    await db.query(`CREATE TABLE outage (id int PRIMARY KEY, ver bigint NOT NULL, note text NOT NULL)`);
    await db.query(`ALTER TABLE outage REPLICA IDENTITY FULL`);
    const target = new URL(opensearch.url);
    const proxy = new TcpProxy(0, { host: target.hostname, port: Number(target.port) });
    await proxy.open();
    const index = `outage-${run}`;
    const { config, nodeEnv, pipelineName } = await setup('outage', 'outage', {
      search: { url: `http://127.0.0.1:${proxy.port}`, index, engine: 'opensearch' },
      topic: { topic: `outage-out-${run}`, format: 'json' },
    });
    const writer = new pg.Client(clientConfig());
    await writer.connect();
    const generator = new ChangeGenerator(writer, 0, 2000, 'outage');
    const node = new MeshNodeProcess(['--config', config], nodeEnv);
    try {
      const url = await node.url(60_000);
      generator.start(200);
      await new Promise((r) => setTimeout(r, 5000));
      await proxy.cut();
      const rss: number[] = [(await metric(url, /^datamesh_node_process_resident_memory_bytes /)) ?? 0];
      const buffered: number[] = [];
      const outageEnds = Date.now() + 60_000;
      while (Date.now() < outageEnds) {
        await new Promise((r) => setTimeout(r, 5000));
        rss.push((await metric(url, /^datamesh_node_process_resident_memory_bytes /)) ?? 0);
        buffered.push((await metric(url, /^datamesh_plugin_elasticsearch_buffered_bytes\{/)) ?? 0);
      }
      // The changes written meanwhile wait in Kafka, not in the node.
      const waiting = await metric(url, /^datamesh_input_lag_events\{.*stage="search"/);
      await proxy.open();
      await generator.stop();
      const { text: table } = await ledgerRows(db, 'outage');
      const indexed = () => ledgerIndex(index);
      await eventually(async () => ((await indexed()) === table ? true : undefined), 120_000).catch(
        () => undefined,
      );
      expect(generator.count).toBeGreaterThan(10_000);
      const letters = await topicRecords(`datamesh.dlq.${pipelineName}`);
      expect(letters.map((l) => l.headers['datamesh.dlq.error'])).toEqual([]);
      expect(JSON.parse(await indexed())).toEqual(JSON.parse(table));
      expect(waiting).toBeGreaterThan(1000);
      // Bounded: the sink holds at most its lanes' buffers and 2 × concurrency requests (5 MiB each at most); the
      // rest waits in Kafka (above). RSS is only a coarse check: the heap grows and shrinks with the collector.
      expect(Math.max(...buffered)).toBeLessThanOrEqual(6 * 5 * 1024 * 1024);
      expect(Math.max(...rss) - rss[0]!).toBeLessThan(256 * 1024 * 1024);
      expect(node.lines.some((l) => /retr/i.test(String(l['msg'])))).toBe(true);
    } finally {
      node.child.kill('SIGTERM');
      await node.exited;
      await generator.stop();
      await proxy.cut();
      await writer.end();
      await db.end();
    }
  }, 300_000);

  it('the example pipeline examples/postgres-to-search validates against a real database', async () => {
    const db = new pg.Client(clientConfig());
    await db.connect();
    try {
      await db.query(`CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, email text)`);
    } finally {
      await db.end();
    }
    const example = fileURLToPath(
      new URL('../../../examples/postgres-to-search/pipeline.yaml', import.meta.url),
    );
    const { status, stdout, stderr } = mesh(['pipeline', 'validate', example], {
      ...env,
      PGHOST: postgres.host,
      PGPORT: String(postgres.port),
      PGDATABASE: database,
      PGUSER: postgres.user,
      PGPASSWORD: postgres.password,
      SEARCH_URL: opensearch.url,
    });
    expect(status, stderr).toBe(0);
    expect(stdout).toContain('sink search (elasticsearch)');
    expect(stdout).toContain('sink published (kafka)');
  });

  it('an output topic the sink may not write stops its task with an error that says which ACL to grant', async () => {
    const db = new pg.Client(clientConfig());
    await db.connect();
    try {
      await db.query(`CREATE TABLE payments (id int PRIMARY KEY, amount int NOT NULL)`);
      await db.query(`INSERT INTO payments VALUES (1, 10)`);
    } finally {
      await db.end();
    }
    const topic = `forbidden-${run}`;
    const { Kafka, AclResourceTypes, AclOperationTypes, AclPermissionTypes, ResourcePatternTypes } = kafkajs;
    const admin = new Kafka({ brokers: kafka.brokers, logLevel: kafkajs.logLevel.NOTHING }).admin();
    await admin.connect();
    const acl = {
      resourceType: AclResourceTypes.TOPIC,
      resourceName: topic,
      resourcePatternType: ResourcePatternTypes.LITERAL,
      principal: `User:${kafka.sasl.username}`,
      host: '*',
      operation: AclOperationTypes.ALL,
      permissionType: AclPermissionTypes.DENY,
    };
    await admin.createAcls({ acl: [acl] });
    await new Promise((r) => setTimeout(r, 1000)); // the broker applies ACLs from its metadata log
    const { config, nodeEnv } = await setup('payments', 'payments', {
      search: { url: opensearch.url, index: `payments-${run}` },
      topic: {
        topic,
        cluster: { brokers: kafka.saslBrokers, sasl: { mechanism: 'scram-sha-256', ...kafka.sasl } },
      },
    });
    const node = new MeshNodeProcess(['--config', config], nodeEnv);
    try {
      const url = await node.url(60_000);
      type Health = { tasks: { id: string; state: string; restarts: number; lastError?: string }[] };
      const failed = await eventually(async () => {
        const health = (await (await fetch(`${url}/health`)).json()) as Health;
        return health.tasks.find((t) => t.id.endsWith('.topic') && t.state === 'failed');
      }, 60_000);
      expect(failed.lastError).toMatch(new RegExp(`may not .*${topic}.*grant it`));
      expect(failed.restarts).toBe(0); // halted: retrying cannot help until someone grants the ACL
      expect(node.stderr + JSON.stringify(node.lines)).not.toContain(kafka.sasl.password);
      // The pipeline's other sink goes on.
      await eventually(async () =>
        (await documents(opensearch.url, `payments-${run}`)).size === 1 ? true : undefined,
      );
    } finally {
      node.child.kill('SIGTERM');
      await node.exited;
      await admin.deleteAcls({
        filters: [{ ...acl, operation: AclOperationTypes.ANY, permissionType: AclPermissionTypes.ANY }],
      });
      await admin.disconnect();
    }
  }, 180_000);
});

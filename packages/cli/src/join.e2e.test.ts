import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import kafkajs from 'kafkajs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase } from '@datamesh/services/postgres-database';
import { useServices, type ServiceEndpoints } from '@datamesh/services/testing';
import { EventCodec, LocalSchemaRegistry, type Row } from '@datamesh/core';
import { KafkaTransport } from '@datamesh/transport-kafka';
import { isolatedHome, eventually, mesh, MeshNodeProcess } from './__fixtures__/mesh-process.js';

// Two Postgres tables captured into Kafka, joined and filtered by a real node, written to an output topic; the
// checker compares the topic's final rows with the same join computed by Postgres itself, while both tables change
// and the node is killed with -9 mid-stream.

let home: string;
let env: NodeJS.ProcessEnv;
let remove: () => Promise<void>;
let kafka: ServiceEndpoints['kafka'];
let postgres: ServiceEndpoints['postgres'];
let dropDatabase: (() => Promise<void>) | undefined;
let database: string;
let transport: KafkaTransport;
const run = Date.now().toString(36);

beforeAll(async () => {
  ({ home, env, remove } = await isolatedHome('datamesh-join-e2e-'));
  ({ kafka, postgres } = await useServices('kafka', 'postgres'));
  ({ name: database, drop: dropDatabase } = await createDatabase(postgres, 'dm_join'));
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

/** The join the pipeline computes, as Postgres computes it: rows as JSON text by order id. */
const SQL_JOIN = `
  SELECT o.id, o.customer_id, o.amount, o.status, c.name AS customer_name, c.tier AS customer_tier
    FROM orders o JOIN customers c ON c.id = o.customer_id
   WHERE o.status <> 'cancelled'
   ORDER BY o.id`;

async function expectedRows(db: pg.Client): Promise<Map<string, string>> {
  const { rows } = await db.query<Record<string, unknown>>(SQL_JOIN);
  return new Map(
    rows.map((r) => [
      String(r.id),
      JSON.stringify({
        ...r,
        id: Number(r.id),
        customer_id: Number(r.customer_id),
        amount: Number(r.amount),
      }),
    ]),
  );
}

/** The output topic's rows: the last value per key, a tombstone removing it (what compaction leaves). */
async function outputRows(topic: string): Promise<Map<string, string>> {
  const described = await transport.describeTopic(topic);
  const rows = new Map<string, string>();
  if (!described) return rows;
  const ends = described.endOffsets;
  const consumer = transport.consumer({ group: `e2e-read-${topic}-${Date.now()}`, topics: [topic] });
  try {
    const deadline = Date.now() + 60_000;
    while (!consumer.readUpTo!(topic, ends) && Date.now() < deadline) {
      for (const record of await consumer.poll({ maxRecords: 10_000, maxWaitMs: 200 })) {
        const key = String((JSON.parse(record.key!.toString()) as { id: number }).id);
        if (record.value === null) rows.delete(key);
        else {
          const r = JSON.parse(record.value.toString()) as Record<string, unknown>;
          rows.set(
            key,
            JSON.stringify({
              id: r.id,
              customer_id: r.customer_id,
              amount: r.amount,
              status: r.status,
              customer_name: r.customer_name,
              customer_tier: r.customer_tier,
            }),
          );
        }
      }
    }
  } finally {
    await consumer.close();
  }
  return rows;
}

/**
 * Where a wrong row went wrong: every record of each topic on the way whose key or row images name the order
 * (or its customer), decoded, in topic order. Read only when the test already failed.
 */
async function historyOf(
  topics: readonly string[],
  matches: (row: Row | null) => boolean,
): Promise<string[]> {
  const codec = new EventCodec(await LocalSchemaRegistry.onTransport(transport));
  const lines: string[] = [];
  for (const topic of topics) {
    const described = await transport.describeTopic(topic);
    if (!described) {
      lines.push(`${topic}: no such topic`);
      continue;
    }
    const consumer = transport.consumer({ group: `e2e-history-${topic}-${Date.now()}`, topics: [topic] });
    try {
      const deadline = Date.now() + 60_000;
      while (!consumer.readUpTo!(topic, described.endOffsets) && Date.now() < deadline) {
        for (const record of await consumer.poll({ maxRecords: 10_000, maxWaitMs: 200 })) {
          const json = record.key?.[0] === 0x7b;
          const event = json
            ? {
                key: JSON.parse(record.key!.toString()) as Row,
                value: record.value && {
                  after: JSON.parse(record.value.toString()) as Row,
                  before: null,
                  op: '-',
                },
              }
            : await codec.decode(record);
          if (![event.key, event.value?.before ?? null, event.value?.after ?? null].some(matches)) continue;
          lines.push(
            `${topic}[${record.partition}@${record.offset}] ${event.value?.op ?? 'tombstone'} key=${JSON.stringify(event.key)} ` +
              `before=${JSON.stringify(event.value?.before ?? null)} after=${JSON.stringify(event.value?.after ?? null)}`,
          );
        }
      }
    } finally {
      await consumer.close();
    }
  }
  return lines;
}

/** Random changes to both tables: orders move between customers, customers change, come and go. */
async function change(db: pg.Client, step: number): Promise<void> {
  const pick = (n: number) => 1 + Math.floor(Math.random() * n);
  const roll = Math.random();
  if (roll < 0.3) {
    await db.query(`UPDATE orders SET amount = amount + 1, status = $2 WHERE id = $1`, [
      pick(1500),
      Math.random() < 0.2 ? 'cancelled' : 'open',
    ]);
  } else if (roll < 0.45) {
    await db.query(`UPDATE orders SET customer_id = $2 WHERE id = $1`, [
      pick(1500),
      Math.random() < 0.1 ? null : pick(120),
    ]);
  } else if (roll < 0.6) {
    await db.query(
      `INSERT INTO orders (id, customer_id, amount, status) VALUES ($1, $2, $3, 'open') ON CONFLICT (id) DO NOTHING`,
      [1000 + pick(500), pick(120), step],
    );
  } else if (roll < 0.7) {
    await db.query(`DELETE FROM orders WHERE id = $1`, [pick(1500)]);
  } else if (roll < 0.9) {
    await db.query(`UPDATE customers SET name = name || '+', tier = $2 WHERE id = $1`, [
      pick(120),
      ['gold', 'silver', 'bronze'][step % 3],
    ]);
  } else if (roll < 0.95) {
    await db.query(`DELETE FROM customers WHERE id = $1`, [pick(120)]);
  } else {
    const id = pick(120);
    await db.query(
      `INSERT INTO customers (id, name, tier) VALUES ($1, $2, 'new') ON CONFLICT (id) DO NOTHING`,
      [id, `customer ${id} again`],
    );
  }
}

interface JoinRun {
  /** The join split by the join key (`partitioned: true`), run by two nodes at once. */
  readonly partitioned: boolean;
  readonly database: string;
  /** Tells this run's pipeline, source, slot and topics from the other's. */
  readonly tag: string;
}

/**
 * Runs the pipeline while both tables change, killing a node with -9 three times (the oldest of the running ones),
 * then lets the last nodes converge and compares the output topic with the join computed by Postgres.
 */
async function joinUnderCrashes(runOf: JoinRun) {
  const { partitioned, tag } = runOf;
  const db = new pg.Client({ ...clientConfig(), database: runOf.database });
  // Dropping the database at the end terminates a connection a failed test left open.
  db.on('error', () => undefined);
  await db.connect();
  await db.query(`CREATE TABLE customers (id bigint PRIMARY KEY, name text NOT NULL, tier text NOT NULL)`);
  await db.query(
    `CREATE TABLE orders (id bigint PRIMARY KEY, customer_id bigint, amount bigint NOT NULL, status text NOT NULL)`,
  );
  await db.query(
    `INSERT INTO customers SELECT g, 'customer ' || g, (ARRAY['gold','silver','bronze'])[1 + g % 3] FROM generate_series(1, 100) g`,
  );
  await db.query(
    `INSERT INTO orders SELECT g, CASE WHEN g % 50 = 0 THEN NULL ELSE 1 + g % 110 END, g * 3, 'open' FROM generate_series(1, 1000) g`,
  );

  const { host, port, user } = postgres;
  const topic = `joined-orders-${tag}`;
  const source = `shop-${tag}`;
  const pipelineName = `orders-${tag}`;
  const pipeline = join(home, 'join.yaml');
  await writeFile(
    pipeline,
    JSON.stringify({
      apiVersion: 'datamesh/v1',
      kind: 'Pipeline',
      name: pipelineName,
      sources: [
        {
          name: source,
          plugin: 'postgres',
          config: {
            host,
            port,
            database: runOf.database,
            user,
            password: '${PGPASSWORD}',
            tables: ['public.orders', 'public.customers'],
            slot: `join_${tag.replaceAll('-', '_')}`,
            publication: `join_${tag.replaceAll('-', '_')}`,
            snapshot: { chunkSize: 200 },
          },
        },
      ],
      processors: [
        {
          name: 'with-customer',
          plugin: 'join',
          inputs: [`${source}/public.orders`, `${source}/public.customers`],
          config: {
            on: [{ left: 'customer_id', right: 'id' }],
            prefix: 'customer_',
            fields: ['name', 'tier'],
            partitioned,
          },
        },
        {
          name: 'not-cancelled',
          plugin: 'filter',
          inputs: ['with-customer'],
          config: { condition: 'row.status != "cancelled"', mode: 'rows' },
        },
      ],
      sinks: [
        {
          name: 'out',
          plugin: 'kafka',
          inputs: ['not-cancelled'],
          config: { topic, format: 'json', envelope: 'row' },
        },
      ],
    }),
  );
  // Nodes of a partitioned join run side by side, each with its own data dir (as on machines of their own); a
  // restarted node of the other run finds its predecessor's.
  let nodesStarted = 0;
  const nodeConfig = async () => {
    const config = join(home, `node-${tag}-${nodesStarted}.yaml`);
    const dataDir = join(home, partitioned ? `data-${tag}-${nodesStarted}` : `data-${tag}`);
    nodesStarted += 1;
    await writeFile(
      config,
      `apiVersion: datamesh/v1\nkind: Node\ndataDir: ${dataDir}\nhttp: { port: 0 }\n` +
        `tasks: { flushIntervalMs: 200 }\n` +
        `transport: { kind: kafka, partitions: 3, kafka: { brokers: [${kafka.brokers[0]}], sessionTimeoutMs: 6000 } }\n` +
        `pipelines: [${pipeline}]\n`,
    );
    return config;
  };
  const nodes = partitioned ? 2 : 1;
  const nodeEnv = { ...env, PGPASSWORD: postgres.password };
  if (partitioned) {
    // The plan shows the join's parts, each run once per input partition; the left input is repartitioned.
    const { status, stdout, stderr } = mesh(['pipeline', 'validate', pipeline], nodeEnv);
    expect(status, stderr).toBe(0);
    const spread =
      '(once per input partition, spread over the nodes, when its inputs share a partition count > 1)';
    const part = `__datamesh_part.${pipelineName}.with-customer`;
    expect(stdout).toContain(
      `task ${pipelineName}.with-customer.by-join-key: ${source}.public.orders -> [with-customer.by-join-key] (fused) -> topic ${part}.by-join-key ${spread}`,
    );
    expect(stdout).toContain(
      `task ${pipelineName}.with-customer.matched: ${part}.by-join-key, ${source}.public.customers -> [with-customer.matched] (fused) -> topic ${part}.matched ${spread}`,
    );
    expect(stdout).toContain(
      `task ${pipelineName}.with-customer.resolved: ${part}.matched -> [with-customer.resolved] (fused) -> topic ${pipelineName}.with-customer ${spread}`,
    );
  }

  let step = 0;
  let writing = true;
  const killed: MeshNodeProcess[] = [];
  const running: MeshNodeProcess[] = [];
  const startNodes = async () => {
    while (running.length < nodes) {
      const node = new MeshNodeProcess(['--config', await nodeConfig()], nodeEnv);
      running.push(node);
      await node.url(60_000);
    }
  };
  const writer = (async () => {
    while (writing) {
      await change(db, step++);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  })();
  try {
    for (let crash = 0; crash < 3; crash++) {
      await startNodes();
      await new Promise((resolve) => setTimeout(resolve, 3000 + Math.floor(Math.random() * 3000)));
      const node = running.shift()!;
      killed.push(node);
      node.child.kill('SIGKILL');
      await node.exited;
    }
  } finally {
    writing = false;
    await writer;
  }
  await startNodes();
  const expected = await expectedRows(db);
  let seen = new Map<string, string>();
  await eventually(async () => {
    seen = await outputRows(topic);
    return seen.size === expected.size && [...expected].every(([k, v]) => seen.get(k) === v)
      ? true
      : undefined;
  }, 120_000).catch(() => undefined);
  // A partitioned join's parts are spread: each node runs some of the join's partitions.
  const held: number[][] = [];
  const health: unknown[] = [];
  if (partitioned) {
    for (const node of running) {
      const body = (await (await fetch(`${await node.url()}/health`)).json()) as {
        tasks: { id: string; partitions?: number[] }[];
      };
      health.push(body.tasks);
      held.push(body.tasks.find((t) => t.id === `${pipelineName}.with-customer.matched`)?.partitions ?? []);
    }
  }
  const exitCodes: (number | null)[] = [];
  for (const node of running) {
    node.child.kill('SIGTERM');
    exitCodes.push(await node.exited);
  }
  const last = running[running.length - 1]!;
  let diagnosis = '';
  const wrong = [...new Set([...expected.keys(), ...seen.keys()])].find(
    (k) => expected.get(k) !== seen.get(k),
  );
  if (wrong !== undefined) {
    // The order's history through every topic on the way, its customer's, and what Postgres holds now.
    const order = (await db.query(`SELECT * FROM orders WHERE id = $1`, [wrong])).rows[0] as Row | undefined;
    const customerId = (order?.['customer_id'] ?? JSON.parse(seen.get(wrong) ?? '{}').customer_id) as unknown;
    const customer = (await db.query(`SELECT * FROM customers WHERE id = $1`, [customerId]))
      .rows[0] as unknown;
    const orders = await historyOf(
      [`${source}.public.orders`, `${pipelineName}.with-customer`, topic],
      (row) => String(row?.['id']) === wrong,
    );
    const customers = await historyOf(
      [`${source}.public.customers`],
      (row) => String(row?.['id']) === String(customerId),
    );
    diagnosis =
      `order ${wrong} in Postgres: ${JSON.stringify(order)}; customer ${String(customerId)}: ${JSON.stringify(customer)}\n` +
      `${[...orders, ...customers].join('\n')}\n`;
  }
  await db.end();
  if (wrong !== undefined) {
    // Every node's log, killed ones included, for the run that went wrong.
    const logs = join(tmpdir(), `datamesh-join-e2e-${tag}.log`);
    await writeFile(
      logs,
      [...killed, ...running]
        .map((node, i) => `=== node ${i}\n${node.lines.map((l) => JSON.stringify(l)).join('\n')}`)
        .join('\n'),
    );
    diagnosis += `the nodes' logs: ${logs}\n`;
  }
  const trouble = [...killed, ...running]
    .flatMap((node) => node.lines)
    .filter((l) => ['warn', 'error', 'fatal'].includes(String(l['level'])))
    .slice(-8)
    .map((l) => `${String(l['msg'])} ${JSON.stringify(l['err'] ?? l['task'] ?? '')}`.slice(0, 600));

  expect(step).toBeGreaterThan(200);
  const differing = [...new Set([...expected.keys(), ...seen.keys()])]
    .filter((k) => expected.get(k) !== seen.get(k))
    .slice(0, 5)
    .map((k) => ({ id: k, postgres: expected.get(k), topic: seen.get(k) }));
  // Nothing may have been skipped on the way: a dead-lettered change would leave the view wrong.
  const deadLetters = (await transport.describeTopic(`datamesh.dlq.${pipelineName}`))?.endOffsets ?? [];
  const problems = `${diagnosis}dead letters: ${deadLetters.reduce((a, b) => a + b, 0)}; the node's last warnings and errors: ${JSON.stringify(trouble, null, 1)}; stderr: ${last.stderr.slice(-2000)}; last lines: ${JSON.stringify(last.lines.slice(-6)).slice(0, 3000)}`;
  if (partitioned) {
    expect(
      held.every((numbers) => numbers.length > 0),
      JSON.stringify(health),
    ).toBe(true);
    expect(held.flat().sort()).toEqual([0, 1, 2]);
  }
  expect({ exitCodes, differing, rows: seen.size, deadLetters }, problems).toEqual({
    exitCodes: running.map(() => 0),
    differing: [],
    rows: expected.size,
    deadLetters: deadLetters.map(() => 0),
  });

  return { nodeEnv, config: await nodeConfig() };
}

describe('Postgres → join → filter → Kafka', () => {
  it('the output topic equals the SQL join on Postgres, through changes on both sides and kill -9', async () => {
    const { nodeEnv, config } = await joinUnderCrashes({ partitioned: false, database, tag: run });
    // The join's state topic deleted under a pipeline that committed input offsets: the task halts and says why
    // and how to rebuild, instead of joining against empty state.
    const stateTopic = `__datamesh_state.orders-${run}.with-customer`;
    const admin = new kafkajs.Kafka({ brokers: kafka.brokers, logLevel: kafkajs.logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      await admin.deleteTopics({ topics: [stateTopic] });
    } finally {
      await admin.disconnect();
    }
    const afterLoss = new MeshNodeProcess(['--config', config], nodeEnv);
    try {
      const url = await afterLoss.url(60_000);
      const halted = await eventually(async () => {
        const body = (await (await fetch(`${url}/health`)).json()) as {
          tasks: { id: string; state: string; lastError?: string }[];
        };
        return body.tasks.find((t) => t.id === `orders-${run}.with-customer` && t.state === 'failed');
      }, 60_000);
      expect(halted.lastError).toMatch(
        new RegExp(`state of stage "with-customer" \\(topic ${stateTopic.replaceAll('.', '\\.')}\\) is gone`),
      );
      expect(halted.lastError).toMatch(/--delete --group datamesh\.orders-.*\.with-customer/);
    } finally {
      afterLoss.child.kill('SIGTERM');
      await afterLoss.exited;
    }
  }, 400_000);

  it('partitioned, run by two nodes side by side and one killed with -9 at a time, it still equals the SQL join', async () => {
    const { name, drop } = await createDatabase(postgres, 'dm_join_p');
    try {
      await joinUnderCrashes({ partitioned: true, database: name, tag: `p-${run}` });
    } finally {
      await drop();
    }
  }, 400_000);

  it('the example pipeline examples/orders-with-customers validates against a real database, with lineage', async () => {
    const db = new pg.Client(clientConfig());
    await db.connect();
    try {
      await db.query(
        `CREATE TABLE IF NOT EXISTS customers (id bigint PRIMARY KEY, name text NOT NULL, tier text NOT NULL)`,
      );
      await db.query(
        `CREATE TABLE IF NOT EXISTS orders (id bigint PRIMARY KEY, customer_id bigint, amount bigint NOT NULL, status text NOT NULL)`,
      );
    } finally {
      await db.end();
    }
    const example = fileURLToPath(
      new URL('../../../examples/orders-with-customers/pipeline.yaml', import.meta.url),
    );
    const { status, stdout, stderr } = mesh(['pipeline', 'validate', example, '--lineage'], {
      ...env,
      PGHOST: postgres.host,
      PGPORT: String(postgres.port),
      PGDATABASE: database,
      PGUSER: postgres.user,
      PGPASSWORD: postgres.password,
    });
    expect(status, stderr).toBe(0);
    // The join is stateful: its output is a topic; filter and projection run fused before the sink.
    expect(stdout).toContain('task open-orders.with-customer: shop.public.orders, shop.public.customers');
    // Its state mixes partitions (orders are not partitioned by customer): one node at a time runs it.
    expect(stdout).toMatch(/-> topic open-orders\.with-customer \(on one node at a time\)/);
    expect(stdout).toContain('-> [open -> shape] (fused) -> sink published (kafka)');
    expect(stdout).toContain('after.customer_name <- shop/public.customers:after.name');
    // Fused stages name the stage before them as their input.
    expect(stdout).toContain('after.customer <- open:after.customer_name');
    expect(stdout).toContain('after.big <- open:after.amount (cel: row.amount > 1000)');
    expect(stdout).toContain('open reads: with-customer:after.status, with-customer:before.status');
    expect(stdout).toMatch(
      /with-customer reads: .*shop\/public\.orders:after\.customer_id.*shop\/public\.customers:after\.id/,
    );
  }, 60_000);
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import kafkajs, { type Admin } from 'kafkajs';
import {
  createLogger,
  EventCodec,
  LocalSchemaRegistry,
  parseConfig,
  readToEnd,
  type ConsumedRecord,
  type InputOffsets,
  type SchemaAccess,
  type SinkTask,
  type Transport,
} from '@datamesh/core';
import { createTestContext, type TestContext } from '@datamesh/testkit';
import { KafkaTransport } from '@datamesh/transport-kafka';
import { useServices, type ServiceEndpoints } from '@datamesh/services/testing';
import { kafkaSink } from './index.js';
import { created, order, sinkRecords } from './__fixtures__/orders.js';

const { Kafka, AclOperationTypes, AclPermissionTypes, AclResourceTypes, ResourcePatternTypes, logLevel } =
  kafkajs;

// Against the real broker: exactly once with the input offsets on the node's cluster (and what a crash leaves),
// another cluster over SASL/SCRAM, and the errors of a user without permission.
let kafka: ServiceEndpoints['kafka'];
let transport: KafkaTransport;
let admin: Admin;
let schemas: SchemaAccess;
beforeAll(async () => {
  ({ kafka } = await useServices('kafka'));
  transport = await KafkaTransport.connect({ brokers: kafka.brokers, clientId: 'sink-kafka-test' });
  admin = new Kafka({
    brokers: kafka.brokers,
    clientId: 'sink-kafka-test-admin',
    logLevel: logLevel.NOTHING,
  }).admin();
  await admin.connect();
  schemas = await LocalSchemaRegistry.open();
}, 300_000);
afterAll(async () => {
  await admin?.disconnect();
  await transport?.close();
});

const unique = (prefix: string) =>
  `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}`;
const config = (input: Record<string, unknown>) => parseConfig(kafkaSink.config, input, 'sink "out"');

async function contextFor(pipeline: string, options: { transport?: Transport; lines?: string[] } = {}) {
  const lines = options.lines;
  const ctx: TestContext & { transport?: Transport } = await createTestContext({
    pipeline,
    stage: 'out',
    plugin: 'kafka',
    schemas,
    ...(lines
      ? { logger: createLogger({ level: 'trace', destination: { write: (l: string) => lines.push(l) } }) }
      : {}),
  });
  return options.transport ? { ...ctx, transport: options.transport } : ctx;
}

/** Everything a read_committed consumer sees in `topic`, decoded. */
async function committedEvents(topic: string): Promise<{ key: unknown; value: unknown }[]> {
  const records: ConsumedRecord[] = [];
  for await (const batch of readToEnd(transport, topic)) records.push(...batch);
  const codec = new EventCodec(schemas);
  const events = await Promise.all(records.map((r) => codec.decode(r)));
  return JSON.parse(JSON.stringify(events.map((e) => ({ key: e.key, value: e.value })))) as {
    key: unknown;
    value: unknown;
  }[];
}

async function groupOffsets(group: string, topic: string): Promise<Record<number, number>> {
  const [result] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
  return Object.fromEntries((result?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
}

/** Waits until a read_uncommitted consumer has seen `expected` records of `topic` (open transactions included). */
async function uncommittedRecords(topic: string, expected: number): Promise<number> {
  const consumer = new Kafka({ brokers: kafka.brokers, logLevel: logLevel.NOTHING }).consumer({
    groupId: unique('uncommitted'),
    readUncommitted: true,
  });
  let seen = 0;
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async () => {
        seen++;
      },
    });
    const deadline = Date.now() + 20_000;
    while (seen < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  } finally {
    await consumer.disconnect();
  }
  return seen;
}

const counterValue = async (ctx: TestContext, name: string, labels: Record<string, string> = {}) =>
  ((await ctx.registry.getSingleMetric(`datamesh_plugin_kafka_${name}`)?.get())?.values ?? [])
    .filter((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))
    .reduce((n, v) => n + v.value, 0);

/** Orders 1..n as sink records read from partitions 0 and 1 of `input` (offsets per partition from `from`). */
function inputRecords(input: string, ids: readonly number[], from = 0) {
  return ids.map((id, i) => ({
    ...sinkRecords([created(order(id))], input)[0]!,
    position: { topic: input, partition: i % 2, offset: from + Math.floor(i / 2) },
  }));
}

const offsetsAfter = (group: string, input: string, next: number): InputOffsets => ({
  group,
  offsets: [0, 1].map((partition) => ({ topic: input, partition, offset: next })),
});

describe('kafka sink, exactly once on the node transport', () => {
  it('commits the records and the input offsets in one transaction', async () => {
    const pipeline = unique('eos');
    const input = `${pipeline}.in`;
    const output = `${pipeline}.out`;
    const group = `datamesh.${pipeline}.out`;
    await transport.ensureTopic(input, { partitions: 2 });
    const ctx = await contextFor(pipeline, { transport });
    const task = await kafkaSink.create(config({ topic: output, partitions: 2 }), ctx);
    try {
      expect(task.flushWithOffsets).toBeTypeOf('function');
      expect(await task.write(inputRecords(input, [1, 2, 3, 4, 5, 6]))).toEqual([]);
      await task.flushWithOffsets!(offsetsAfter(group, input, 3));
      expect(await task.write(inputRecords(input, [7, 8, 9, 10], 3))).toEqual([]);
      await task.flushWithOffsets!(offsetsAfter(group, input, 5));
      // Nothing written since: an offsets-only transaction still moves the group.
      await task.flushWithOffsets!(offsetsAfter(group, input, 6));
    } finally {
      await task.close?.();
    }
    const events = await committedEvents(output);
    expect(events.map((e) => (e.key as { id: number }).id).sort((a, b) => a - b)).toEqual([
      1, 2, 3, 4, 5, 6, 7, 8, 9, 10,
    ]);
    expect(events.find((e) => (e.key as { id: number }).id === 4)?.value).toMatchObject({
      op: 'c',
      after: { id: 4, amount: 400 },
    });
    expect(await groupOffsets(group, input)).toEqual({ 0: 6, 1: 6 });
    expect(await counterValue(ctx, 'transactions_total', { result: 'committed' })).toBe(3);
    expect(await counterValue(ctx, 'records_written_total')).toBe(10);
  }, 120_000);

  it('a crash before the commit leaves neither its records nor its offsets; the replay writes them once', async () => {
    const pipeline = unique('eos-crash');
    const input = `${pipeline}.in`;
    const output = `${pipeline}.out`;
    const group = `datamesh.${pipeline}.out`;
    await transport.ensureTopic(input, { partitions: 2 });
    // A small buffer, so the crashed task's records are sent into its open transaction before it dies.
    const cfg = config({ topic: output, partitions: 2, maxBufferedBytes: 1024 });

    const crashedCtx = await contextFor(pipeline, { transport });
    const crashed = await kafkaSink.create(cfg, crashedCtx);
    let restarted: SinkTask | undefined;
    try {
      await crashed.write(inputRecords(input, [1, 2]));
      await crashed.flushWithOffsets!(offsetsAfter(group, input, 1));

      const lost = Array.from({ length: 40 }, (_, i) => 100 + i);
      await crashed.write(inputRecords(input, lost, 1));
      // Sent into the open transaction: in the log, past the committed records…
      expect(await uncommittedRecords(output, 2 + lost.length)).toBe(2 + lost.length);

      // …when the task dies. Its successor (same pipeline and stage: the same transactional id) fences it and
      // aborts what it left open, as a restarted node does.
      const ctx = await contextFor(pipeline, { transport });
      restarted = await kafkaSink.create(cfg, ctx);
      expect((await committedEvents(output)).map((e) => (e.key as { id: number }).id).sort()).toEqual([1, 2]);
      expect(await groupOffsets(group, input)).toEqual({ 0: 1, 1: 1 });

      // The zombie can no longer commit anything.
      await expect(crashed.write(inputRecords(input, lost, 1))).rejects.toThrow(
        /the transaction on transactional id "datamesh\.sink\.eos-crash-.*\.out" was fenced: a newer producer took the id over/,
      );
      await expect(crashed.flushWithOffsets!(offsetsAfter(group, input, 21))).rejects.toThrow(/was fenced/);

      // The runtime replays from the committed offsets: everything after them, once.
      await restarted.write(inputRecords(input, lost, 1));
      await restarted.flushWithOffsets!(offsetsAfter(group, input, 21));
      const ids = (await committedEvents(output)).map((e) => (e.key as { id: number }).id);
      expect(ids.sort((a, b) => a - b)).toEqual([1, 2, ...lost]);
      expect(await groupOffsets(group, input)).toEqual({ 0: 21, 1: 21 });
    } finally {
      await crashed.close?.().catch(() => undefined);
      await restarted?.close?.();
    }
  }, 120_000);

  it('aborts the open transaction on close without a flush', async () => {
    const pipeline = unique('eos-close');
    const input = `${pipeline}.in`;
    const output = `${pipeline}.out`;
    const group = `datamesh.${pipeline}.out`;
    await transport.ensureTopic(input, { partitions: 2 });
    const ctx = await contextFor(pipeline, { transport });
    const task = await kafkaSink.create(config({ topic: output, maxBufferedBytes: 1024 }), ctx);
    await task.write(
      inputRecords(
        input,
        Array.from({ length: 40 }, (_, i) => i),
      ),
    );
    expect(await uncommittedRecords(output, 40)).toBe(40);
    await task.close?.();
    expect(await committedEvents(output)).toEqual([]);
    expect(await groupOffsets(group, input)).toEqual({ 0: -1, 1: -1 });
    expect(await counterValue(ctx, 'transactions_total', { result: 'aborted' })).toBe(1);
  }, 120_000);
});

describe('kafka sink, another cluster', () => {
  it('writes at least once over SASL/SCRAM, and never logs the password', async () => {
    const pipeline = unique('sasl');
    const output = `${pipeline}.out`;
    const lines: string[] = [];
    // The node's transport is there, but the sink writes to `cluster`: no transaction can span both.
    const ctx = await contextFor(pipeline, { transport, lines });
    const task = await kafkaSink.create(
      config({
        topic: output,
        envelope: 'row',
        format: 'json',
        cluster: {
          brokers: kafka.saslBrokers,
          clientId: 'sink-kafka-sasl-test',
          sasl: { mechanism: 'scram-sha-512', ...kafka.sasl },
        },
      }),
      ctx,
    );
    try {
      expect(task.flushWithOffsets).toBeUndefined();
      await task.write(inputRecords('in', [1, 2, 3]));
      await task.flush();
    } finally {
      await task.close?.();
    }
    const records: ConsumedRecord[] = [];
    for await (const batch of readToEnd(transport, output)) records.push(...batch);
    expect(records.map((r) => JSON.parse(r.value!.toString()) as unknown)).toEqual(
      expect.arrayContaining([{ ...order(1) }, { ...order(2) }, { ...order(3) }]),
    );
    expect(records).toHaveLength(3);
    const log = lines.join('');
    expect(log).toMatch(/kafka sink writes at least once: it writes to another cluster/);
    expect(log).not.toContain(kafka.sasl.password);
  }, 120_000);
});

describe('kafka sink without permission', () => {
  const user = () => `User:${kafka.sasl.username}`;
  const denied: string[] = [];
  const acl = (topic: string, operation: number, permissionType: number) => ({
    resourceType: AclResourceTypes.TOPIC,
    resourceName: topic,
    resourcePatternType: ResourcePatternTypes.LITERAL,
    principal: user(),
    host: '*',
    operation,
    permissionType,
  });
  const saslConfig = (topic: string) =>
    config({
      topic,
      cluster: { brokers: kafka.saslBrokers, sasl: { mechanism: 'scram-sha-256', ...kafka.sasl } },
    });
  /** ACLs for the SASL user on `topic` (the PLAINTEXT admin is a super user), in force once the broker has them. */
  async function grant(topic: string, acls: ReturnType<typeof acl>[]): Promise<void> {
    denied.push(topic);
    await admin.createAcls({ acl: acls });
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const { resources } = await admin.describeAcls({
        resourceType: AclResourceTypes.TOPIC,
        resourceName: topic,
        resourcePatternType: ResourcePatternTypes.LITERAL,
        operation: AclOperationTypes.ANY,
        permissionType: AclPermissionTypes.ANY,
      });
      if ((resources[0]?.acls.length ?? 0) >= acls.length) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    // The broker applies ACLs from the metadata log shortly after the controller answered.
    await new Promise((r) => setTimeout(r, 500));
  }
  afterAll(async () => {
    if (denied.length === 0) return;
    await admin.deleteAcls({
      filters: denied.map((topic) => ({
        resourceType: AclResourceTypes.TOPIC,
        resourceName: topic,
        resourcePatternType: ResourcePatternTypes.LITERAL,
        principal: user(),
        host: '*',
        operation: AclOperationTypes.ANY,
        permissionType: AclPermissionTypes.ANY,
      })),
    });
    const existing = new Set(await admin.listTopics());
    await admin.deleteTopics({ topics: denied.filter((t) => existing.has(t)) });
  });

  it('halts at start, naming the user, the topic and the ACLs to grant', async () => {
    const topic = unique('denied-create');
    await grant(topic, [
      acl(topic, AclOperationTypes.DESCRIBE, AclPermissionTypes.DENY),
      acl(topic, AclOperationTypes.CREATE, AclPermissionTypes.DENY),
      acl(topic, AclOperationTypes.WRITE, AclPermissionTypes.DENY),
    ]);
    const error = await Promise.resolve(kafkaSink.create(saslConfig(topic), await contextFor('denied'))).then(
      async (task) => {
        await task.close?.();
        throw new Error('the sink started without permission');
      },
      (e: unknown) => e as Error,
    );
    expect(error.name).toBe('TaskHaltedError');
    expect(error.message).toBe(
      `the Kafka user "${kafka.sasl.username}" at ${kafka.saslBrokers.join(', ')} may not describe topic "${topic}" (TOPIC_AUTHORIZATION_FAILED): ` +
        'grant it WRITE and DESCRIBE on the topic (DESCRIBE_CONFIGS too, which the sink reads when it starts), and CREATE if the sink should create it',
    );
    expect(error.message).not.toContain(kafka.sasl.password);
  }, 60_000);

  it('halts when a write is refused', async () => {
    const topic = unique('denied-write');
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1 }] });
    await grant(topic, [
      acl(topic, AclOperationTypes.DESCRIBE, AclPermissionTypes.ALLOW),
      acl(topic, AclOperationTypes.DESCRIBE_CONFIGS, AclPermissionTypes.ALLOW),
      acl(topic, AclOperationTypes.WRITE, AclPermissionTypes.DENY),
    ]);
    const task = await kafkaSink.create(saslConfig(topic), await contextFor('denied'));
    try {
      const error = await task
        .write(inputRecords('in', [1]))
        .then(() => task.flush())
        .then(
          () => {
            throw new Error('the write succeeded without permission');
          },
          (e: unknown) => e as Error,
        );
      expect(error.name).toBe('TaskHaltedError');
      expect(error.message).toMatch(
        new RegExp(
          `^the Kafka user "${kafka.sasl.username}" at .* may not write topic "${topic}" \\(TOPIC_AUTHORIZATION_FAILED\\): grant it WRITE and DESCRIBE on the topic`,
        ),
      );
    } finally {
      await task.close?.();
    }
  }, 60_000);
});

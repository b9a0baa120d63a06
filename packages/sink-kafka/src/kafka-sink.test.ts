import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  EmbeddedTransport,
  EventCodec,
  parseConfig,
  readToEnd,
  type ConsumedRecord,
  type Transport,
} from '@datamesh/core';
import { createTestContext, type TestContext } from '@datamesh/testkit';
import { kafkaSink, kafkaSinkOutputs } from './index.js';
import { created, deleted, order, sinkRecords, tombstone, truncated } from './__fixtures__/orders.js';

// The whole task on the embedded transport: no services needed.
const dir = mkdtempSync(join(tmpdir(), 'datamesh-sink-kafka-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let runs = 0;
let transport: EmbeddedTransport;
let ctx: TestContext & { transport: Transport };
beforeEach(async () => {
  transport = await EmbeddedTransport.open({ dir: join(dir, `run-${runs++}`), maintenanceIntervalMs: 0 });
  ctx = {
    ...(await createTestContext({ pipeline: 'shop', stage: 'orders-out', plugin: 'kafka' })),
    transport,
  };
});
afterEach(async () => {
  ctx.abortController.abort();
  await transport.close();
});

const config = (input: Record<string, unknown>) => parseConfig(kafkaSink.config, input, 'sink "orders-out"');

async function readAll(topic: string): Promise<ConsumedRecord[]> {
  const out: ConsumedRecord[] = [];
  for await (const batch of readToEnd(transport, topic, { idleMs: 300 })) out.push(...batch);
  return out;
}

describe('kafka sink on the embedded transport', () => {
  it('commits its records and the input offsets in one transaction by default', async () => {
    const task = await kafkaSink.create(config({ topic: 'orders-once', partitions: 2 }), ctx);
    expect(task.flushWithOffsets).toBeDefined();
    await task.write(sinkRecords([created(order(1)), created(order(2))]));
    // Nothing is readable before the commit.
    expect(await readAll('orders-once')).toEqual([]);
    await task.flushWithOffsets!({
      group: 'orders-in',
      offsets: [{ topic: 'orders', partition: 0, offset: 2 }],
    });
    await task.close?.();

    expect(await readAll('orders-once')).toHaveLength(2);
    const group = transport.consumer({ group: 'orders-in', topics: ['orders'] });
    expect(await group.committed()).toEqual([{ topic: 'orders', partition: 0, offset: 2 }]);
    await group.close();
  });

  it('runs on one node at a time when it writes exactly once, and on every node otherwise', () => {
    expect(kafkaSink.exclusive!(config({ topic: 't' }), transport)).toBe(true);
    expect(kafkaSink.exclusive!(config({ topic: 't', exactlyOnce: false }), transport)).toBe(false);
    const elsewhere = config({ topic: 't', cluster: { brokers: ['127.0.0.1:1'] } });
    expect(kafkaSink.exclusive!(elsewhere, transport)).toBe(false);
  });

  it('creates the topic, writes at least once through flush, and has no flushWithOffsets', async () => {
    const task = await kafkaSink.create(
      config({ topic: 'orders-rows', envelope: 'row', partitions: 2, exactlyOnce: false }),
      ctx,
    );
    expect(task.flushWithOffsets).toBeUndefined();
    expect((await transport.describeTopic('orders-rows'))?.partitions).toBe(2);
    const rejected = await task.write(
      sinkRecords([created(order(1)), created(order(2)), deleted(2), tombstone(2), truncated()]),
    );
    expect(rejected).toEqual([]);
    await task.flush();
    await task.close?.();

    const records = await readAll('orders-rows');
    const codec = new EventCodec(ctx.schemas);
    const events = await Promise.all(records.map((r) => codec.decode(r)));
    expect(JSON.parse(JSON.stringify(events.map((e) => [e.key, e.value])))).toEqual(
      expect.arrayContaining([
        [{ id: 1 }, { ...order(1) }],
        [{ id: 2 }, { ...order(2) }],
        [{ id: 2 }, null],
      ]),
    );
    expect(events).toHaveLength(3);
    const metric = async (name: string) =>
      (await ctx.registry.getSingleMetric(`datamesh_plugin_kafka_${name}`)?.get())?.values ?? [];
    expect((await metric('records_written_total'))[0]?.value).toBe(3);
    expect(
      Object.fromEntries((await metric('dropped_total')).map((v) => [v.labels['reason'], v.value])),
    ).toEqual({ tombstone: 1, truncate: 1 });
  });

  it('answers rejections for events it cannot key, and writes the rest', async () => {
    const task = await kafkaSink.create(
      config({ topic: 'orders-json', format: 'json', key: ['customer'] }),
      ctx,
    );
    const records = sinkRecords([created(order(1)), deleted(1)]);
    const rejected = await task.write(records);
    expect(rejected).toHaveLength(1);
    expect(rejected?.[0]?.record).toBe(records[1]);
    await task.flush();
    await task.close?.();
    const written = await readAll('orders-json');
    expect(written.map((r) => [r.key?.toString(), JSON.parse(r.value!.toString()) as unknown])).toEqual([
      ['{"customer":"c1"}', { ...JSON.parse(JSON.stringify(created(order(1)).value)) }],
    ]);
  });

  it('leaves an existing topic as it is', async () => {
    await transport.ensureTopic('orders-existing', { partitions: 5 });
    const task = await kafkaSink.create(config({ topic: 'orders-existing', partitions: 2 }), ctx);
    await task.close?.();
    expect((await transport.describeTopic('orders-existing'))?.partitions).toBe(5);
  });

  it('refuses to start without a transport or a cluster', async () => {
    const bare = await createTestContext({ stage: 'orders-out', plugin: 'kafka' });
    await expect(kafkaSink.create(config({ topic: 'x' }), bare)).rejects.toThrow(
      /writes to the node's transport or to `cluster`/,
    );
  });
});

describe('kafka sink outputs', () => {
  it('declares its topic for the catalog of the node transport, none on another cluster', () => {
    expect(
      kafkaSinkOutputs(config({ topic: 'orders', description: 'Orders as rows', format: 'json' })),
    ).toEqual([{ topic: 'orders', format: 'json', description: 'Orders as rows' }]);
    expect(kafkaSink.outputs?.(config({ topic: 'orders' }))).toEqual([{ topic: 'orders', format: 'avro' }]);
    expect(kafkaSinkOutputs(config({ topic: 'orders', cluster: { brokers: ['k:9092'] } }))).toEqual([]);
  });

  it('validates its config, naming every field', () => {
    expect(() =>
      config({
        topic: 'bad topic',
        format: 'xml',
        key: [],
        cluster: { brokers: [], sasl: { mechanism: 'gssapi', username: 'u', password: 'p' } },
      }),
    ).toThrow(/\/topic[\s\S]*\/format[\s\S]*\/key[\s\S]*\/cluster\/brokers[\s\S]*\/cluster\/sasl\/mechanism/);
  });
});

import { beforeEach, describe, expect, it } from 'vitest';
import {
  EventCodec,
  LocalSchemaRegistry,
  rowSchemaOf,
  type ChangeEvent,
  type ProduceRecord,
  type SchemaAccess,
} from '@datamesh/core';
import { RecordEncoder, type EncoderOptions } from './record-encoder.js';
import {
  created,
  deleted,
  order,
  ordersSchema,
  sinkRecords,
  tombstone,
  truncated,
  updated,
} from './__fixtures__/orders.js';

const TOPIC = 'orders-out';
let schemas: SchemaAccess;
beforeEach(async () => {
  schemas = await LocalSchemaRegistry.open();
});

const encoder = (options: Partial<EncoderOptions> = {}) =>
  new RecordEncoder({ topic: TOPIC, format: 'avro', envelope: 'envelope', schemas, ...options });

/** Reads an encoded record back as a consumer would: Avro through the registry, or JSON. */
async function decoded(
  record: ProduceRecord,
  format: 'avro' | 'json',
): Promise<{ key: unknown; value: unknown }> {
  if (format === 'json') {
    return {
      key: record.key === null ? null : (JSON.parse(record.key.toString('utf8')) as unknown),
      value: record.value === null ? null : (JSON.parse(record.value.toString('utf8')) as unknown),
    };
  }
  const event = await new EventCodec(schemas).decode({
    ...record,
    partition: 0,
    offset: 0,
    timestamp: 0,
    headers: record.headers ?? {},
  });
  return { key: event.key, value: event.value };
}

/** Plain JSON objects (avsc records and Buffers compared by content). */
const plain = (value: unknown): unknown => JSON.parse(JSON.stringify(value)) as unknown;

const withNote: ChangeEvent = created({ ...order(7), note: Buffer.from('hi there') });
const events: ChangeEvent[] = [
  created(order(1)),
  created(order(2), 'r'),
  updated(null, order(1, 150)),
  withNote,
  deleted(2),
  tombstone(2),
  truncated(),
];

describe('RecordEncoder', () => {
  it('avro × envelope: every event as it is, schemas registered under <topic>-key / <topic>-value', async () => {
    const batch = await encoder().encode(sinkRecords(events));
    expect(batch.rejections).toEqual([]);
    expect(batch.dropped).toEqual([]);
    expect(batch.records).toHaveLength(events.length);
    expect(batch.records.every((r) => r.topic === TOPIC)).toBe(true);
    for (const [i, record] of batch.records.entries()) {
      const back = await decoded(record, 'avro');
      expect(plain(back)).toEqual(plain({ key: events[i]!.key, value: events[i]!.value }));
    }
    expect((await schemas.latest(`${TOPIC}-key`))?.schema).toEqual(ordersSchema.keySchema);
    expect((await schemas.latest(`${TOPIC}-value`))?.schema).toEqual(ordersSchema.valueSchema);
    expect(batch.bytes).toBe(
      batch.records.reduce((n, r) => n + (r.key?.length ?? 0) + (r.value?.length ?? 0), 0),
    );
  });

  it('avro × row: the after row, deletes as tombstones, truncates and source tombstones dropped', async () => {
    const batch = await encoder({ envelope: 'row' }).encode(sinkRecords(events));
    expect(batch.rejections).toEqual([]);
    expect(batch.dropped).toEqual(['tombstone', 'truncate']);
    const back = await Promise.all(batch.records.map((r) => decoded(r, 'avro')));
    expect(plain(back)).toEqual(
      plain([
        { key: { id: 1 }, value: order(1) },
        { key: { id: 2 }, value: order(2) },
        { key: { id: 1 }, value: order(1, 150) },
        { key: { id: 7 }, value: { ...order(7), note: Buffer.from('hi there') } },
        { key: { id: 2 }, value: null },
      ]),
    );
    expect((await schemas.latest(`${TOPIC}-value`))?.schema).toEqual(rowSchemaOf(ordersSchema.valueSchema));
  });

  it('json × envelope: UTF-8 JSON key and envelope, bytes as base64, nothing registered', async () => {
    const batch = await encoder({ format: 'json' }).encode(sinkRecords(events));
    expect(batch.rejections).toEqual([]);
    const back = await Promise.all(batch.records.map((r) => decoded(r, 'json')));
    expect(back[0]).toEqual({ key: { id: 1 }, value: plain(events[0]!.value) });
    expect(back[3]!.value).toMatchObject({
      after: { id: 7, note: Buffer.from('hi there').toString('base64') },
    });
    expect(back[5]).toEqual({ key: { id: 2 }, value: null });
    expect(back[6]).toEqual({ key: null, value: plain(events[6]!.value) });
    expect(await schemas.latest(`${TOPIC}-value`)).toBeUndefined();
  });

  it('json × row: rows and tombstones', async () => {
    const batch = await encoder({ format: 'json', envelope: 'row' }).encode(sinkRecords(events));
    expect(batch.dropped).toEqual(['tombstone', 'truncate']);
    const back = await Promise.all(batch.records.map((r) => decoded(r, 'json')));
    expect(back.map((b) => b.value)).toEqual([
      { ...order(1) },
      { ...order(2) },
      { ...order(1, 150) },
      { ...order(7), note: Buffer.from('hi there').toString('base64') },
      null,
    ]);
    expect(back.map((b) => b.key)).toEqual([{ id: 1 }, { id: 2 }, { id: 1 }, { id: 7 }, { id: 2 }]);
  });

  it('keys by chosen row fields, with a key schema typed from the row', async () => {
    const batch = await encoder({ envelope: 'row', key: ['customer', 'id'] }).encode(
      sinkRecords([created(order(4)), deleted(4, order(4)), created(order(5, 1, null))]),
    );
    expect(batch.rejections).toEqual([]);
    const back = await Promise.all(batch.records.map((r) => decoded(r, 'avro')));
    expect(plain(back.map((b) => b.key))).toEqual([
      { customer: 'c1', id: 4 },
      // A delete takes key columns from its key, other fields from its before image (captured in full here).
      { customer: 'c1', id: 4 },
      { customer: null, id: 5 },
    ]);
    expect((await schemas.latest(`${TOPIC}-key`))?.schema).toEqual({
      type: 'record',
      name: 'Key',
      namespace: 'shop.public.orders',
      fields: [
        { name: 'customer', type: ['null', 'string'] },
        { name: 'id', type: 'int' },
      ],
    });
  });

  it('tombstones the old key when an update moves a row to other key fields (full before image)', async () => {
    const moved = updated(order(4), { ...order(4), customer: 'c9' });
    const unknown = updated(null, { ...order(5), customer: 'c9' }); // no before image: nothing to tell
    const same = updated(order(6), { ...order(6), amount: 1 });
    for (const format of ['avro', 'json'] as const) {
      const batch = await encoder({ format, envelope: 'row', key: ['customer', 'id'] }).encode(
        sinkRecords([moved, unknown, same]),
      );
      const back = await Promise.all(batch.records.map((r) => decoded(r, format)));
      expect(plain(back.map((b) => [b.key, b.value === null ? null : 'row']))).toEqual([
        [{ customer: 'c1', id: 4 }, null],
        [{ customer: 'c9', id: 4 }, 'row'],
        [{ customer: 'c9', id: 5 }, 'row'],
        [{ customer: 'c0', id: 6 }, 'row'],
      ]);
    }
  });

  it('rejects events whose key fields cannot be found, and writes the others', async () => {
    const records = sinkRecords([
      created(order(1)),
      // REPLICA IDENTITY DEFAULT: the delete's before image has no customer.
      deleted(1),
      tombstone(1),
      { key: { id: 9 }, value: { ...created(order(9)).value!, after: { id: 9, amount: 1 } } },
      truncated(),
    ]);
    const batch = await encoder({ format: 'json', key: ['customer'] }).encode(records);
    expect(batch.rejections.map((r) => [r.record.position.offset, r.reason])).toEqual([
      [1, 'key'],
      [2, 'key'],
      [3, 'key'],
    ]);
    expect(batch.rejections[0]!.error.message).toMatch(
      /key field "customer" is neither in the delete's key nor in its before image/,
    );
    expect(batch.rejections[2]!.error.message).toMatch(
      /key field "customer" is missing from the "c" event's row/,
    );
    const back = await Promise.all(batch.records.map((r) => decoded(r, 'json')));
    // A truncate has no row: it keeps its null key.
    expect(back.map((b) => b.key)).toEqual([{ customer: 'c1' }, null]);
  });

  it('key fields that are key columns are taken from the key of deletes and tombstones', async () => {
    const batch = await encoder({ key: ['id'] }).encode(sinkRecords([deleted(3), tombstone(3)]));
    expect(batch.rejections).toEqual([]);
    expect(plain(await Promise.all(batch.records.map(async (r) => (await decoded(r, 'avro')).key)))).toEqual([
      { id: 3 },
      { id: 3 },
    ]);
  });

  it('rejects an event that does not match its schema, naming the path', async () => {
    const bad: ChangeEvent = {
      key: { id: 1 },
      value: { ...created(order(1)).value!, after: { ...order(1), amount: 'lots' } },
    };
    const batch = await encoder().encode(sinkRecords([bad, created(order(2))]));
    expect(batch.records).toHaveLength(1);
    expect(batch.rejections).toHaveLength(1);
    expect(batch.rejections[0]!.reason).toBe('schema');
    expect(batch.rejections[0]!.error.message).toMatch(
      /event value does not match its Avro schema at: after\.amount/,
    );
  });

  it('halts on a key field the input schema does not have (every event would be refused)', async () => {
    for (const format of ['avro', 'json'] as const) {
      const error = await encoder({ format, key: ['nope'] })
        .encode(sinkRecords([created(order(1))]))
        .then(
          () => new Error('no error'),
          (e: unknown) => e as Error,
        );
      expect(error).toBeInstanceOf(Error);
      expect(error.name).toBe('TaskHaltedError');
      expect(error.message).toMatch(/key field "nope" is not a field of shop\.public\.orders\.Value/);
    }
  });

  it('keeps the event headers', async () => {
    const event: ChangeEvent = { ...created(order(1)), headers: { 'datamesh.oldkey': '{"id":0}' } };
    const batch = await encoder({ envelope: 'row', format: 'json' }).encode(sinkRecords([event]));
    expect(batch.records[0]!.headers).toEqual({ 'datamesh.oldkey': '{"id":0}' });
  });

  it('halts when the output schema is incompatible with what the subject holds', async () => {
    await schemas.register(`${TOPIC}-value`, {
      type: 'record',
      name: 'Value',
      namespace: 'shop.public.orders',
      fields: [{ name: 'id', type: 'string' }],
    });
    const error = await encoder({ envelope: 'row' })
      .encode(sinkRecords([created(order(1))]))
      .then(
        () => new Error('no error'),
        (e: unknown) => e as Error,
      );
    expect(error.name).toBe('TaskHaltedError');
    expect(error.message).toMatch(/subject "orders-out-value" refuses the output schema/);
  });
});

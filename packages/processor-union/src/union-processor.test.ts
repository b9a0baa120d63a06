import { describe, expect, it } from 'vitest';
import {
  avroType,
  envelopeSchemas,
  parseConfig,
  PlanError,
  recordFields,
  rowSchemaOf,
  type AvroField,
  type ChangeEvent,
  type ProcessorInput,
  type Row,
} from '@datamesh/core';
import { createTestContext } from '@datamesh/testkit';
import { unionProcessor } from './union-processor.js';

function input(
  name: string,
  fields: readonly AvroField[],
  options: { keyFields?: string[]; sourceFields?: AvroField[] } = {},
): ProcessorInput {
  return {
    name,
    ...envelopeSchemas({
      name: `shop.${name.replace(/\W/g, '_')}`,
      keyFields: options.keyFields ?? ['id'],
      fields,
      ...(options.sourceFields ? { sourceFields: options.sourceFields } : {}),
    }),
  };
}

const eu = input('eu/orders', [
  { name: 'id', type: 'long' },
  { name: 'amount', type: 'int' },
  { name: 'note', type: ['null', 'string'], default: null },
]);
const us = input('us/orders', [
  { name: 'id', type: 'long' },
  { name: 'amount', type: 'double' },
  { name: 'currency', type: 'string' },
]);

const plan = (inputs: readonly ProcessorInput[], config: unknown = {}) =>
  unionProcessor.plan(inputs, parseConfig(unionProcessor.config, config));

const fieldsOf = (schema: { fields: AvroField[] }) =>
  Object.fromEntries(schema.fields.map((f) => [f.name, f]));

/** The PlanError message of planning `inputs`, or a failure when the plan is accepted. */
function refusal(inputs: readonly ProcessorInput[], config: unknown = {}): string {
  try {
    plan(inputs, config);
  } catch (error) {
    expect(error).toBeInstanceOf(PlanError);
    return (error as Error).message;
  }
  throw new Error('the plan was accepted');
}

describe('union plan: the output schema', () => {
  it('has every field of every input; fields some inputs lack are nullable with default null', () => {
    const row = fieldsOf(rowSchemaOf(plan([eu, us]).valueSchema));
    expect(Object.keys(row)).toEqual(['id', 'amount', 'note', 'currency', '_input']);
    expect(row['id']).toEqual({ name: 'id', type: 'long' });
    expect(row['note']).toEqual({ name: 'note', type: ['null', 'string'], default: null });
    expect(row['currency']).toEqual({ name: 'currency', type: ['null', 'string'], default: null });
    expect(row['_input']).toMatchObject({ name: '_input', type: 'string' });
  });

  it('widens numbers as Avro promotes them, and makes a field nullable when one input has it nullable', () => {
    const a = input('a', [
      { name: 'id', type: 'long' },
      { name: 'n', type: 'int' },
      { name: 'm', type: 'long' },
      { name: 'x', type: 'float' },
      { name: 's', type: 'string' },
      { name: 'tags', type: { type: 'array', items: 'int' } },
    ]);
    const b = input('b', [
      { name: 'id', type: 'long' },
      { name: 'n', type: 'long' },
      { name: 'm', type: 'float' },
      { name: 'x', type: 'double' },
      { name: 's', type: ['string', 'null'], default: 'none' },
      { name: 'tags', type: { type: 'array', items: ['null', 'long'] } },
    ]);
    const row = fieldsOf(rowSchemaOf(plan([a, b]).valueSchema));
    expect(row['n']?.type).toBe('long');
    expect(row['m']?.type).toBe('float');
    expect(row['x']?.type).toBe('double');
    // null comes first so that null can be a default; 'none' is no longer one.
    expect(row['s']).toEqual({ name: 's', type: ['null', 'string'] });
    expect(row['tags']?.type).toEqual({ type: 'array', items: ['null', 'long'] });
  });

  it('keeps a default every input agrees on', () => {
    const a = input('a', [
      { name: 'id', type: 'long' },
      { name: 'status', type: 'string', default: 'new' },
    ]);
    const b = input('b', [
      { name: 'id', type: 'long' },
      { name: 'status', type: 'string', default: 'new' },
    ]);
    const c = input('c', [
      { name: 'id', type: 'long' },
      { name: 'status', type: 'string', default: 'open' },
    ]);
    expect(fieldsOf(rowSchemaOf(plan([a, b]).valueSchema))['status']).toEqual({
      name: 'status',
      type: 'string',
      default: 'new',
    });
    expect(fieldsOf(rowSchemaOf(plan([a, c]).valueSchema))['status']).toEqual({
      name: 'status',
      type: 'string',
    });
  });

  it('merges the source blocks of different connectors', () => {
    const pg = input('pg/orders', [{ name: 'id', type: 'long' }], {
      sourceFields: [{ name: 'lsn', type: 'long' }],
    });
    const my = input('my/orders', [{ name: 'id', type: 'long' }], {
      sourceFields: [
        { name: 'file', type: 'string' },
        { name: 'pos', type: 'long' },
      ],
    });
    const source = recordFields(plan([pg, my]).valueSchema.fields.find((f) => f.name === 'source')!.type);
    expect(source.map((f) => f.name)).toEqual([
      'connector',
      'name',
      'ts_ms',
      'snapshot',
      'db',
      'schema',
      'table',
      'lsn',
      'file',
      'pos',
    ]);
    expect(source.find((f) => f.name === 'lsn')).toEqual({
      name: 'lsn',
      type: ['null', 'long'],
      default: null,
    });
  });

  it('appends the origin field to the key, unless originInKey is false', () => {
    expect(plan([eu, us]).keySchema.fields).toEqual([
      { name: 'id', type: 'long' },
      expect.objectContaining({ name: '_input', type: 'string' }),
    ]);
    expect(plan([eu, us], { originInKey: false, originField: 'region' }).keySchema.fields).toEqual([
      { name: 'id', type: 'long' },
    ]);
  });

  it('makes each input’s events complete under it: the fields an input lacks are null', async () => {
    const pg = input('pg/orders', rowSchemaOf(eu.valueSchema).fields, {
      sourceFields: [{ name: 'lsn', type: 'long' }],
    });
    const inputs = [pg, us];
    const type = avroType(plan(inputs).valueSchema);
    const ctx = await createTestContext({ plugin: 'union', inputs });
    const task = await unionProcessor.create(parseConfig(unionProcessor.config, {}), ctx);
    const source = {
      connector: 'test',
      name: 'shop',
      ts_ms: 1,
      snapshot: 'false',
      db: 'shop',
      schema: null,
      table: 'orders',
    };
    const created = (after: Row, extra: Row = {}): ChangeEvent => ({
      key: { id: 1 },
      value: { before: null, after, op: 'c', ts_ms: 2, source: { ...source, ...extra } },
    });
    const [fromPg] = await task.process([created({ id: 1, amount: 5, note: null }, { lsn: 9 })], 'pg/orders');
    const [fromUs] = await task.process([created({ id: 1, amount: 2.5, currency: 'USD' })], 'us/orders');
    expect(fromPg?.value?.after).toStrictEqual({
      id: 1,
      amount: 5,
      note: null,
      currency: null,
      _input: 'pg/orders',
    });
    expect(fromUs?.value?.after).toStrictEqual({
      id: 1,
      amount: 2.5,
      currency: 'USD',
      note: null,
      _input: 'us/orders',
    });
    expect(fromUs?.value?.source).toStrictEqual({ lsn: null, ...source });
    for (const event of [fromPg, fromUs]) {
      expect(type.isValid(event?.value, { noUndeclaredFields: true })).toBe(true);
      expect(type.fromBuffer(type.toBuffer(event?.value))).toEqual(event?.value);
    }
  });

  it('keeps the value of a field an input gained after the plan', async () => {
    const ctx = await createTestContext({ plugin: 'union', inputs: [eu, us] });
    const task = await unionProcessor.create(parseConfig(unionProcessor.config, {}), ctx);
    const source = { connector: 'test', name: 'shop', ts_ms: 1, snapshot: 'false' };
    const after = { id: 1, amount: 5, note: null, currency: 'EUR' };
    const [out] = await task.process(
      [{ key: { id: 1 }, value: { before: null, after, op: 'c', ts_ms: 2, source } }],
      'eu/orders',
    );
    expect(out?.value?.after?.['currency']).toBe('EUR');
  });
});

describe('union plan: lineage and consumed fields', () => {
  it('traces each output field to the inputs that have it, and the origin field to the labels', () => {
    const { lineage } = plan([eu, us], { origins: { 'us/orders': 'us' } });
    expect(lineage).toEqual([
      {
        output: 'after.id',
        inputs: [
          { input: 'eu/orders', field: 'after.id' },
          { input: 'us/orders', field: 'after.id' },
        ],
      },
      {
        output: 'after.amount',
        inputs: [
          { input: 'eu/orders', field: 'after.amount' },
          { input: 'us/orders', field: 'after.amount' },
        ],
      },
      { output: 'after.note', inputs: [{ input: 'eu/orders', field: 'after.note' }] },
      { output: 'after.currency', inputs: [{ input: 'us/orders', field: 'after.currency' }] },
      {
        output: 'after._input',
        inputs: [],
        transform: 'origin label: eu/orders = "eu/orders", us/orders = "us"',
      },
    ]);
  });

  it('consumes every field of every input', () => {
    const consumed = plan([eu, us]).consumes ?? [];
    const of = (name: string) => consumed.filter((c) => c.input === name).map((c) => c.field);
    expect(of('us/orders')).toEqual([
      'before.id',
      'before.amount',
      'before.currency',
      'after.id',
      'after.amount',
      'after.currency',
      'source.connector',
      'source.name',
      'source.ts_ms',
      'source.snapshot',
      'source.db',
      'source.schema',
      'source.table',
      'op',
      'ts_ms',
    ]);
    expect(of('eu/orders')).toContain('after.note');
  });
});

describe('union plan: refusals', () => {
  it('names every incompatible field, its type in each input, and the inputs', () => {
    const a = input('a', [
      { name: 'id', type: 'long' },
      { name: 'amount', type: 'double' },
      { name: 'code', type: 'int' },
    ]);
    const b = input('b', [
      { name: 'id', type: 'long' },
      { name: 'amount', type: 'string' },
      { name: 'code', type: { type: 'enum', name: 'Code', symbols: ['X'] } },
    ]);
    const message = refusal([a, b]);
    expect(message).toMatch(/^cannot union a, b: /);
    expect(message).toContain('field "amount" has incompatible types: "double" in a, "string" in b');
    expect(message).toContain('field "code" has incompatible types: "int" in a, {"type":"enum"');
  });

  it('refuses logical types that differ, though Avro would resolve them', () => {
    const a = input('a', [
      { name: 'id', type: 'long' },
      { name: 'at', type: { type: 'long', logicalType: 'timestamp-millis' } as never },
      { name: 'price', type: { type: 'bytes', logicalType: 'decimal', precision: 10, scale: 2 } as never },
    ]);
    const b = input('b', [
      { name: 'id', type: 'long' },
      { name: 'at', type: { type: 'long', logicalType: 'timestamp-micros' } as never },
      { name: 'price', type: { type: 'bytes', logicalType: 'decimal', precision: 10, scale: 4 } as never },
    ]);
    const message = refusal([a, b]);
    expect(message).toMatch(
      /field "at" has incompatible types: .*timestamp-millis.* in a, .*timestamp-micros.* in b \(their logical types differ\)/,
    );
    expect(message).toMatch(/field "price" has incompatible types: .*"scale":2.* in a, .*"scale":4.* in b/);
    // A plain long is not a timestamp either.
    const plain = input('c', [
      { name: 'id', type: 'long' },
      { name: 'at', type: 'long' },
    ]);
    expect(refusal([a, plain])).toContain('field "at"');
  });

  it('refuses string and bytes, which Avro promotes but the union would have to convert', () => {
    const a = input('a', [
      { name: 'id', type: 'long' },
      { name: 'blob', type: 'string' },
    ]);
    const b = input('b', [
      { name: 'id', type: 'long' },
      { name: 'blob', type: 'bytes' },
    ]);
    expect(refusal([a, b])).toContain('the values would need converting');
  });

  it('refuses unions of different branches', () => {
    const a = input('a', [
      { name: 'id', type: 'long' },
      { name: 'v', type: ['null', 'string', 'long'], default: null },
    ]);
    const b = input('b', [
      { name: 'id', type: 'long' },
      { name: 'v', type: ['null', 'string', 'boolean'], default: null },
    ]);
    expect(refusal([a, b])).toContain('field "v" has incompatible types');
    const c = input('c', [
      { name: 'id', type: 'long' },
      { name: 'v', type: ['null', 'long', 'string'], default: null },
    ]);
    expect(() => plan([a, c])).not.toThrow();
  });

  it('refuses keys with different fields or incompatible types', () => {
    const byRegion = input(
      'b',
      [
        { name: 'id', type: 'long' },
        { name: 'region', type: 'string' },
      ],
      { keyFields: ['id', 'region'] },
    );
    expect(refusal([eu, byRegion])).toContain('key field "region" is in b but not in eu/orders');
    const textId = input('c', [{ name: 'id', type: 'string' }]);
    expect(refusal([eu, textId])).toContain(
      'key field "id" has incompatible types: "long" in eu/orders, "string" in c',
    );
  });

  it('refuses an input that already has the origin field, in the row or (when added there) the key', () => {
    const tagged = input('b', [
      { name: 'id', type: 'long' },
      { name: '_input', type: 'string' },
    ]);
    expect(refusal([eu, tagged])).toContain('b already has a row field "_input": choose another originField');
    expect(() => plan([eu, tagged], { originField: 'origin' })).not.toThrow();
    const keyed = input('c', [{ name: 'origin', type: 'long' }], { keyFields: ['origin'] });
    const other = input('d', [{ name: 'origin', type: 'long' }], { keyFields: ['origin'] });
    expect(refusal([keyed, other], { originField: 'origin' })).toContain(
      'c already has a row and key field "origin"',
    );
  });

  it('refuses fewer than two inputs, an input twice, unknown inputs in origins and shared labels', () => {
    expect(refusal([eu])).toBe('union takes two inputs or more, got 1');
    expect(refusal([eu, eu])).toContain('eu/orders is listed more than once');
    expect(refusal([eu, us], { origins: { 'eu/order': 'eu' } })).toContain(
      'origins names "eu/order", which is not one of the inputs',
    );
    expect(refusal([eu, us], { origins: { 'eu/orders': 'orders', 'us/orders': 'orders' } })).toContain(
      'eu/orders and us/orders have the same origin label "orders"',
    );
  });
});

describe('union process', () => {
  const source = { connector: 'test', name: 'shop', ts_ms: 1, snapshot: 'false' };
  const change = (op: 'c' | 'u' | 'd', before: Row | null, after: Row | null): ChangeEvent => ({
    key: { id: 1 },
    value: { before, after, op, ts_ms: 2, source },
  });

  async function union(config: unknown = {}) {
    const ctx = await createTestContext({ plugin: 'union' });
    const task = await unionProcessor.create(parseConfig(unionProcessor.config, config), ctx);
    return { task, ctx };
  }

  it('labels both row images and the key with the input, or its label from origins', async () => {
    const { task } = await union({ origins: { 'us/orders': 'us' } });
    const row = { id: 1, amount: 5 };
    const [fromEu] = await task.process([change('u', row, { ...row, amount: 6 })], 'eu/orders');
    const [fromUs] = await task.process([change('c', null, row)], 'us/orders');
    expect(fromEu).toEqual({
      key: { id: 1, _input: 'eu/orders' },
      value: {
        before: { id: 1, amount: 5, _input: 'eu/orders' },
        after: { id: 1, amount: 6, _input: 'eu/orders' },
        op: 'u',
        ts_ms: 2,
        source,
      },
    });
    expect(fromUs?.key).toEqual({ id: 1, _input: 'us' });
    expect(fromUs?.value?.before).toBeNull();
    expect(fromUs?.value?.after).toEqual({ id: 1, amount: 5, _input: 'us' });
  });

  it('passes deletes and tombstones through, labelled, and leaves the key alone when originInKey is false', async () => {
    const { task } = await union({ originField: 'region', originInKey: false });
    const tombstone: ChangeEvent = { key: { id: 1 }, value: null };
    const [deleted, after] = await task.process([change('d', { id: 1 }, null), tombstone], 'eu');
    expect(deleted).toEqual({
      key: { id: 1 },
      value: { before: { id: 1, region: 'eu' }, after: null, op: 'd', ts_ms: 2, source },
    });
    expect(after).toEqual(tombstone);
    const { task: keyed } = await union();
    expect(await keyed.process([tombstone], 'eu')).toEqual([{ key: { id: 1, _input: 'eu' }, value: null }]);
  });

  it('drops truncates, which would clear every input downstream, and counts them', async () => {
    const { task, ctx } = await union();
    const truncate: ChangeEvent = {
      key: null,
      value: { before: null, after: null, op: 't', ts_ms: 2, source },
    };
    const out = await task.process([change('c', null, { id: 1 }), truncate], 'eu');
    expect(out.map((e) => e.value?.op)).toEqual(['c']);
    const counted = await ctx.registry
      .getSingleMetric('datamesh_plugin_union_truncates_dropped_total')
      ?.get();
    expect(counted?.values).toEqual([
      expect.objectContaining({ value: 1, labels: expect.objectContaining({ input: 'eu' }) }),
    ]);
  });

  it('keeps headers and leaves its input events as they were', async () => {
    const { task } = await union();
    const events = [{ ...change('c', null, { id: 1 }), headers: { trace: 'x' } }];
    const copy = structuredClone(events);
    const [out] = await task.process(events, 'eu');
    expect(events).toEqual(copy);
    expect(out?.headers).toEqual({ trace: 'x' });
  });
});

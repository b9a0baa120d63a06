import { describe, expect, it } from 'vitest';
import {
  avroType,
  parseConfig,
  PlanError,
  rowSchemaOf,
  type ChangeEvent,
  type ProcessorInput,
} from '@datamesh/core';
import { createTestContext } from '@datamesh/testkit';
import { cents, change, order, ORDER_FIELDS, ordersInput } from './__fixtures__/orders.js';
import { projectionProcessor } from './projection-processor.js';

const orders = ordersInput();

const config = (value: Record<string, unknown>) => parseConfig(projectionProcessor.config, value);
const plan = (value: Record<string, unknown>, inputs: readonly ProcessorInput[] = [orders]) =>
  projectionProcessor.plan(inputs, config(value));

async function project(value: Record<string, unknown>, events: readonly ChangeEvent[]) {
  const ctx = await createTestContext({ plugin: 'projection', inputs: [orders] });
  const task = await projectionProcessor.create(config(value), ctx);
  return task.process(events, orders.name);
}

function planError(value: Record<string, unknown>, inputs?: readonly ProcessorInput[]): string {
  try {
    plan(value, inputs);
  } catch (error) {
    expect(error).toBeInstanceOf(PlanError);
    return (error as Error).message;
  }
  throw new Error('plan accepted the config');
}

/** The example of the README. */
const example = {
  fields: [
    { name: 'id' },
    { name: 'customer', from: 'customer_id' },
    { name: 'total', expr: 'row.amount * 1.2' },
    { name: 'amount_text', from: 'amount', cast: 'string' },
  ],
};

describe('projection', () => {
  it('keeps, renames, derives and casts fields, in the order listed', async () => {
    const [out] = await project(example, [change('c', null, order)]);
    expect(out?.value?.after).toEqual({ id: 7, customer: 42, total: 120, amount_text: '100' });
  });

  it('projects before from the old values and after from the new ones', async () => {
    const [out] = await project(example, [change('u', order, { ...order, amount: 50 })]);
    expect(out?.value?.before).toMatchObject({ total: 120, amount_text: '100' });
    expect(out?.value?.after).toMatchObject({ total: 60, amount_text: '50' });
  });

  it('leaves missing images, the key, the envelope and tombstones as they are, and its input untouched', async () => {
    const deleted = change('d', order, null);
    const tombstone: ChangeEvent = { key: { id: 7 }, value: null };
    const before = JSON.stringify(deleted);
    const [out, passed] = await project(example, [deleted, tombstone]);
    expect(JSON.stringify(deleted)).toBe(before);
    expect(out?.key).toEqual({ id: 7 });
    expect(out?.value).toMatchObject({
      after: null,
      op: 'd',
      ts_ms: deleted.value?.ts_ms,
      source: deleted.value?.source,
    });
    expect(passed).toBe(tombstone);
  });

  it('keeps the fields not listed after the listed ones, with others: keep (except renamed ones)', async () => {
    const [out] = await project(
      {
        fields: [
          { name: 'customer', from: 'customer_id' },
          { name: 'note_text', from: 'note', cast: 'string' },
        ],
        others: 'keep',
      },
      [change('c', null, order)],
    );
    const { customer_id: _renamed, ...rest } = order;
    expect(out?.value?.after).toEqual({ customer: 42, note_text: null, ...rest });
  });
});

describe('projection schema', () => {
  it('is the input envelope with the projected row record in before and after', () => {
    const { valueSchema, keySchema } = plan(example);
    expect(keySchema).toBe(orders.keySchema);
    const row = rowSchemaOf(valueSchema);
    expect(row.name).toBe('shop.public.orders.Value');
    expect(row.fields).toEqual([
      { name: 'id', type: 'long' },
      { name: 'customer', type: 'long' },
      { name: 'total', type: 'double' },
      { name: 'amount_text', type: 'string' },
    ]);
    expect(valueSchema.fields.map((f) => f.name)).toEqual(orders.valueSchema.fields.map((f) => f.name));
    expect(valueSchema.fields[1]?.type).toEqual(['null', 'shop.public.orders.Value']);
    expect(() => avroType(valueSchema)).not.toThrow();
  });

  it('types expression results from their CEL type, nullable ones with a null default', () => {
    const row = rowSchemaOf(
      plan({
        fields: [
          { name: 'id' },
          { name: 'count', expr: 'row.quantity * 2' },
          { name: 'placed', expr: 'row.created_at' },
          { name: 'note', expr: 'row.note', doc: 'As typed.' },
          { name: 'city', expr: 'row.address.city' },
          { name: 'is_paid', expr: 'row.status == "PAID"' },
        ],
      }).valueSchema,
    );
    expect(row.fields.slice(1)).toEqual([
      { name: 'count', type: 'long' },
      { name: 'placed', type: { type: 'long', logicalType: 'timestamp-millis' } },
      { name: 'note', type: ['null', 'string'], default: null, doc: 'As typed.' },
      { name: 'city', type: 'string' },
      { name: 'is_paid', type: 'boolean' },
    ]);
  });

  it('keeps the Avro type, default and doc of copied fields', () => {
    const row = rowSchemaOf(plan({ fields: [{ name: 'id' }, { name: 'remark', from: 'note' }] }).valueSchema);
    expect(row.fields[1]).toEqual({
      name: 'remark',
      type: ['null', 'string'],
      default: null,
      doc: 'Free text from the customer.',
    });
  });

  it('defines a named type where the output first uses it, when the field defining it is dropped', async () => {
    const cfg = {
      fields: [
        { name: 'id' },
        { name: 'previous_status' },
        { name: 'status' },
        { name: 'home', expr: 'row.address' },
        { name: 'address' },
      ],
    };
    const { valueSchema } = plan(cfg);
    const row = rowSchemaOf(valueSchema);
    expect(row.fields[1]?.type).toEqual([
      'null',
      { type: 'enum', name: 'shop.public.orders.Status', symbols: ['NEW', 'PAID'] },
    ]);
    expect(row.fields[2]?.type).toBe('shop.public.orders.Status');
    expect(row.fields[4]?.type).toEqual(['null', 'shop.public.orders.Address']);
    const type = avroType(valueSchema);
    const [out] = await project(cfg, [change('c', null, order)]);
    expect(out?.value?.after?.['home']).toEqual(order['address']);
    expect(type.isValid(out?.value)).toBe(true);
  });
});

describe('projection lineage and consumed fields', () => {
  it('maps each output field to the input fields it comes from, saying how', () => {
    const { lineage, consumes } = plan({
      fields: [...example.fields, { name: 'label', expr: 'source.table + ":" + string(row.id) + op' }],
    });
    const input = orders.name;
    expect(lineage).toEqual([
      { output: 'after.id', inputs: [{ input, field: 'after.id' }] },
      { output: 'after.customer', inputs: [{ input, field: 'after.customer_id' }] },
      {
        output: 'after.total',
        inputs: [{ input, field: 'after.amount' }],
        transform: 'cel: row.amount * 1.2',
      },
      {
        output: 'after.amount_text',
        inputs: [{ input, field: 'after.amount' }],
        transform: 'cast to string',
      },
      {
        output: 'after.label',
        inputs: ['after.id', 'op', 'source.table'].map((field) => ({ input, field })),
        transform: 'cel: source.table + ":" + string(row.id) + op',
      },
    ]);
    expect(consumes?.map((c) => c.field)).toEqual([
      'after.amount',
      'after.customer_id',
      'after.id',
      'before.amount',
      'before.customer_id',
      'before.id',
      'op',
      'source.table',
    ]);
  });
});

describe('projection casts', () => {
  it('casts exactly: decimals to their digits, timestamps to ISO-8601 with microseconds', async () => {
    const [out] = await project(
      {
        fields: [
          { name: 'price', cast: 'string' },
          { name: 'placed', from: 'created_at', cast: 'string' },
          { name: 'whole_price', from: 'price', cast: 'long' },
          { name: 'price_double', from: 'price', cast: 'double' },
          { name: 'status', cast: 'string' },
          { name: 'quantity', cast: 'double' },
        ],
      },
      [change('c', null, { ...order, price: cents(-1250) })],
    );
    expect(out?.value?.after).toEqual({
      price: '-12.50',
      placed: '2024-01-15T14:30:00.123456Z',
      whole_price: -12,
      price_double: -12.5,
      status: 'PAID',
      quantity: 3,
    });
  });

  it('keeps nulls, typing the cast field nullable', async () => {
    const cfg = { fields: [{ name: 'id' }, { name: 'note', cast: 'long' }] };
    expect(rowSchemaOf(plan(cfg).valueSchema).fields[1]).toEqual({
      name: 'note',
      type: ['null', 'long'],
      default: null,
    });
    const [out] = await project(cfg, [change('c', null, order)]);
    expect(out?.value?.after).toEqual({ id: 7, note: null });
  });

  it('parses text, and fails the event (naming field and image) on text that is not a number', async () => {
    const cfg = { fields: [{ name: 'id' }, { name: 'note', cast: 'long' }] };
    const [out] = await project(cfg, [change('c', null, { ...order, note: ' 12 ' })]);
    expect(out?.value?.after).toEqual({ id: 7, note: 12 });
    await expect(project(cfg, [change('u', { ...order, note: 'twelve' }, order)])).rejects.toThrow(
      'field "note" of before: cannot cast "twelve" to long',
    );
  });

  it('refuses casts with no sensible meaning at plan time', () => {
    expect(planError({ fields: [{ name: 'address', cast: 'string' }] })).toBe(
      'projection of shop/public.orders: field "address": a record Address cannot be cast; derive the value with an expr instead',
    );
    expect(planError({ fields: [{ name: 'created_at', cast: 'boolean' }] })).toContain(
      'field "created_at": a long (timestamp-micros) cannot be cast to boolean',
    );
  });
});

describe('projection expressions', () => {
  it('see the image projected as row, with op, ts_ms and source', async () => {
    const [out] = await project(
      {
        fields: [
          { name: 'id' },
          { name: 'tag', expr: 'op + "/" + source.table + "/" + string(row.quantity)' },
        ],
      },
      [change('u', { ...order, quantity: 1 }, order)],
    );
    expect(out?.value?.before?.['tag']).toBe('u/orders/1');
    expect(out?.value?.after?.['tag']).toBe('u/orders/3');
  });

  it('fail the event when an expression fails, naming the field and image', async () => {
    const cfg = {
      fields: [{ name: 'id' }, { name: 'per_item', expr: 'row.customer_id / (row.quantity - 3)' }],
    };
    await expect(project(cfg, [change('c', null, order)])).rejects.toThrow(
      /^field "per_item" of after: division by zero, at line 1, column 17:/,
    );
  });

  it('refuse a syntax or type error, naming the field and the position', () => {
    expect(planError({ fields: [{ name: 'id' }, { name: 'total', expr: 'row.amount * "2"' }] })).toBe(
      [
        'projection of shop/public.orders: field "total": no such overload: double * string, at line 1, column 12:',
        '  1 | row.amount * "2"',
        '    |            ^',
      ].join('\n'),
    );
    expect(planError({ fields: [{ name: 'total', expr: 'after.amount' }] })).toContain(
      'field "total": Unknown variable: after; the expression can use row, op, ts_ms, source, at line 1, column 1',
    );
    expect(planError({ fields: [{ name: 'total', expr: 'row.amount *' }] })).toContain(
      'field "total": Unexpected token: EOF, at line 1, column 13',
    );
  });

  it('refuse a result that has no Avro type', () => {
    expect(planError({ fields: [{ name: 'wait', expr: 'duration("1h")' }] })).toContain(
      'field "wait": a duration has no Avro type here',
    );
  });
});

describe('projection plan', () => {
  it('reports every problem at once', () => {
    const message = planError({
      fields: [
        { name: 'id' },
        { name: 'id' },
        { name: 'total', expr: 'row.amount * 2', from: 'amount' },
        { name: 'colour' },
        { name: 'x', expr: 'row.nope' },
      ],
    });
    expect(message.split('\n- ')).toEqual([
      'projection of shop/public.orders:',
      'fields "id" are listed more than once',
      'field "total": give either expr, or from (with or without cast), not both',
      `field "colour": shop/public.orders has no field "colour" (fields: ${ORDER_FIELDS.map((f) => f.name).join(', ')})`,
      expect.stringMatching(/^field "x": No such key: nope; row has the fields id, customer_id,/),
    ]);
  });

  it('keeps the key as it is: a field named like a key column must be that column', () => {
    expect(planError({ fields: [{ name: 'id', expr: 'row.id + 1' }] })).toContain(
      'field "id" has the name of a key column but another value',
    );
    expect(planError({ fields: [{ name: 'id', from: 'customer_id' }] })).toContain('key column');
    expect(planError({ fields: [{ name: 'id', cast: 'string' }] })).toContain('key column');
    expect(() => plan({ fields: [{ name: 'order_id', from: 'id' }, { name: 'amount' }] })).not.toThrow();
    expect(() => plan({ fields: [{ name: 'amount' }] })).not.toThrow();
  });

  it('takes exactly one input, and needs its schemas to run', async () => {
    expect(planError(example, [])).toBe('projection takes exactly one input, got 0');
    const ctx = await createTestContext({ plugin: 'projection' });
    expect(() => projectionProcessor.create(config(example), ctx)).toThrow(/needs the schemas of its input/);
  });
});

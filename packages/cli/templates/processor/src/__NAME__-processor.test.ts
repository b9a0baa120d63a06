import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  envelopeSchemas,
  parseConfig,
  PlanError,
  recordFields,
  rowSchemaOf,
  type ChangeEvent,
  type ProcessorInput,
  type Row,
} from '@datamesh/core';
import { createTestContext } from '@datamesh/testkit';
import { __EXPORT__ } from './__NAME__-processor.js';

const orders: ProcessorInput = {
  name: 'orders',
  ...envelopeSchemas({
    name: 'shop.public.orders',
    keyFields: ['id'],
    fields: [
      { name: 'id', type: 'long' },
      { name: 'customer', type: 'string' },
      { name: 'amount', type: ['null', 'double'], default: null },
    ],
  }),
};

const source = { connector: 'test', name: 'shop', ts_ms: 1, snapshot: 'false' };

function change(op: 'c' | 'u' | 'd', before: Row | null, after: Row | null): ChangeEvent {
  return { key: { id: 1 }, value: { before, after, op, ts_ms: 2, source } };
}

/** Runs the processor as a node would: the config validated, a context from the testkit, one batch. */
async function run(config: unknown, events: readonly ChangeEvent[]) {
  const ctx = await createTestContext({ plugin: '__NAME__' });
  const task = await __EXPORT__.create(parseConfig(__EXPORT__.config, config), ctx);
  const out = await task.process(events, 'orders');
  return { out, ctx };
}

describe('__NAME__ process', () => {
  it('flags a row whose field is above the threshold, in both row images', async () => {
    const cheap = { id: 1, customer: 'ada', amount: 5 };
    const dear = { ...cheap, amount: 500 };
    const { out } = await run({ field: 'amount', threshold: 100 }, [change('u', cheap, dear)]);
    expect(out[0]?.value?.before).toEqual({ ...cheap, flagged: false });
    expect(out[0]?.value?.after).toEqual({ ...dear, flagged: true });
  });

  it('names the flag as configured, and leaves it null when the value is null', async () => {
    const row = { id: 1, customer: 'ada', amount: null };
    const { out } = await run({ field: 'amount', flag: 'big' }, [change('c', null, row)]);
    expect(out[0]?.value?.after).toEqual({ ...row, big: null });
  });

  it('passes tombstones and leaves its input events as they were', async () => {
    const tombstone: ChangeEvent = { key: { id: 1 }, value: null };
    const input = [change('d', { id: 1, customer: 'ada', amount: 1 }, null), tombstone];
    const copy = structuredClone(input);
    const { out } = await run({ field: 'amount' }, input);
    expect(out[1]).toBe(tombstone);
    expect(out[0]?.value?.after).toBeNull();
    expect(input).toEqual(copy);
  });

  it('counts flagged events in its own metric, labelled with pipeline, stage and plugin', async () => {
    const rows = [10, 200, 300].map((amount) => change('c', null, { id: 1, customer: 'ada', amount }));
    const { ctx } = await run({ field: 'amount', threshold: 100 }, rows);
    const metric = ctx.registry.getSingleMetric('datamesh_plugin___METRIC_NAME___flagged_events_total');
    const { values } = await metric!.get();
    expect(values).toEqual([{ labels: { pipeline: 'test', stage: 'stage', plugin: '__NAME__' }, value: 2 }]);
  });
});

describe('__NAME__ config', () => {
  it('refuses a wrong config, naming every field at once', () => {
    let error: unknown;
    try {
      parseConfig(__EXPORT__.config, { threshold: 'high', flag: 'no spaces' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues.map((i) => i.path).sort()).toEqual([
      '/field',
      '/flag',
      '/threshold',
    ]);
  });
});

describe('__NAME__ plan', () => {
  const plan = (config: unknown, inputs = [orders]) =>
    __EXPORT__.plan(inputs, parseConfig(__EXPORT__.config, config));

  it('adds the flag to the output schema, with its lineage and the fields it reads', () => {
    const result = plan({ field: 'amount', threshold: 100 });
    expect(recordFields(rowSchemaOf(result.valueSchema)).map((f) => f.name)).toEqual([
      'id',
      'customer',
      'amount',
      'flagged',
    ]);
    expect(result.keySchema).toEqual(orders.keySchema);
    expect(result.lineage).toContainEqual({
      output: 'after.flagged',
      inputs: [{ input: 'orders', field: 'after.amount' }],
      transform: 'amount > 100',
    });
    expect(result.consumes).toEqual([
      { input: 'orders', field: 'before.amount' },
      { input: 'orders', field: 'after.amount' },
    ]);
  });

  it('refuses a field that is missing or not a number, and a flag the input already has', () => {
    expect(() => plan({ field: 'price' })).toThrow(PlanError);
    expect(() => plan({ field: 'price' })).toThrow(/field "price" is not in orders/);
    expect(() => plan({ field: 'customer' })).toThrow(/field "customer" of orders is "string", not a number/);
    expect(() => plan({ field: 'amount', flag: 'customer' })).toThrow(/already has a field "customer"/);
  });

  it('takes exactly one input', () => {
    expect(() => plan({ field: 'amount' }, [])).toThrow(PlanError);
    expect(() => plan({ field: 'amount' }, [orders, { ...orders, name: 'more' }])).toThrow(PlanError);
  });
});

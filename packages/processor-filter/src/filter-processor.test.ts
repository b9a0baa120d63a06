import { describe, expect, it } from 'vitest';
import {
  createLogger,
  envelopeSchemas,
  parseConfig,
  PlanError,
  type ChangeEvent,
  type Operation,
  type ProcessorInput,
  type Row,
} from '@datamesh/core';
import { createTestContext } from '@datamesh/testkit';
import { filterProcessor } from './filter-processor.js';

const orders: ProcessorInput = {
  name: 'shop/public.orders',
  ...envelopeSchemas({
    name: 'shop.public.orders',
    keyFields: ['id'],
    fields: [
      { name: 'id', type: 'long' },
      { name: 'amount', type: 'double' },
      { name: 'region', type: ['null', 'string'], default: null },
      { name: 'express', type: ['null', 'boolean'], default: null },
    ],
  }),
};

const source = { connector: 'test', name: 'shop', ts_ms: 1, snapshot: 'false', table: 'orders' };

function change(op: Operation, before: Row | null, after: Row | null, id = 1): ChangeEvent {
  return { key: { id }, value: { before, after, op, ts_ms: 2, source } };
}

const small = { id: 1, amount: 20, region: 'EU', express: null };
const big = { id: 2, amount: 500, region: 'US', express: true };
const tombstone: ChangeEvent = { key: { id: 1 }, value: null };

async function filter(config: Record<string, unknown>, events: readonly ChangeEvent[]) {
  const logs: string[] = [];
  const logger = createLogger({ level: 'info', destination: { write: (line: string) => logs.push(line) } });
  const ctx = await createTestContext({ plugin: 'filter', inputs: [orders], logger });
  const task = await filterProcessor.create(parseConfig(filterProcessor.config, config), ctx);
  return { out: await task.process(events, orders.name), ctx, logs };
}

function planError(config: Record<string, unknown>, inputs: readonly ProcessorInput[] = [orders]): PlanError {
  try {
    filterProcessor.plan(inputs, parseConfig(filterProcessor.config, config));
  } catch (error) {
    expect(error).toBeInstanceOf(PlanError);
    return error as PlanError;
  }
  throw new Error('plan accepted the config');
}

describe('filter', () => {
  it('keeps the events the condition is true for, as they are', async () => {
    const events = [change('c', null, small), change('r', null, big, 2), change('u', small, big)];
    const { out } = await filter({ condition: 'after.amount > 100.0' }, events);
    expect(out).toEqual([events[1], events[2]]);
    expect(out[0]).toBe(events[1]);
  });

  it('tests the event, not only the row: op, ts_ms and source', async () => {
    const events = [change('c', null, small), change('u', small, big), change('d', big, null, 2)];
    const { out } = await filter(
      { condition: 'op in ["u", "d"] && source.table == "orders" && ts_ms > 1' },
      events,
    );
    expect(out).toEqual(events.slice(1));
  });

  it('keeps the deletes of matching rows with a condition over row (after, or before for a delete)', async () => {
    const events = [
      change('c', null, small),
      change('c', null, big, 2),
      change('d', small, null),
      change('d', big, null, 2),
    ];
    const { out } = await filter({ condition: 'row.region == "EU"' }, events);
    expect(out).toEqual([events[0], events[2]]);
  });

  it('drops deletes with a condition over op', async () => {
    const events = [change('c', null, big, 2), change('d', big, null, 2)];
    const { out } = await filter({ condition: 'op != "d" && after.amount > 100.0' }, events);
    expect(out).toEqual([events[0]]);
  });

  it('drops the events for which the condition is null, as SQL does', async () => {
    const events = [change('c', null, small), change('c', null, big, 2)];
    const { out } = await filter({ condition: 'after.express' }, events);
    expect(out).toEqual([events[1]]);
  });
});

describe('filter rows mode', () => {
  const rows = { condition: 'row.amount > 100.0', mode: 'rows' };
  const summary = (events: readonly ChangeEvent[]) =>
    events.map((e) =>
      e.value ? `${e.value.op} ${e.value.before?.amount ?? '-'}>${e.value.after?.amount ?? '-'}` : 't',
    );

  it('turns updates into and out of the condition into creates and deletes (with a tombstone)', async () => {
    const small2 = { ...big, amount: 20 };
    const events = [
      change('c', null, big, 2),
      change('u', big, { ...big, amount: 600 }, 2),
      change('u', { ...big, amount: 600 }, small2, 2),
      change('u', small2, { ...small2, amount: 30 }, 2),
      change('u', { ...small2, amount: 30 }, big, 2),
      change('d', big, null, 2),
      change('c', null, small),
      change('d', small, null),
    ];
    const { out } = await filter(rows, events);
    // Deletes always pass: a before image may hold only the key, and deleting an absent row changes nothing.
    expect(summary(out)).toEqual(['c ->500', 'u 500>600', 'd 600>-', 't', 'c ->500', 'd 500>-', 'd 20>-']);
  });

  it('passes on deletes and turns updates out of the condition into deletes when the before image cannot tell', async () => {
    // Under the default replica identity a delete's before image holds the key only, and an update has none.
    const keyOnly = { id: 2, amount: null, region: null, express: null } as unknown as Row;
    const { out } = await filter(rows, [
      change('d', keyOnly, null, 2),
      change('u', null, { ...big, amount: 20 }, 2),
      change('u', null, big, 2),
    ]);
    expect(summary(out)).toEqual(['d ->-', 'd 20>-', 't', 'u ->500']);
  });

  it('passes truncates on: the table is empty afterwards, matching rows included', async () => {
    const truncate: ChangeEvent = {
      key: null,
      value: { before: null, after: null, op: 't', ts_ms: 2, source },
    };
    const { out } = await filter({ ...rows, onError: 'drop' }, [truncate]);
    expect(out).toEqual([truncate]);
  });

  it('builds the same table as the condition applied to the final rows', async () => {
    let seed = 7;
    const next = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const table = new Map<number, Row>();
    const events: ChangeEvent[] = [];
    for (let i = 0; i < 2000; i++) {
      const id = next(40);
      const before = table.get(id) ?? null;
      const after = before && next(5) === 0 ? null : { id, amount: next(200), region: 'EU', express: null };
      if (after) table.set(id, after);
      else table.delete(id);
      events.push(change(before ? (after ? 'u' : 'd') : 'c', before, after, id));
    }
    const { out } = await filter(rows, events);
    const view = new Map<string, Row>();
    for (const e of out) {
      if (!e.value) continue;
      if (e.value.after) view.set(JSON.stringify(e.key), e.value.after);
      else view.delete(JSON.stringify(e.key));
    }
    const expected = [...table.values()].filter((r) => (r.amount as number) > 100);
    expect(new Map([...view].sort())).toEqual(
      new Map(expected.map((r) => [JSON.stringify({ id: r.id }), r] as const).sort()),
    );
  });
});

describe('filter failures', () => {
  const deleted = change('d', big, null, 2);

  it('sends an event the condition fails on to the dead-letter topic (throws), saying why', async () => {
    await expect(filter({ condition: 'after.amount > 100.0' }, [deleted])).rejects.toThrow(
      'after is null (deletes and truncates have no "after" image), so after.amount cannot be read',
    );
  });

  it.each([
    ['drop', []],
    ['keep', [deleted, deleted]],
  ])(
    'with onError %s, treats the failure as false or true, counts it and warns once',
    async (onError, kept) => {
      const { out, ctx, logs } = await filter({ condition: 'after.amount > 100.0', onError }, [
        deleted,
        deleted,
      ]);
      expect(out).toEqual(kept);
      const counted = await ctx.registry
        .getSingleMetric('datamesh_plugin_filter_condition_errors_total')
        ?.get();
      expect(counted?.values.find((v) => v.labels['action'] === onError)?.value).toBe(2);
      expect(logs).toHaveLength(1);
      expect(JSON.parse(logs[0]!)).toMatchObject({
        level: 'warn',
        msg: 'the filter condition failed on an event (later failures are only counted)',
        err: { message: expect.stringContaining('after is null') },
      });
    },
  );

  it('logs nothing while the condition evaluates', async () => {
    const { logs } = await filter({ condition: 'row.amount > 100.0' }, [change('c', null, small), deleted]);
    expect(logs).toEqual([]);
  });
});

describe('filter tombstones', () => {
  it('keeps them by default, and drops them when told to', async () => {
    const events = [change('d', small, null), tombstone];
    expect((await filter({ condition: 'op != "d"' }, events)).out).toEqual([tombstone]);
    expect((await filter({ condition: 'op != "d"', tombstones: 'drop' }, events)).out).toEqual([]);
  });
});

describe('filter plan', () => {
  it('keeps the input schemas, maps each field to itself and consumes what the condition reads', () => {
    const plan = filterProcessor.plan(
      [orders],
      parseConfig(filterProcessor.config, { condition: 'row.region == "EU" && op != "t"' }),
    );
    expect(plan.keySchema).toBe(orders.keySchema);
    expect(plan.valueSchema).toBe(orders.valueSchema);
    expect(plan.lineage).toEqual(
      ['id', 'amount', 'region', 'express'].map((field) => ({
        output: `after.${field}`,
        inputs: [{ input: orders.name, field: `after.${field}` }],
      })),
    );
    expect(plan.consumes).toEqual([
      { input: orders.name, field: 'after.region' },
      { input: orders.name, field: 'before.region' },
      { input: orders.name, field: 'op' },
    ]);
  });

  it('refuses a type error, showing where it is', () => {
    expect(planError({ condition: 'after.amount > "100"' }).message).toBe(
      [
        'filter condition on shop/public.orders: no such overload: double > string, at line 1, column 14:',
        '  1 | after.amount > "100"',
        '    |              ^',
      ].join('\n'),
    );
  });

  it('refuses a syntax error, showing where it is', () => {
    expect(planError({ condition: 'op == "c" &&\n  (after.amount > 1.0' }).message).toBe(
      [
        'filter condition on shop/public.orders: Expected RPAREN, got EOF, at line 2, column 22:',
        '  2 |   (after.amount > 1.0',
        `    | ${' '.repeat(21)}^`,
      ].join('\n'),
    );
  });

  it('refuses a field the input does not have, naming the ones it has', () => {
    expect(planError({ condition: 'after.total > 1.0' }).message).toMatch(
      /No such key: total; after has the fields id, amount, region, express, at line 1, column 7/,
    );
  });

  it('refuses a condition that is not a bool', () => {
    expect(planError({ condition: 'after.amount * 2.0' }).message).toMatch(
      /the expression must give a bool, but gives a double, at line 1, column 1/,
    );
  });

  it('takes exactly one input', () => {
    expect(planError({ condition: 'true' }, []).message).toBe('filter takes exactly one input, got 0');
    expect(planError({ condition: 'true' }, [orders, orders]).message).toBe(
      'filter takes exactly one input, got 2',
    );
  });

  it('needs its input schemas to run', async () => {
    const ctx = await createTestContext({ plugin: 'filter' });
    expect(() =>
      filterProcessor.create(parseConfig(filterProcessor.config, { condition: 'true' }), ctx),
    ).toThrow(/needs the schemas of its input/);
  });
});

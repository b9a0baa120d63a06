import { describe, expect, it } from 'vitest';
import { parseConfig, type ChangeEvent, type Row } from '@datamesh/core';
import { createTestContext, type TestContext } from '@datamesh/testkit';
import { joinProcessor } from './join-processor.js';
import { change, customers, expectedJoin, orders, shopHistory, source } from './__fixtures__/shop.js';
import { random } from './__fixtures__/random.js';

async function joiner(config: Record<string, unknown>, ctx?: TestContext) {
  const parsed = parseConfig(joinProcessor.config, config);
  const context = ctx ?? (await createTestContext({ inputs: [orders, customers] }));
  const task = await joinProcessor.create(parsed, context);
  return {
    ctx: context,
    left: async (...events: ChangeEvent[]) => task.process(events, orders.name),
    right: async (...events: ChangeEvent[]) => task.process(events, customers.name),
  };
}

const on = [{ left: 'customer_id', right: 'id' }];
const ada = { id: 7, name: 'Ada', tier: 'gold' };
const order1 = { id: 1, customer_id: 7, amount: 10 };

const summary = (events: readonly ChangeEvent[]) =>
  events.map((e) =>
    e.value
      ? `${e.value.op} ${JSON.stringify(e.key)} ${JSON.stringify(e.value.before)} -> ${JSON.stringify(e.value.after)}`
      : `tombstone ${JSON.stringify(e.key)}`,
  );

describe('join: inner', () => {
  it('holds a left row back until its right row arrives, then emits it joined', async () => {
    const j = await joiner({ on, prefix: 'customer_', fields: ['name'] });
    expect(await j.left(change('orders', 'c', null, order1))).toEqual([]);
    const out = await j.right(change('customers', 'c', null, ada));
    expect(summary(out)).toEqual([
      `c {"id":1} null -> {"id":1,"customer_id":7,"amount":10,"customer_name":"Ada"}`,
    ]);
    // The source of a row a right change caused is the right change's (same connector shape).
    expect(out[0]!.value!.source.table).toBe('customers');
  });

  it('re-emits the left rows of a right row that changes, and leaves them alone when copied columns did not change', async () => {
    const j = await joiner({ on, prefix: 'customer_', fields: ['name'] });
    await j.right(change('customers', 'r', null, ada));
    await j.left(change('orders', 'c', null, order1), change('orders', 'c', null, { ...order1, id: 2 }));
    const renamed = await j.right(change('customers', 'u', ada, { ...ada, name: 'Ada L.' }));
    expect(summary(renamed)).toEqual([
      `u {"id":1} {"id":1,"customer_id":7,"amount":10,"customer_name":"Ada"} -> {"id":1,"customer_id":7,"amount":10,"customer_name":"Ada L."}`,
      `u {"id":2} {"id":2,"customer_id":7,"amount":10,"customer_name":"Ada"} -> {"id":2,"customer_id":7,"amount":10,"customer_name":"Ada L."}`,
    ]);
    // tier is not copied: nothing to say.
    expect(await j.right(change('customers', 'u', ada, { ...ada, name: 'Ada L.', tier: 'silver' }))).toEqual(
      [],
    );
  });

  it('deletes the joined rows of a deleted right row, each followed by a tombstone', async () => {
    const j = await joiner({ on, prefix: 'c_', fields: ['name'] });
    await j.right(change('customers', 'c', null, ada));
    await j.left(change('orders', 'c', null, order1));
    expect(
      summary(await j.right(change('customers', 'd', { id: 7, name: 'Ada', tier: 'gold' }, null))),
    ).toEqual([
      `d {"id":1} {"id":1,"customer_id":7,"amount":10,"c_name":"Ada"} -> null`,
      'tombstone {"id":1}',
    ]);
    // The order still refers to customer 7: it comes back with a new customer 7.
    expect(summary(await j.right(change('customers', 'c', null, { ...ada, name: 'Bea' })))).toEqual([
      `c {"id":1} null -> {"id":1,"customer_id":7,"amount":10,"c_name":"Bea"}`,
    ]);
  });

  it('moves a left row whose join column changes, taking its before image from state', async () => {
    const j = await joiner({ on, prefix: 'c_', fields: ['name'] });
    await j.right(
      change('customers', 'c', null, ada),
      change('customers', 'c', null, { id: 8, name: 'Bo', tier: 'x' }),
    );
    await j.left(change('orders', 'c', null, order1));
    // No before image in the event (REPLICA IDENTITY DEFAULT): the join knows it.
    const moved = await j.left(change('orders', 'u', null, { ...order1, customer_id: 8 }));
    expect(summary(moved)).toEqual([
      `u {"id":1} {"id":1,"customer_id":7,"amount":10,"c_name":"Ada"} -> {"id":1,"customer_id":8,"amount":10,"c_name":"Bo"}`,
    ]);
    // Customer 7 no longer has order 1.
    expect(await j.right(change('customers', 'u', ada, { ...ada, name: 'Ada L.' }))).toEqual([]);
    expect(
      summary(await j.right(change('customers', 'u', { id: 8 }, { id: 8, name: 'Bob', tier: 'x' }))),
    ).toHaveLength(1);
  });

  it('drops a left row whose right row is gone or whose join column is null, and deletes it on a left delete', async () => {
    const j = await joiner({ on, prefix: 'c_', fields: ['name'] });
    await j.right(change('customers', 'c', null, ada));
    await j.left(change('orders', 'c', null, order1));
    expect(summary(await j.left(change('orders', 'u', order1, { ...order1, customer_id: null })))).toEqual([
      `d {"id":1} {"id":1,"customer_id":7,"amount":10,"c_name":"Ada"} -> null`,
      'tombstone {"id":1}',
    ]);
    expect(await j.left(change('orders', 'd', { id: 1 }, null))).toEqual([]);
    await j.left(change('orders', 'c', null, { ...order1, id: 3 }));
    expect(summary(await j.left(change('orders', 'd', { id: 3 }, null)))).toEqual([
      `d {"id":3} {"id":3,"customer_id":7,"amount":10,"c_name":"Ada"} -> null`,
      'tombstone {"id":3}',
    ]);
  });

  it('passes snapshot reads on as reads', async () => {
    const j = await joiner({ on, prefix: 'c_', fields: ['name'] });
    await j.right(change('customers', 'r', null, ada));
    const read = await j.left(change('orders', 'r', null, order1));
    expect(read[0]!.value!.op).toBe('r');
  });

  it('treats a truncate of either input as deleting its rows', async () => {
    const j = await joiner({ on, prefix: 'c_', fields: ['name'] });
    await j.right(change('customers', 'c', null, ada));
    await j.left(change('orders', 'c', null, order1));
    const truncate = (table: 'orders' | 'customers') => ({
      key: null,
      value: { before: null, after: null, source: source(table), op: 't' as const, ts_ms: 1 },
    });
    expect(summary(await j.right(truncate('customers')))).toEqual([
      `d {"id":1} {"id":1,"customer_id":7,"amount":10,"c_name":"Ada"} -> null`,
      'tombstone {"id":1}',
    ]);
    expect(await j.left(truncate('orders'))).toEqual([]);
    expect(await j.right(change('customers', 'c', null, ada))).toEqual([]);
  });

  it('refuses events from an input it does not have', async () => {
    const j = await joiner({ on });
    const task = await joinProcessor.create(parseConfig(joinProcessor.config, { on }), j.ctx);
    await expect(async () =>
      task.process([change('orders', 'c', null, order1)], 'shop/public.other'),
    ).rejects.toThrow(/neither its left input "shop\/public.orders" nor its right "shop\/public.customers"/);
  });
});

describe('join: tombstones', () => {
  it('removes a row whose only trace is its tombstone (its delete compacted away), on either side', async () => {
    const j = await joiner({ on, prefix: 'c_', fields: ['name'] });
    await j.right(change('customers', 'c', null, ada));
    await j.left(change('orders', 'c', null, order1), change('orders', 'c', null, { ...order1, id: 2 }));
    expect(summary(await j.left({ key: { id: 1 }, value: null }))).toEqual([
      `d {"id":1} {"id":1,"customer_id":7,"amount":10,"c_name":"Ada"} -> null`,
      'tombstone {"id":1}',
    ]);
    const gone = await j.right({ key: { id: 7 }, value: null });
    expect(summary(gone)).toEqual([
      `d {"id":2} {"id":2,"customer_id":7,"amount":10,"c_name":"Ada"} -> null`,
      'tombstone {"id":2}',
    ]);
    // With no right source to pass on, the row keeps its left row's source block.
    expect(gone[0]!.value!.source.table).toBe('orders');
    // The order still refers to customer 7: a new customer 7 brings it back.
    expect(summary(await j.right(change('customers', 'c', null, { ...ada, name: 'Bea' })))).toEqual([
      `c {"id":2} null -> {"id":2,"customer_id":7,"amount":10,"c_name":"Bea"}`,
    ]);
  });

  it('changes nothing with a tombstone that follows its delete', async () => {
    const j = await joiner({ on, prefix: 'c_', fields: ['name'] });
    await j.right(change('customers', 'c', null, ada));
    await j.left(change('orders', 'c', null, order1));
    await j.left(change('orders', 'd', order1, null));
    expect(await j.left({ key: { id: 1 }, value: null })).toEqual([]);
    await j.right(change('customers', 'd', ada, null));
    expect(await j.right({ key: { id: 7 }, value: null })).toEqual([]);
  });
});

describe('join: left', () => {
  it('keeps every left row, with null right columns while no right row matches', async () => {
    const j = await joiner({ on, kind: 'left', prefix: 'c_', fields: ['name'] });
    expect(summary(await j.left(change('orders', 'c', null, order1)))).toEqual([
      `c {"id":1} null -> {"id":1,"customer_id":7,"amount":10,"c_name":null}`,
    ]);
    expect(summary(await j.right(change('customers', 'c', null, ada)))).toEqual([
      `u {"id":1} {"id":1,"customer_id":7,"amount":10,"c_name":null} -> {"id":1,"customer_id":7,"amount":10,"c_name":"Ada"}`,
    ]);
    expect(summary(await j.right(change('customers', 'd', ada, null)))).toEqual([
      `u {"id":1} {"id":1,"customer_id":7,"amount":10,"c_name":"Ada"} -> {"id":1,"customer_id":7,"amount":10,"c_name":null}`,
    ]);
    expect(summary(await j.left(change('orders', 'u', order1, { ...order1, customer_id: null })))).toEqual([
      `u {"id":1} {"id":1,"customer_id":7,"amount":10,"c_name":null} -> {"id":1,"customer_id":null,"amount":10,"c_name":null}`,
    ]);
  });
});

describe('join: state', () => {
  it('goes on from its state after a restart as if it had never stopped', async () => {
    const first = await joiner({ on, prefix: 'c_', fields: ['name'] });
    await first.right(change('customers', 'c', null, ada));
    await first.left(change('orders', 'c', null, order1));
    const ctx = await createTestContext({ inputs: [orders, customers], state: first.ctx.state.snapshot() });
    const restarted = await joiner({ on, prefix: 'c_', fields: ['name'] }, ctx);
    expect(summary(await restarted.right(change('customers', 'u', ada, { ...ada, name: 'Ada L.' })))).toEqual(
      [
        `u {"id":1} {"id":1,"customer_id":7,"amount":10,"c_name":"Ada"} -> {"id":1,"customer_id":7,"amount":10,"c_name":"Ada L."}`,
      ],
    );
  });

  it("gives a left row stored before a column was added the column's default", async () => {
    const first = await joiner({ on, prefix: 'c_', fields: ['name'] });
    await first.right(change('customers', 'c', null, ada));
    await first.left(change('orders', 'c', null, { id: 1, customer_id: 7 } as unknown as Row));
    const ctx = await createTestContext({ inputs: [orders, customers], state: first.ctx.state.snapshot() });
    const evolved = await joiner({ on, prefix: 'c_', fields: ['name'] }, ctx);
    const [out] = await evolved.right(change('customers', 'u', ada, { ...ada, name: 'Bea' }));
    expect(out!.value!.after).toEqual({ id: 1, customer_id: 7, amount: 0, c_name: 'Bea' });
  });

  it('keeps bytes and big integers exact through its state', async () => {
    const j = await joiner({ on, prefix: 'c_' });
    const rich = { id: 7, name: 'Ada', tier: Buffer.from([0, 1, 255]) as unknown as string };
    await j.right(change('customers', 'c', null, rich));
    const [out] = await j.left(
      change('orders', 'c', null, { ...order1, amount: (2n ** 60n) as unknown as number }),
    );
    expect(out!.value!.after!.c_tier).toEqual(Buffer.from([0, 1, 255]));
    const [again] = await j.right(change('customers', 'u', rich, { ...rich, name: 'Bea' }));
    expect(again!.value!.after!.amount).toBe(2n ** 60n);
  });
});

describe('join: matches SQL', () => {
  for (const kind of ['inner', 'left'] as const) {
    for (const seed of [1, 2, 3]) {
      it(`${kind} join: the view its changes build equals the join of the final tables (seed ${seed})`, async () => {
        const j = await joiner({ on, kind, prefix: 'c_', fields: ['name'] });
        const history = shopHistory(random(seed), 600);
        const view = new Map<string, Row>();
        const apply = (events: readonly ChangeEvent[]) => {
          for (const e of events) {
            const key = JSON.stringify(e.key);
            if (!e.value) continue;
            if (e.value.op === 'd') {
              expect(view.has(key)).toBe(true);
              view.delete(key);
            } else {
              if (e.value.op === 'u') expect(view.get(key)).toEqual(e.value.before);
              view.set(key, e.value.after!);
            }
          }
        };
        for (const { table, event } of history.changes) {
          apply(await (table === 'orders' ? j.left(event) : j.right(event)));
        }
        expect(Object.fromEntries(view)).toEqual(expectedJoin(history, kind));
      });
    }
  }
});

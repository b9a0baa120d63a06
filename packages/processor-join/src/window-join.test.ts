import { describe, expect, it } from 'vitest';
import { parseConfig, PlanError, type ChangeEvent, type Operation, type Row } from '@datamesh/core';
import { createTestContext } from '@datamesh/testkit';
import { joinProcessor } from './join-processor.js';
import { orders, payments } from './__fixtures__/shop.js';
import { random } from './__fixtures__/random.js';

function change(
  table: 'orders' | 'payments',
  op: Operation,
  before: Row | null,
  after: Row | null,
  t: number,
) {
  const row = after ?? before;
  return {
    key: row ? { id: row.id } : null,
    value: {
      before,
      after,
      source: { connector: 'postgres', name: 'shop', ts_ms: t, snapshot: 'false', table },
      op,
      ts_ms: t + 5,
    },
  } satisfies ChangeEvent;
}

async function windowJoin(config: Record<string, unknown>) {
  const ctx = await createTestContext({ plugin: 'join', inputs: [orders, payments] });
  const parsed = parseConfig(joinProcessor.config, {
    on: [{ left: 'id', right: 'order_id' }],
    prefix: 'payment_',
    fields: ['id', 'paid'],
    ...config,
  });
  const task = await joinProcessor.create(parsed, ctx);
  return {
    ctx,
    plan: joinProcessor.plan([orders, payments], parsed),
    orders: async (...events: ChangeEvent[]) => summary(await task.process(events, orders.name)),
    payments: async (...events: ChangeEvent[]) => summary(await task.process(events, payments.name)),
    raw: (events: ChangeEvent[], input: string) => task.process(events, input),
  };
}

const summary = (events: readonly ChangeEvent[]) =>
  events.map((e) =>
    e.value
      ? `${e.value.op} ${JSON.stringify(e.key)} ${e.value.before ? `${e.value.before.payment_paid ?? 'null'}` : '-'}>${e.value.after ? `${e.value.after.payment_paid ?? 'null'}` : '-'}`
      : `tombstone ${JSON.stringify(e.key)}`,
  );

const order = (id: number) => ({ id, customer_id: 1, amount: 10 });
const payment = (id: number, orderId: number | null, paid: number) => ({ id, order_id: orderId, paid });

describe('join in a window', () => {
  it('keys its rows by both keys and plans the right key nullable in a left join', async () => {
    const inner = await windowJoin({ window: { withinMs: 1000 } });
    expect(inner.plan.keySchema.fields.map((f) => [f.name, f.type])).toEqual([
      ['id', 'long'],
      ['payment_id', 'long'],
    ]);
    const left = await windowJoin({ window: { withinMs: 1000 }, kind: 'left' });
    expect(left.plan.keySchema.fields[1]).toEqual({
      name: 'payment_id',
      type: ['null', 'long'],
      default: null,
    });
    expect(left.plan.lineage.find((l) => l.output === 'after.payment_paid')?.transform).toBe(
      'left join on id = order_id within 1000 ms',
    );
  });

  it('pairs rows whose times are within the window, and no others', async () => {
    const j = await windowJoin({ window: { withinMs: 1000 } });
    expect(await j.orders(change('orders', 'c', null, order(1), 1000))).toEqual([]);
    expect(await j.payments(change('payments', 'c', null, payment(10, 1, 5), 1900))).toEqual([
      'c {"id":1,"payment_id":10} ->5',
    ]);
    expect(await j.payments(change('payments', 'c', null, payment(11, 1, 7), 2100))).toEqual([]);
    // Several payments of one order: one row each (a payment may come before its order).
    expect(await j.payments(change('payments', 'c', null, payment(12, 1, 9), 1200))).toEqual([
      'c {"id":1,"payment_id":12} ->9',
    ]);
  });

  it('updates, moves and deletes pairs with the rows they are made of', async () => {
    const j = await windowJoin({ window: { withinMs: 1000 } });
    await j.orders(change('orders', 'c', null, order(1), 1000), change('orders', 'c', null, order(2), 1000));
    await j.payments(change('payments', 'c', null, payment(10, 1, 5), 1100));
    expect(await j.payments(change('payments', 'u', payment(10, 1, 5), payment(10, 1, 6), 1200))).toEqual([
      'u {"id":1,"payment_id":10} 5>6',
    ]);
    expect(await j.payments(change('payments', 'u', payment(10, 1, 6), payment(10, 2, 6), 1300))).toEqual([
      'd {"id":1,"payment_id":10} 6>-',
      'tombstone {"id":1,"payment_id":10}',
      'c {"id":2,"payment_id":10} ->6',
    ]);
    expect(await j.orders(change('orders', 'd', { id: 2 }, null, 1400))).toEqual([
      'd {"id":2,"payment_id":10} 6>-',
      'tombstone {"id":2,"payment_id":10}',
    ]);
    // A payment with no order id matches nothing.
    expect(await j.payments(change('payments', 'c', null, payment(11, null, 1), 1400))).toEqual([]);
  });

  it('left join: outputs an unmatched left row once its window closed, and replaces it when a match arrives in the grace', async () => {
    const j = await windowJoin({ window: { withinMs: 1000, graceMs: 500 }, kind: 'left' });
    // Stream time moves once both inputs had a change: a payment of another order.
    await j.payments(change('payments', 'c', null, payment(90, 99, 1), 900));
    expect(await j.orders(change('orders', 'c', null, order(1), 1000))).toEqual([]);
    await j.payments(change('payments', 'c', null, payment(91, 99, 1), 2600));
    // Stream time 2500 is not past 1000 + 1000 + 500 yet.
    expect(await j.orders(change('orders', 'c', null, order(2), 2500))).toEqual([]);
    expect(await j.orders(change('orders', 'c', null, order(3), 2600))).toEqual([
      'c {"id":1,"payment_id":null} ->null',
    ]);
    // Within the grace a payment of order 1 still counts: its pair replaces the unmatched row.
    expect(await j.payments(change('payments', 'c', null, payment(10, 1, 5), 1800))).toEqual([
      'c {"id":1,"payment_id":10} ->5',
      'd {"id":1,"payment_id":null} null>-',
      'tombstone {"id":1,"payment_id":null}',
    ]);
    // Deleting the payment leaves order 1 unmatched again, at once: its window closed.
    expect(await j.payments(change('payments', 'd', payment(10, 1, 5), null, 1900))).toEqual([
      'd {"id":1,"payment_id":10} 5>-',
      'tombstone {"id":1,"payment_id":10}',
      'c {"id":1,"payment_id":null} ->null',
    ]);
    // A change of order 1 opens a new window for it: its unmatched row goes until that one closes.
    expect(await j.orders(change('orders', 'u', order(1), { ...order(1), amount: 99 }, 2000))).toEqual([
      'd {"id":1,"payment_id":null} null>-',
      'tombstone {"id":1,"payment_id":null}',
    ]);
  });

  it('does not make one input late because the other was read ahead of it', async () => {
    const j = await windowJoin({ window: { withinMs: 1000 } });
    await j.payments(change('payments', 'c', null, payment(90, 99, 1), 0));
    // A backlog of orders read first, far ahead of the payments.
    await j.orders(change('orders', 'c', null, order(1), 1000), change('orders', 'c', null, order(2), 5000));
    expect(await j.payments(change('payments', 'c', null, payment(10, 1, 5), 1100))).toEqual([
      'c {"id":1,"payment_id":10} ->5',
    ]);
  });

  it('retracts the pairs of a live row whose partner already left the state', async () => {
    const j = await windowJoin({ window: { withinMs: 10 } });
    await j.payments(change('payments', 'c', null, payment(10, 1, 5), 0));
    expect(await j.orders(change('orders', 'c', null, order(1), 10))).toEqual([
      'c {"id":1,"payment_id":10} ->5',
    ]);
    // Both inputs at 21: the payment (0 < 21 − 2 × 10) leaves the state.
    await j.orders(change('orders', 'c', null, order(2), 21));
    await j.payments(change('payments', 'c', null, payment(11, 99, 1), 21));
    expect(Object.keys(j.ctx.state.snapshot()).some((k) => k.startsWith('r\u0000') && k.includes('10'))).toBe(
      false,
    );
    expect(await j.orders(change('orders', 'd', order(1), null, 22))).toEqual([
      'd {"id":1,"payment_id":10} 5>-',
      'tombstone {"id":1,"payment_id":10}',
    ]);
  });

  it('drops changes that arrive after their window and grace, counting them', async () => {
    const j = await windowJoin({ window: { withinMs: 1000, graceMs: 0 } });
    await j.orders(change('orders', 'c', null, order(1), 10_000));
    await j.payments(change('payments', 'c', null, payment(9, 99, 5), 10_000));
    expect(await j.payments(change('payments', 'c', null, payment(10, 2, 5), 8_000))).toEqual([]);
    const late = await j.ctx.registry.getSingleMetric('datamesh_plugin_join_late_changes_total')!.get();
    expect(late.values[0]!.value).toBe(1);
  });

  it('keeps state bounded: rows that can match nothing in time leave it', async () => {
    const j = await windowJoin({ window: { withinMs: 100 } });
    for (let i = 0; i < 200; i++) {
      await j.orders(change('orders', 'c', null, order(i), i * 50));
      await j.payments(change('payments', 'c', null, payment(i, i, i), i * 50 + 10));
    }
    const keys = Object.keys(j.ctx.state.snapshot());
    // Rows older than stream time − 2 × 100 ms are gone: a handful of recent ones remain.
    expect(keys.filter((k) => k.startsWith('l\u0000')).length).toBeLessThanOrEqual(6);
    expect(keys.length).toBeLessThan(60);
  });

  it('refuses right key fields that clash with the left key, and a window join that is not asked for', () => {
    const parsed = parseConfig(joinProcessor.config, {
      on: [{ left: 'id', right: 'order_id' }],
      window: { withinMs: 10 },
    });
    expect(() => joinProcessor.plan([orders, payments], parsed)).toThrow(PlanError);
    expect(() => joinProcessor.plan([orders, payments], parsed)).toThrow(
      /right key column "id" would be output as key field "id"/,
    );
    const table = parseConfig(joinProcessor.config, {
      on: [{ left: 'id', right: 'order_id' }],
      prefix: 'p_',
    });
    expect(() => joinProcessor.plan([orders, payments], table)).toThrow(
      /looked up by its key \(id\).*or join two streams in a "window"/,
    );
  });
});

describe('join in a window: matches the pairs of the final rows', () => {
  for (const seed of [1, 2, 3]) {
    it(`the view its changes build equals every in-window pair of the final rows (seed ${seed})`, async () => {
      const withinMs = 300;
      // Times wander within a span the window never expires (no change is late, no row leaves the state).
      const j = await windowJoin({ window: { withinMs, graceMs: 10_000 } });
      const next = random(seed);
      const rows = {
        orders: new Map<number, Row & { t: number }>(),
        payments: new Map<number, Row & { t: number }>(),
      };
      const view = new Map<string, Row>();
      for (let step = 0; step < 700; step++) {
        const table = next(2) === 0 ? 'orders' : 'payments';
        const id = next(table === 'orders' ? 15 : 25);
        const t = 1000 + next(1000);
        const current = rows[table];
        const before = current.get(id) ?? null;
        const remove = before !== null && next(4) === 0;
        const after = remove
          ? null
          : table === 'orders'
            ? order(id)
            : payment(id, next(5) === 0 ? null : next(15), next(50));
        if (after) current.set(id, { ...after, t });
        else current.delete(id);
        const out = await j.raw(
          [change(table, before ? (after ? 'u' : 'd') : 'c', before, after, t)],
          table === 'orders' ? orders.name : payments.name,
        );
        for (const e of out) {
          const key = JSON.stringify(e.key);
          if (!e.value) continue;
          if (e.value.op === 'd') view.delete(key);
          else view.set(key, e.value.after!);
        }
      }
      const expected = new Map<string, Row>();
      for (const o of rows.orders.values()) {
        for (const p of rows.payments.values()) {
          if (p.order_id !== o.id || Math.abs(p.t - o.t) > withinMs) continue;
          expected.set(JSON.stringify({ id: o.id, payment_id: p.id }), {
            id: o.id,
            customer_id: 1,
            amount: 10,
            payment_id: p.id,
            payment_paid: p.paid,
          });
        }
      }
      expect(Object.fromEntries([...view].sort())).toEqual(Object.fromEntries([...expected].sort()));
    });
  }
});

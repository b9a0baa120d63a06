import {
  envelopeSchemas,
  type ChangeEvent,
  type Operation,
  type ProcessorInput,
  type Row,
} from '@datamesh/core';

export const source = (table: string, ts = 1_700_000_000_000) => ({
  connector: 'postgres',
  name: 'shop',
  ts_ms: ts,
  snapshot: 'false',
  db: 'shop',
  schema: 'public',
  table,
});

export const orders: ProcessorInput = {
  name: 'shop/public.orders',
  ...envelopeSchemas({
    name: 'shop.public.orders',
    keyFields: ['id'],
    fields: [
      { name: 'id', type: 'long' },
      { name: 'customer_id', type: ['null', 'long'], default: null },
      { name: 'amount', type: 'double', default: 0 },
    ],
  }),
};
export const customers: ProcessorInput = {
  name: 'shop/public.customers',
  ...envelopeSchemas({
    name: 'shop.public.customers',
    keyFields: ['id'],
    fields: [
      { name: 'id', type: 'long' },
      { name: 'name', type: 'string' },
      { name: 'tier', type: 'string' },
    ],
  }),
};

export function change(table: 'orders' | 'customers', op: Operation, before: Row | null, after: Row | null) {
  const row = after ?? before;
  return {
    key: row ? { id: row.id } : null,
    value: { before, after, source: source(table), op, ts_ms: 1_700_000_000_100 },
  } satisfies ChangeEvent;
}

/** Payments of orders: a stream to join with orders in a time window (order_id may be null). */
export const payments: ProcessorInput = {
  name: 'shop/public.payments',
  ...envelopeSchemas({
    name: 'shop.public.payments',
    keyFields: ['id'],
    fields: [
      { name: 'id', type: 'long' },
      { name: 'order_id', type: ['null', 'long'], default: null },
      { name: 'paid', type: 'double' },
    ],
  }),
};

/** A change of the shop's tables, as a source emits it. */
export interface ShopChange {
  readonly table: 'orders' | 'customers';
  readonly event: ChangeEvent;
}

/**
 * A random history of the shop's tables (`next` picks numbers below its argument): orders created, moved between
 * customers (or to none), deleted (some followed by a tombstone); customers created, renamed, deleted. Answers the
 * changes and the tables they leave.
 */
export function shopHistory(next: (n: number) => number, steps: number) {
  const orderRows = new Map<number, Row>();
  const customerRows = new Map<number, Row>();
  const changes: ShopChange[] = [];
  for (let step = 0; step < steps; step++) {
    if (next(2) === 0) {
      const id = next(30);
      const before = orderRows.get(id) ?? null;
      const remove = before !== null && next(4) === 0;
      const after = remove ? null : { id, customer_id: next(6) === 0 ? null : next(8), amount: next(100) };
      if (after) orderRows.set(id, after);
      else orderRows.delete(id);
      // Half of the updates and deletes carry only the key as their before image.
      const image = before && next(2) === 0 ? { id } : before;
      changes.push({
        table: 'orders',
        event: change('orders', before ? (after ? 'u' : 'd') : 'c', image, after),
      });
      if (!after && next(2) === 0) changes.push({ table: 'orders', event: { key: { id }, value: null } });
    } else {
      const id = next(8);
      const before = customerRows.get(id) ?? null;
      const remove = before !== null && next(3) === 0;
      const after = remove ? null : { id, name: `n${next(5)}`, tier: `t${next(3)}` };
      if (after) customerRows.set(id, after);
      else customerRows.delete(id);
      changes.push({
        table: 'customers',
        event: change('customers', before ? (after ? 'u' : 'd') : 'c', before, after),
      });
    }
  }
  return { changes, orderRows, customerRows };
}

/** The rows of `orders` joined with `customers` (their name as `c_name`), by order key. */
export function expectedJoin(
  history: Pick<ReturnType<typeof shopHistory>, 'orderRows' | 'customerRows'>,
  kind: 'inner' | 'left',
): Record<string, Row> {
  const expected: Record<string, Row> = {};
  for (const order of history.orderRows.values()) {
    const customer =
      order.customer_id === null ? undefined : history.customerRows.get(order.customer_id as number);
    if (!customer && kind === 'inner') continue;
    expected[JSON.stringify({ id: order.id })] = { ...order, c_name: customer?.name ?? null };
  }
  return expected;
}

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

import type { ChangeEvent } from '@datamesh/core';
import { describeProcessorConformance } from '@datamesh/testkit';
import { order as fullOrder, ORDER_FIELDS, ordersInput, source } from './__fixtures__/orders.js';
import { projectionProcessor } from './projection-processor.js';

// Without the decimal (bytes) column: the suite's check that events are left untouched compares them with a
// structuredClone, which turns a Buffer into a plain Uint8Array. Decimals are covered by the unit tests.
const FIELDS = ORDER_FIELDS.filter((field) => field.name !== 'price');
const { price: _price, ...order } = fullOrder;
const input = ordersInput(FIELDS);
const paid = { ...order, note: 'leave at the door', previous_status: null, address: null };

const events: ChangeEvent[] = [
  { key: { id: 7 }, value: { before: null, after: order, op: 'r', ts_ms: 1_700_000_000_100, source } },
  { key: { id: 7 }, value: { before: order, after: paid, op: 'u', ts_ms: 1_700_000_000_200, source } },
  { key: { id: 7 }, value: { before: paid, after: null, op: 'd', ts_ms: 1_700_000_000_300, source } },
  { key: { id: 7 }, value: null },
  {
    key: { id: 8 },
    value: {
      before: null,
      after: { ...order, id: 8, amount: -1.5 },
      op: 'c',
      ts_ms: 1_700_000_000_400,
      source,
    },
  },
];

describeProcessorConformance('projection', {
  plugin: projectionProcessor,
  config: {
    fields: [
      { name: 'id' },
      { name: 'customer', from: 'customer_id' },
      { name: 'total', expr: 'row.amount * 1.2' },
      { name: 'placed_text', from: 'created_at', cast: 'string' },
      { name: 'placed', expr: 'row.created_at' },
      { name: 'city', expr: 'row.address != null ? row.address.city : "unknown"' },
      { name: 'previous_status' },
      { name: 'home', expr: 'row.address' },
    ],
    others: 'keep',
  },
  inputs: [input],
  events,
  invalidConfigs: [
    { config: {}, paths: ['/fields'] },
    { config: { fields: [] }, paths: ['/fields'] },
    { config: { fields: [{ name: '1st' }], others: 'all' }, paths: ['/fields/0/name', '/others'] },
    { config: { fields: [{ name: 'a', cast: 'text', as: 'b' }] }, paths: ['/fields/0/cast', '/fields/0/as'] },
    { config: { fields: [{ from: 'a', expr: '' }] }, paths: ['/fields/0/name', '/fields/0/expr'] },
  ],
  badInputs: [
    // No customer_id to rename.
    [ordersInput(FIELDS.filter((field) => field.name !== 'customer_id'))],
    // The expression multiplies a string.
    [
      ordersInput(
        ORDER_FIELDS.map((field) => (field.name === 'amount' ? { ...field, type: 'string' } : field)),
      ),
    ],
    // A created_at of a type that cannot be cast to a string.
    [
      ordersInput(
        FIELDS.map((field) =>
          field.name === 'created_at' ? { ...field, type: { type: 'array', items: 'long' } as never } : field,
        ),
      ),
    ],
    // Projection takes exactly one input.
    [],
    [input, { ...input, name: 'shop/public.orders-archive' }],
  ],
});

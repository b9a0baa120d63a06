import { envelopeSchemas, type ProcessorInput } from '@datamesh/core';
import { describeProcessorConformance } from '@datamesh/testkit';
import { joinProcessor } from './join-processor.js';
import { change, customers, orders, payments } from './__fixtures__/shop.js';

const ordersWith = (customerId: unknown): ProcessorInput => ({
  name: orders.name,
  ...envelopeSchemas({
    name: 'shop.public.orders',
    keyFields: ['id'],
    fields: [
      { name: 'id', type: 'long' },
      ...(customerId === undefined ? [] : [{ name: 'customer_id', type: customerId as 'long' }]),
    ],
  }),
});

const ada = { id: 7, name: 'Ada', tier: 'gold' };
const order = { id: 1, customer_id: 7, amount: 10 };

for (const kind of ['inner', 'left'] as const) {
  describeProcessorConformance(`join (${kind})`, {
    plugin: joinProcessor,
    config: { kind, on: [{ left: 'customer_id', right: 'id' }], prefix: 'customer_' },
    inputs: [orders, customers],
    events: [],
    batches: [
      { input: orders.name, events: [change('orders', 'c', null, { ...order, id: 2, customer_id: null })] },
      { input: customers.name, events: [change('customers', 'r', null, ada)] },
      { input: orders.name, events: [change('orders', 'c', null, order)] },
      { input: customers.name, events: [change('customers', 'u', ada, { ...ada, name: 'Ada L.' })] },
      { input: orders.name, events: [change('orders', 'u', { id: 1 }, { ...order, amount: 12 })] },
      {
        input: customers.name,
        events: [change('customers', 'd', ada, null), { key: { id: 7 }, value: null }],
      },
      { input: orders.name, events: [change('orders', 'd', order, null)] },
    ],
    invalidConfigs: [
      { config: {}, paths: ['/on'] },
      { config: { on: [], kind: 'outer' }, paths: ['/on', '/kind'] },
      { config: { on: [{ left: 'customer_id' }], fields: [] }, paths: ['/on/0/right', '/fields'] },
    ],
    badInputs: [
      // One input only.
      [orders],
      // The left input has no join column.
      [ordersWith(undefined), customers],
      // A join column whose values can never equal the right key.
      [ordersWith('string'), customers],
      // Inputs the other way round: customers has no customer_id.
      [customers, orders],
    ],
  });
}

const payment = { id: 10, order_id: 1, paid: 5 };
const paymentChange = (op: 'c' | 'u' | 'd', before: typeof payment | null, after: typeof payment | null) => ({
  ...change('customers', op, before, after),
  key: { id: 10 },
});

for (const kind of ['inner', 'left'] as const) {
  describeProcessorConformance(`join in a window (${kind})`, {
    plugin: joinProcessor,
    config: {
      kind,
      on: [{ left: 'id', right: 'order_id' }],
      prefix: 'payment_',
      window: { withinMs: 60_000 },
    },
    inputs: [orders, payments],
    events: [],
    batches: [
      { input: orders.name, events: [change('orders', 'c', null, order)] },
      { input: payments.name, events: [paymentChange('c', null, payment)] },
      { input: payments.name, events: [paymentChange('u', payment, { ...payment, paid: 7 })] },
      { input: orders.name, events: [change('orders', 'd', order, null)] },
    ],
    invalidConfigs: [
      { config: { on: [{ left: 'id', right: 'order_id' }], window: {} }, paths: ['/window/withinMs'] },
      {
        config: { on: [{ left: 'id', right: 'order_id' }], window: { withinMs: -1, time: 'wall' } },
        paths: ['/window/withinMs', '/window/time'],
      },
    ],
    badInputs: [
      [orders],
      // No order_id on the right.
      [orders, customers],
    ],
  });
}

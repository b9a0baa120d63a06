import { envelopeSchemas, type ChangeEvent, type ProcessorInput } from '@datamesh/core';
import { describeProcessorConformance } from '@datamesh/testkit';
import { __EXPORT__ } from './__NAME__-processor.js';

// The suite every datamesh processor passes: branding, config validation with field paths, a plan with parseable
// schemas, lineage and `consumes`, bad inputs refused with a PlanError, and outputs that match the planned schemas.

function orders(fields: Parameters<typeof envelopeSchemas>[0]['fields']): ProcessorInput {
  return { name: 'orders', ...envelopeSchemas({ name: 'shop.public.orders', keyFields: ['id'], fields }) };
}

const input = orders([
  { name: 'id', type: 'long' },
  { name: 'customer', type: 'string' },
  { name: 'amount', type: ['null', 'double'], default: null },
]);

const source = {
  connector: 'test',
  name: 'shop',
  ts_ms: 1_700_000_000_000,
  snapshot: 'false',
  db: 'shop',
  schema: 'public',
  table: 'orders',
};
const small = { id: 1, customer: 'ada', amount: 12.5 };
const large = { ...small, amount: 1250 };

const events: ChangeEvent[] = [
  { key: { id: 1 }, value: { before: null, after: small, op: 'c', ts_ms: 1_700_000_000_100, source } },
  { key: { id: 1 }, value: { before: small, after: large, op: 'u', ts_ms: 1_700_000_000_200, source } },
  {
    key: { id: 1 },
    value: { before: large, after: { ...large, amount: null }, op: 'u', ts_ms: 1_700_000_000_300, source },
  },
  { key: { id: 1 }, value: { before: large, after: null, op: 'd', ts_ms: 1_700_000_000_400, source } },
  { key: { id: 1 }, value: null },
];

describeProcessorConformance('__NAME__', {
  plugin: __EXPORT__,
  config: { field: 'amount', threshold: 100 },
  inputs: [input],
  events,
  invalidConfigs: [
    { config: {}, paths: ['/field'] },
    { config: { field: '', threshold: 'high' }, paths: ['/field', '/threshold'] },
    { config: { field: 'amount', flag: 'not a name', colour: 'red' }, paths: ['/flag', '/colour'] },
  ],
  badInputs: [
    // No such field.
    [
      orders([
        { name: 'id', type: 'long' },
        { name: 'customer', type: 'string' },
      ]),
    ],
    // Not a number.
    [
      orders([
        { name: 'id', type: 'long' },
        { name: 'amount', type: 'string' },
      ]),
    ],
    // Exactly one input.
    [],
    [input, { ...input, name: 'more-orders' }],
  ],
});

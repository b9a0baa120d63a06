import { envelopeSchemas, type ChangeEvent, type ProcessorInput } from '@datamesh/core';
import { describeProcessorConformance } from '@datamesh/testkit';
import { filterProcessor } from './filter-processor.js';

function orders(fields: Parameters<typeof envelopeSchemas>[0]['fields']): ProcessorInput {
  return {
    name: 'shop/public.orders',
    ...envelopeSchemas({ name: 'shop.public.orders', keyFields: ['id'], fields }),
  };
}

const input = orders([
  { name: 'id', type: 'long' },
  { name: 'amount', type: 'double' },
  { name: 'region', type: ['null', 'string'], default: null },
  { name: 'created_at', type: { type: 'long', logicalType: 'timestamp-millis' } as never },
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
const eu = { id: 1, amount: 250, region: 'EU', created_at: 1_700_000_000_000 };
const us = { id: 2, amount: 90, region: 'US', created_at: 1_700_000_000_000 };

const events: ChangeEvent[] = [
  { key: { id: 1 }, value: { before: null, after: eu, op: 'r', ts_ms: 1_700_000_000_100, source } },
  { key: { id: 2 }, value: { before: null, after: us, op: 'c', ts_ms: 1_700_000_000_200, source } },
  {
    key: { id: 1 },
    value: { before: eu, after: { ...eu, amount: 300 }, op: 'u', ts_ms: 1_700_000_000_300, source },
  },
  { key: { id: 2 }, value: { before: us, after: null, op: 'd', ts_ms: 1_700_000_000_400, source } },
  { key: { id: 2 }, value: null },
];

describeProcessorConformance('filter', {
  plugin: filterProcessor,
  config: { condition: 'row.region == "EU" && row.amount >= 100.0' },
  inputs: [input],
  events,
  invalidConfigs: [
    { config: {}, paths: ['/condition'] },
    { config: { condition: '', tombstones: 'forget' }, paths: ['/condition', '/tombstones'] },
    { config: { condition: 'true', onError: 'ignore', when: 'always' }, paths: ['/onError', '/when'] },
  ],
  badInputs: [
    // The condition reads a field the input does not have.
    [
      orders([
        { name: 'id', type: 'long' },
        { name: 'amount', type: 'double' },
      ]),
    ],
    // A field of another type: a string compared with a double.
    [
      orders([
        { name: 'id', type: 'long' },
        { name: 'amount', type: 'string' },
        { name: 'region', type: 'string' },
      ]),
    ],
    // Filter takes exactly one input.
    [],
    [input, { ...input, name: 'shop/public.orders-eu' }],
  ],
});

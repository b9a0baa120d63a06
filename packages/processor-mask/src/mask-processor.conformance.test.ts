import { envelopeSchemas, type ChangeEvent, type ProcessorInput } from '@datamesh/core';
import { describeProcessorConformance } from '@datamesh/testkit';
import { maskProcessor } from './mask-processor.js';

function customers(fields: Parameters<typeof envelopeSchemas>[0]['fields']): ProcessorInput {
  return {
    name: 'customers',
    ...envelopeSchemas({ name: 'shop.public.customers', keyFields: ['id'], fields }),
  };
}

const input = customers([
  { name: 'id', type: 'long' },
  { name: 'email', type: 'string' },
  { name: 'phone', type: ['null', 'string'], default: null },
  { name: 'age', type: 'int' },
]);

const source = {
  connector: 'test',
  name: 'shop',
  ts_ms: 1_700_000_000_000,
  snapshot: 'false',
  db: 'shop',
  schema: 'public',
  table: 'customers',
};
const ada = { id: 1, email: 'ada@example.com', phone: null, age: 36 };
const adaMoved = { ...ada, phone: '+44 20 7946 0000' };

const events: ChangeEvent[] = [
  { key: { id: 1 }, value: { before: null, after: ada, op: 'r', ts_ms: 1_700_000_000_100, source } },
  { key: { id: 1 }, value: { before: ada, after: adaMoved, op: 'u', ts_ms: 1_700_000_000_200, source } },
  { key: { id: 1 }, value: { before: adaMoved, after: null, op: 'd', ts_ms: 1_700_000_000_300, source } },
  { key: { id: 1 }, value: null },
];

describeProcessorConformance('mask', {
  plugin: maskProcessor,
  config: { fields: ['email', 'phone'], salt: 'pepper' },
  inputs: [input],
  events,
  invalidConfigs: [
    { config: {}, paths: ['/fields'] },
    { config: { fields: [], method: 'scramble' }, paths: ['/fields', '/method'] },
    { config: { fields: [''], salt: 1 }, paths: ['/fields/0', '/salt'] },
  ],
  badInputs: [
    // A field that does not exist.
    [
      customers([
        { name: 'id', type: 'long' },
        { name: 'phone', type: 'string' },
      ]),
    ],
    // A field that is not a string.
    [
      customers([
        { name: 'id', type: 'long' },
        { name: 'email', type: 'long' },
        { name: 'phone', type: 'string' },
      ]),
    ],
    // Mask takes exactly one input.
    [],
    [input, { ...input, name: 'more-customers' }],
  ],
});

import {
  envelopeSchemas,
  type AvroField,
  type ChangeEvent,
  type ProcessorInput,
  type Row,
} from '@datamesh/core';
import { describeProcessorConformance } from '@datamesh/testkit';
import { unionProcessor } from './union-processor.js';

function orders(
  name: string,
  fields: readonly AvroField[],
  { sourceFields = [], keyFields = ['id'] }: { sourceFields?: AvroField[]; keyFields?: string[] } = {},
): ProcessorInput {
  return { name, ...envelopeSchemas({ name: name.replace('/', '.'), keyFields, fields, sourceFields }) };
}

const eu = orders(
  'eu/orders',
  [
    { name: 'id', type: 'long' },
    { name: 'amount', type: 'int' },
    { name: 'note', type: ['null', 'string'], default: null },
  ],
  { sourceFields: [{ name: 'lsn', type: 'long' }] },
);
const us = orders('us/orders', [
  { name: 'id', type: 'long' },
  { name: 'amount', type: 'double' },
  { name: 'currency', type: 'string' },
]);

const source = { connector: 'test', name: 'shop', ts_ms: 1_700_000_000_000, snapshot: 'false' };
const euRow = { id: 1, amount: 12, note: null };
const usRow = { id: 1, amount: 9.5, currency: 'USD' };

/** A snapshot read, an update, a delete and a tombstone of one row. */
const events = (created: Row, updated: Row, sourceFields: Row = {}): ChangeEvent[] => {
  const at = { ...source, ...sourceFields };
  return [
    { key: { id: 1 }, value: { before: null, after: created, op: 'r', ts_ms: 1, source: at } },
    { key: { id: 1 }, value: { before: created, after: updated, op: 'u', ts_ms: 2, source: at } },
    { key: { id: 1 }, value: { before: updated, after: null, op: 'd', ts_ms: 3, source: at } },
    { key: { id: 1 }, value: null },
  ];
};

describeProcessorConformance('union', {
  plugin: unionProcessor,
  config: { origins: { 'us/orders': 'us' } },
  inputs: [eu, us],
  events: events(euRow, { ...euRow, note: 'gift' }, { lsn: 7 }),
  batches: [
    { input: 'eu/orders', events: events(euRow, { ...euRow, note: 'gift' }, { lsn: 7 }) },
    { input: 'us/orders', events: events(usRow, { ...usRow, amount: 10 }) },
  ],
  invalidConfigs: [
    { config: { originField: '1st' }, paths: ['/originField'] },
    {
      config: { origins: { 'eu/orders': '' }, originInKey: 'yes' },
      paths: ['/origins/eu~1orders', '/originInKey'],
    },
    { config: { origin: '_input' }, paths: ['/origin'] },
  ],
  badInputs: [
    [eu],
    [eu, eu],
    // Incompatible amounts.
    [
      eu,
      orders('uk/orders', [
        { name: 'id', type: 'long' },
        { name: 'amount', type: 'string' },
      ]),
    ],
    // Different keys.
    [
      eu,
      orders(
        'ca/orders',
        [
          { name: 'id', type: 'long' },
          { name: 'region', type: 'string' },
        ],
        { keyFields: ['id', 'region'] },
      ),
    ],
  ],
});

import { envelopeSchemas, type AvroField, type Envelope, type Row } from '@datamesh/core';

/** An orders table with one column of each kind of Avro type the expression language maps. */
export const ORDER_FIELDS: AvroField[] = [
  { name: 'id', type: 'long' },
  { name: 'quantity', type: 'int' },
  { name: 'amount', type: 'double' },
  { name: 'status', type: { type: 'enum', name: 'Status', symbols: ['NEW', 'PAID', 'SHIPPED'] } as never },
  { name: 'customer_id', type: { type: 'string', logicalType: 'uuid' } as never },
  { name: 'phone', type: ['null', 'string'], default: null },
  { name: 'paid', type: 'boolean' },
  { name: 'tags', type: { type: 'array', items: 'string' } as never },
  { name: 'attrs', type: { type: 'map', values: 'string' } as never },
  { name: 'created_at', type: { type: 'long', logicalType: 'timestamp-millis' } as never },
  {
    name: 'shipped_at',
    type: ['null', { type: 'long', logicalType: 'timestamp-micros' }] as never,
    default: null,
  },
  { name: 'due', type: { type: 'int', logicalType: 'date' } as never },
  { name: 'price', type: { type: 'bytes', logicalType: 'decimal', precision: 10, scale: 2 } as never },
  {
    name: 'address',
    type: [
      'null',
      {
        type: 'record',
        name: 'Address',
        fields: [
          { name: 'city', type: 'string' },
          { name: 'zip', type: ['null', 'string'], default: null },
        ],
      },
    ] as never,
    default: null,
  },
  { name: 'previous_status', type: ['null', 'Status'] as never, default: null },
  { name: 'blob', type: 'bytes' },
  { name: 'note', type: ['null', 'string', 'long'] as never, default: null },
];

export const orders = envelopeSchemas({
  name: 'shop.public.orders',
  keyFields: ['id'],
  fields: ORDER_FIELDS,
});

/** 12.50 as an Avro decimal(10, 2): the unscaled 1250, big-endian two's complement. */
export const PRICE_12_50 = Buffer.from([0x04, 0xe2]);

export const order: Row = {
  id: 7,
  quantity: 3,
  amount: 129.9,
  status: 'PAID',
  customer_id: '3f2c1d5e-0000-4000-8000-000000000001',
  phone: null,
  paid: true,
  tags: ['gift', 'express'],
  attrs: { color: 'red' },
  created_at: Date.UTC(2024, 0, 15, 14, 30),
  shipped_at: null,
  due: 19_760, // 2024-02-07
  price: PRICE_12_50,
  address: { city: 'Lyon', zip: null },
  previous_status: 'NEW',
  blob: Buffer.from('hi'),
  note: null,
};

export const source = {
  connector: 'postgres',
  name: 'shop',
  ts_ms: 1_700_000_000_000,
  snapshot: 'false',
  db: 'shop',
  schema: 'public',
  table: 'orders',
};

export function envelope(op: Envelope['op'], before: Row | null, after: Row | null): Envelope {
  return { before, after, op, ts_ms: 1_700_000_000_500, source };
}

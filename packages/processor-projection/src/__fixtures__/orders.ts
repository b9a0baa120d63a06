import {
  envelopeSchemas,
  type ChangeEvent,
  type Operation,
  type ProcessorInput,
  type Row,
} from '@datamesh/core';

type Fields = Parameters<typeof envelopeSchemas>[0]['fields'];

export function ordersInput(fields: Fields = ORDER_FIELDS): ProcessorInput {
  return {
    name: 'shop/public.orders',
    ...envelopeSchemas({ name: 'shop.public.orders', keyFields: ['id'], fields }),
  };
}

export const ORDER_FIELDS: Fields = [
  { name: 'id', type: 'long' },
  { name: 'customer_id', type: 'long' },
  { name: 'amount', type: 'double' },
  { name: 'quantity', type: 'int' },
  { name: 'price', type: { type: 'bytes', logicalType: 'decimal', precision: 10, scale: 2 } as never },
  { name: 'status', type: { type: 'enum', name: 'Status', symbols: ['NEW', 'PAID'] } as never },
  { name: 'previous_status', type: ['null', 'Status'] as never, default: null },
  { name: 'note', type: ['null', 'string'], default: null, doc: 'Free text from the customer.' },
  { name: 'created_at', type: { type: 'long', logicalType: 'timestamp-micros' } as never },
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
];

/** Decimal(10, 2) bytes of an amount in cents. */
export function cents(value: number): Buffer {
  const bytes = Buffer.alloc(4);
  bytes.writeInt32BE(value);
  return bytes;
}

export const order: Row = {
  id: 7,
  customer_id: 42,
  amount: 100,
  quantity: 3,
  price: cents(1250),
  status: 'PAID',
  previous_status: 'NEW',
  note: null,
  created_at: 1_705_329_000_123_456,
  address: { city: 'Lyon', zip: null },
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

export function change(op: Operation, before: Row | null, after: Row | null): ChangeEvent {
  return {
    key: { id: (after ?? before)?.['id'] ?? 0 },
    value: { before, after, op, ts_ms: 1_700_000_000_500, source },
  };
}

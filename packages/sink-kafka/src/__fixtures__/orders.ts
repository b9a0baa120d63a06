import { envelopeSchemas, type ChangeEvent, type SinkRecord, type StreamSchemas } from '@datamesh/core';

/** The orders table of the tests: key `id`, an optional customer, an amount and optional bytes. */
export const ordersSchema: StreamSchemas = envelopeSchemas({
  name: 'shop.public.orders',
  fields: [
    { name: 'id', type: 'int' },
    { name: 'customer', type: ['null', 'string'], default: null },
    { name: 'amount', type: 'int' },
    { name: 'note', type: ['null', 'bytes'], default: null },
  ],
  keyFields: ['id'],
});

const source = {
  connector: 'test',
  name: 'shop',
  ts_ms: 1_700_000_000_000,
  snapshot: 'false',
  db: 'shop',
  schema: 'public',
  table: 'orders',
};

export type Order = {
  readonly id: number;
  readonly customer: string | null;
  readonly amount: number;
  readonly note: Buffer | null;
};

export const order = (id: number, amount = 100 * id, customer: string | null = `c${id % 3}`): Order => ({
  id,
  customer,
  amount,
  note: null,
});

export function created(row: Order, op: 'c' | 'r' = 'c'): ChangeEvent {
  return {
    key: { id: row.id },
    value: { before: null, after: { ...row }, source, op, ts_ms: source.ts_ms + row.id },
  };
}

export function updated(before: Order | null, after: Order): ChangeEvent {
  return {
    key: { id: after.id },
    value: { before, after: { ...after }, source, op: 'u', ts_ms: source.ts_ms + after.id },
  };
}

/** A delete as Postgres sends it with REPLICA IDENTITY DEFAULT: `before` carries only the key columns. */
export function deleted(id: number, full?: Order): ChangeEvent {
  return {
    key: { id },
    value: {
      before: full ? { ...full } : { id, customer: null, amount: 0, note: null },
      after: null,
      source,
      op: 'd',
      ts_ms: source.ts_ms + id,
    },
  };
}

export const tombstone = (id: number): ChangeEvent => ({ key: { id }, value: null });

export const truncated = (): ChangeEvent => ({
  key: null,
  value: { before: null, after: null, source, op: 't', ts_ms: source.ts_ms },
});

/** Sink records of `events`, at consecutive offsets of partition 0 of `topic`. */
export function sinkRecords(
  events: readonly ChangeEvent[],
  topic = 'orders-in',
  from = 0,
  schema: StreamSchemas = ordersSchema,
): SinkRecord[] {
  return events.map((event, i) => ({
    event,
    schema,
    topic,
    position: { topic, partition: 0, offset: from + i },
  }));
}

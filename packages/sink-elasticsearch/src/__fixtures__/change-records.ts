import {
  envelopeSchemas,
  type AvroField,
  type Operation,
  type Registry,
  type SinkRecord,
  type StreamSchemas,
} from '@datamesh/core';

/** The `orders` schema the tests write: id (key), customer, qty. */
export const ORDER_FIELDS: readonly AvroField[] = [
  { name: 'id', type: 'int' },
  { name: 'customer', type: 'string' },
  { name: 'qty', type: ['null', 'int'], default: null },
];

export function orderSchemas(fields: readonly AvroField[] = ORDER_FIELDS): StreamSchemas {
  return envelopeSchemas({
    name: 'shop.public.orders',
    fields,
    keyFields: ['id'],
    sourceFields: [
      { name: 'lsn', type: ['null', 'long'], default: null },
      { name: 'commitLsn', type: ['null', 'long'], default: null },
      { name: 'txId', type: ['null', 'long'], default: null },
    ],
  });
}

export interface ChangeOptions {
  readonly topic?: string;
  readonly offset?: number;
  readonly schema?: StreamSchemas;
  /** Overrides the row (after for c/u/r, before for d). */
  readonly row?: Record<string, unknown>;
  /** The source block's lsn and commitLsn; null or a string to test bad versions. */
  readonly lsn?: unknown;
  /**
   * The source block's commitLsn when it differs from `lsn`: a change of a transaction that committed later
   * (its commit LSN) than the change was made (its LSN).
   */
  readonly commitLsn?: number;
  readonly table?: string;
}

let nextOffset = 0;

/**
 * A change event of `orders` for key `id` at `lsn` (and commit LSN `options.commitLsn ?? lsn`); `op` d deletes,
 * t truncates, `tombstone` a null value.
 */
export function change(
  op: Operation | 'tombstone',
  id: number,
  lsn: unknown,
  options: ChangeOptions = {},
): SinkRecord {
  const schema = options.schema ?? defaultSchema;
  const row = options.row ?? { id, customer: `customer ${id}`, qty: typeof lsn === 'number' ? lsn : 0 };
  const position = {
    topic: options.topic ?? 'shop.public.orders',
    partition: 0,
    offset: options.offset ?? nextOffset++,
  };
  if (op === 'tombstone')
    return { schema, position, topic: position.topic, event: { key: { id }, value: null } };
  return {
    schema,
    position,
    topic: position.topic,
    event: {
      key: op === 't' ? null : { id },
      value: {
        before: op === 'd' ? row : null,
        after: op === 'd' || op === 't' ? null : row,
        op,
        ts_ms: 1_700_000_000_000,
        source: {
          connector: 'postgresql',
          name: 'shop',
          ts_ms: 1_700_000_000_000,
          snapshot: 'false',
          db: 'shop',
          schema: 'public',
          table: options.table ?? 'orders',
          lsn: lsn as number,
          // The version the sink keeps by default (commit order): the lsn unless the test gives its own.
          commitLsn: options.commitLsn ?? (lsn as number),
          txId: 1,
        },
      },
    },
  };
}

const defaultSchema = orderSchemas();
export { defaultSchema as ORDERS };

/** The summed value of a metric (all label sets), 0 when it has none. */
export async function metricValue(
  registry: Registry,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return 0;
  const { values } = await metric.get();
  return values
    .filter((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l))
    .filter((v) => !('metricName' in v) || v.metricName === name || v.metricName === undefined)
    .reduce((sum, v) => sum + v.value, 0);
}

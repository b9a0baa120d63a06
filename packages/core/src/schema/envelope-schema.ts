import type { AvroField, AvroRecordSchema } from './avro.js';

/** The `source` block fields every connector carries; connectors append their own. */
export const BASE_SOURCE_FIELDS: readonly AvroField[] = [
  { name: 'connector', type: 'string' },
  { name: 'name', type: 'string' },
  { name: 'ts_ms', type: 'long' },
  { name: 'snapshot', type: 'string', default: 'false' },
  { name: 'db', type: ['null', 'string'], default: null },
  { name: 'schema', type: ['null', 'string'], default: null },
  { name: 'table', type: ['null', 'string'], default: null },
];

export interface EnvelopeSchemaOptions {
  /** Full name of the entity, e.g. `shop.public.orders`; yields `.Key`, `.Value`, `.Envelope`. */
  readonly name: string;
  /** Row fields (the `after` / `before` image). */
  readonly fields: readonly AvroField[];
  /** Fields of the key (usually the primary key columns). */
  readonly keyFields: readonly string[];
  /** Connector-specific `source` fields, appended to the base ones. */
  readonly sourceFields?: readonly AvroField[];
  readonly doc?: string;
}

export interface StreamSchemas {
  readonly keySchema: AvroRecordSchema;
  readonly valueSchema: AvroRecordSchema;
}

/** Builds the Avro key schema and the Debezium-shaped envelope schema for one entity. */
export function envelopeSchemas(options: EnvelopeSchemaOptions): StreamSchemas {
  const { namespace, name } = splitName(options.name);
  const byName = new Map(options.fields.map((f) => [f.name, f]));
  const keyFields = options.keyFields.map((k) => {
    const field = byName.get(k);
    if (!field) throw new Error(`key field "${k}" is not a field of ${options.name}`);
    return { name: field.name, type: field.type };
  });
  const value: AvroRecordSchema = {
    type: 'record',
    name: 'Value',
    namespace: qualified(namespace, name),
    fields: options.fields.map((f) => ({ ...f })),
  };
  const keySchema: AvroRecordSchema = {
    type: 'record',
    name: 'Key',
    namespace: qualified(namespace, name),
    fields: keyFields,
  };
  const valueSchema: AvroRecordSchema = {
    type: 'record',
    name: 'Envelope',
    namespace: qualified(namespace, name),
    ...(options.doc ? { doc: options.doc } : {}),
    fields: [
      { name: 'before', type: ['null', value], default: null },
      { name: 'after', type: ['null', `${qualified(namespace, name)}.Value`], default: null },
      {
        name: 'source',
        type: {
          type: 'record',
          name: 'Source',
          namespace: qualified(namespace, name),
          fields: [...BASE_SOURCE_FIELDS, ...(options.sourceFields ?? [])],
        } as never,
      },
      { name: 'op', type: 'string' },
      { name: 'ts_ms', type: 'long' },
    ],
  };
  return { keySchema, valueSchema };
}

/** The row (`after`) record schema inside an envelope schema. */
export function rowSchemaOf(envelope: AvroRecordSchema): AvroRecordSchema {
  const before = envelope.fields.find((f) => f.name === 'before');
  const branch = Array.isArray(before?.type) ? before.type.find((t) => typeof t === 'object') : undefined;
  if (!branch || typeof branch !== 'object' || (branch as { type?: string }).type !== 'record') {
    throw new Error(`schema ${envelope.name} is not a change-event envelope (no "before" record)`);
  }
  return branch as AvroRecordSchema;
}

function splitName(full: string): { namespace: string; name: string } {
  const dot = full.lastIndexOf('.');
  return dot < 0
    ? { namespace: '', name: full }
    : { namespace: full.slice(0, dot), name: full.slice(dot + 1) };
}

function qualified(namespace: string, name: string): string {
  return namespace ? `${namespace}.${name}` : name;
}

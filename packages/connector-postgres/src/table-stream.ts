import { envelopeSchemas, nullable, type AvroField, type StreamSchemas } from '@datamesh/core';
import type { PgTypeCatalog } from './pg-type-catalog.js';
import { columnMapping, type ColumnMapping, type TypeMappingOptions } from './type-mapping.js';

/** What a table's stream is built from: the same facts come from the catalog (at plan time) and from a
 * pgoutput Relation message (while streaming), so both build the same schemas. */
export interface TableShape {
  readonly schema: string;
  readonly table: string;
  readonly columns: readonly {
    readonly name: string;
    readonly typeOid: number;
    readonly typeMod: number;
    /** Declared array dimensions (the catalog's; Relation messages do not carry them). */
    readonly dimensions: number;
  }[];
  readonly primaryKey: readonly string[];
}

export interface StreamColumn {
  /** The column's name in Postgres. */
  readonly name: string;
  /** Its field name in the Avro row (Avro names allow only letters, digits and `_`). */
  readonly field: string;
  readonly mapping: ColumnMapping;
  readonly isKey: boolean;
}

export interface TableStream {
  /** `schema.table`, the stream name; its topic is `<source stage>.<schema>.<table>`. */
  readonly name: string;
  readonly schema: string;
  readonly table: string;
  readonly columns: readonly StreamColumn[];
  /** Indexes into `columns` of the primary key, in key order. */
  readonly keyIndexes: readonly number[];
  readonly schemas: StreamSchemas;
  /** Identifies the shape: a Relation message with another signature is a schema change. */
  readonly signature: string;
}

export const SOURCE_FIELDS: readonly AvroField[] = [
  { name: 'lsn', type: ['null', 'long'], default: null },
  { name: 'txId', type: ['null', 'long'], default: null },
  // Commit order, where `lsn` is WAL order: see ChangeOrigin.commitLsn.
  { name: 'commitLsn', type: ['null', 'long'], default: null },
];

export function streamName(schema: string, table: string): string {
  return `${schema}.${table}`;
}

export function shapeSignature(shape: TableShape): string {
  return JSON.stringify([
    shape.columns.map((c) => [c.name, c.typeOid, c.typeMod, c.dimensions]),
    shape.primaryKey,
  ]);
}

/**
 * Builds a table's stream: Avro key (the primary key, non-null) and envelope schemas, and the decoder of each
 * column. Every other column is optional (default null) whatever its NOT NULL constraint: then adding or
 * dropping a column is a compatible change that flows on without a person.
 */
export function buildTableStream(
  shape: TableShape,
  database: string,
  types: PgTypeCatalog,
  options: TypeMappingOptions,
): TableStream {
  const name = streamName(shape.schema, shape.table);
  if (shape.primaryKey.length === 0) {
    throw new Error(
      `table ${name} has no primary key: events are keyed, and snapshots read in key order. Add one ` +
        `(ALTER TABLE ${name} ADD PRIMARY KEY (…)), or leave the table out of "tables"`,
    );
  }
  const fieldNames = new Set<string>();
  const columns = shape.columns.map((column): StreamColumn => {
    const field = avroName(column.name);
    if (fieldNames.has(field)) {
      throw new Error(`columns of ${name} collide as Avro field "${field}"; rename one of them`);
    }
    fieldNames.add(field);
    return {
      name: column.name,
      field,
      mapping: columnMapping(column, types, options),
      isKey: shape.primaryKey.includes(column.name),
    };
  });
  const keyIndexes = shape.primaryKey.map((key) => {
    const index = columns.findIndex((c) => c.name === key);
    if (index < 0) throw new Error(`primary-key column "${key}" of ${name} is not among its columns`);
    return index;
  });
  const fields: AvroField[] = columns.map((c) =>
    c.isKey
      ? { name: c.field, type: c.mapping.avro }
      : { name: c.field, type: nullable(c.mapping.avro), default: null },
  );
  const schemas = envelopeSchemas({
    name: [database, shape.schema, shape.table].map(avroName).join('.'),
    fields,
    keyFields: keyIndexes.map((i) => columns[i]!.field),
    sourceFields: SOURCE_FIELDS,
  });
  return {
    name,
    schema: shape.schema,
    table: shape.table,
    columns,
    keyIndexes,
    schemas,
    signature: shapeSignature(shape),
  };
}

/** An Avro-safe name: letters, digits and `_`, not starting with a digit. */
export function avroName(name: string): string {
  const safe = name.replace(/[^A-Za-z0-9_]/g, '_');
  return /^[0-9]/.test(safe) ? `_${safe}` : safe;
}

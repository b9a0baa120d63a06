/**
 * Index mappings from Avro row schemas, and what a newer schema's mapping adds to an index's current one.
 *
 * `indexedFields` reads the Avro schema once into the types the sink indexes; both the mapping here and the
 * documents (documents.ts) follow it, so a field's mapping and its document value cannot disagree.
 *
 * Judgement calls:
 * - int and long are `long`, float and double `double`: Avro's int→long and float→double promotions are
 *   compatible schema changes, and would otherwise need a field type change that the index refuses.
 * - Decimals (fixed scale and Debezium's variable scale) are `double`: the document carries the exact decimal
 *   text, which `_source` keeps as it is while the index parses it for range queries. Not `scaled_float`: it
 *   lives in the mapper-extras module, which a reduced Elasticsearch node lacks.
 * - Timestamps of every precision are `date` (the default format, strict_date_optional_time||epoch_millis):
 *   the document carries the exact ISO-8601 text (6 fraction digits for micros), so `_source` keeps the
 *   microseconds while the index works in milliseconds. Not `date_nanos`: it refuses every instant before
 *   1970, and the Postgres connector carries timestamps from 1827 on.
 * - Dates are `date` with format strict_date (the document holds YYYY-MM-DD; years beyond 9999 and before 0
 *   as ISO-8601 expanded years, "+5881580-07-11", which that format accepts too).
 * - Times of day (time-millis, time-micros) are `long`: the document holds the number as it is, since neither
 *   engine has a time-of-day type.
 * - JSON strings are `object` with `enabled: false`: stored in `_source`, not indexed, so any JSON (object,
 *   array, scalar) is accepted as it is and `dynamic: strict` does not look inside. The document holds the
 *   parsed JSON.
 * - Maps are `object` with `enabled: false` too, on both engines: `flattened` needs Elasticsearch's x-pack,
 *   which a reduced node lacks, and keys are data, not fields to map.
 * - A field whose type is only `null` is a `keyword`: its value is always null, which every type accepts.
 * - Both engines get the same mapping: every type used here is in both cores.
 */
import type { AvroRecordSchema } from '@datamesh/core';

export type Engine = 'elasticsearch' | 'opensearch';
export type StringMapping = 'text' | 'keyword' | 'text+keyword';

export interface MappingOptions {
  /**
   * How string fields are mapped unless `fields` says otherwise. Default 'text+keyword' (text with a
   * `.keyword` sub-field, ignore_above 256, as Elasticsearch's dynamic mapping does).
   */
  readonly strings?: StringMapping;
  /**
   * Per field (dotted path for nested fields, e.g. "address.city"): its string mapping. A path that names no
   * field is ignored (a dropped column must not stop the sink); one that names a field that is not a plain
   * string is an error.
   */
  readonly fields?: Readonly<Record<string, StringMapping>>;
  /** Dotted paths of arrays of records to map as `nested` instead of `object`. */
  readonly nested?: readonly string[];
}

/** A mapping parameter's value (`format`, `enabled`, `ignore_above`, …). */
export type MappingParameter = string | number | boolean | null;

/** One field's mapping, as the index mapping API takes and returns it. */
export interface FieldMapping {
  readonly type?: string;
  /** Sub-fields of an object or nested field. */
  readonly properties?: Properties;
  /** Multi-fields (`.keyword`). */
  readonly fields?: Properties;
  readonly [parameter: string]: MappingParameter | Properties | undefined;
}

export type Properties = Record<string, FieldMapping>;

export interface MappingConflict {
  readonly path: string;
  readonly current: string;
  readonly wanted: string;
}

// --- the types the sink indexes ---

/**
 * How the sink indexes one Avro type; the mapping and the document value both follow it. Internal to the
 * package (not exported from its entry).
 */
export type IndexedType =
  /** boolean; long also for int, time-millis and time-micros; double also for float. */
  | { readonly kind: 'boolean' | 'long' | 'double' }
  /** A plain string: mapped per StringMapping. */
  | { readonly kind: 'string' }
  /** Enum symbols, uuids, intervals: strings that are identifiers, never analysed. */
  | { readonly kind: 'keyword' }
  | { readonly kind: 'binary' }
  | { readonly kind: 'json' }
  /** A type that is only null. */
  | { readonly kind: 'null' }
  /** bytes or fixed holding the unscaled value (big-endian two's complement). */
  | { readonly kind: 'decimal'; readonly scale: number }
  /** Debezium's VariableScaleDecimal: a record of `scale` and `value` (the unscaled bytes). */
  | { readonly kind: 'variable-decimal' }
  /** A long since the epoch in `unit`s; `local` ones have no time zone (no "Z"). */
  | { readonly kind: 'timestamp'; readonly unit: TimeUnit; readonly local: boolean }
  /** A timestamp that is already ISO-8601 text (Debezium's ZonedTimestamp). */
  | { readonly kind: 'iso-timestamp' }
  /** An int of days since 1970-01-01. */
  | { readonly kind: 'date' }
  | { readonly kind: 'array'; readonly items: IndexedType }
  | { readonly kind: 'map'; readonly values: IndexedType }
  | { readonly kind: 'record'; readonly fields: readonly IndexedField[] };

export type TimeUnit = 'millis' | 'micros' | 'nanos';

export interface IndexedField {
  readonly name: string;
  /** Dotted path from the row, through arrays (as Elasticsearch names fields). */
  readonly path: string;
  readonly type: IndexedType;
}

const PRIMITIVES: Readonly<Record<string, IndexedType>> = {
  null: { kind: 'null' },
  boolean: { kind: 'boolean' },
  int: { kind: 'long' },
  long: { kind: 'long' },
  float: { kind: 'double' },
  double: { kind: 'double' },
  bytes: { kind: 'binary' },
  string: { kind: 'string' },
};

/** Kafka Connect / Debezium semantic types (`connect.name`), as their Avro converter writes them. */
const CONNECT_TYPES: Readonly<Record<string, IndexedType>> = {
  'io.debezium.data.Json': { kind: 'json' },
  'io.debezium.data.Uuid': { kind: 'keyword' },
  'io.debezium.data.Enum': { kind: 'keyword' },
  'io.debezium.data.EnumSet': { kind: 'keyword' },
  'io.debezium.time.Interval': { kind: 'keyword' },
  'io.debezium.time.ZonedTimestamp': { kind: 'iso-timestamp' },
  'io.debezium.time.Timestamp': { kind: 'timestamp', unit: 'millis', local: true },
  'io.debezium.time.MicroTimestamp': { kind: 'timestamp', unit: 'micros', local: true },
  'io.debezium.time.NanoTimestamp': { kind: 'timestamp', unit: 'nanos', local: true },
  'io.debezium.time.Date': { kind: 'date' },
  'io.debezium.data.VariableScaleDecimal': { kind: 'variable-decimal' },
  'org.apache.kafka.connect.data.Timestamp': { kind: 'timestamp', unit: 'millis', local: false },
  'org.apache.kafka.connect.data.Date': { kind: 'date' },
};

/** datamesh's own annotations (`datamesh.type`), as the Postgres connector writes them. */
const DATAMESH_TYPES: Readonly<Record<string, IndexedType>> = {
  json: { kind: 'json' },
  interval: { kind: 'keyword' },
};

/** Avro logical types, honoured only on the base types the specification allows them on. */
const LOGICAL_TYPES: Readonly<
  Record<string, { readonly on: readonly string[]; readonly type: IndexedType }>
> = {
  uuid: { on: ['string'], type: { kind: 'keyword' } },
  date: { on: ['int'], type: { kind: 'date' } },
  'time-millis': { on: ['int'], type: { kind: 'long' } },
  'time-micros': { on: ['long'], type: { kind: 'long' } },
  'timestamp-millis': { on: ['long'], type: { kind: 'timestamp', unit: 'millis', local: false } },
  'timestamp-micros': { on: ['long'], type: { kind: 'timestamp', unit: 'micros', local: false } },
  'timestamp-nanos': { on: ['long'], type: { kind: 'timestamp', unit: 'nanos', local: false } },
  'local-timestamp-millis': { on: ['long'], type: { kind: 'timestamp', unit: 'millis', local: true } },
  'local-timestamp-micros': { on: ['long'], type: { kind: 'timestamp', unit: 'micros', local: true } },
  'local-timestamp-nanos': { on: ['long'], type: { kind: 'timestamp', unit: 'nanos', local: true } },
};

type SchemaObject = Readonly<Record<string, unknown>>;

/**
 * The row's fields as the sink indexes them. Throws, naming the field, on unions other than `["null", T]`,
 * on recursive records, and on references to named types the schema does not define.
 */
export function indexedFields(row: AvroRecordSchema): IndexedField[] {
  const reader = new SchemaReader();
  const type = reader.read(row, '', '');
  if (type.kind !== 'record') throw new Error(`the row schema ${row.name} is not a record`);
  return [...type.fields];
}

/** Reads Avro schemas, resolving references to the named types (records, enums, fixed) defined before them. */
class SchemaReader {
  private readonly named = new Map<string, SchemaObject>();
  private readonly expanding = new Set<string>();

  read(schema: unknown, path: string, namespace: string): IndexedType {
    if (typeof schema === 'string') return this.reference(schema, path, namespace);
    if (Array.isArray(schema)) return this.union(schema, path, namespace);
    if (typeof schema !== 'object' || schema === null) {
      throw new Error(`${where(path)}: not an Avro schema: ${JSON.stringify(schema)}`);
    }
    const object = schema as SchemaObject;
    const base = object['type'];
    if (typeof base !== 'string') return this.read(base, path, namespace);
    switch (base) {
      case 'record':
      case 'error':
        return this.record(object, path, namespace);
      case 'enum':
        this.define(object, namespace);
        return { kind: 'keyword' };
      case 'fixed':
        this.define(object, namespace);
        return annotated(object, base) ?? { kind: 'binary' };
      case 'array':
        return { kind: 'array', items: this.read(object['items'], path, namespace) };
      case 'map':
        return { kind: 'map', values: this.read(object['values'], path, namespace) };
      default: {
        const primitive = own(PRIMITIVES, base);
        if (primitive === undefined) return this.reference(base, path, namespace);
        return annotated(object, base) ?? primitive;
      }
    }
  }

  private union(branches: readonly unknown[], path: string, namespace: string): IndexedType {
    const types = branches.filter((branch) => branch !== 'null');
    if (types.length === 0) return { kind: 'null' };
    if (types.length === 1) return this.read(types[0], path, namespace);
    throw new Error(
      `${where(path)}: unions of several types are not supported (only ["null", T]): ${JSON.stringify(branches)}`,
    );
  }

  private record(object: SchemaObject, path: string, namespace: string): IndexedType {
    const name = this.define(object, namespace);
    const connectName = object['connect.name'];
    if (typeof connectName === 'string' && own(CONNECT_TYPES, connectName)?.kind === 'variable-decimal') {
      return { kind: 'variable-decimal' };
    }
    const inner = namespaceOf(name);
    this.expanding.add(name);
    try {
      const fields = object['fields'];
      if (!Array.isArray(fields)) throw new Error(`${where(path)}: record ${name} has no fields`);
      return {
        kind: 'record',
        fields: fields.map((field: { name: string; type: unknown }) => {
          const fieldPath = path === '' ? field.name : `${path}.${field.name}`;
          return { name: field.name, path: fieldPath, type: this.read(field.type, fieldPath, inner) };
        }),
      };
    } finally {
      this.expanding.delete(name);
    }
  }

  /** Registers a named type; answers its full name. */
  private define(object: SchemaObject, namespace: string): string {
    const name = String(object['name']);
    const own = object['namespace'];
    const full = name.includes('.') ? name : qualified(typeof own === 'string' ? own : namespace, name);
    this.named.set(full, object);
    return full;
  }

  private reference(name: string, path: string, namespace: string): IndexedType {
    const primitive = own(PRIMITIVES, name);
    if (primitive !== undefined) return primitive;
    // A name without a dot is relative to the enclosing namespace, else in the null namespace.
    const full = [qualified(namespace, name), name].find((candidate) => this.named.has(candidate));
    const schema = full === undefined ? undefined : this.named.get(full);
    if (full === undefined || schema === undefined) {
      throw new Error(`${where(path)}: type "${name}" is not defined before its use`);
    }
    if (this.expanding.has(full)) {
      throw new Error(`${where(path)}: the record type ${full} contains itself, which an index cannot map`);
    }
    return this.read(schema, path, namespaceOf(full));
  }
}

/** The indexed type an annotated primitive or fixed stands for, if its annotations say one. */
function annotated(object: SchemaObject, base: string): IndexedType | undefined {
  const logicalType = object['logicalType'];
  if (logicalType === 'decimal' && (base === 'bytes' || base === 'fixed')) {
    return { kind: 'decimal', scale: Number(object['scale'] ?? 0) };
  }
  if (typeof logicalType === 'string') {
    const logical = own(LOGICAL_TYPES, logicalType);
    if (logical?.on.includes(base)) return logical.type;
  }
  const connectName = object['connect.name'];
  if (typeof connectName === 'string') {
    if (connectName === 'org.apache.kafka.connect.data.Decimal' && base === 'bytes') {
      const parameters = object['connect.parameters'] as Record<string, unknown> | undefined;
      return { kind: 'decimal', scale: Number(parameters?.['scale'] ?? 0) };
    }
    const connect = own(CONNECT_TYPES, connectName);
    if (connect !== undefined) return connect;
  }
  const datameshType = object['datamesh.type'];
  const datamesh = typeof datameshType === 'string' ? own(DATAMESH_TYPES, datameshType) : undefined;
  if (datamesh !== undefined) return datamesh;
  if (object['datamesh.enum'] !== undefined) return { kind: 'keyword' };
  return undefined;
}

/** `record[key]` if the record has it itself (a field named "constructor" is not Object's). */
function own<T>(record: Readonly<Record<string, T>>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

function qualified(namespace: string, name: string): string {
  return namespace === '' ? name : `${namespace}.${name}`;
}

function namespaceOf(fullName: string): string {
  const dot = fullName.lastIndexOf('.');
  return dot < 0 ? '' : fullName.slice(0, dot);
}

function where(path: string): string {
  return path === '' ? 'the row schema' : `field "${path}"`;
}

// --- mappings ---

const KEYWORD: FieldMapping = { type: 'keyword' };
const TEXT_AND_KEYWORD: FieldMapping = {
  type: 'text',
  fields: { keyword: { type: 'keyword', ignore_above: 256 } },
};
/** Stored in `_source`, not indexed: JSON and maps. */
const NOT_INDEXED_OBJECT: FieldMapping = { type: 'object', enabled: false };

/** The index mapping for a row schema. Key fields are always keyword/numeric (never text). */
export function mappingFor(
  row: AvroRecordSchema,
  keyFields: readonly string[],
  _engine: Engine,
  options: MappingOptions = {},
): { dynamic: 'strict' | boolean; properties: Properties } {
  const fields = indexedFields(row);
  for (const key of keyFields) {
    if (!fields.some((field) => field.name === key)) {
      throw new Error(`key field "${key}" is not a field of ${row.name}`);
    }
  }
  const context: MappingContext = {
    strings: options.strings ?? 'text+keyword',
    fields: options.fields ?? {},
    nested: new Set(options.nested ?? []),
    keys: new Set(keyFields),
  };
  return { dynamic: 'strict', properties: propertiesOf(fields, context) };
}

interface MappingContext {
  readonly strings: StringMapping;
  readonly fields: Readonly<Record<string, StringMapping>>;
  readonly nested: ReadonlySet<string>;
  readonly keys: ReadonlySet<string>;
}

function propertiesOf(fields: readonly IndexedField[], context: MappingContext): Properties {
  const properties: Properties = {};
  for (const field of fields) properties[field.name] = fieldMapping(field.type, field.path, context);
  return properties;
}

function fieldMapping(type: IndexedType, path: string, context: MappingContext): FieldMapping {
  const stringOption = own(context.fields, path);
  if (stringOption !== undefined && innermost(type).kind !== 'string') {
    throw new Error(`mapping option fields["${path}"]: the field is not a plain string`);
  }
  if (context.nested.has(path) && innermost(type).kind !== 'record') {
    throw new Error(`mapping option nested: field "${path}" is not a record or an array of records`);
  }
  switch (type.kind) {
    case 'boolean':
    case 'long':
    case 'double':
    case 'binary':
      return { type: type.kind };
    case 'decimal':
    case 'variable-decimal':
      return { type: 'double' };
    case 'string':
      // A key is looked up whole; the fields option does not make it text.
      if (context.keys.has(path)) return KEYWORD;
      return stringMapping(stringOption ?? context.strings);
    case 'keyword':
    case 'null':
      return KEYWORD;
    case 'json':
    case 'map':
      return NOT_INDEXED_OBJECT;
    case 'timestamp':
    case 'iso-timestamp':
      return { type: 'date' };
    case 'date':
      return { type: 'date', format: 'strict_date' };
    case 'array':
      // Every field can hold several values: an array maps as its items.
      return fieldMapping(type.items, path, context);
    case 'record': {
      const properties = propertiesOf(type.fields, context);
      return context.nested.has(path) ? { type: 'nested', properties } : { properties };
    }
  }
}

/** The type inside any arrays. */
function innermost(type: IndexedType): IndexedType {
  return type.kind === 'array' ? innermost(type.items) : type;
}

function stringMapping(mapping: StringMapping): FieldMapping {
  switch (mapping) {
    case 'text':
      return { type: 'text' };
    case 'keyword':
      return KEYWORD;
    case 'text+keyword':
      return TEXT_AND_KEYWORD;
  }
}

// --- changes ---

/**
 * What `wanted` adds to `current` (new fields, recursively inside objects) and where they disagree (a field's
 * type or a sub-field changed). Fields only in `current` are ignored: a dropped column stays in the index.
 * Parameters the engines leave out of a mapping they return because they are the defaults (an object's type,
 * a date's default format, `index: true`, …) compare equal to their default.
 */
export function mappingChanges(
  current: Properties,
  wanted: Properties,
): { readonly added: Properties; readonly conflicts: readonly MappingConflict[] } {
  const conflicts: MappingConflict[] = [];
  const added = compare(current, wanted, '', conflicts);
  return { added, conflicts };
}

function compare(
  current: Properties,
  wanted: Properties,
  prefix: string,
  conflicts: MappingConflict[],
): Properties {
  const added: Properties = {};
  for (const [name, want] of Object.entries(wanted)) {
    const path = prefix === '' ? name : `${prefix}.${name}`;
    const have = Object.hasOwn(current, name) ? current[name] : undefined;
    if (have === undefined) {
      added[name] = want;
    } else if (canonical(parametersOf(have)) !== canonical(parametersOf(want))) {
      conflicts.push({ path, current: describe(have), wanted: describe(want) });
    } else if (isObject(want)) {
      const inner = compare(have.properties ?? {}, want.properties ?? {}, path, conflicts);
      if (Object.keys(inner).length > 0) added[name] = { ...want, properties: inner };
    }
  }
  return added;
}

/** Defaults both engines leave out of the mappings they return. */
const DEFAULT_PARAMETERS: Readonly<Record<string, MappingParameter>> = {
  index: true,
  doc_values: true,
  enabled: true,
  store: false,
};
const DEFAULT_DATE_FORMAT = 'strict_date_optional_time||epoch_millis';

function isObject(mapping: FieldMapping): boolean {
  return mapping.type === undefined || mapping.type === 'object' || mapping.type === 'nested';
}

/** A mapping without its sub-properties and its default parameters, sub-fields normalised the same way. */
function parametersOf(mapping: FieldMapping): Record<string, unknown> {
  const parameters: Record<string, unknown> = { type: mapping.type ?? 'object' };
  for (const [name, value] of Object.entries(mapping)) {
    if (name === 'type' || name === 'properties' || value === undefined) continue;
    if (own(DEFAULT_PARAMETERS, name) === value) continue;
    if (name === 'format' && value === DEFAULT_DATE_FORMAT && /^date(_nanos)?$/.test(mapping.type ?? ''))
      continue;
    if (name === 'fields') {
      const fields = value as Properties;
      if (Object.keys(fields).length === 0) continue;
      parameters[name] = Object.fromEntries(
        Object.entries(fields).map(([field, sub]) => [field, parametersOf(sub)]),
      );
      continue;
    }
    parameters[name] = value;
  }
  return parameters;
}

/** JSON with sorted keys, for comparing. */
function canonical(value: unknown): string {
  if (typeof value !== 'object' || value === null) return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1));
  return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonical(item)}`).join(',')}}`;
}

/** "long", "date (format: strict_date)", "text, sub-field keyword: keyword (ignore_above: 256)", "object". */
function describe(mapping: FieldMapping): string {
  const { type, fields, ...rest } = parametersOf(mapping) as Record<string, unknown> & {
    type: string;
    fields?: Record<string, Record<string, unknown>>;
  };
  let text = describeParameters(type, rest);
  for (const [name, sub] of Object.entries(fields ?? {})) {
    const { type: subType, ...subRest } = sub;
    text += `, sub-field ${name}: ${describeParameters(String(subType), subRest)}`;
  }
  return text;
}

function describeParameters(type: string, parameters: Record<string, unknown>): string {
  const entries = Object.entries(parameters).sort(([a], [b]) => (a < b ? -1 : 1));
  if (entries.length === 0) return type;
  const text = entries.map(
    ([name, value]) => `${name}: ${typeof value === 'string' ? value : canonical(value)}`,
  );
  return `${type} (${text.join(', ')})`;
}

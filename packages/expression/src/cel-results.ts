import type { AvroSchema } from '@datamesh/core';
import type { AvroNames } from './avro-names.js';
import { TIMESTAMP, type RecordShape } from './avro-shapes.js';
import { AVRO_VALUE, isNullRecord } from './cel-records.js';

/** A CEL type as check() names it: `int`, `dyn<string>`, `map<string, list<int>>`, `shop.orders.Value`. */
export interface CelType {
  readonly name: string;
  readonly params: readonly CelType[];
}

export function parseCelType(text: string): CelType {
  let pos = 0;
  const parse = (): CelType => {
    const start = pos;
    while (pos < text.length && !'<>,'.includes(text[pos]!)) pos++;
    const name = text.slice(start, pos).trim();
    const params: CelType[] = [];
    if (text[pos] === '<') {
      do {
        pos++;
        params.push(parse());
      } while (text[pos] === ',');
      pos++;
    }
    return { name, params };
  };
  return parse();
}

export function formatCelType(type: CelType): string {
  return type.params.length === 0 ? type.name : `${type.name}<${type.params.map(formatCelType).join(', ')}>`;
}

/** A result type that has no Avro counterpart, and why. */
export class NoAvroTypeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NoAvroTypeError';
  }
}

const SCALARS: Readonly<Record<string, AvroSchema>> = {
  bool: 'boolean',
  int: 'long',
  uint: 'long',
  double: 'double',
  string: 'string',
  bytes: 'bytes',
  null: 'null',
  [TIMESTAMP]: { type: 'long', logicalType: 'timestamp-millis' } as AvroSchema,
};

export interface ResultTypes {
  readonly names: AvroNames;
  readonly records: ReadonlyMap<string, RecordShape>;
}

/**
 * The Avro type of a CEL result type. Nullable (`dyn<T>`) results and records are unions with null. Named types
 * already in `defined` are referenced by name; the ones this type defines are added to it.
 */
export function avroTypeOf(type: CelType, types: ResultTypes, defined: Set<string>): AvroSchema {
  const scalar = SCALARS[type.name];
  if (scalar !== undefined && type.params.length === 0) return scalar;
  const [first, second] = type.params;
  switch (type.name) {
    case 'dyn': {
      if (!first) throw unknownType(type);
      const inner = avroTypeOf(first, types, defined);
      return Array.isArray(inner) ? inner : (['null', inner] as AvroSchema);
    }
    case 'list':
      if (!first || (first.name === 'dyn' && first.params.length === 0)) throw unknownType(type);
      return { type: 'array', items: avroTypeOf(first, types, defined) } as AvroSchema;
    case 'map':
      if (!first || !second || (second.name === 'dyn' && second.params.length === 0)) throw unknownType(type);
      if (first.name !== 'string') {
        throw new NoAvroTypeError(`a ${formatCelType(type)} has no Avro type: Avro map keys are strings`);
      }
      return { type: 'map', values: avroTypeOf(second, types, defined) } as AvroSchema;
    case 'google.protobuf.Duration':
      throw new NoAvroTypeError(
        'a duration has no Avro type here: convert it to a number, e.g. d.getMilliseconds() or d.getSeconds()',
      );
  }
  const record = types.records.get(type.name);
  if (record) {
    return ['null', types.names.standalone(record.definition, record.namespace, defined)] as AvroSchema;
  }
  throw unknownType(type);
}

function unknownType(type: CelType): NoAvroTypeError {
  return new NoAvroTypeError(
    `the result is a ${formatCelType(type)}, whose type is known only at evaluation, so it has no Avro type: ` +
      'convert it, e.g. string(…), int(…), double(…)',
  );
}

export type FromCel = (value: unknown) => unknown;

/** Converts a CEL result of `type` to the JavaScript value avsc writes for avroTypeOf(type). */
export function fromCel(type: CelType): FromCel {
  const [first, second] = type.params;
  switch (type.name) {
    case 'int':
    case 'uint':
      return intToNumber;
    case TIMESTAMP:
      return (value) => (value instanceof Date ? value.getTime() : value);
    case 'bytes':
      return (value) => (value instanceof Uint8Array && !Buffer.isBuffer(value) ? Buffer.from(value) : value);
    case 'dyn': {
      const inner = first ? fromCel(first) : anyFromCel;
      return (value) => (value === null || value === undefined ? null : inner(value));
    }
    case 'list': {
      const items = first ? fromCel(first) : anyFromCel;
      return (value) =>
        Array.isArray(value) ? value.map(items) : value instanceof Set ? [...value].map(items) : value;
    }
    case 'map': {
      const values = second ? fromCel(second) : anyFromCel;
      return (value) => {
        const entries = value instanceof Map ? [...value] : Object.entries(value as object);
        return Object.fromEntries(entries.map(([k, v]) => [String(k), values(v)]));
      };
    }
    case 'bool':
    case 'double':
    case 'string':
    case 'null':
      return (value) => value;
    default:
      return anyFromCel;
  }
}

/** Converts a CEL value by what it is at run time (for dyn results). */
function anyFromCel(value: unknown): unknown {
  if (typeof value === 'bigint') return intToNumber(value);
  if (value instanceof Date) return value.getTime();
  if (Array.isArray(value)) return value.map(anyFromCel);
  if (typeof value === 'object' && value !== null) {
    if (isNullRecord(value)) return null;
    const avro = (value as Record<symbol, unknown>)[AVRO_VALUE];
    if (avro !== undefined) return avro;
    if (value instanceof Uint8Array) return Buffer.isBuffer(value) ? value : Buffer.from(value);
    const entries = value instanceof Map ? [...value] : Object.entries(value);
    return Object.fromEntries(entries.map(([k, v]) => [String(k), anyFromCel(v)]));
  }
  return value;
}

function intToNumber(value: unknown): unknown {
  const big = typeof value === 'bigint' ? value : (value as { valueOf(): unknown } | null)?.valueOf();
  if (typeof big !== 'bigint') return value;
  const number = Number(big);
  if (!Number.isSafeInteger(number)) {
    throw new RangeError(`the integer ${big} is outside the range a long carries exactly here (±2^53)`);
  }
  return number;
}

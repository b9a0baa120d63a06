import type { AvroSchema } from '@datamesh/core';
import type { AvroNames } from './avro-names.js';

/** The CEL name of a timestamp: a JavaScript Date at evaluation. */
export const TIMESTAMP = 'google.protobuf.Timestamp';

/** Converts an Avro value (as avsc holds it) to the value CEL works with. */
export type ToCel = (value: unknown) => unknown;

interface ShapeBase {
  /** The CEL type of a value of this shape, `dyn<T>` when it may be null (records excepted, see RecordShape). */
  readonly celType: string;
  readonly nullable: boolean;
}

export interface ScalarShape extends ShapeBase {
  readonly kind: 'scalar';
  /** The CEL type without nullability: int, double, string, bool, bytes, google.protobuf.Timestamp, null. */
  readonly base: string;
  /** Undefined when CEL takes the Avro value as it is. */
  readonly toCel: ToCel | undefined;
}

export interface ListShape extends ShapeBase {
  readonly kind: 'list';
  readonly items: Shape;
}

export interface MapShape extends ShapeBase {
  readonly kind: 'map';
  readonly values: Shape;
}

/**
 * A record is a CEL message type named by the record's full Avro name. Its CEL type stays the message type when
 * nullable (cel-js cannot select fields of a `dyn<T>`): a null record is a stand-in value that equals `null`.
 */
export interface RecordShape extends ShapeBase {
  readonly kind: 'record';
  readonly name: string;
  readonly fields: ReadonlyMap<string, Shape>;
  /** The record's Avro definition and the namespace it was found in (see AvroNames.standalone). */
  readonly definition: AvroSchema;
  readonly namespace: string | undefined;
}

/** A union of several non-null types: checked only at evaluation. */
export interface DynShape extends ShapeBase {
  readonly kind: 'dyn';
}

export type Shape = ScalarShape | ListShape | MapShape | RecordShape | DynShape;

type SchemaObject = Record<string, unknown>;

const MS_PER_DAY = 86_400_000;

const toBigInt: ToCel = (value) => (typeof value === 'number' ? BigInt(value) : value);

/** The value of an Avro decimal (big-endian two's complement of the unscaled value) as a double. */
function decimalToDouble(scale: number): ToCel {
  return (value) => {
    if (!(value instanceof Uint8Array)) return value;
    let unscaled = 0n;
    for (const byte of value) unscaled = (unscaled << 8n) | BigInt(byte);
    if (value.length > 0 && value[0]! >= 0x80) unscaled -= 1n << BigInt(value.length * 8);
    return Number(`${unscaled}e-${scale}`);
  };
}

function timestampFrom(unitsPerMs: number): ToCel {
  return (value) => (typeof value === 'number' ? new Date(Math.floor(value / unitsPerMs)) : value);
}

const fromDays: ToCel = (value) => (typeof value === 'number' ? new Date(value * MS_PER_DAY) : value);

/** The CEL type and conversion of an Avro primitive or logical type; undefined for a complex type. */
function scalar(
  type: string,
  object: SchemaObject | undefined,
): { base: string; toCel: ToCel | undefined } | undefined {
  const logical = object?.['logicalType'];
  switch (type) {
    case 'null':
      return { base: 'null', toCel: undefined };
    case 'boolean':
      return { base: 'bool', toCel: undefined };
    case 'int':
    case 'long':
      if (logical === 'timestamp-millis' || logical === 'local-timestamp-millis') {
        return { base: TIMESTAMP, toCel: timestampFrom(1) };
      }
      if (logical === 'timestamp-micros' || logical === 'local-timestamp-micros') {
        return { base: TIMESTAMP, toCel: timestampFrom(1000) };
      }
      if (logical === 'date') return { base: TIMESTAMP, toCel: fromDays };
      return { base: 'int', toCel: toBigInt };
    case 'float':
    case 'double':
      return { base: 'double', toCel: undefined };
    case 'string':
      return { base: 'string', toCel: undefined };
    case 'bytes':
    case 'fixed':
      if (logical === 'decimal')
        return { base: 'double', toCel: decimalToDouble(Number(object?.['scale'] ?? 0)) };
      return { base: 'bytes', toCel: undefined };
    case 'enum':
      return { base: 'string', toCel: undefined };
    default:
      return undefined;
  }
}

function nullableType(base: string, nullable: boolean): string {
  return nullable && base !== 'null' && base !== 'dyn' ? `dyn<${base}>` : base;
}

/**
 * How the types of one Avro schema look in CEL. Records are built once per full name, so recursive and
 * shared types resolve to the same shape.
 */
export class ShapeBuilder {
  readonly #names: AvroNames;
  readonly #records = new Map<string, RecordShape>();

  constructor(names: AvroNames) {
    this.#names = names;
  }

  /** Every record shape built so far, by CEL type name. */
  get records(): ReadonlyMap<string, RecordShape> {
    return this.#records;
  }

  shapeOf(schema: AvroSchema, namespace: string | undefined, nullable = false): Shape {
    const resolved = this.#names.resolve(schema, namespace);
    const type = resolved.schema as unknown;
    const ns = resolved.namespace;
    if (Array.isArray(type)) return this.#union(type as AvroSchema[], ns, nullable);
    const object = typeof type === 'object' && type !== null ? (type as SchemaObject) : undefined;
    const name = object ? object['type'] : type;
    if (typeof name !== 'string') throw new Error(`unsupported Avro type ${JSON.stringify(type)}`);
    const primitive = scalar(name, object);
    if (primitive) {
      return { kind: 'scalar', ...primitive, nullable, celType: nullableType(primitive.base, nullable) };
    }
    if (name === 'array') {
      const items = this.shapeOf(object!['items'] as AvroSchema, ns);
      return { kind: 'list', items, nullable, celType: nullableType(`list<${items.celType}>`, nullable) };
    }
    if (name === 'map') {
      const values = this.shapeOf(object!['values'] as AvroSchema, ns);
      return {
        kind: 'map',
        values,
        nullable,
        celType: nullableType(`map<string, ${values.celType}>`, nullable),
      };
    }
    if (name === 'record' || name === 'error') {
      const record = this.#record(object!, ns);
      return nullable ? { ...record, nullable } : record;
    }
    throw new Error(`unsupported Avro type "${name}"`);
  }

  #union(branches: readonly AvroSchema[], namespace: string | undefined, nullable: boolean): Shape {
    const others = branches.filter((branch) => branch !== 'null');
    const withNull = nullable || others.length < branches.length;
    if (others.length === 1) return this.shapeOf(others[0]!, namespace, withNull);
    if (others.length === 0) return this.shapeOf('null', namespace);
    return { kind: 'dyn', nullable: withNull, celType: 'dyn' };
  }

  #record(object: SchemaObject, namespace: string | undefined): RecordShape {
    const name = this.#names.fullNameOf(object as AvroSchema, namespace)!;
    const existing = this.#records.get(name);
    if (existing) return existing;
    const fields = new Map<string, Shape>();
    const shape: RecordShape = {
      kind: 'record',
      name,
      fields,
      nullable: false,
      celType: name,
      definition: object as AvroSchema,
      namespace,
    };
    this.#records.set(name, shape);
    const inner = name.includes('.') ? name.slice(0, name.lastIndexOf('.')) : undefined;
    for (const field of object['fields'] as { name: string; type: AvroSchema }[]) {
      fields.set(field.name, this.shapeOf(field.type, inner));
    }
    return shape;
  }
}

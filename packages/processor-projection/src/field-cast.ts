import type { AvroSchema } from '@datamesh/core';

export const CAST_TARGETS = ['string', 'int', 'long', 'float', 'double', 'boolean'] as const;
export type CastTarget = (typeof CAST_TARGETS)[number];

/** A value a cast cannot convert ("abc" to long): the event goes to the dead-letter topic with this error. */
export class CastError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CastError';
  }
}

export type Convert = (value: unknown) => unknown;

/** What a value of an Avro type is, as far as casting goes. */
type Kind =
  | { readonly kind: 'text' | 'integer' | 'floating' | 'boolean' | 'bytes' }
  | { readonly kind: 'decimal'; readonly scale: number }
  | { readonly kind: 'timestamp'; readonly unitsPerMs: number; readonly local: boolean }
  | { readonly kind: 'date' }
  | { readonly kind: 'time'; readonly unitsPerMs: number };

const INT_RANGE = [-(2 ** 31), 2 ** 31 - 1] as const;
const MS_PER_DAY = 86_400_000;

/** The kind of a resolved Avro type (a definition, not a reference, not a union); undefined for complex types. */
function kindOf(schema: AvroSchema): Kind | undefined {
  const object =
    typeof schema === 'object' && schema !== null && !Array.isArray(schema)
      ? (schema as Record<string, unknown>)
      : undefined;
  const type = object ? object['type'] : schema;
  const logical = object?.['logicalType'];
  switch (type) {
    case 'string':
    case 'enum':
      return { kind: 'text' };
    case 'boolean':
      return { kind: 'boolean' };
    case 'float':
    case 'double':
      return { kind: 'floating' };
    case 'bytes':
    case 'fixed':
      return logical === 'decimal'
        ? { kind: 'decimal', scale: Number(object?.['scale'] ?? 0) }
        : { kind: 'bytes' };
    case 'int':
    case 'long':
      switch (logical) {
        case 'timestamp-millis':
        case 'timestamp-micros':
        case 'local-timestamp-millis':
        case 'local-timestamp-micros':
          return {
            kind: 'timestamp',
            unitsPerMs: String(logical).endsWith('micros') ? 1000 : 1,
            local: String(logical).startsWith('local'),
          };
        case 'date':
          return { kind: 'date' };
        case 'time-millis':
        case 'time-micros':
          return { kind: 'time', unitsPerMs: logical === 'time-micros' ? 1000 : 1 };
        default:
          return { kind: 'integer' };
      }
    default:
      return undefined;
  }
}

function unscaled(bytes: Uint8Array): bigint {
  let value = 0n;
  for (const byte of bytes) value = (value << 8n) | BigInt(byte);
  return bytes.length > 0 && bytes[0]! >= 0x80 ? value - (1n << BigInt(bytes.length * 8)) : value;
}

function decimalText(bytes: Uint8Array, scale: number): string {
  const value = unscaled(bytes);
  const digits = (value < 0n ? -value : value).toString().padStart(scale + 1, '0');
  const sign = value < 0n ? '-' : '';
  return scale === 0 ? `${sign}${digits}` : `${sign}${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
}

/** ISO-8601 text of an instant counted in `unitsPerMs` per millisecond, keeping microseconds. */
function isoText(value: number, unitsPerMs: number): string {
  const ms = Math.floor(value / unitsPerMs);
  const iso = new Date(ms).toISOString();
  if (unitsPerMs === 1) return iso;
  const micros = String(value - ms * unitsPerMs).padStart(3, '0');
  return `${iso.slice(0, -1)}${micros}Z`;
}

function inRange(value: number, target: CastTarget, shown: unknown): number {
  const [low, high] = target === 'int' ? INT_RANGE : [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER];
  if (!Number.isFinite(value) || value < low || value > high) {
    throw new CastError(`cannot cast ${JSON.stringify(shown)} to ${target}: out of its range`);
  }
  return value;
}

function toText(kind: Kind): Convert | undefined {
  switch (kind.kind) {
    case 'text':
      return (value) => value;
    case 'integer':
    case 'floating':
    case 'boolean':
      return (value) => String(value);
    case 'decimal':
      return (value) => decimalText(value as Uint8Array, kind.scale);
    case 'timestamp':
      return (value) => {
        const text = isoText(value as number, kind.unitsPerMs);
        return kind.local ? text.slice(0, -1) : text;
      };
    case 'date':
      return (value) => new Date((value as number) * MS_PER_DAY).toISOString().slice(0, 10);
    case 'time':
      return (value) => isoText(value as number, kind.unitsPerMs).slice(11, -1);
    case 'bytes':
      return undefined;
  }
}

function toInteger(kind: Kind, target: CastTarget): Convert | undefined {
  switch (kind.kind) {
    case 'integer':
    case 'timestamp':
    case 'date':
    case 'time':
      return (value) => inRange(value as number, target, value);
    case 'floating':
      return (value) => inRange(Math.trunc(value as number), target, value);
    case 'decimal':
      return (value) => {
        const whole = unscaled(value as Uint8Array) / 10n ** BigInt(kind.scale);
        return inRange(Number(whole), target, decimalText(value as Uint8Array, kind.scale));
      };
    case 'text':
      return (value) => {
        const text = String(value).trim();
        if (!/^[-+]?\d+$/.test(text))
          throw new CastError(`cannot cast ${JSON.stringify(value)} to ${target}`);
        return inRange(Number(text), target, value);
      };
    default:
      return undefined;
  }
}

function toFloating(kind: Kind, target: CastTarget): Convert | undefined {
  switch (kind.kind) {
    case 'integer':
    case 'floating':
      return (value) => value;
    case 'decimal':
      return (value) => Number(decimalText(value as Uint8Array, kind.scale));
    case 'text':
      return (value) => {
        const text = String(value).trim();
        const number = Number(text);
        if (text === '' || !Number.isFinite(number))
          throw new CastError(`cannot cast ${JSON.stringify(value)} to ${target}`);
        return number;
      };
    default:
      return undefined;
  }
}

const TRUE = new Set(['true', 't', 'yes', '1']);
const FALSE = new Set(['false', 'f', 'no', '0']);

function toBoolean(kind: Kind): Convert | undefined {
  switch (kind.kind) {
    case 'boolean':
      return (value) => value;
    case 'integer':
      return (value) => value !== 0;
    case 'text':
      return (value) => {
        const text = String(value).trim().toLowerCase();
        if (TRUE.has(text)) return true;
        if (FALSE.has(text)) return false;
        throw new CastError(`cannot cast ${JSON.stringify(value)} to boolean (true/false, t/f, yes/no, 1/0)`);
      };
    default:
      return undefined;
  }
}

/** `long`, `long (timestamp-micros)`, `record shop.Address`, for messages. */
function describe(schema: AvroSchema): string {
  if (typeof schema === 'string') return schema;
  if (Array.isArray(schema)) return 'union';
  const object = schema as Record<string, unknown>;
  if (object['logicalType'] !== undefined)
    return `${String(object['type'])} (${String(object['logicalType'])})`;
  return object['name'] === undefined
    ? String(object['type'])
    : `${String(object['type'])} ${String(object['name'])}`;
}

/**
 * The conversion of values of an Avro type (resolved, without null) to `target`, or why there is none. Nulls
 * are left to the caller. Exact where text is involved: a decimal casts to its digits, a timestamp to
 * ISO-8601 with all its precision.
 */
export function castOf(schema: AvroSchema, target: CastTarget): Convert | { readonly problem: string } {
  const kind = kindOf(schema);
  const name = describe(schema);
  const a = /^[aeiou]/.test(name) ? 'an' : 'a';
  if (!kind) return { problem: `${a} ${name} cannot be cast; derive the value with an expr instead` };
  let convert: Convert | undefined;
  switch (target) {
    case 'string':
      convert = toText(kind);
      break;
    case 'int':
    case 'long':
      convert = toInteger(kind, target);
      break;
    case 'float':
    case 'double':
      convert = toFloating(kind, target);
      break;
    case 'boolean':
      convert = toBoolean(kind);
      break;
  }
  return convert ?? { problem: `${a} ${name} cannot be cast to ${target}` };
}

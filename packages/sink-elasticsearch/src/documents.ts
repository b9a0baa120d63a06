/**
 * Rows (decoded Avro values, as avsc gives them) → JSON documents for the index, and keys → document ids.
 *
 * avsc leaves logical types as their base values in this project (core's `avroType` registers none): a
 * decimal is a Buffer holding the unscaled value in big-endian two's complement, a timestamp a number since
 * the epoch, a date a number of days. Date objects are accepted too, for values that come from elsewhere.
 * The document values follow the mapping rules in index-mapping.ts:
 * - decimals → their exact text at the schema's scale ("-0.05", "12345678901234567890.00");
 * - timestamps → ISO-8601 text with every digit of their precision (6 fraction digits for micros), "Z" unless
 *   local; dates → YYYY-MM-DD (expanded years, "+5881580-07-11", outside 0000–9999, as ISO-8601 and both
 *   engines write them);
 * - bytes and fixed → base64; JSON strings → the parsed JSON (numbers a double cannot hold exactly are kept
 *   as their text through `JSON.rawJSON`, so `JSON.stringify` writes them as they were; text that does not
 *   parse stays a string);
 * - a double that is NaN or infinite → null: JSON cannot carry it and neither engine accepts it;
 * - maps → plain objects, records and arrays → converted recursively, null → null; anything else as it is.
 */
import type { AvroRecordSchema } from '@datamesh/core';
import { indexedFields, type IndexedField, type IndexedType, type TimeUnit } from './index-mapping.js';

type Convert = (value: unknown) => unknown;

/**
 * Turns decoded rows (avsc values) of a row schema into JSON documents for the index, per the mapping rules.
 * Built once per schema: the per-field converters are compiled here.
 */
export function documentConverter(
  row: AvroRecordSchema,
): (value: Readonly<Record<string, unknown>>) => Record<string, unknown> {
  const convert = recordConverter(indexedFields(row), '');
  return (value) => convert(value) as Record<string, unknown>;
}

/**
 * The document id for a key: the single key field's value as text, or for composite keys a JSON array text of
 * the values in key order (stable, injective). Strings are themselves, numbers their JavaScript text, Buffers
 * base64, Dates ISO-8601. Pass a key converted by `documentConverter(keySchema)` (or use
 * `documentIdConverter`) for decimals to read as their decimal text and timestamps as ISO-8601; a raw decimal
 * Buffer reads as base64. Throws on an empty key, a null key value, and an id the engines refuse (empty, or
 * longer than 512 bytes).
 */
export function documentId(key: Readonly<Record<string, unknown>>, keyFields: readonly string[]): string {
  const [first] = keyFields;
  if (first === undefined) throw new Error('a document id needs a key, and this key has no fields');
  const id =
    keyFields.length === 1
      ? idText(first, keyValue(key, first))
      : `[${keyFields.map((field) => idJson(field, keyValue(key, field))).join(',')}]`;
  if (id === '') throw new Error(`key field "${first}" is an empty string, which cannot be a document id`);
  if (id.length * 3 > MAX_ID_BYTES && Buffer.byteLength(id) > MAX_ID_BYTES) {
    throw new Error(
      `the document id for key ${id.slice(0, 64)}… is ${Buffer.byteLength(id)} bytes long; ` +
        `Elasticsearch and OpenSearch take ids of at most ${MAX_ID_BYTES} bytes`,
    );
  }
  return id;
}

/** `documentId` for raw keys of a key schema, converted as documents first (decimal text, ISO timestamps). */
export function documentIdConverter(
  keySchema: AvroRecordSchema,
  keyFields: readonly string[] = keySchema.fields.map((field) => field.name),
): (key: Readonly<Record<string, unknown>>) => string {
  const convert = documentConverter(keySchema);
  return (key) => documentId(convert(key), keyFields);
}

const MAX_ID_BYTES = 512;

function keyValue(key: Readonly<Record<string, unknown>>, field: string): unknown {
  const value = Object.hasOwn(key, field) ? key[field] : undefined;
  if (value === null || value === undefined) {
    throw new Error(`key field "${field}" is ${value === null ? 'null' : 'missing'}: a document id needs it`);
  }
  return value;
}

function idText(field: string, value: unknown): string {
  switch (typeof value) {
    case 'string':
      return value;
    case 'number':
    case 'bigint':
    case 'boolean':
      return String(value);
  }
  if (value instanceof Uint8Array) return base64(value);
  if (value instanceof Date) return value.toISOString();
  throw new TypeError(`key field "${field}" holds ${describeValue(value)}, which cannot be a document id`);
}

/** One value of a composite id as JSON: strings quoted, numbers bare (non-finite ones as their quoted text). */
function idJson(field: string, value: unknown): string {
  switch (typeof value) {
    case 'number':
      return Number.isFinite(value) ? String(value) : JSON.stringify(String(value));
    case 'bigint':
    case 'boolean':
      return String(value);
  }
  return JSON.stringify(idText(field, value));
}

// --- converters ---

/** The converter for a type; undefined when the value goes into the document as it is. */
function converterFor(type: IndexedType, path: string): Convert | undefined {
  switch (type.kind) {
    case 'boolean':
    case 'long':
    case 'string':
    case 'keyword':
    case 'null':
    case 'iso-timestamp':
      return undefined;
    case 'double':
      return (value) => (typeof value === 'number' && !Number.isFinite(value) ? null : value);
    case 'binary':
      return bytesConverter(path, base64);
    case 'decimal': {
      const { scale } = type;
      return bytesConverter(path, (bytes) => decimalText(bytes, scale));
    }
    case 'variable-decimal':
      return (value) => {
        if (typeof value === 'string') return value;
        const { scale, value: bytes } = (value ?? {}) as { scale?: unknown; value?: unknown };
        if (typeof scale !== 'number' || !(bytes instanceof Uint8Array))
          throw unexpected(path, 'a variable-scale decimal', value);
        return decimalText(bytes, scale);
      };
    case 'timestamp':
      return timestampConverter(path, type.unit, type.local);
    case 'date':
      return (value) => {
        if (typeof value === 'number' && Number.isSafeInteger(value)) return dateText(value);
        if (value instanceof Date && !Number.isNaN(value.getTime())) {
          return dateText(Math.floor(value.getTime() / MILLIS_PER_DAY));
        }
        if (typeof value === 'string') return value;
        throw unexpected(path, 'a number of days', value);
      };
    case 'json':
      return (value) => (typeof value === 'string' ? parseJson(value) : value);
    case 'array': {
      const item = converterFor(type.items, path);
      if (item === undefined) return undefined;
      return (value) => {
        if (!Array.isArray(value)) throw unexpected(path, 'an array', value);
        return value.map((element: unknown) =>
          element === null || element === undefined ? null : item(element),
        );
      };
    }
    case 'map': {
      const item = converterFor(type.values, path);
      if (item === undefined) return undefined;
      return (value) => {
        if (typeof value !== 'object' || value === null) throw unexpected(path, 'a map', value);
        const object: Record<string, unknown> = {};
        for (const [name, element] of Object.entries(value)) {
          setField(object, name, element === null || element === undefined ? null : item(element));
        }
        return object;
      };
    }
    case 'record':
      return recordConverter(type.fields, path);
  }
}

interface CompiledField {
  readonly name: string;
  readonly path: string;
  readonly convert: Convert | undefined;
  /** A field named "__proto__" must be defined, not assigned. */
  readonly special: boolean;
}

function recordConverter(fields: readonly IndexedField[], path: string): Convert {
  const compiled: CompiledField[] = fields.map((field) => ({
    name: field.name,
    path: field.path,
    convert: converterFor(field.type, field.path),
    special: field.name === '__proto__',
  }));
  return (value) => {
    if (typeof value !== 'object' || value === null) throw unexpected(path, 'a record', value);
    const record = value as Readonly<Record<string, unknown>>;
    const document: Record<string, unknown> = {};
    for (const { name, convert, special } of compiled) {
      const item = record[name];
      const converted =
        item === null || item === undefined ? null : convert === undefined ? item : convert(item);
      if (special) setField(document, name, converted);
      else document[name] = converted;
    }
    return document;
  };
}

function setField(object: Record<string, unknown>, name: string, value: unknown): void {
  if (name === '__proto__') {
    Object.defineProperty(object, name, { value, enumerable: true, writable: true, configurable: true });
  } else {
    object[name] = value;
  }
}

function bytesConverter(path: string, convert: (bytes: Uint8Array) => string): Convert {
  return (value) => {
    if (value instanceof Uint8Array) return convert(value);
    if (typeof value === 'string') return value;
    throw unexpected(path, 'bytes', value);
  };
}

function unexpected(path: string, wanted: string, value: unknown): TypeError {
  return new TypeError(
    `${path === '' ? 'the row' : `field "${path}"`}: expected ${wanted}, got ${describeValue(value)}`,
  );
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return `an object (${value.constructor?.name ?? 'no prototype'})`;
  return `${typeof value} ${String(value).slice(0, 40)}`;
}

function base64(bytes: Uint8Array): string {
  return toBuffer(bytes).toString('base64');
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

// --- decimals ---

/** The exact decimal text of an unscaled big-endian two's complement integer at `scale`. */
function decimalText(bytes: Uint8Array, scale: number): string {
  const buffer = toBuffer(bytes);
  let digits: string;
  let negative: boolean;
  if (buffer.length <= 6) {
    const unscaled = buffer.length === 0 ? 0 : buffer.readIntBE(0, buffer.length);
    negative = unscaled < 0;
    digits = String(Math.abs(unscaled));
  } else {
    let unscaled = BigInt(`0x${buffer.toString('hex')}`);
    if ((buffer[0] ?? 0) & 0x80) unscaled -= 1n << BigInt(buffer.length * 8);
    negative = unscaled < 0n;
    digits = (negative ? -unscaled : unscaled).toString();
  }
  const sign = negative ? '-' : '';
  if (scale <= 0) return `${sign}${digits}${digits === '0' ? '' : '0'.repeat(-scale)}`;
  const padded = digits.padStart(scale + 1, '0');
  return `${sign}${padded.slice(0, -scale)}.${padded.slice(-scale)}`;
}

// --- dates and times ---

const MILLIS_PER_DAY = 86_400_000;
const FRACTION_DIGITS: Readonly<Record<TimeUnit, number>> = { millis: 3, micros: 6, nanos: 9 };

function timestampConverter(path: string, unit: TimeUnit, local: boolean): Convert {
  const digits = FRACTION_DIGITS[unit];
  const perSecond = 10 ** digits;
  const zone = local ? '' : 'Z';
  return (value) => {
    if (typeof value === 'number' && Number.isSafeInteger(value) && unit !== 'nanos') {
      return timestampText(value, perSecond, digits) + zone;
    }
    if (typeof value === 'number' && Number.isInteger(value)) {
      return bigTimestampText(BigInt(value), perSecond, digits) + zone;
    }
    if (typeof value === 'bigint') return bigTimestampText(value, perSecond, digits) + zone;
    if (value instanceof Date && !Number.isNaN(value.getTime())) {
      const units = BigInt(value.getTime()) * BigInt(perSecond / 1000);
      return bigTimestampText(units, perSecond, digits) + zone;
    }
    if (typeof value === 'string') return value;
    throw unexpected(path, `a number of ${unit} since the epoch`, value);
  };
}

/**
 * `units` since the epoch as ISO-8601 without a zone. `units` is a safe integer, so the quotient is floored
 * exactly (it could round up to the next integer only for a dividend beyond 2^53) and the products are exact.
 */
function timestampText(units: number, perSecond: number, digits: number): string {
  const perDay = 86_400 * perSecond;
  const days = Math.floor(units / perDay);
  const rest = units - days * perDay;
  const fraction = rest % perSecond;
  return `${dateText(days)}T${timeText((rest - fraction) / perSecond)}.${String(fraction).padStart(digits, '0')}`;
}

function bigTimestampText(units: bigint, perSecond: number, digits: number): string {
  const perDay = 86_400n * BigInt(perSecond);
  let days = units / perDay;
  let rest = units % perDay;
  if (rest < 0n) {
    days -= 1n;
    rest += perDay;
  }
  const fraction = rest % BigInt(perSecond);
  const seconds = Number(rest / BigInt(perSecond));
  return `${dateText(Number(days))}T${timeText(seconds)}.${fraction.toString().padStart(digits, '0')}`;
}

function timeText(secondsOfDay: number): string {
  const hours = Math.floor(secondsOfDay / 3600);
  const minutes = Math.floor((secondsOfDay % 3600) / 60);
  return `${pad2(hours)}:${pad2(minutes)}:${pad2(secondsOfDay % 60)}`;
}

/**
 * Days since 1970-01-01 → YYYY-MM-DD, proleptic Gregorian (Howard Hinnant's civil_from_days). Years outside
 * 0000–9999 are ISO-8601 expanded years, as Java (and so both engines) write them: "+10000", "-0044".
 */
function dateText(days: number): string {
  const shifted = days + 719_468;
  const era = Math.floor(shifted / 146_097);
  const dayOfEra = shifted - era * 146_097;
  const yearOfEra = Math.floor(
    (dayOfEra -
      Math.floor(dayOfEra / 1460) +
      Math.floor(dayOfEra / 36_524) -
      Math.floor(dayOfEra / 146_096)) /
      365,
  );
  const dayOfYear = dayOfEra - (365 * yearOfEra + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100));
  const shiftedMonth = Math.floor((5 * dayOfYear + 2) / 153);
  const day = dayOfYear - Math.floor((153 * shiftedMonth + 2) / 5) + 1;
  const month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9;
  const year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0);
  return `${yearText(year)}-${pad2(month)}-${pad2(day)}`;
}

function yearText(year: number): string {
  if (year < 0) return `-${String(-year).padStart(4, '0')}`;
  return year > 9999 ? `+${year}` : String(year).padStart(4, '0');
}

function pad2(value: number): string {
  return value < 10 ? `0${value}` : String(value);
}

// --- JSON ---

/** `JSON.rawJSON` (Node 21+; not yet in TypeScript's ES2023 library). */
const rawJSON = (JSON as unknown as { rawJSON?: (text: string) => unknown }).rawJSON;
/** Text that may hold a number a double cannot carry exactly: 16+ digits, or an exponent. */
const MAYBE_INEXACT_NUMBER = /[\d.]{16}|\d[eE]/;

function parseJson(text: string): unknown {
  try {
    return rawJSON !== undefined && MAYBE_INEXACT_NUMBER.test(text)
      ? JSON.parse(text, exactNumbers)
      : JSON.parse(text);
  } catch {
    return text;
  }
}

/** A JSON.parse reviver keeping the source text of numbers that do not read back as they were written. */
function exactNumbers(_key: string, value: unknown, context?: { source?: string }): unknown {
  const source = context?.source;
  if (typeof value !== 'number' || source === undefined || rawJSON === undefined) return value;
  return JSON.stringify(value) === source ? value : rawJSON(source);
}

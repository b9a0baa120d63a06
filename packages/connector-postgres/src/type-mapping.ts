/**
 * PostgreSQL column types → Avro schemas, and column values in their text form (pgoutput's text tuples, our
 * snapshot SELECTs) → the JavaScript values avsc accepts for those schemas (logical types are annotations only:
 * a timestamp is a number, a decimal a Buffer). Sessions run with DateStyle=ISO, TimeZone=UTC and the default
 * IntervalStyle=postgres.
 *
 * Judgement calls:
 * - int8, timestamps: avsc holds a long as a JavaScript number and encodes it exactly only from -2^52 to
 *   9007199254740990 (its zigzag encoding loses the sign of anything lower). A value outside is an error naming
 *   it, never a corrupted number. For timestamps that is the years 1827–2255; the infinities clamp to the ends,
 *   and a date's infinities to the ends of Avro's int.
 * - timestamp (without time zone) is read as UTC and carried as timestamp-micros, as Debezium's MicroTimestamp.
 * - interval is an ISO-8601 duration string (what IntervalStyle=iso_8601 prints): PostgreSQL keeps months, days
 *   and microseconds apart ('1 mon' is not '30 days'), which one number of microseconds cannot keep apart, and
 *   Avro's duration drops microseconds.
 * - Unconstrained numeric is text unless decimalHandling is 'double': Avro's decimal has one scale per schema,
 *   and such a column's values each have their own.
 * - money is printed in the server's lc_monetary locale. Precise mode reads it as decimal(19,2) and accepts only
 *   the C/en_US shape ("$1,234.50", "-$1.50", "($1.50)"); anything else is an error advising 'string'.
 * - enums are strings (labels listed in "datamesh.enum"): Avro enum symbols cannot hold every label, and adding a
 *   label would change the schema incompatibly.
 * - Ranges, multiranges, composites, geometric, network and bit-string types, tsvector, pg_lsn, xid and the like
 *   keep their text form (stable and parseable by consumers). Pseudo-types and base types not named here
 *   (extensions' types but hstore and citext) are an UnsupportedTypeError unless unknownTypes is 'string'.
 * - Multi-dimensional arrays: PostgreSQL does not record an array column's dimensions in its type, so the column
 *   says how many it has (pg_attribute.attndims, 1 when absent); a value with another number is an error.
 */
import { type AvroSchema } from '@datamesh/core';
import type { PgType, PgTypeCatalog } from './pg-type-catalog.js';

export interface TypeMappingOptions {
  /** numeric and money as an exact Avro decimal (default), as their text, or as a double. */
  readonly decimalHandling?: 'precise' | 'string' | 'double';
  /** A type with no mapping fails the column (default) or is carried as its text. */
  readonly unknownTypes?: 'error' | 'string';
  /** What stands for a value PostgreSQL left out because it was TOASTed and unchanged. */
  readonly toastPlaceholder?: string;
  /** hstore as an Avro map (default) or as a JSON object string. */
  readonly hstore?: 'map' | 'json';
}

export interface ColumnMapping {
  /** The column's Avro schema, non-nullable: the caller adds null. */
  readonly avro: AvroSchema;
  /** Turns the value's text form into what avsc accepts for `avro`. */
  decode(text: string): unknown;
  /** The value for an unchanged TOASTed column, when the type can hold one; otherwise fetch the value. */
  readonly placeholder?: unknown;
}

export interface ColumnType {
  readonly name: string;
  readonly typeOid: number;
  /** atttypmod, -1 when none. */
  readonly typeMod: number;
  /** Array columns: pg_attribute.attndims; 1 when absent or 0. */
  readonly dimensions?: number;
}

export const DEFAULT_TOAST_PLACEHOLDER = '__datamesh_unavailable_value';

/** A column whose type has no Avro mapping. */
export class UnsupportedTypeError extends Error {
  readonly column: string;
  readonly typeName: string;

  constructor(column: string, typeName: string, reason: string) {
    super(
      `column "${column}" has type ${typeName}, which has no Avro mapping (${reason}); ` +
        `set unknownTypes: 'string' to carry its text form`,
    );
    this.name = 'UnsupportedTypeError';
    this.column = column;
    this.typeName = typeName;
  }
}

/** A column value whose text could not be converted. */
export class ValueDecodeError extends Error {
  readonly column: string;
  readonly typeName: string;

  constructor(column: string, typeName: string, cause: unknown) {
    super(`column "${column}" (${typeName}): ${cause instanceof Error ? cause.message : String(cause)}`, {
      cause,
    });
    this.name = 'ValueDecodeError';
    this.column = column;
    this.typeName = typeName;
  }
}

export function columnMapping(
  column: ColumnType,
  catalog: PgTypeCatalog,
  options: TypeMappingOptions = {},
): ColumnMapping {
  const context: MappingContext = { column: column.name, catalog, options: { ...DEFAULTS, ...options } };
  const type = catalog.get(column.typeOid);
  const mapping = mapType(type, column.typeMod, Math.max(column.dimensions ?? 1, 1), context);
  const typeName = typeLabel(type, catalog);
  const { decode } = mapping;
  return {
    ...mapping,
    decode(text) {
      try {
        return decode(text);
      } catch (error) {
        throw new ValueDecodeError(column.name, typeName, error);
      }
    },
  };
}

interface MappingContext {
  readonly column: string;
  readonly catalog: PgTypeCatalog;
  readonly options: Required<TypeMappingOptions>;
}

const DEFAULTS: Required<TypeMappingOptions> = {
  decimalHandling: 'precise',
  unknownTypes: 'error',
  toastPlaceholder: DEFAULT_TOAST_PLACEHOLDER,
  hstore: 'map',
};

function mapType(type: PgType, typeMod: number, dimensions: number, context: MappingContext): ColumnMapping {
  switch (type.typtype) {
    case 'd': {
      if (type.baseTypeOid === undefined)
        throw new Error(`domain ${type.name} has no base type in the catalog`);
      const base = context.catalog.get(type.baseTypeOid);
      return mapType(base, typeMod === -1 ? (type.baseTypeMod ?? -1) : typeMod, dimensions, context);
    }
    case 'e':
      return textMapping(context, { type: 'string', 'datamesh.enum': [...(type.enumLabels ?? [])] });
    case 'r':
    case 'm':
    case 'c':
      return textMapping(context);
    case 'b':
      if (isArray(type)) return arrayMapping(type, typeMod, dimensions, context);
      return baseTypeMapping(type, typeMod, context) ?? unmappable(type, 'no mapping for this type', context);
    case 'p':
      return unmappable(type, 'a pseudo-type', context);
  }
}

function unmappable(type: PgType, reason: string, context: MappingContext): ColumnMapping {
  if (context.options.unknownTypes === 'string') return textMapping(context);
  throw new UnsupportedTypeError(context.column, typeLabel(type, context.catalog), reason);
}

/** int2vector and oidvector are arrays to PostgreSQL, but print as space-separated numbers: kept as text. */
const SPACE_SEPARATED_VECTORS = ['int2vector', 'oidvector'];

function isArray(type: PgType): type is PgType & { elementOid: number } {
  return type.elementOid !== undefined && !SPACE_SEPARATED_VECTORS.includes(type.name);
}

function typeLabel(type: PgType, catalog: PgTypeCatalog): string {
  if (isArray(type) && catalog.has(type.elementOid)) {
    return `${typeLabel(catalog.get(type.elementOid), catalog)}[]`;
  }
  return type.schema === 'pg_catalog' ? type.name : `${type.schema}.${type.name}`;
}

function textMapping(
  context: MappingContext,
  avro: AvroSchema = 'string',
  decode: (text: string) => unknown = (text) => text,
): ColumnMapping {
  return { avro, decode, placeholder: context.options.toastPlaceholder };
}

// --- base types ---

type BaseTypeMapper = (typeMod: number, context: MappingContext) => ColumnMapping;

const TEXT_CATEGORIES = new Set(['S', 'G', 'I', 'V']); // string, geometric, network, bit string

const TEXT_TYPES = [
  ...SPACE_SEPARATED_VECTORS,
  'char',
  'xml',
  'macaddr',
  'macaddr8',
  'refcursor',
  'tsvector',
  'tsquery',
  'jsonpath',
  'pg_lsn',
  'txid_snapshot',
  'pg_snapshot',
  'xid',
  'xid8',
  'cid',
  'tid',
  'regclass',
  'regcollation',
  'regconfig',
  'regdictionary',
  'regnamespace',
  'regoper',
  'regoperator',
  'regproc',
  'regprocedure',
  'regrole',
  'regtype',
];

const JSON_STRING: AvroSchema = { type: 'string', 'datamesh.type': 'json' };
const TIMESTAMP_MICROS: AvroSchema = { type: 'long', logicalType: 'timestamp-micros' };

const PG_CATALOG_TYPES = new Map<string, BaseTypeMapper>([
  ['bool', () => ({ avro: 'boolean', decode: parseBoolean })],
  ['int2', () => ({ avro: 'int', decode: parseInteger })],
  ['int4', () => ({ avro: 'int', decode: parseInteger })],
  ['int8', () => ({ avro: 'long', decode: parseInt64 })],
  ['oid', () => ({ avro: 'long', decode: parseInteger })],
  ['float4', () => ({ avro: 'float', decode: parseFloatingPoint })],
  ['float8', () => ({ avro: 'double', decode: parseFloatingPoint })],
  ['numeric', numericMapping],
  ['money', moneyMapping],
  ['bytea', (_, context) => ({ avro: 'bytes', decode: parseBytea, placeholder: toastBytes(context) })],
  ['uuid', (_, context) => textMapping(context, { type: 'string', logicalType: 'uuid' })],
  ['json', (_, context) => textMapping(context, JSON_STRING)],
  ['jsonb', (_, context) => textMapping(context, JSON_STRING)],
  ['date', () => ({ avro: { type: 'int', logicalType: 'date' }, decode: parseDate })],
  ['time', () => ({ avro: { type: 'long', logicalType: 'time-micros' }, decode: parseTime })],
  ['timetz', (_, context) => textMapping(context, 'string', isoTimetz)],
  ['timestamp', () => ({ avro: TIMESTAMP_MICROS, decode: parseTimestamp })],
  ['timestamptz', () => ({ avro: TIMESTAMP_MICROS, decode: parseTimestamp })],
  [
    'interval',
    (_, context) => textMapping(context, { type: 'string', 'datamesh.type': 'interval' }, isoInterval),
  ],
  ...TEXT_TYPES.map((name): [string, BaseTypeMapper] => [name, (_, context) => textMapping(context)]),
]);

/** Extensions' types, found by name in whatever schema the extension was installed. */
const EXTENSION_TYPES = new Map<string, BaseTypeMapper>([
  ['citext', (_, context) => textMapping(context)],
  ['hstore', hstoreMapping],
]);

function baseTypeMapping(type: PgType, typeMod: number, context: MappingContext): ColumnMapping | undefined {
  const mapper =
    (type.schema === 'pg_catalog' ? PG_CATALOG_TYPES.get(type.name) : undefined) ??
    EXTENSION_TYPES.get(type.name);
  if (mapper !== undefined) return mapper(typeMod, context);
  return TEXT_CATEGORIES.has(type.category) ? textMapping(context) : undefined;
}

function toastBytes(context: MappingContext): Buffer {
  return Buffer.from(context.options.toastPlaceholder, 'utf8');
}

// --- numbers ---

/**
 * The longs avsc encodes exactly as JavaScript numbers: it refuses more than 9007199254740990, and its zigzag
 * encoding computes 2|n|-1 in floating point, which for a negative below -2^52 rounds and flips the sign.
 */
const AVSC_LONG_MIN = -(2n ** 52n);
const AVSC_LONG_MAX = 9_007_199_254_740_990n;
const INT_PATTERN = /^-?\d+$/;

function parseBoolean(text: string): boolean {
  if (text === 't') return true;
  if (text === 'f') return false;
  throw new Error(`not a boolean: "${text}"`);
}

function parseInteger(text: string): number {
  if (!INT_PATTERN.test(text)) throw new Error(`not an integer: "${text}"`);
  return Number(text);
}

function parseInt64(text: string): number {
  if (!INT_PATTERN.test(text)) throw new Error(`not an integer: "${text}"`);
  return toAvroLong(BigInt(text), `int8 value ${text}`);
}

function toAvroLong(value: bigint, what: string): number {
  if (value > AVSC_LONG_MAX || value < AVSC_LONG_MIN) {
    throw new RangeError(
      `${what} is outside ${AVSC_LONG_MIN}..${AVSC_LONG_MAX}, the range avsc encodes an Avro long exactly in`,
    );
  }
  return Number(value);
}

const FLOAT_PATTERN = /^(-?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?|NaN|-?Infinity)$/i;

function parseFloatingPoint(text: string): number {
  if (!FLOAT_PATTERN.test(text)) throw new Error(`not a floating-point number: "${text}"`);
  return Number(text);
}

function numericMapping(typeMod: number, context: MappingContext): ColumnMapping {
  const handling = context.options.decimalHandling;
  if (handling === 'double') return { avro: 'double', decode: parseFloatingPoint };
  // Avro's decimal has one scale per schema; an unconstrained numeric's values each have their own.
  if (handling === 'string' || typeMod === -1) return textMapping(context);
  const { precision, scale } = numericTypmod(typeMod);
  // Avro wants 0 <= scale <= precision; PostgreSQL 15 allows numeric(5,-2) (hundreds) and numeric(3,5).
  const avroScale = Math.max(scale, 0);
  const avroPrecision = Math.max(precision - Math.min(scale, 0), avroScale);
  return decimalMapping(avroPrecision, avroScale, (text) => text);
}

/** The (precision, scale) a numeric typmod packs; the scale is 11 bits, signed since PostgreSQL 15. */
function numericTypmod(typeMod: number): { precision: number; scale: number } {
  const packed = typeMod - 4;
  return { precision: (packed >> 16) & 0xffff, scale: ((packed & 0x7ff) ^ 0x400) - 0x400 };
}

function decimalMapping(precision: number, scale: number, toPlain: (text: string) => string): ColumnMapping {
  return {
    avro: { type: 'bytes', logicalType: 'decimal', precision, scale },
    decode: (text) => decimalBytes(toPlain(text), precision, scale),
  };
}

const DECIMAL_PATTERN = /^(-?)(\d+)(?:\.(\d+))?$/;

/** The unscaled value of a decimal text at `scale`, as Avro's big-endian two's complement bytes. */
function decimalBytes(text: string, precision: number, scale: number): Buffer {
  const match = DECIMAL_PATTERN.exec(text);
  if (match === null) {
    if (/^-?(NaN|Infinity)$/.test(text)) {
      throw new RangeError(
        `numeric value ${text} has no Avro decimal form: set decimalHandling: 'string' (or 'double') to carry it`,
      );
    }
    throw new Error(`not a decimal number: "${text}"`);
  }
  const [, sign = '', whole = '', fraction = ''] = match;
  if (/[1-9]/.test(fraction.slice(scale))) throw new RangeError(`${text} has more than ${scale} decimals`);
  const digits = whole + fraction.slice(0, scale).padEnd(scale, '0');
  const unscaled = BigInt(sign + digits);
  if ((unscaled < 0n ? -unscaled : unscaled).toString().length > precision) {
    throw new RangeError(`${text} has more than ${precision} digits`);
  }
  return twosComplement(unscaled);
}

function twosComplement(value: bigint): Buffer {
  let bytes = 1;
  while (value >= 1n << BigInt(bytes * 8 - 1) || value < -(1n << BigInt(bytes * 8 - 1))) bytes += 1;
  const unsigned = value < 0n ? (1n << BigInt(bytes * 8)) + value : value;
  return Buffer.from(unsigned.toString(16).padStart(bytes * 2, '0'), 'hex');
}

function moneyMapping(_typeMod: number, context: MappingContext): ColumnMapping {
  const handling = context.options.decimalHandling;
  if (handling === 'string') return textMapping(context);
  if (handling === 'double') return { avro: 'double', decode: (text) => Number(plainMoney(text)) };
  // money is an int8 of cents: at most 19 digits.
  return decimalMapping(19, 2, plainMoney);
}

/** "$1,234.50" → "1234.50", "-$1.50" and "($1.50)" → "-1.50". */
function plainMoney(text: string): string {
  const negative = text.startsWith('-') || (text.startsWith('(') && text.endsWith(')'));
  const digits = text.replace(/[^\d.]/g, '');
  if (!/^\d+\.\d\d$/.test(digits)) {
    throw new Error(
      `money text "${text}" is not in the C/en_US format ("$1,234.50"); set decimalHandling: 'string' to carry it as printed`,
    );
  }
  return negative ? `-${digits}` : digits;
}

// --- bytea ---

function parseBytea(text: string): Buffer {
  if (!text.startsWith('\\x')) return parseEscapedBytea(text);
  const hex = text.slice(2);
  if (!/^([\da-f]{2})*$/i.test(hex)) throw new Error(`malformed bytea hex text: "${text}"`);
  return Buffer.from(hex, 'hex');
}

/** bytea_output=escape: `\\` is a backslash, `\ooo` an octal byte, anything else itself. */
function parseEscapedBytea(text: string): Buffer {
  const bytes: number[] = [];
  for (let at = 0; at < text.length;) {
    if (text[at] !== '\\') {
      const code = text.charCodeAt(at);
      if (code > 0xff) throw new Error(`malformed bytea escape text at offset ${at}`);
      bytes.push(code);
      at += 1;
    } else if (text[at + 1] === '\\') {
      bytes.push(0x5c);
      at += 2;
    } else {
      const octal = text.slice(at + 1, at + 4);
      if (!/^[0-3][0-7]{2}$/.test(octal)) throw new Error(`malformed bytea escape text at offset ${at}`);
      bytes.push(Number.parseInt(octal, 8));
      at += 4;
    }
  }
  return Buffer.from(bytes);
}

// --- dates and times ---

const INT_MIN = -(2 ** 31);
const INT_MAX = 2 ** 31 - 1;
const MICROS_PER_DAY = 86_400_000_000n;

const DATE_PATTERN = /^(\d{4,})-(\d\d)-(\d\d)( BC)?$/;
const TIME_PATTERN = /^(\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))?$/;
const TIMESTAMP_PATTERN =
  /^(\d{4,})-(\d\d)-(\d\d) (\d\d:\d\d:\d\d(?:\.\d{1,6})?)(?:([+-])(\d\d)(?::(\d\d))?(?::(\d\d))?)?( BC)?$/;

/** Days since 1970-01-01; infinities clamp to the ends of Avro's int. */
function parseDate(text: string): number {
  if (text === 'infinity') return INT_MAX;
  if (text === '-infinity') return INT_MIN;
  const match = DATE_PATTERN.exec(text);
  if (match === null) throw new Error(`not an ISO date: "${text}"`);
  const [, year = '', month = '', day = '', bc] = match;
  return daysSinceEpoch(astronomicalYear(year, bc), Number(month), Number(day));
}

/** Microseconds since midnight. */
function parseTime(text: string): number {
  const match = TIME_PATTERN.exec(text);
  if (match === null) throw new Error(`not an ISO time: "${text}"`);
  const [, hours = '', minutes = '', seconds = '', fraction = ''] = match;
  return (
    ((Number(hours) * 60 + Number(minutes)) * 60 + Number(seconds)) * 1_000_000 +
    Number(fraction.padEnd(6, '0'))
  );
}

/**
 * Microseconds since the epoch, exactly: a timestamptz at its printed offset, a timestamp as UTC. The
 * infinities clamp to the ends of avsc's long range.
 */
function parseTimestamp(text: string): number {
  if (text === 'infinity') return Number(AVSC_LONG_MAX);
  if (text === '-infinity') return Number(AVSC_LONG_MIN);
  const match = TIMESTAMP_PATTERN.exec(text);
  if (match === null) throw new Error(`not an ISO timestamp: "${text}"`);
  const [, year = '', month = '', day = '', time = '', sign, hours = '0', minutes = '0', seconds = '0', bc] =
    match;
  const days = daysSinceEpoch(astronomicalYear(year, bc), Number(month), Number(day));
  const offsetSeconds = (Number(hours) * 60 + Number(minutes)) * 60 + Number(seconds);
  const offsetMicros = BigInt(sign === '-' ? -offsetSeconds : offsetSeconds) * 1_000_000n;
  const micros = BigInt(days) * MICROS_PER_DAY + BigInt(parseTime(time)) - offsetMicros;
  return toAvroLong(micros, `timestamp ${text}`);
}

/** Year 1 BC is year 0. */
function astronomicalYear(year: string, bc: string | undefined): number {
  return bc === undefined ? Number(year) : 1 - Number(year);
}

/** Proleptic Gregorian, as PostgreSQL counts (Howard Hinnant's days_from_civil). */
function daysSinceEpoch(year: number, month: number, day: number): number {
  const marchYear = month <= 2 ? year - 1 : year;
  const era = Math.floor(marchYear / 400);
  const yearOfEra = marchYear - era * 400;
  const dayOfYear = Math.floor((153 * ((month + 9) % 12) + 2) / 5) + day - 1;
  const dayOfEra = yearOfEra * 365 + Math.floor(yearOfEra / 4) - Math.floor(yearOfEra / 100) + dayOfYear;
  return era * 146_097 + dayOfEra - 719_468;
}

/** "12:00:00.5+05" → "12:00:00.5+05:00": ISO-8601 wants the offset's minutes. */
function isoTimetz(text: string): string {
  return /[+-]\d\d$/.test(text) ? `${text}:00` : text;
}

// --- interval ---

const INTERVAL_TIME_PATTERN = /^([+-])?(\d+):(\d\d):(\d\d)(?:\.(\d{1,6}))?$/;
const MONTHS_PER_UNIT = new Map([
  ['year', 12],
  ['years', 12],
  ['mon', 1],
  ['mons', 1],
]);

interface Interval {
  months: number;
  days: number;
  micros: bigint;
}

/** IntervalStyle=postgres text ("1 year 2 mons -3 days +04:05:06.789") → ISO-8601 as iso_8601 prints it. */
function isoInterval(text: string): string {
  return text.startsWith('P') ? text : formatIsoInterval(parsePostgresInterval(text));
}

function parsePostgresInterval(text: string): Interval {
  const interval: Interval = { months: 0, days: 0, micros: 0n };
  const tokens = text.split(' ');
  for (let at = 0; at < tokens.length; at += 1) {
    const token = tokens[at] ?? '';
    const time = INTERVAL_TIME_PATTERN.exec(token);
    if (time !== null) {
      interval.micros = intervalTimeMicros(time);
      continue;
    }
    const unit = tokens[(at += 1)] ?? '';
    if (!INT_PATTERN.test(token.replace(/^\+/, '')) || !/^(years?|mons?|days?)$/.test(unit)) {
      throw new Error(`not an interval in IntervalStyle postgres: "${text}"`);
    }
    if (unit.startsWith('day')) interval.days += Number(token);
    else interval.months += Number(token) * (MONTHS_PER_UNIT.get(unit) ?? 0);
  }
  return interval;
}

function intervalTimeMicros(match: RegExpExecArray): bigint {
  const [, sign, hours = '', minutes = '', seconds = '', fraction = ''] = match;
  const micros =
    ((BigInt(hours) * 60n + BigInt(minutes)) * 60n + BigInt(seconds)) * 1_000_000n +
    BigInt(fraction.padEnd(6, '0'));
  return sign === '-' ? -micros : micros;
}

/** Mirrors PostgreSQL's EncodeInterval for iso_8601: each field truncated toward zero, with its own sign. */
function formatIsoInterval({ months, days, micros }: Interval): string {
  if (months === 0 && days === 0 && micros === 0n) return 'PT0S';
  const part = (value: number | bigint, unit: string): string =>
    Number(value) === 0 ? '' : `${value}${unit}`;
  let text = `P${part(Math.trunc(months / 12), 'Y')}${part(months % 12, 'M')}${part(days, 'D')}`;
  if (micros !== 0n) {
    const secondsMicros = micros % 60_000_000n;
    text += `T${part(micros / 3_600_000_000n, 'H')}${part((micros % 3_600_000_000n) / 60_000_000n, 'M')}`;
    if (secondsMicros !== 0n) text += `${formatSeconds(secondsMicros)}S`;
  }
  return text;
}

function formatSeconds(micros: bigint): string {
  const magnitude = micros < 0n ? -micros : micros;
  const fraction = (magnitude % 1_000_000n).toString().padStart(6, '0').replace(/0+$/, '');
  return `${micros < 0n ? '-' : ''}${magnitude / 1_000_000n}${fraction === '' ? '' : `.${fraction}`}`;
}

// --- arrays ---

/** An array's text form parsed: element texts (null for NULL) nested as its dimensions are. */
type ArrayText = (string | null | ArrayText)[];

function arrayMapping(
  type: PgType & { elementOid: number },
  typeMod: number,
  dimensions: number,
  context: MappingContext,
): ColumnMapping {
  const elementType = context.catalog.get(type.elementOid);
  const element = mapType(elementType, typeMod, 1, context);
  let avro: AvroSchema = { type: 'array', items: ['null', element.avro] as AvroSchema };
  let placeholder = element.placeholder === undefined ? undefined : [element.placeholder];
  for (let dimension = 1; dimension < dimensions; dimension += 1) {
    avro = { type: 'array', items: avro };
    placeholder = placeholder === undefined ? undefined : [placeholder];
  }
  const decode = (text: string): unknown[] =>
    decodeArray(parseArrayText(text, elementType.delimiter), dimensions, element.decode);
  return placeholder === undefined ? { avro, decode } : { avro, decode, placeholder };
}

function decodeArray(
  items: ArrayText,
  dimensions: number,
  decodeElement: (text: string) => unknown,
): unknown[] {
  return items.map((item) => {
    if (Array.isArray(item) !== dimensions > 1) {
      throw new Error(`array value does not have the column's ${dimensions} dimension(s)`);
    }
    if (Array.isArray(item)) return decodeArray(item, dimensions - 1, decodeElement);
    return item === null ? null : decodeElement(item);
  });
}

/**
 * Parses array_out's text: `{1,2}`, `{{1,2},{3,4}}`, `{"a \"b\"",NULL}`, `{}`, and `[0:1]={1,2}` (lower bounds
 * other than 1 are printed and dropped here).
 */
function parseArrayText(text: string, delimiter = ','): ArrayText {
  let at = text.startsWith('[') ? text.indexOf('=') + 1 : 0;
  const fail = (what: string): never => {
    throw new Error(`malformed array text at offset ${at} (${what}): "${text}"`);
  };
  const expect = (char: string): void => {
    if (text[at] !== char) fail(`expected ${char}`);
    at += 1;
  };
  const quoted = (): string => {
    let value = '';
    for (at += 1; text[at] !== '"'; at += 1) {
      if (text[at] === '\\') at += 1;
      value += text[at] ?? fail('unterminated quoted element');
    }
    at += 1;
    return value;
  };
  const unquoted = (): string | null => {
    const start = at;
    while (at < text.length && text[at] !== delimiter && text[at] !== '}') at += 1;
    const value = text.slice(start, at).trim();
    return value.toUpperCase() === 'NULL' ? null : value;
  };
  const array = (): ArrayText => {
    expect('{');
    const items: ArrayText = [];
    if (text[at] === '}') {
      at += 1;
      return items;
    }
    for (;;) {
      items.push(text[at] === '{' ? array() : text[at] === '"' ? quoted() : unquoted());
      if (text[at] !== delimiter) break;
      at += 1;
    }
    expect('}');
    return items;
  };
  const parsed = array();
  if (at !== text.length) fail('text after the array');
  return parsed;
}

// --- hstore ---

function hstoreMapping(_typeMod: number, context: MappingContext): ColumnMapping {
  if (context.options.hstore === 'json') {
    return textMapping(context, JSON_STRING, (text) => JSON.stringify(parseHstore(text)));
  }
  return { avro: { type: 'map', values: ['null', 'string'] as AvroSchema }, decode: parseHstore };
}

/** Parses hstore_out's text: `"a"=>"1", "b"=>NULL`, with `\"` and `\\` escaped inside quotes. */
function parseHstore(text: string): Record<string, string | null> {
  const entries: [string, string | null][] = [];
  let at = 0;
  const fail = (what: string): never => {
    throw new Error(`malformed hstore text at offset ${at} (${what}): "${text}"`);
  };
  const skipSpaces = (): void => {
    while (text[at] === ' ') at += 1;
  };
  const token = (): { value: string; quoted: boolean } => {
    if (text[at] !== '"') {
      const start = at;
      while (at < text.length && !/[\s=,]/.test(text[at] ?? '')) at += 1;
      if (at === start) fail('expected a key or value');
      return { value: text.slice(start, at), quoted: false };
    }
    let value = '';
    for (at += 1; text[at] !== '"'; at += 1) {
      if (text[at] === '\\') at += 1;
      value += text[at] ?? fail('unterminated quoted string');
    }
    at += 1;
    return { value, quoted: true };
  };
  for (skipSpaces(); at < text.length; skipSpaces()) {
    if (entries.length > 0) {
      if (text[at] !== ',') fail('expected ,');
      at += 1;
      skipSpaces();
    }
    const key = token().value;
    skipSpaces();
    if (!text.startsWith('=>', at)) fail('expected =>');
    at += 2;
    skipSpaces();
    const value = token();
    entries.push([key, !value.quoted && value.value.toUpperCase() === 'NULL' ? null : value.value]);
  }
  return Object.fromEntries(entries);
}

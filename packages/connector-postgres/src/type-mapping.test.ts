import { avroType, type AvroSchema } from '@datamesh/core';
import { beforeEach, describe, expect, it } from 'vitest';
import { PgTypeCatalog, type TypeQuery } from './pg-type-catalog.js';
import {
  DEFAULT_TOAST_PLACEHOLDER,
  UnsupportedTypeError,
  ValueDecodeError,
  columnMapping,
  type ColumnMapping,
  type TypeMappingOptions,
} from './type-mapping.js';

// pg_type rows as a client with text type parsers returns them: [oid, typname, nspname, typtype, typcategory,
// typelem, typbasetype, typtypmod, typdelim].
const TYPE_ROWS: [number, string, string, string, string, number, number, number, string?][] = [
  [16, 'bool', 'pg_catalog', 'b', 'B', 0, 0, -1],
  [17, 'bytea', 'pg_catalog', 'b', 'U', 0, 0, -1],
  [18, 'char', 'pg_catalog', 'b', 'Z', 0, 0, -1],
  [19, 'name', 'pg_catalog', 'b', 'S', 18, 0, -1],
  [20, 'int8', 'pg_catalog', 'b', 'N', 0, 0, -1],
  [21, 'int2', 'pg_catalog', 'b', 'N', 0, 0, -1],
  [22, 'int2vector', 'pg_catalog', 'b', 'A', 21, 0, -1],
  [23, 'int4', 'pg_catalog', 'b', 'N', 0, 0, -1],
  [25, 'text', 'pg_catalog', 'b', 'S', 0, 0, -1],
  [26, 'oid', 'pg_catalog', 'b', 'N', 0, 0, -1],
  [114, 'json', 'pg_catalog', 'b', 'U', 0, 0, -1],
  [142, 'xml', 'pg_catalog', 'b', 'U', 0, 0, -1],
  [603, 'box', 'pg_catalog', 'b', 'G', 600, 0, -1, ';'],
  [700, 'float4', 'pg_catalog', 'b', 'N', 0, 0, -1],
  [701, 'float8', 'pg_catalog', 'b', 'N', 0, 0, -1],
  [790, 'money', 'pg_catalog', 'b', 'N', 0, 0, -1],
  [869, 'inet', 'pg_catalog', 'b', 'I', 0, 0, -1],
  [1000, '_bool', 'pg_catalog', 'b', 'A', 16, 0, -1],
  [1001, '_bytea', 'pg_catalog', 'b', 'A', 17, 0, -1],
  [1007, '_int4', 'pg_catalog', 'b', 'A', 23, 0, -1],
  [1009, '_text', 'pg_catalog', 'b', 'A', 25, 0, -1],
  [1020, '_box', 'pg_catalog', 'b', 'A', 603, 0, -1, ';'],
  [1042, 'bpchar', 'pg_catalog', 'b', 'S', 0, 0, -1],
  [1043, 'varchar', 'pg_catalog', 'b', 'S', 0, 0, -1],
  [1082, 'date', 'pg_catalog', 'b', 'D', 0, 0, -1],
  [1083, 'time', 'pg_catalog', 'b', 'D', 0, 0, -1],
  [1114, 'timestamp', 'pg_catalog', 'b', 'D', 0, 0, -1],
  [1184, 'timestamptz', 'pg_catalog', 'b', 'D', 0, 0, -1],
  [1185, '_timestamptz', 'pg_catalog', 'b', 'A', 1184, 0, -1],
  [1186, 'interval', 'pg_catalog', 'b', 'T', 0, 0, -1],
  [1231, '_numeric', 'pg_catalog', 'b', 'A', 1700, 0, -1],
  [1266, 'timetz', 'pg_catalog', 'b', 'D', 0, 0, -1],
  [1560, 'bit', 'pg_catalog', 'b', 'V', 0, 0, -1],
  [1700, 'numeric', 'pg_catalog', 'b', 'N', 0, 0, -1],
  [2249, 'record', 'pg_catalog', 'p', 'P', 0, 0, -1],
  [2950, 'uuid', 'pg_catalog', 'b', 'U', 0, 0, -1],
  [3220, 'pg_lsn', 'pg_catalog', 'b', 'U', 0, 0, -1],
  [3802, 'jsonb', 'pg_catalog', 'b', 'U', 0, 0, -1],
  [3904, 'int4range', 'pg_catalog', 'r', 'R', 0, 0, -1],
  [16400, 'hstore', 'public', 'b', 'U', 0, 0, -1],
  [16410, 'citext', 'ext', 'b', 'S', 0, 0, -1],
  [16420, 'mood', 'public', 'e', 'E', 0, 0, -1],
  [16421, '_mood', 'public', 'b', 'A', 16420, 0, -1],
  [16430, 'price', 'public', 'd', 'N', 0, 1700, numericTypmod(10, 2)],
  [16431, '_price', 'public', 'b', 'A', 16430, 0, -1],
  [16432, 'cheap_price', 'public', 'd', 'N', 0, 16430, -1],
  [16440, 'pair', 'public', 'c', 'C', 0, 0, -1],
  [16450, 'geometry', 'public', 'b', 'U', 0, 0, -1],
];

const ENUM_LABELS = new Map([[16420, ['sad', 'ok', 'happy ☺', 'ok-ish']]]);

const OID = Object.fromEntries(TYPE_ROWS.map(([oid, name]) => [name, oid])) as Record<string, number>;

function numericTypmod(precision: number, scale: number): number {
  return ((precision << 16) | (scale & 0x7ff)) + 4;
}

/** Answers the catalog's queries from TYPE_ROWS, counting them. */
function fakeQuery(): TypeQuery & { calls: string[][] } {
  const calls: string[][] = [];
  const query = async (sql: string, params: unknown[]) => {
    const oids = String(params[0]).split(',').map(Number);
    calls.push(oids.map(String));
    if (sql.includes('pg_enum')) {
      const rows = oids.flatMap((oid) =>
        (ENUM_LABELS.get(oid) ?? []).map((label) => ({ enumtypid: String(oid), enumlabel: label })),
      );
      return { rows };
    }
    const rows = TYPE_ROWS.filter(([oid]) => oids.includes(oid)).map(
      ([oid, typname, nspname, typtype, typcategory, typelem, typbasetype, typtypmod, typdelim = ',']) => ({
        oid: String(oid),
        typname,
        nspname,
        typtype,
        typcategory,
        typelem: String(typelem),
        typbasetype: String(typbasetype),
        typtypmod: String(typtypmod),
        typdelim,
      }),
    );
    return { rows };
  };
  return Object.assign(query, { calls });
}

let catalog: PgTypeCatalog;

beforeEach(() => {
  catalog = new PgTypeCatalog(fakeQuery());
});

async function mapping(
  typeName: string,
  options: TypeMappingOptions = {},
  typeMod = -1,
  dimensions?: number,
): Promise<ColumnMapping> {
  const typeOid = OID[typeName];
  if (typeOid === undefined) throw new Error(`no fixture type ${typeName}`);
  await catalog.load([typeOid]);
  return columnMapping(
    { name: 'col', typeOid, typeMod, ...(dimensions === undefined ? {} : { dimensions }) },
    catalog,
    options,
  );
}

/** Decodes, then checks the value is valid for the schema and survives avsc's encoding. */
function decoded(column: ColumnMapping, text: string): unknown {
  const value = column.decode(text);
  expectAvroValue(column.avro, value);
  return value;
}

function expectAvroValue(schema: AvroSchema, value: unknown): void {
  const type = avroType(schema);
  expect(type.isValid(value), `${JSON.stringify(schema)} accepts ${String(value)}`).toBe(true);
  const back: unknown = type.fromBuffer(type.toBuffer(value));
  expect(back).toEqual(schema === 'float' ? Math.fround(value as number) : value);
  expect(avroType(['null', schema] as AvroSchema).isValid(value)).toBe(true);
}

function decodeError(column: ColumnMapping, text: string): ValueDecodeError {
  try {
    column.decode(text);
  } catch (error) {
    expect(error).toBeInstanceOf(ValueDecodeError);
    return error as ValueDecodeError;
  }
  throw new Error(`decoding "${text}" did not fail`);
}

/** An Avro decimal's bytes read back as a signed integer, independently of the code under test. */
function unscaled(bytes: unknown): bigint {
  const buffer = bytes as Buffer;
  return BigInt.asIntN(buffer.length * 8, BigInt(`0x${buffer.toString('hex')}`));
}

const MICROS_PER_MS = 1000;
const epochMicros = (iso: string, extraMicros = 0) => Date.parse(iso) * MICROS_PER_MS + extraMicros;
const epochDays = (iso: string) => Date.parse(`${iso}T00:00:00Z`) / 86_400_000;

describe('PgTypeCatalog', () => {
  it('loads an array of a domain of a domain down to numeric, with one query per level', async () => {
    const query = fakeQuery();
    const types = new PgTypeCatalog(query);
    await types.load([OID['_price']!]);
    expect(query.calls).toEqual([['16431'], ['16430'], ['1700']]);
    expect(types.get(16431)).toMatchObject({
      name: '_price',
      schema: 'public',
      category: 'A',
      elementOid: 16430,
    });
    expect(types.get(16430)).toMatchObject({
      typtype: 'd',
      baseTypeOid: 1700,
      baseTypeMod: numericTypmod(10, 2),
    });
    expect(types.get(1700)).not.toHaveProperty('elementOid');
  });

  it('caches by oid and forgets on demand', async () => {
    const query = fakeQuery();
    const types = new PgTypeCatalog(query);
    await types.load([23, 25]);
    await types.load([25, 23]);
    expect(query.calls).toHaveLength(1);
    types.forget([23]);
    expect(types.has(23)).toBe(false);
    expect(types.has(25)).toBe(true);
    await types.load([23, 25]);
    expect(query.calls.at(-1)).toEqual(['23']);
    types.forget();
    expect(types.has(25)).toBe(false);
  });

  it('reads enum labels in their order, and keeps a base type with typelem (name) from being an array', async () => {
    await catalog.load([OID['mood']!, OID['name']!]);
    expect(catalog.get(OID['mood']!).enumLabels).toEqual(['sad', 'ok', 'happy ☺', 'ok-ish']);
    expect(catalog.get(OID['name']!)).not.toHaveProperty('elementOid');
  });

  it('fails for an oid PostgreSQL does not have, and for a type never loaded', async () => {
    await expect(catalog.load([99999])).rejects.toThrow(/no type with oid 99999/);
    expect(() => catalog.get(23)).toThrow(/not in the catalog/);
  });
});

describe('integers, floats, booleans', () => {
  it('int2 and int4 are Avro ints', async () => {
    const int4 = await mapping('int4');
    expect(int4.avro).toBe('int');
    expect(decoded(int4, '2147483647')).toBe(2147483647);
    expect(decoded(int4, '-2147483648')).toBe(-2147483648);
    expect(decoded(await mapping('int2'), '-32768')).toBe(-32768);
    expect(decodeError(int4, '1.5').message).toMatch(/column "col" \(int4\): not an integer/);
  });

  it('int8 is an Avro long, and a value avsc cannot hold exactly is an error naming it', async () => {
    const int8 = await mapping('int8');
    expect(int8.avro).toBe('long');
    expect(decoded(int8, '9007199254740990')).toBe(9007199254740990);
    expect(decoded(int8, '-4503599627370496')).toBe(-4503599627370496);
    expect(decoded(int8, '0')).toBe(0);
    expect(decodeError(int8, '9007199254740991').message).toMatch(/int8 value 9007199254740991 is outside/);
    // avsc would write it, and read back 4503599627370496.
    expect(decodeError(int8, '-4503599627370497').message).toMatch(/-4503599627370497 is outside/);
    expect(decodeError(int8, '-9223372036854775808').message).toMatch(/-9223372036854775808/);
  });

  it('oid is an Avro long', async () => {
    const oid = await mapping('oid');
    expect(oid.avro).toBe('long');
    expect(decoded(oid, '4294967295')).toBe(4294967295);
  });

  it('float4 and float8 read NaN and the infinities', async () => {
    const float4 = await mapping('float4');
    const float8 = await mapping('float8');
    expect([float4.avro, float8.avro]).toEqual(['float', 'double']);
    expect(decoded(float4, '1.1')).toBe(1.1);
    expect(decoded(float8, '-1.5e-10')).toBe(-1.5e-10);
    expect(decoded(float8, '1.7976931348623157e+308')).toBe(Number.MAX_VALUE);
    expect(decoded(float8, 'NaN')).toBeNaN();
    expect(decoded(float8, 'Infinity')).toBe(Infinity);
    expect(decoded(float4, '-Infinity')).toBe(-Infinity);
    decodeError(float8, '');
  });

  it("bool reads 't' and 'f'", async () => {
    const bool = await mapping('bool');
    expect(bool.avro).toBe('boolean');
    expect(decoded(bool, 't')).toBe(true);
    expect(decoded(bool, 'f')).toBe(false);
    decodeError(bool, 'true');
  });
});

describe('numeric', () => {
  const decimal = (precision: number, scale: number) => ({
    type: 'bytes',
    logicalType: 'decimal',
    precision,
    scale,
  });

  it('numeric(p,s) is an Avro decimal of the unscaled value, rescaled exactly', async () => {
    const column = await mapping('numeric', {}, numericTypmod(10, 2));
    expect(column.avro).toEqual(decimal(10, 2));
    expect(column.placeholder).toBeUndefined();
    expect(unscaled(decoded(column, '123.45'))).toBe(12345n);
    expect(unscaled(decoded(column, '7'))).toBe(700n);
    expect(unscaled(decoded(column, '-0.5'))).toBe(-50n);
    expect(unscaled(decoded(column, '-99999999.99'))).toBe(-9999999999n);
    expect(unscaled(decoded(column, '1.230'))).toBe(123n);
    expect(decodeError(column, '1.234').message).toMatch(/more than 2 decimals/);
    expect(decodeError(column, '123456789.00').message).toMatch(/more than 10 digits/);
  });

  it('writes minimal big-endian two’s complement bytes', async () => {
    const column = await mapping('numeric', {}, numericTypmod(38, 0));
    const hex = (text: string) => (decoded(column, text) as Buffer).toString('hex');
    expect(hex('0')).toBe('00');
    expect(hex('127')).toBe('7f');
    expect(hex('128')).toBe('0080');
    expect(hex('-128')).toBe('80');
    expect(hex('-129')).toBe('ff7f');
    expect(hex('-65536')).toBe('ff0000');
    expect(unscaled(decoded(column, '-12345678901234567890123456789012345678'))).toBe(
      -12345678901234567890123456789012345678n,
    );
  });

  it('maps the PostgreSQL 15 scales Avro does not allow: negative, and larger than the precision', async () => {
    const hundreds = await mapping('numeric', {}, numericTypmod(5, -2));
    expect(hundreds.avro).toEqual(decimal(7, 0));
    expect(unscaled(decoded(hundreds, '-9999900'))).toBe(-9999900n);
    const tiny = await mapping('numeric', {}, numericTypmod(3, 5));
    expect(tiny.avro).toEqual(decimal(5, 5));
    expect(unscaled(decoded(tiny, '0.00123'))).toBe(123n);
  });

  it('NaN and infinities cannot be precise decimals: the error says what to set', async () => {
    const column = await mapping('numeric', {}, numericTypmod(10, 2));
    expect(decodeError(column, 'NaN').message).toMatch(
      /NaN has no Avro decimal form.*decimalHandling: 'string'/,
    );
    expect(decodeError(column, '-Infinity').message).toMatch(/decimalHandling/);
  });

  it('string and double handling; an unconstrained numeric is a string unless double', async () => {
    const text = await mapping('numeric', { decimalHandling: 'string' }, numericTypmod(10, 2));
    expect(text.avro).toBe('string');
    expect(decoded(text, 'NaN')).toBe('NaN');
    expect(text.placeholder).toBe(DEFAULT_TOAST_PLACEHOLDER);
    const double = await mapping('numeric', { decimalHandling: 'double' }, numericTypmod(10, 2));
    expect(double.avro).toBe('double');
    expect(decoded(double, '-12.5')).toBe(-12.5);
    expect(decoded(double, 'Infinity')).toBe(Infinity);
    const unconstrained = await mapping('numeric');
    expect(unconstrained.avro).toBe('string');
    expect(decoded(unconstrained, '0.000000000000000000001')).toBe('0.000000000000000000001');
    expect((await mapping('numeric', { decimalHandling: 'double' })).avro).toBe('double');
  });

  it('money: decimal(19,2) from the C-locale text, its text, or a double', async () => {
    const money = await mapping('money');
    expect(money.avro).toEqual(decimal(19, 2));
    expect(unscaled(decoded(money, '$1,234.50'))).toBe(123450n);
    expect(unscaled(decoded(money, '-$1.50'))).toBe(-150n);
    expect(unscaled(decoded(money, '($1.50)'))).toBe(-150n);
    expect(unscaled(decoded(money, '-$92,233,720,368,547,758.08'))).toBe(-9223372036854775808n);
    expect(decodeError(money, '1.234,50 €').message).toMatch(/decimalHandling: 'string'/);
    expect(decoded(await mapping('money', { decimalHandling: 'string' }), '$1,234.50')).toBe('$1,234.50');
    expect(decoded(await mapping('money', { decimalHandling: 'double' }), '-$1,234.50')).toBe(-1234.5);
  });
});

describe('text and binary', () => {
  it('text-like types keep their text, padding included, with the TOAST placeholder', async () => {
    for (const name of [
      'text',
      'varchar',
      'bpchar',
      'name',
      'char',
      'xml',
      'citext',
      'inet',
      'bit',
      'pg_lsn',
    ]) {
      const column = await mapping(name);
      expect(column.avro, name).toBe('string');
      expect(column.placeholder).toBe(DEFAULT_TOAST_PLACEHOLDER);
    }
    expect(decoded(await mapping('bpchar'), 'ab   ')).toBe('ab   ');
    expect((await mapping('text', { toastPlaceholder: '??' })).placeholder).toBe('??');
  });

  it('bytea reads the hex and the escape formats', async () => {
    const bytea = await mapping('bytea');
    expect(bytea.avro).toBe('bytes');
    expect(decoded(bytea, '\\x00ff10')).toEqual(Buffer.from([0, 255, 16]));
    expect(decoded(bytea, '\\x')).toEqual(Buffer.alloc(0));
    expect(decoded(bytea, 'ab\\000\\\\c\\377')).toEqual(Buffer.from([97, 98, 0, 92, 99, 255]));
    expect(decoded(bytea, '')).toEqual(Buffer.alloc(0));
    decodeError(bytea, '\\x0');
    decodeError(bytea, '\\xzz');
    decodeError(bytea, 'a\\9');
    expect(bytea.placeholder).toEqual(Buffer.from(DEFAULT_TOAST_PLACEHOLDER));
  });

  it('uuid, json and jsonb are annotated strings', async () => {
    const uuid = await mapping('uuid');
    expect(uuid.avro).toEqual({ type: 'string', logicalType: 'uuid' });
    expect(decoded(uuid, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11')).toBe(
      'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
    );
    for (const name of ['json', 'jsonb']) {
      const column = await mapping(name);
      expect(column.avro).toEqual({ type: 'string', 'datamesh.type': 'json' });
      expect(decoded(column, '{"a": [1, null]}')).toBe('{"a": [1, null]}');
      expect(column.placeholder).toBe(DEFAULT_TOAST_PLACEHOLDER);
    }
  });
});

describe('dates and times', () => {
  it('date is days since the epoch, BC dates included, infinities clamped to the Avro int range', async () => {
    const date = await mapping('date');
    expect(date.avro).toEqual({ type: 'int', logicalType: 'date' });
    expect(decoded(date, '1970-01-01')).toBe(0);
    expect(decoded(date, '1969-12-31')).toBe(-1);
    expect(decoded(date, '2024-02-29')).toBe(epochDays('2024-02-29'));
    expect(decoded(date, '1582-10-04')).toBe(epochDays('1582-10-04'));
    expect(decoded(date, '0001-01-01')).toBe(epochDays('0001-01-01'));
    // Year 1 BC is ISO year 0; 4714-11-24 BC is PostgreSQL's first day (Julian day 0).
    expect(decoded(date, '0001-01-01 BC')).toBe(epochDays('0000-01-01'));
    expect(decoded(date, '0001-12-31 BC')).toBe(epochDays('0001-01-01') - 1);
    expect(decoded(date, '4714-11-24 BC')).toBe(-2440588);
    expect(decoded(date, '5874897-12-31')).toBe(2145042905); // SELECT '5874897-12-31'::date - '1970-01-01'
    expect(decoded(date, 'infinity')).toBe(2 ** 31 - 1);
    expect(decoded(date, '-infinity')).toBe(-(2 ** 31));
    decodeError(date, '01/02/2024');
  });

  it('time is microseconds since midnight, 24:00:00 included', async () => {
    const time = await mapping('time');
    expect(time.avro).toEqual({ type: 'long', logicalType: 'time-micros' });
    expect(decoded(time, '00:00:00')).toBe(0);
    expect(decoded(time, '12:34:56.5')).toBe(45_296_500_000);
    expect(decoded(time, '23:59:59.999999')).toBe(86_399_999_999);
    expect(decoded(time, '24:00:00')).toBe(86_400_000_000);
  });

  it('timetz keeps its text with an ISO-8601 offset', async () => {
    const timetz = await mapping('timetz');
    expect(timetz.avro).toBe('string');
    expect(decoded(timetz, '12:00:00.123+05:30')).toBe('12:00:00.123+05:30');
    expect(decoded(timetz, '12:00:00+05')).toBe('12:00:00+05:00');
    expect(decoded(timetz, '23:59:59.999999-08')).toBe('23:59:59.999999-08:00');
  });

  it('timestamp is microseconds since the epoch read as UTC, to the microsecond', async () => {
    const timestamp = await mapping('timestamp');
    expect(timestamp.avro).toEqual({ type: 'long', logicalType: 'timestamp-micros' });
    expect(decoded(timestamp, '1970-01-01 00:00:00')).toBe(0);
    expect(decoded(timestamp, '1969-12-31 23:59:59.999999')).toBe(-1);
    expect(decoded(timestamp, '2024-01-02 03:04:05.123456')).toBe(
      epochMicros('2024-01-02T03:04:05Z', 123_456),
    );
    expect(decoded(timestamp, '2024-01-02 03:04:05.5')).toBe(epochMicros('2024-01-02T03:04:05.500Z'));
    expect(decoded(timestamp, '1850-03-01 00:00:00')).toBe(epochMicros('1850-03-01T00:00:00Z'));
    expect(decoded(timestamp, '2255-06-05 23:47:34.74099')).toBe(9_007_199_254_740_990);
    expect(decoded(timestamp, '1827-04-16 00:06:12.629504')).toBe(-(2 ** 52));
  });

  it('timestamptz honours the printed offset: hours, minutes and LMT seconds', async () => {
    const timestamptz = await mapping('timestamptz');
    expect(timestamptz.avro).toEqual({ type: 'long', logicalType: 'timestamp-micros' });
    const expected = epochMicros('2024-01-01T21:34:05Z', 123_456);
    expect(decoded(timestamptz, '2024-01-02 03:04:05.123456+05:30')).toBe(expected);
    expect(decoded(timestamptz, '2024-01-01 21:34:05.123456+00')).toBe(expected);
    expect(decoded(timestamptz, '2024-01-01 13:34:05.123456-08')).toBe(expected);
    expect(decoded(timestamptz, '1900-01-01 00:19:32+00:19:32')).toBe(epochMicros('1900-01-01T00:00:00Z'));
  });

  it('timestamps clamp the infinities and refuse what avsc cannot hold, BC included', async () => {
    const timestamptz = await mapping('timestamptz');
    expect(decoded(timestamptz, 'infinity')).toBe(9_007_199_254_740_990);
    expect(decoded(timestamptz, '-infinity')).toBe(-(2 ** 52));
    expect(decodeError(timestamptz, '9999-12-31 23:59:59+00').message).toMatch(
      /timestamp 9999-12-31 23:59:59\+00 is outside/,
    );
    expect(decodeError(timestamptz, '1827-04-16 00:06:12.629503+00').message).toMatch(/is outside/);
    expect(decodeError(timestamptz, '0044-03-15 12:00:00+00 BC').message).toMatch(/is outside/);
    decodeError(timestamptz, '2024-01-02T03:04:05Z');
  });

  it('interval is the ISO-8601 duration PostgreSQL prints with IntervalStyle iso_8601', async () => {
    const interval = await mapping('interval');
    expect(interval.avro).toEqual({ type: 'string', 'datamesh.type': 'interval' });
    const cases: [string, string][] = [
      ['1 year 2 mons 3 days 04:05:06.789', 'P1Y2M3DT4H5M6.789S'],
      ['-1 days +02:03:00', 'P-1DT2H3M'],
      ['00:00:00.000001', 'PT0.000001S'],
      ['-00:00:00.000001', 'PT-0.000001S'],
      ['00:00:00', 'PT0S'],
      ['-1 years -2 mons', 'P-1Y-2M'],
      ['1 year 2 mons -3 days +04:05:06', 'P1Y2M-3DT4H5M6S'],
      ['-1 years -2 mons +3 days -04:05:06', 'P-1Y-2M3DT-4H-5M-6S'],
      ['100000:00:00', 'PT100000H'],
      ['1 mon', 'P1M'],
      ['-01:30:00.5', 'PT-1H-30M-0.5S'],
      ['178956970 years 7 mons', 'P178956970Y7M'],
      ['2562047788:00:54.775807', 'PT2562047788H54.775807S'],
    ];
    for (const [text, iso] of cases) expect(decoded(interval, text), text).toBe(iso);
    expect(decodeError(interval, '@ 1 year ago').message).toMatch(/IntervalStyle postgres/);
  });
});

describe('arrays', () => {
  it('map to Avro arrays of nullable elements, with NULL, empty and dimension-decorated forms', async () => {
    const ints = await mapping('_int4');
    expect(ints.avro).toEqual({ type: 'array', items: ['null', 'int'] });
    expect(decoded(ints, '{1,2,NULL,-3}')).toEqual([1, 2, null, -3]);
    expect(decoded(ints, '{}')).toEqual([]);
    expect(decoded(ints, '[0:2]={1,2,3}')).toEqual([1, 2, 3]);
    expect(ints.placeholder).toBeUndefined();
  });

  it('unquote and unescape elements', async () => {
    const texts = await mapping('_text');
    expect(texts.placeholder).toEqual([DEFAULT_TOAST_PLACEHOLDER]);
    expect(decoded(texts, '{"a b","\\"q\\"",NULL,"NULL","x\\\\y",plain,"","{,}"}')).toEqual([
      'a b',
      '"q"',
      null,
      'NULL',
      'x\\y',
      'plain',
      '',
      '{,}',
    ]);
    expect(decodeError(texts, '{"a,b}').message).toMatch(/unterminated/);
    decodeError(texts, '{a,b');
    decodeError(texts, '{a}x');
  });

  it('multi-dimensional arrays nest as the column declares, and a value of other dimensions is an error', async () => {
    const matrix = await mapping('_int4', {}, -1, 2);
    expect(matrix.avro).toEqual({ type: 'array', items: { type: 'array', items: ['null', 'int'] } });
    expect(decoded(matrix, '{{1,2},{3,NULL}}')).toEqual([
      [1, 2],
      [3, null],
    ]);
    expect(decoded(matrix, '[1:2][0:1]={{1,2},{3,4}}')).toEqual([
      [1, 2],
      [3, 4],
    ]);
    expect(decoded(matrix, '{}')).toEqual([]);
    expect(decodeError(matrix, '{1,2}').message).toMatch(/2 dimension/);
    expect(decodeError(await mapping('_int4'), '{{1},{2}}').message).toMatch(/1 dimension/);
    expect((await mapping('_text', {}, -1, 2)).placeholder).toEqual([[DEFAULT_TOAST_PLACEHOLDER]]);
  });

  it('decode elements with their own mapping, typmod and delimiter', async () => {
    const prices = await mapping('_numeric', {}, numericTypmod(6, 2));
    expect(prices.avro).toEqual({
      type: 'array',
      items: ['null', { type: 'bytes', logicalType: 'decimal', precision: 6, scale: 2 }],
    });
    expect(
      (decoded(prices, '{1.5,NULL,-2}') as unknown[]).map((v) => (v === null ? null : unscaled(v))),
    ).toEqual([150n, null, -200n]);
    const stamps = await mapping('_timestamptz');
    expect(decoded(stamps, '{"2024-01-02 03:04:05.000001+00",NULL}')).toEqual([
      epochMicros('2024-01-02T03:04:05Z', 1),
      null,
    ]);
    const boxes = await mapping('_box');
    expect(decoded(boxes, '{(1,1),(0,0);(3,3),(2,2)}')).toEqual(['(1,1),(0,0)', '(3,3),(2,2)']);
    const blobs = await mapping('_bytea');
    expect(decoded(blobs, '{"\\\\x00ff",NULL}')).toEqual([Buffer.from([0, 255]), null]);
    expect(blobs.placeholder).toEqual([Buffer.from(DEFAULT_TOAST_PLACEHOLDER)]);
    expect(decoded(await mapping('_bool'), '{t,f}')).toEqual([true, false]);
    expect(decoded(await mapping('_mood'), '{sad,"happy ☺"}')).toEqual(['sad', 'happy ☺']);
  });

  it('int2vector prints space-separated numbers and stays text', async () => {
    expect(decoded(await mapping('int2vector'), '1 2 3')).toBe('1 2 3');
  });
});

describe('user-defined types', () => {
  it('enums are strings listing their labels', async () => {
    const mood = await mapping('mood');
    expect(mood.avro).toEqual({ type: 'string', 'datamesh.enum': ['sad', 'ok', 'happy ☺', 'ok-ish'] });
    expect(decoded(mood, 'ok-ish')).toBe('ok-ish');
    expect(mood.placeholder).toBe(DEFAULT_TOAST_PLACEHOLDER);
  });

  it("domains map as their base type with the domain's typmod, through domains of domains", async () => {
    const decimal = { type: 'bytes', logicalType: 'decimal', precision: 10, scale: 2 };
    expect((await mapping('price')).avro).toEqual(decimal);
    expect((await mapping('cheap_price')).avro).toEqual(decimal);
    expect(unscaled(decoded(await mapping('cheap_price'), '-3.1'))).toBe(-310n);
    expect((await mapping('_price')).avro).toEqual({ type: 'array', items: ['null', decimal] });
  });

  it('ranges and composites keep their text', async () => {
    expect(decoded(await mapping('int4range'), '[1,5)')).toBe('[1,5)');
    expect(decoded(await mapping('pair'), '(1,"a b")')).toBe('(1,"a b")');
  });

  it('hstore is a map of nullable strings, with escapes, or a JSON string', async () => {
    const hstore = await mapping('hstore');
    expect(hstore.avro).toEqual({ type: 'map', values: ['null', 'string'] });
    expect(hstore.placeholder).toBeUndefined();
    expect(decoded(hstore, '"a"=>"1", "b"=>NULL, "q\\"k"=>"v\\\\w", ""=>"NULL", "=>,"=>" "')).toEqual({
      a: '1',
      b: null,
      'q"k': 'v\\w',
      '': 'NULL',
      '=>,': ' ',
    });
    expect(decoded(hstore, '')).toEqual({});
    decodeError(hstore, '"a"=>"1" "b"=>"2"');
    decodeError(hstore, '"a"=>"1');
    const json = await mapping('hstore', { hstore: 'json' });
    expect(json.avro).toEqual({ type: 'string', 'datamesh.type': 'json' });
    expect(JSON.parse(decoded(json, '"a"=>"1", "b"=>NULL') as string)).toEqual({ a: '1', b: null });
  });

  it('a pseudo-type or an unknown base type is an UnsupportedTypeError naming column and type', async () => {
    await expect(mapping('geometry')).rejects.toThrow(UnsupportedTypeError);
    await expect(mapping('geometry')).rejects.toThrow(/column "col" has type public\.geometry.*unknownTypes/);
    await expect(mapping('record')).rejects.toThrow(/type record.*pseudo-type/);
    const text = await mapping('geometry', { unknownTypes: 'string' });
    expect(text.avro).toBe('string');
    expect(decoded(text, '0101000000')).toBe('0101000000');
  });

  it('names arrays by their element in errors', async () => {
    expect(decodeError(await mapping('_int4'), '{x}').message).toMatch(
      /^column "col" \(int4\[\]\): not an integer/,
    );
  });
});

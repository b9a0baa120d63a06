import { describe, expect, it } from 'vitest';
import {
  avroType,
  envelopeSchemas,
  rowSchemaOf,
  type AvroField,
  type AvroRecordSchema,
} from '@datamesh/core';
import { documentConverter, documentId, documentIdConverter } from './documents.js';
import { decimal, field, nullable } from './__fixtures__/avro-fields.js';

const row = (fields: AvroField[], keyFields = [fields[0]!.name]): AvroRecordSchema =>
  rowSchemaOf(envelopeSchemas({ name: 'shop.public.things', fields, keyFields }).valueSchema);

/** The unscaled value as Avro's big-endian two's complement bytes, written independently of the code tested. */
function unscaledBytes(value: bigint, minimumBytes = 1): Buffer {
  let bytes = minimumBytes;
  while (value >= 1n << BigInt(bytes * 8 - 1) || value < -(1n << BigInt(bytes * 8 - 1))) bytes += 1;
  const unsigned = value < 0n ? (1n << BigInt(bytes * 8)) + value : value;
  return Buffer.from(unsigned.toString(16).padStart(bytes * 2, '0'), 'hex');
}

/** Converts `value` as the sink sees it: encoded and decoded by avsc first, as every event is. */
function convertedRow(schema: AvroRecordSchema, value: Record<string, unknown>): Record<string, unknown> {
  const type = avroType(schema);
  return documentConverter(schema)(type.fromBuffer(type.toBuffer(value)) as Record<string, unknown>);
}

/** One field of type `type` holding `value`, converted. */
function converted(type: unknown, value: unknown): unknown {
  return convertedRow(row([field('id', 'long'), field('v', type)]), { id: 1, v: value })['v'];
}

const MICROS = { type: 'long', logicalType: 'timestamp-micros' };
const DATE = { type: 'int', logicalType: 'date' };

describe('documentConverter: decimals', () => {
  it('writes the exact decimal text at the schema scale, zeros kept', () => {
    const cases: [bigint, number, string][] = [
      [12345n, 2, '123.45'],
      [5n, 2, '0.05'],
      [-5n, 2, '-0.05'],
      [0n, 2, '0.00'],
      [-1n, 2, '-0.01'],
      [-100n, 2, '-1.00'],
      [150n, 2, '1.50'],
      [7n, 0, '7'],
      [-128n, 0, '-128'],
      [128n, 0, '128'],
      [-9999999999n, 2, '-99999999.99'],
      [123n, 5, '0.00123'],
    ];
    for (const [unscaled, scale, text] of cases) {
      expect(converted(decimal(38, scale), unscaledBytes(unscaled)), text).toBe(text);
    }
  });

  it('is exact beyond 2^53 and at 38 digits, both signs, and with sign-padded bytes', () => {
    const big = 12345678901234567890123456789012345678n;
    expect(converted(decimal(38, 0), unscaledBytes(big))).toBe(big.toString());
    expect(converted(decimal(38, 0), unscaledBytes(-big))).toBe(`-${big}`);
    expect(converted(decimal(38, 10), unscaledBytes(-big))).toBe('-1234567890123456789012345678.9012345678');
    expect(converted(decimal(19, 2), unscaledBytes(-9223372036854775808n))).toBe('-92233720368547758.08');
    expect(converted(decimal(20, 0), unscaledBytes(2n ** 53n + 1n))).toBe('9007199254740993');
    // 6 and 7 bytes: the two ways the unscaled value is read.
    expect(converted(decimal(20, 3), unscaledBytes(-(2n ** 47n)))).toBe('-140737488355.328');
    expect(converted(decimal(20, 3), unscaledBytes(2n ** 47n))).toBe('140737488355.328');
    // Leading sign bytes (as a fixed or a padding producer writes them) change nothing.
    expect(converted(decimal(10, 2), unscaledBytes(-5n, 8))).toBe('-0.05');
    expect(converted(decimal(10, 2), unscaledBytes(5n, 8))).toBe('0.05');
    expect(converted(decimal(10, 2), Buffer.alloc(0))).toBe('0.00');
  });

  it('reads fixed decimals, arrays of nullable decimals and Debezium variable-scale decimals', () => {
    const fixed = { type: 'fixed', name: 'Amount', size: 8, logicalType: 'decimal', precision: 18, scale: 4 };
    expect(converted(fixed, unscaledBytes(-12345n, 8))).toBe('-1.2345');
    const prices = { type: 'array', items: ['null', decimal(6, 2)] };
    expect(converted(prices, [unscaledBytes(150n), null, unscaledBytes(-200n)])).toEqual([
      '1.50',
      null,
      '-2.00',
    ]);
    const variable = {
      type: 'record',
      name: 'VariableScaleDecimal',
      namespace: 'io.debezium.data',
      fields: [field('scale', 'int'), field('value', 'bytes')],
      'connect.name': 'io.debezium.data.VariableScaleDecimal',
    };
    expect(converted(nullable(variable), { scale: 21, value: unscaledBytes(-1n) })).toBe(
      '-0.000000000000000000001',
    );
    expect(converted(nullable(variable), null)).toBeNull();
  });
});

describe('documentConverter: dates and times', () => {
  it('writes micros timestamps as ISO-8601 with every microsecond, before 1970 and at the ends avsc holds', () => {
    expect(converted(MICROS, 0)).toBe('1970-01-01T00:00:00.000000Z');
    expect(converted(MICROS, -1)).toBe('1969-12-31T23:59:59.999999Z');
    expect(converted(MICROS, 1)).toBe('1970-01-01T00:00:00.000001Z');
    expect(converted(MICROS, Date.parse('2024-01-02T03:04:05Z') * 1000 + 123_456)).toBe(
      '2024-01-02T03:04:05.123456Z',
    );
    expect(converted(MICROS, Date.parse('1850-03-01T00:00:00Z') * 1000 - 1)).toBe(
      '1850-02-28T23:59:59.999999Z',
    );
    // The ends of what the Postgres connector carries (see its type-mapping tests).
    expect(converted(MICROS, 9_007_199_254_740_990)).toBe('2255-06-05T23:47:34.740990Z');
    expect(converted(MICROS, -(2 ** 52))).toBe('1827-04-16T00:06:12.629504Z');
  });

  it('agrees with Date for any millisecond, with the microseconds appended', () => {
    let seed = 42;
    const random = () => ((seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31) * 2 - 1;
    const convert = documentConverter(row([field('id', 'long'), field('t', MICROS), field('m', 'long')]));
    for (let i = 0; i < 2000; i += 1) {
      const millis = Math.round(random() * 8e12);
      const micros = Math.floor(Math.abs(random()) * 1000);
      const iso = new Date(millis).toISOString();
      expect(convert({ id: 1, t: millis * 1000 + micros, m: 0 })['t']).toBe(
        `${iso.slice(0, -1)}${String(micros).padStart(3, '0')}Z`,
      );
    }
  });

  it('puts the last unit of a day on that day and the next on the next, up to the largest safe integers', () => {
    for (const logicalType of ['timestamp-micros', 'timestamp-millis']) {
      const perDay = logicalType === 'timestamp-micros' ? 86_400_000_000 : 86_400_000;
      const lastDay = Math.floor(Number.MAX_SAFE_INTEGER / perDay);
      const convert = documentConverter(
        row([field('id', 'long'), field('t', { type: 'long', logicalType })]),
      );
      const wrong: string[] = [];
      for (const sign of [1, -1]) {
        for (let day = lastDay - 3000; day <= lastDay; day += 1) {
          const start = sign * day * perDay;
          const before = String(convert({ id: 1, t: start - 1 })['t']);
          const at = String(convert({ id: 1, t: start })['t']);
          if (
            !/T23:59:59\.9+Z$/.test(before) ||
            !/T00:00:00\.0+Z$/.test(at) ||
            before.split('T')[0] === at.split('T')[0]
          ) {
            wrong.push(`${logicalType} ${start}: ${before} / ${at}`);
          }
        }
      }
      expect(wrong.slice(0, 3)).toEqual([]);
    }
  });

  it('writes millis and nanos timestamps with their digits, local ones without a zone, Dates too', () => {
    const millis = Date.parse('2024-01-02T03:04:05.678Z');
    expect(converted({ type: 'long', logicalType: 'timestamp-millis' }, millis)).toBe(
      '2024-01-02T03:04:05.678Z',
    );
    expect(converted({ type: 'long', logicalType: 'timestamp-millis' }, -1)).toBe('1969-12-31T23:59:59.999Z');
    expect(converted({ type: 'long', logicalType: 'local-timestamp-micros' }, millis * 1000 + 9)).toBe(
      '2024-01-02T03:04:05.678009',
    );
    expect(converted({ type: 'long', logicalType: 'local-timestamp-millis' }, millis)).toBe(
      '2024-01-02T03:04:05.678',
    );
    expect(converted({ type: 'long', logicalType: 'timestamp-nanos' }, 1_000_000_001)).toBe(
      '1970-01-01T00:00:01.000000001Z',
    );
    expect(converted({ type: 'long', 'connect.name': 'io.debezium.time.MicroTimestamp' }, 1)).toBe(
      '1970-01-01T00:00:00.000001',
    );
    const zoned = '2024-01-02T03:04:05.123456+05:30';
    expect(converted({ type: 'string', 'connect.name': 'io.debezium.time.ZonedTimestamp' }, zoned)).toBe(
      zoned,
    );

    // Values that do not come from avsc: Date objects and bigints.
    const convert = documentConverter(
      row([
        field('id', 'long'),
        field('t', MICROS),
        field('n', { type: 'long', logicalType: 'timestamp-nanos' }),
      ]),
    );
    const at = new Date('1969-07-20T20:17:40.123Z');
    expect(convert({ id: 1, t: at, n: 1_700_000_000_123_456_789n })).toEqual({
      id: 1,
      t: '1969-07-20T20:17:40.123000Z',
      n: '2023-11-14T22:13:20.123456789Z',
    });
    expect(convert({ id: 1, t: null, n: -1n })).toEqual({
      id: 1,
      t: null,
      n: '1969-12-31T23:59:59.999999999Z',
    });
  });

  it('writes dates as YYYY-MM-DD, before 1970, BC and beyond 9999 as expanded years', () => {
    expect(converted(DATE, 0)).toBe('1970-01-01');
    expect(converted(DATE, -1)).toBe('1969-12-31');
    expect(converted(DATE, 19_782)).toBe('2024-02-29');
    expect(converted(DATE, -141_427)).toBe('1582-10-15');
    expect(converted(DATE, -25_202)).toBe('1901-01-01');
    // PostgreSQL's first day, 4714-11-24 BC, is ISO year -4713; its infinities clamp to Avro's int ends.
    expect(converted(DATE, -2_440_588)).toBe('-4713-11-24');
    expect(converted(DATE, 2_145_042_905)).toBe('+5874897-12-31');
    expect(converted(DATE, 2 ** 31 - 1)).toBe('+5881580-07-11');
    expect(converted(DATE, -(2 ** 31))).toBe('-5877641-06-23');
    expect(converted(DATE, -719_528)).toBe('0000-01-01');
    expect(converted({ type: 'int', 'connect.name': 'io.debezium.time.Date' }, -1)).toBe('1969-12-31');
    const convert = documentConverter(row([field('id', 'long'), field('d', DATE)]));
    expect(convert({ id: 1, d: new Date('1950-06-01T00:00:00Z') })['d']).toBe('1950-06-01');
  });

  it('agrees with Date for every day of years 1179 to 2791', () => {
    const convert = documentConverter(row([field('id', 'long'), field('d', DATE)]));
    const mismatches: string[] = [];
    for (let day = -300_000; day <= 300_000; day += 1) {
      const expected = new Date(day * 86_400_000).toISOString().slice(0, 10);
      const actual = convert({ id: 1, d: day })['d'];
      if (actual !== expected) mismatches.push(`${day}: ${String(actual)} (Date says ${expected})`);
    }
    expect(mismatches.slice(0, 5)).toEqual([]);
  });

  it('keeps times of day as their number', () => {
    expect(converted({ type: 'long', logicalType: 'time-micros' }, 86_399_999_999)).toBe(86_399_999_999);
    expect(converted({ type: 'int', logicalType: 'time-millis' }, 45_296_500)).toBe(45_296_500);
  });
});

describe('documentConverter: other types', () => {
  it('converts every type of a row, nulls included', () => {
    const schema = row(
      [
        field('id', 'long'),
        field('code', 'string'),
        field('c_bool', nullable('boolean')),
        field('c_int', nullable('int')),
        field('c_long', nullable('long')),
        field('c_float', nullable('float')),
        field('c_double', nullable('double')),
        field('c_text', nullable('string')),
        field('c_mood', nullable({ type: 'string', 'datamesh.enum': ['sad', 'ok'] })),
        field('c_uuid', nullable({ type: 'string', logicalType: 'uuid' })),
        field('c_interval', nullable({ type: 'string', 'datamesh.type': 'interval' })),
        field('c_bytea', nullable('bytes')),
        field('c_texts', nullable({ type: 'array', items: ['null', 'string'] })),
        field('c_matrix', nullable({ type: 'array', items: { type: 'array', items: ['null', 'int'] } })),
        field('c_hstore', nullable({ type: 'map', values: ['null', 'string'] })),
        field('c_enum', { type: 'enum', name: 'Status', symbols: ['NEW', 'DONE'] }),
        field('c_fixed', { type: 'fixed', name: 'Hash', size: 4 }),
        field('c_null', 'null'),
        field(
          'address',
          nullable({
            type: 'record',
            name: 'Address',
            fields: [
              field('city', 'string'),
              field('since', nullable(DATE)),
              field('tags', { type: 'map', values: DATE }),
            ],
          }),
        ),
        field('lines', {
          type: 'array',
          items: {
            type: 'record',
            name: 'Line',
            fields: [field('qty', 'int'), field('price', decimal(6, 2))],
          },
        }),
      ],
      ['id', 'code'],
    );
    const value = {
      id: 9_007_199_254_740_990,
      code: 'A-1',
      c_bool: false,
      c_int: -5,
      c_long: -(2 ** 52),
      c_float: 1.5,
      c_double: -1.5e-10,
      c_text: 'héllo "quoted"',
      c_mood: 'ok',
      c_uuid: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
      c_interval: 'P1Y2M3DT4H5M6.789S',
      c_bytea: Buffer.from([0, 255, 16]),
      c_texts: ['a', null, ''],
      c_matrix: [
        [1, 2],
        [3, null],
      ],
      c_hstore: { a: '1', b: null },
      c_enum: 'DONE',
      c_fixed: Buffer.from([1, 2, 3, 4]),
      c_null: null,
      address: { city: 'Zürich', since: -1, tags: { first: 0 } },
      lines: [
        { qty: 2, price: unscaledBytes(-150n) },
        { qty: 1, price: unscaledBytes(5n) },
      ],
    };
    expect(convertedRow(schema, value)).toEqual({
      ...value,
      c_bytea: 'AP8Q',
      c_fixed: 'AQIDBA==',
      address: { city: 'Zürich', since: '1969-12-31', tags: { first: '1970-01-01' } },
      lines: [
        { qty: 2, price: '-1.50' },
        { qty: 1, price: '0.05' },
      ],
    });
    const nulls = Object.fromEntries(schema.fields.map((f) => [f.name, null]));
    expect(
      convertedRow(schema, {
        ...nulls,
        id: 1,
        code: 'x',
        c_enum: 'NEW',
        c_fixed: Buffer.alloc(4),
        lines: [],
      }),
    ).toEqual({ ...nulls, id: 1, code: 'x', c_enum: 'NEW', c_fixed: 'AAAAAA==', lines: [] });
  });

  it('gives a plain object for a record, whatever the value was', () => {
    const schema = row([
      field('id', 'long'),
      field('r', { type: 'record', name: 'R', fields: [field('x', 'int')] }),
    ]);
    const type = avroType(schema);
    const decoded = type.fromBuffer(type.toBuffer({ id: 1, r: { x: 1 } })) as Record<string, unknown>;
    expect(Object.getPrototypeOf(decoded)).not.toBe(Object.prototype);
    const document = documentConverter(schema)(decoded);
    expect(Object.getPrototypeOf(document)).toBe(Object.prototype);
    expect(Object.getPrototypeOf(document['r'])).toBe(Object.prototype);
  });

  it('writes NaN and infinite doubles as null, which JSON and the engines take', () => {
    const convert = documentConverter(
      row([field('id', 'long'), field('x', 'double'), field('xs', { type: 'array', items: 'float' })]),
    );
    expect(convert({ id: 1, x: Number.NaN, xs: [Infinity, 1, -Infinity] })).toEqual({
      id: 1,
      x: null,
      xs: [null, 1, null],
    });
  });

  it('parses JSON of any shape, keeps numbers a double cannot hold as written, leaves bad text as it is', () => {
    const json = nullable({ type: 'string', 'datamesh.type': 'json' });
    expect(converted(json, '{"a": [1, null, {"b": "c"}], "d": true}')).toEqual({
      a: [1, null, { b: 'c' }],
      d: true,
    });
    expect(converted(json, '[1, "two"]')).toEqual([1, 'two']);
    expect(converted(json, '"text"')).toBe('text');
    expect(converted(json, '12.5')).toBe(12.5);
    expect(converted(json, 'null')).toBeNull();
    expect(converted(json, null)).toBeNull();
    expect(converted(json, '{not json')).toBe('{not json');
    const exact = converted(
      json,
      '{"id": 12345678901234567890, "x": 0.1000000000000000055511151231257827, "y": 1e400, "z": 1.5}',
    );
    expect(JSON.stringify(exact)).toBe(
      '{"id":12345678901234567890,"x":0.1000000000000000055511151231257827,"y":1e400,"z":1.5}',
    );
    expect(converted({ type: 'string', 'connect.name': 'io.debezium.data.Json' }, '{"k":1}')).toEqual({
      k: 1,
    });
  });

  it('passes types it does not know through as their Avro value', () => {
    expect(converted({ type: 'string', 'connect.name': 'io.debezium.time.ZonedTime' }, '12:00:00Z')).toBe(
      '12:00:00Z',
    );
    expect(converted({ type: 'long', 'connect.name': 'com.example.Thing' }, 7)).toBe(7);
  });

  it('names the field when a value is not what its type says', () => {
    const convert = documentConverter(
      row([field('id', 'long'), field('at', nullable(MICROS)), field('p', decimal(4, 2))]),
    );
    expect(() => convert({ id: 1, at: {}, p: Buffer.from([1]) })).toThrow(
      /field "at": expected a number of micros since the epoch, got an object \(Object\)/,
    );
    expect(() => convert({ id: 1, at: 1, p: 12 })).toThrow(/field "p": expected bytes, got number 12/);
  });

  it('writes a field named __proto__ as a field', () => {
    const value = JSON.parse('{"id": 1, "__proto__": "x"}') as Record<string, unknown>;
    const document = documentConverter(row([field('id', 'long'), field('__proto__', 'string')]))(value);
    expect(Object.getPrototypeOf(document)).toBe(Object.prototype);
    expect(JSON.stringify(document)).toBe('{"id":1,"__proto__":"x"}');
  });
});

describe('documentId', () => {
  it('is the single key value as text', () => {
    expect(documentId({ id: 42 }, ['id'])).toBe('42');
    expect(documentId({ id: -(2 ** 52) }, ['id'])).toBe('-4503599627370496');
    expect(documentId({ code: 'A-1/ü' }, ['code'])).toBe('A-1/ü');
    expect(documentId({ flag: true }, ['flag'])).toBe('true');
    expect(documentId({ big: 12345678901234567890n }, ['big'])).toBe('12345678901234567890');
    expect(documentId({ blob: Buffer.from([0, 255]) }, ['blob'])).toBe('AP8=');
    expect(documentId({ at: new Date(0) }, ['at'])).toBe('1970-01-01T00:00:00.000Z');
  });

  it('is a JSON array of the values in key order for composite keys, and tells tuples apart', () => {
    expect(documentId({ b: 'x', a: 1 }, ['a', 'b'])).toBe('[1,"x"]');
    expect(documentId({ a: 1, b: 'x' }, ['b', 'a'])).toBe('["x",1]');
    const ids = [
      documentId({ a: 'a","b', b: 'c' }, ['a', 'b']),
      documentId({ a: 'a', b: 'b","c' }, ['a', 'b']),
      documentId({ a: 'a,b', b: 'c' }, ['a', 'b']),
      documentId({ a: 'a', b: 'b,c' }, ['a', 'b']),
    ];
    expect(new Set(ids).size).toBe(4);
    expect(JSON.parse(ids[0]!)).toEqual(['a","b', 'c']);
    expect(
      documentId({ a: Number.NaN, b: Buffer.from('hi'), c: 2n ** 70n, d: false }, ['a', 'b', 'c', 'd']),
    ).toBe('["NaN","aGk=",1180591620717411303424,false]');
  });

  it('reads decimals and timestamps of a key as the document does, through its key schema', () => {
    const fields = [field('price', decimal(10, 2)), field('at', MICROS), field('id', 'long')];
    const keySchema: AvroRecordSchema = { type: 'record', name: 'Key', fields };
    const id = documentIdConverter(keySchema);
    expect(id({ price: unscaledBytes(-1250n), at: -1, id: 3 })).toBe(
      '["-12.50","1969-12-31T23:59:59.999999Z",3]',
    );
    expect(documentIdConverter(keySchema, ['price'])({ price: unscaledBytes(5n), at: 0, id: 3 })).toBe(
      '0.05',
    );
  });

  it('refuses an empty key, a missing or null value, and ids the engines refuse', () => {
    expect(() => documentId({ id: 1 }, [])).toThrow('a document id needs a key, and this key has no fields');
    expect(() => documentId({ id: null }, ['id'])).toThrow('key field "id" is null: a document id needs it');
    expect(() => documentId({ id: 1 }, ['id', 'other'])).toThrow('key field "other" is missing');
    expect(() => documentId({ constructor: 1 } as never, ['toString'])).toThrow(
      'key field "toString" is missing',
    );
    expect(() => documentId({ code: '' }, ['code'])).toThrow(/empty string, which cannot be a document id/);
    expect(documentId({ code: 'é'.repeat(256) }, ['code'])).toHaveLength(256);
    expect(() => documentId({ code: 'é'.repeat(257) }, ['code'])).toThrow(
      /is 514 bytes long.*at most 512 bytes/,
    );
    expect(() => documentId({ doc: { a: 1 } }, ['doc'])).toThrow(
      /key field "doc" holds an object \(Object\)/,
    );
  });
});

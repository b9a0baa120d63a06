// The type mapping against the real PostgreSQL 15 and 18 of the services harness: a table with a column of every mapped
// type holds edge values; each column's text (as a text-protocol SELECT returns it) is decoded with the mapping
// built from the real catalog, and compared with a value PostgreSQL computes independently (epoch microseconds,
// scaled integers, day differences, array_to_json, IntervalStyle iso_8601, …). Every value must also be valid
// for its Avro schema and survive avsc's encoding.
import { avroType, type AvroSchema } from '@datamesh/core';
import { useServices, type ServiceEndpoints } from '@datamesh/services/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgTypeCatalog } from './pg-type-catalog.js';
import {
  ValueDecodeError,
  columnMapping,
  type ColumnMapping,
  type ColumnType,
  type TypeMappingOptions,
} from './type-mapping.js';

const SUFFIX = `${process.pid}_${Date.now().toString(36)}`;
const TABLE = `dm_types_${SUFFIX}`;
const MOOD = `dm_mood_${SUFFIX}`;
const PRICE = `dm_price_${SUFFIX}`;
const PAIR = `dm_pair_${SUFFIX}`;
const MOOD_LABELS = ['sad', 'ok', 'happy ☺'];

type Comparison = (value: unknown, expected: string) => void;

/** A column: its SQL type, the SQL literals of its rows (NULL when absent), and what PostgreSQL says it holds. */
interface ColumnCase {
  readonly type: string;
  readonly values: readonly string[];
  /** An SQL expression over the column (`$col` stands for it) whose text the decoded value is compared with. */
  readonly expected: string;
  readonly compare: Comparison;
}

const sameNumber: Comparison = (value, expected) => expect(value).toBe(Number(expected));
const sameText: Comparison = (value, expected) => expect(value).toBe(expected);
const sameJson: Comparison = (value, expected) => expect(value).toEqual(JSON.parse(expected));
const sameJsonText: Comparison = (value, expected) =>
  expect(JSON.parse(value as string)).toEqual(JSON.parse(expected));
const sameUnscaled: Comparison = (value, expected) => expect(unscaled(value)).toBe(BigInt(expected));
const sameBytes: Comparison = (value, expected) => expect(value).toEqual(Buffer.from(expected, 'base64'));

const INT_MAX = 2 ** 31 - 1;
const LONG_MAX = 9_007_199_254_740_990;
const LONG_MIN = -(2 ** 52);

/** Finite: compared as a number; infinities: the ends of the range they clamp to. */
function clampedTo(min: number, max: number): Comparison {
  return (value, expected) =>
    expect(value).toBe(expected === 'infinity' ? max : expected === '-infinity' ? min : Number(expected));
}

const finiteOr = (expression: string) =>
  `CASE WHEN isfinite($col) THEN (${expression})::text ELSE $col::text END`;
const epochMicros = finiteOr('(extract(epoch FROM $col) * 1000000)::numeric(30,0)');
const elementsAs = (expression: string) =>
  `array_to_json(ARRAY(SELECT ${expression} FROM unnest($col) WITH ORDINALITY AS u(x, n) ORDER BY n))::text`;

const COLUMNS: Record<string, ColumnCase> = {
  c_int2: { type: 'int2', values: ['0', '-32768', '32767'], expected: '$col::text', compare: sameNumber },
  c_int4: {
    type: 'int4',
    values: ['2147483647', '-2147483648', '42'],
    expected: '$col::text',
    compare: sameNumber,
  },
  c_int8: {
    type: 'int8',
    values: ['9007199254740990', '-4503599627370496', '-1'],
    expected: '$col::numeric::text',
    compare: sameNumber,
  },
  c_oid: { type: 'oid', values: ['4294967295', '0'], expected: '$col::int8::text', compare: sameNumber },
  c_float4: {
    type: 'float4',
    values: ['1.1', "'NaN'", "'-Infinity'", '3.4028235e+38', '-1.5e-10'],
    expected: '$col::float8::text',
    compare: (value, expected) => expect(Math.fround(value as number)).toBe(Number(expected)),
  },
  c_float8: {
    type: 'float8',
    values: ['1e-300', "'Infinity'", '-0.5', "'NaN'", '0.1'],
    expected: '$col::text',
    compare: sameNumber,
  },
  c_bool: {
    type: 'bool',
    values: ['true', 'false'],
    expected: "CASE WHEN $col THEN 'yes' ELSE 'no' END",
    compare: (value, expected) => expect(value).toBe(expected === 'yes'),
  },
  c_numeric: {
    type: 'numeric(12,3)',
    values: ['123.4', '-0.001', '999999999.999', '0', '-7'],
    expected: '($col * 1000)::numeric(30,0)::text',
    compare: sameUnscaled,
  },
  c_numeric_hundreds: {
    type: 'numeric(5,-2)',
    values: ['1234567', '-50', '0'],
    expected: '$col::numeric(30,0)::text',
    compare: sameUnscaled,
  },
  c_numeric_any: {
    type: 'numeric',
    values: ['1.5', "'NaN'", "'-Infinity'", '123456789012345678901234567890.123456789', '-0.000001'],
    expected: '$col::text',
    compare: sameText,
  },
  c_price: {
    type: PRICE,
    values: ['12.5', '-0.01', '99999999.99'],
    expected: '($col * 100)::numeric(30,0)::text',
    compare: sameUnscaled,
  },
  c_money: {
    type: 'money',
    values: ['1234.5', '-1.5', "'92233720368547758.07'", "'-92233720368547758.08'", '0'],
    expected: '($col::numeric * 100)::numeric(30,0)::text',
    compare: sameUnscaled,
  },
  c_text: {
    type: 'text',
    values: ["'hello'", "''", `E'multi\\nline "q" \\\\ {x,y}'`, "'NULL'", "'ünïcødé ☺'"],
    expected: '$col',
    compare: sameText,
  },
  c_varchar: {
    type: 'varchar(10)',
    values: ["'abc'", "' padded '"],
    expected: '$col::text',
    compare: sameText,
  },
  c_bpchar: {
    type: 'char(5)',
    values: ["'ab'", "'abcde'"],
    expected: "rpad($col::text, 5, ' ')",
    compare: sameText,
  },
  c_name: { type: 'name', values: ["'pg_class'"], expected: '$col::text', compare: sameText },
  c_char: { type: '"char"', values: ["'a'", "'Z'"], expected: '$col::text', compare: sameText },
  c_xml: { type: 'xml', values: ['\'<a x="1">t</a>\''], expected: '$col::text', compare: sameText },
  c_json: {
    type: 'json',
    values: [`'{"a": [1, 2], "b": null}'`],
    expected: '$col::text',
    compare: sameJsonText,
  },
  c_jsonb: {
    type: 'jsonb',
    values: [`'{"b": 1, "a": "☺"}'`, "'[]'"],
    expected: '$col::json::text',
    compare: sameJsonText,
  },
  c_uuid: {
    type: 'uuid',
    values: ["'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'"],
    expected: "lower('A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11')",
    compare: sameText,
  },
  c_bytea: {
    type: 'bytea',
    values: ["'\\x00ff10'", "''", "decode('00015c227f80ff', 'hex')", "'plain text'"],
    expected: "encode($col, 'base64')",
    compare: sameBytes,
  },
  c_date: {
    type: 'date',
    values: [
      "'2024-02-29'",
      "'0001-01-01 BC'",
      "'4714-11-24 BC'",
      "'infinity'",
      "'-infinity'",
      "'1969-12-31'",
    ],
    expected: finiteOr("$col - date '1970-01-01'"),
    compare: clampedTo(-(2 ** 31), INT_MAX),
  },
  c_time: {
    type: 'time',
    values: ["'00:00:00'", "'23:59:59.999999'", "'24:00:00'", "'12:34:56.789'"],
    expected: '(extract(epoch FROM $col) * 1000000)::numeric(30,0)::text',
    compare: sameNumber,
  },
  c_timetz: {
    type: 'timetz',
    values: ["'12:00:00.123+05:30'", "'00:00:00-08'", "'23:59:59.999999+00'"],
    expected: "regexp_replace($col::text, '([+-]\\d\\d)$', '\\1:00')",
    compare: sameText,
  },
  c_timestamp: {
    type: 'timestamp',
    values: [
      "'2024-01-02 03:04:05.123456'",
      "'1970-01-01'",
      "'1850-06-01 12:00:00.000001'",
      "'2255-01-01'",
      "'infinity'",
      "'-infinity'",
    ],
    expected: epochMicros,
    compare: clampedTo(LONG_MIN, LONG_MAX),
  },
  c_timestamptz: {
    type: 'timestamptz',
    values: [
      "'2024-01-02 03:04:05.123456+05:30'",
      "'1900-01-01 00:00:00+00'",
      "'2024-06-30 23:59:59.999999-08'",
      "'infinity'",
      "'1969-12-31 23:59:59.999999+00'",
    ],
    expected: epochMicros,
    compare: clampedTo(LONG_MIN, LONG_MAX),
  },
  c_interval: {
    type: 'interval',
    values: [
      "'1 year 2 mons 3 days 04:05:06.789'",
      "'-1 days +02:03:00'",
      "'-00:00:00.000001'",
      "'0'",
      "'178956970 years 7 mons'",
      "'-3 mons 1 day -00:00:00.5'",
    ],
    // Compared with the text IntervalStyle iso_8601 prints, read in its own query (see below).
    expected: '$col::text',
    compare: () => undefined,
  },
  c_inet: {
    type: 'inet',
    values: ["'192.168.0.1/24'", "'::1'"],
    expected: "format('%s', $col)",
    compare: sameText,
  },
  c_cidr: { type: 'cidr', values: ["'10.0.0.0/8'"], expected: "format('%s', $col)", compare: sameText },
  c_macaddr: { type: 'macaddr', values: ["'08:00:2b:01:02:03'"], expected: '$col::text', compare: sameText },
  c_macaddr8: {
    type: 'macaddr8',
    values: ["'08:00:2b:01:02:03:04:05'"],
    expected: '$col::text',
    compare: sameText,
  },
  c_bit: { type: 'bit(4)', values: ["B'1010'"], expected: '$col::text', compare: sameText },
  c_varbit: { type: 'varbit', values: ["B''", "B'1'"], expected: '$col::text', compare: sameText },
  c_tsvector: { type: 'tsvector', values: ["'a fat cat'"], expected: '$col::text', compare: sameText },
  c_point: { type: 'point', values: ["'(1,2.5)'"], expected: '$col::text', compare: sameText },
  c_box: { type: 'box', values: ["'((0,0),(1,1))'"], expected: '$col::text', compare: sameText },
  c_int4range: {
    type: 'int4range',
    values: ["'[1,5)'", "'empty'"],
    expected: '$col::text',
    compare: sameText,
  },
  c_pg_lsn: { type: 'pg_lsn', values: ["'16/B374D848'"], expected: '$col::text', compare: sameText },
  c_pair: { type: PAIR, values: ["ROW(1, 'a b')"], expected: '$col::text', compare: sameText },
  c_mood: { type: MOOD, values: ["'happy ☺'", "'sad'"], expected: '$col::text', compare: sameText },
  c_int_array: {
    type: 'int[]',
    values: ["'{1,NULL,-3}'", "'{}'", "'[0:2]={7,8,9}'"],
    expected: 'array_to_json($col)::text',
    compare: sameJson,
  },
  c_text_array: {
    type: 'text[]',
    values: [`ARRAY['a b', '"q"', NULL, 'NULL', E'x\\\\y', '', '{,}', 'ü']`, "'{}'"],
    expected: 'array_to_json($col)::text',
    compare: sameJson,
  },
  c_timestamptz_array: {
    type: 'timestamptz[]',
    values: ["ARRAY['2024-01-02 03:04:05.000001+00'::timestamptz, NULL, '1999-12-31 23:00:00-05']"],
    expected: elementsAs('(extract(epoch FROM x) * 1000000)::bigint'),
    compare: sameJson,
  },
  c_matrix: {
    type: 'int[][]',
    values: ["'{{1,2},{3,NULL}}'", "'[1:2][0:1]={{1,2},{3,4}}'", "'{}'"],
    expected: 'array_to_json($col)::text',
    compare: sameJson,
  },
  c_numeric_array: {
    type: 'numeric(6,2)[]',
    values: ["'{1.5,NULL,-2}'"],
    expected: elementsAs('(x * 100)::bigint'),
    compare: (value, expected) =>
      expect((value as unknown[]).map((v) => (v === null ? null : Number(unscaled(v))))).toEqual(
        JSON.parse(expected),
      ),
  },
  c_box_array: {
    type: 'box[]',
    values: ["ARRAY[box '((0,0),(1,1))', box '((2,2),(3,3))']"],
    expected: 'array_to_json($col)::text',
    compare: sameJson,
  },
};

let endpoint: ServiceEndpoints['postgres'];
let client: pg.Client;
let catalog: PgTypeCatalog;
let columns: ColumnType[];

/** A session as the connector opens one: text for every type, ISO dates, UTC. */
async function connect(timeZone = 'UTC', types = true): Promise<pg.Client> {
  const session = new pg.Client({
    connectionString: endpoint.connectionString,
    ...(types ? { types: { getTypeParser: () => (value: string) => value } } : {}),
  });
  await session.connect();
  await session.query(`SET DateStyle = ISO; SET TimeZone = '${timeZone}'`);
  return session;
}

/** Creates the table with its rows; returns its columns as the connector reads them from pg_attribute. */
async function createTable(table: string, cases: Record<string, ColumnCase>): Promise<ColumnType[]> {
  const names = Object.keys(cases);
  const rowCount = Math.max(...Object.values(cases).map((c) => c.values.length));
  await client.query(
    `CREATE TABLE ${table} (id int PRIMARY KEY, ${names.map((n) => `${n} ${cases[n]?.type}`).join(', ')})`,
  );
  for (let row = 0; row <= rowCount; row += 1) {
    // The last row is all NULL.
    const values = names.map((n) => cases[n]?.values[row] ?? 'NULL');
    await client.query(`INSERT INTO ${table} VALUES (${row}, ${values.join(', ')})`);
  }
  const { rows } = await client.query(
    `SELECT attname, atttypid, atttypmod, attndims FROM pg_attribute
      WHERE attrelid = $1::regclass AND attnum > 1 AND NOT attisdropped ORDER BY attnum`,
    [table],
  );
  return rows.map((r: Record<string, string>) => ({
    name: String(r['attname']),
    typeOid: Number(r['atttypid']),
    typeMod: Number(r['atttypmod']),
    dimensions: Number(r['attndims']),
  }));
}

function mappingOf(column: ColumnType, options: TypeMappingOptions = {}): ColumnMapping {
  return columnMapping(column, catalog, options);
}

/** Each column's text and expected text, row by row (ordered by id). */
async function readBack(
  session: pg.Client,
  table: string,
  cases: Record<string, ColumnCase>,
): Promise<Record<string, string | null>[]> {
  const selections = Object.entries(cases).map(
    ([name, c]) => `${name}, ${c.expected.replaceAll('$col', name)} AS ${name}_expected`,
  );
  const { rows } = await session.query(`SELECT ${selections.join(', ')} FROM ${table} ORDER BY id`);
  return rows as Record<string, string | null>[];
}

function expectAvroValue(schema: AvroSchema, value: unknown): void {
  const type = avroType(schema);
  expect(type.isValid(value), `${JSON.stringify(schema)} accepts ${String(value)}`).toBe(true);
  const back: unknown = type.fromBuffer(type.toBuffer(value));
  expect(back).toEqual(schema === 'float' ? Math.fround(value as number) : value);
}

function unscaled(bytes: unknown): bigint {
  const buffer = bytes as Buffer;
  return BigInt.asIntN(buffer.length * 8, BigInt(`0x${buffer.toString('hex')}`));
}

/** Decodes every column of every row and compares it with PostgreSQL's own answer. */
async function checkTable(table: string, cases: Record<string, ColumnCase>, tableColumns: ColumnType[]) {
  const rows = await readBack(client, table, cases);
  let compared = 0;
  for (const column of tableColumns) {
    const mapping = mappingOf(column);
    const check = cases[column.name];
    if (check === undefined) throw new Error(`no case for ${column.name}`);
    for (const row of rows) {
      const text = row[column.name];
      if (text === null || text === undefined) continue;
      const value = mapping.decode(text);
      expectAvroValue(mapping.avro, value);
      check.compare(value, row[`${column.name}_expected`] ?? '');
      compared += 1;
    }
  }
  return compared;
}

for (const service of ['postgres', 'postgres-latest'] as const) {
  describe(`type mapping against ${service === 'postgres' ? 'PostgreSQL 15' : 'PostgreSQL 18'} (table ${TABLE})`, () => {
    beforeAll(async () => {
      endpoint = (await useServices(service))[service];
      client = await connect();
      await client.query(`CREATE TYPE ${MOOD} AS ENUM (${MOOD_LABELS.map((l) => `'${l}'`).join(', ')})`);
      await client.query(`CREATE DOMAIN ${PRICE} AS numeric(10,2)`);
      await client.query(`CREATE TYPE ${PAIR} AS (a int, b text)`);
      columns = await createTable(TABLE, COLUMNS);
      catalog = new PgTypeCatalog((sql, params) => client.query(sql, params));
      await catalog.load(columns.map((c) => c.typeOid));
    }, 300_000);

    afterAll(async () => {
      if (client === undefined) return;
      try {
        await client.query(`DROP TABLE IF EXISTS ${TABLE}, ${TABLE}_hstore, ${TABLE}_citext`);
        await client.query(`DROP TYPE IF EXISTS ${MOOD}, ${PAIR}`);
        await client.query(`DROP DOMAIN IF EXISTS ${PRICE}`);
      } finally {
        await client.end();
      }
    }, 60_000);

    it('decodes every column of every row to what PostgreSQL says it holds, valid for its Avro schema', async () => {
      const compared = await checkTable(TABLE, COLUMNS, columns);
      const values = Object.values(COLUMNS).reduce((sum, c) => sum + c.values.length, 0);
      expect(compared).toBe(values);
    });

    it('builds the schemas the catalog implies: enum labels, domain typmod, array dimensions', () => {
      const byName = Object.fromEntries(columns.map((c) => [c.name, mappingOf(c)]));
      expect(byName['c_mood']?.avro).toEqual({ type: 'string', 'datamesh.enum': MOOD_LABELS });
      expect(byName['c_price']?.avro).toEqual({
        type: 'bytes',
        logicalType: 'decimal',
        precision: 10,
        scale: 2,
      });
      expect(byName['c_numeric_hundreds']?.avro).toEqual({
        type: 'bytes',
        logicalType: 'decimal',
        precision: 7,
        scale: 0,
      });
      expect(byName['c_matrix']?.avro).toEqual({
        type: 'array',
        items: { type: 'array', items: ['null', 'int'] },
      });
      expect(byName['c_text_array']?.placeholder).toEqual(['__datamesh_unavailable_value']);
      expect(byName['c_timestamptz']?.placeholder).toBeUndefined();
    });

    it('interval text becomes exactly what IntervalStyle iso_8601 prints', async () => {
      const column = columns.find((c) => c.name === 'c_interval');
      if (column === undefined) throw new Error('no c_interval');
      const postgresStyle = await client.query(`SELECT c_interval FROM ${TABLE} ORDER BY id`);
      const iso = await connect();
      try {
        await iso.query('SET IntervalStyle = iso_8601');
        const isoStyle = await iso.query(`SELECT c_interval FROM ${TABLE} ORDER BY id`);
        const mapping = mappingOf(column);
        const decoded = postgresStyle.rows.map((r) =>
          r.c_interval === null ? null : mapping.decode(r.c_interval),
        );
        expect(decoded).toEqual(isoStyle.rows.map((r) => r.c_interval));
        expect(decoded.filter((v) => v !== null)).toHaveLength(COLUMNS['c_interval']?.values.length ?? -1);
      } finally {
        await iso.end();
      }
    });

    it.each(['Asia/Kolkata', 'America/St_Johns', 'Europe/Amsterdam', 'Pacific/Chatham'])(
      'timestamptz read in a session with TimeZone %s decodes to the same instants',
      async (timeZone) => {
        const column = columns.find((c) => c.name === 'c_timestamptz');
        if (column === undefined) throw new Error('no c_timestamptz');
        const mapping = mappingOf(column);
        const local = await connect(timeZone);
        try {
          const sql = `SELECT c_timestamptz FROM ${TABLE} ORDER BY id`;
          const [utcRows, localRows] = [(await client.query(sql)).rows, (await local.query(sql)).rows];
          const decode = (r: { c_timestamptz: string | null }) =>
            r.c_timestamptz === null ? null : mapping.decode(r.c_timestamptz);
          expect(localRows.map((r) => r.c_timestamptz)).not.toEqual(utcRows.map((r) => r.c_timestamptz));
          expect(localRows.map(decode)).toEqual(utcRows.map(decode));
        } finally {
          await local.end();
        }
      },
    );

    it('bytea in the escape output format decodes to the same bytes as hex', async () => {
      const column = columns.find((c) => c.name === 'c_bytea');
      if (column === undefined) throw new Error('no c_bytea');
      const mapping = mappingOf(column);
      const escaped = await connect();
      try {
        await escaped.query('SET bytea_output = escape');
        const sql = `SELECT c_bytea FROM ${TABLE} ORDER BY id`;
        const decode = (r: { c_bytea: string | null }) =>
          r.c_bytea === null ? null : mapping.decode(r.c_bytea);
        const [hexRows, escapeRows] = [(await client.query(sql)).rows, (await escaped.query(sql)).rows];
        expect(escapeRows.map(decode)).toEqual(hexRows.map(decode));
        expect(escapeRows.some((r) => String(r.c_bytea).includes('\\\\'))).toBe(true);
      } finally {
        await escaped.end();
      }
    });

    it('refuses, naming the value, what avsc cannot hold exactly or an Avro decimal cannot express', async () => {
      const result = await client.query(
        `SELECT '9007199254740993'::int8 AS big, '9999-12-31 23:59:59'::timestamp AS far,
                '1800-01-01 00:00:00+00'::timestamptz AS early, 'NaN'::numeric(10,2) AS nan`,
      );
      await catalog.load(result.fields.map((f) => f.dataTypeID));
      const row = result.rows[0] as Record<string, string>;
      const failures = result.fields.map((field) => {
        const mapping = mappingOf({
          name: field.name,
          typeOid: field.dataTypeID,
          typeMod: field.dataTypeModifier,
        });
        try {
          mapping.decode(row[field.name] ?? '');
          return 'decoded';
        } catch (error) {
          expect(error).toBeInstanceOf(ValueDecodeError);
          return (error as Error).message;
        }
      });
      expect(failures).toEqual([
        expect.stringMatching(/^column "big" \(int8\): int8 value 9007199254740993 is outside/),
        expect.stringMatching(/^column "far" \(timestamp\): timestamp 9999-12-31 23:59:59 is outside/),
        expect.stringMatching(
          /^column "early" \(timestamptz\): timestamp 1800-01-01 00:00:00\+00 is outside/,
        ),
        expect.stringMatching(/^column "nan" \(numeric\): numeric value NaN has no Avro decimal form/),
      ]);
    });

    it('loads the same catalog through a client with the default type parsers', async () => {
      const parsing = await connect('UTC', false);
      try {
        const other = new PgTypeCatalog((sql, params) => parsing.query(sql, params));
        await other.load(columns.map((c) => c.typeOid));
        for (const column of columns) {
          expect(mapping(other, column).avro).toEqual(mappingOf(column).avro);
        }
      } finally {
        await parsing.end();
      }
      function mapping(types: PgTypeCatalog, column: ColumnType) {
        return columnMapping(column, types, {});
      }
    });

    // Extension types: each needs its extension, which the server may not have installed.
    const extensionColumns: Record<string, Record<string, ColumnCase>> = {
      hstore: {
        c_hstore: {
          type: 'hstore',
          values: [`'a=>1, b=>NULL, "q\\"k"=>"v\\\\w", ""=>"NULL", "=>,"=>" "'`, "''", `'"ü ☺"=>"x y"'`],
          expected: 'hstore_to_json($col)::text',
          compare: sameJson,
        },
      },
      citext: {
        c_citext: { type: 'citext', values: ["'MiXeD'"], expected: '$col::text', compare: sameText },
      },
    };

    it.for(Object.keys(extensionColumns))(
      '%s column (skipped when the server does not have the extension installed)',
      async (extension, context) => {
        const { rowCount } = await client.query('SELECT 1 FROM pg_available_extensions WHERE name = $1', [
          extension,
        ]);
        if (rowCount === 0) return context.skip(`the ${extension} extension is not installed on the server`);
        await createExtension(extension);
        const cases = extensionColumns[extension] ?? {};
        const tableColumns = await createTable(`${TABLE}_${extension}`, cases);
        await catalog.load(tableColumns.map((c) => c.typeOid));
        expect(await checkTable(`${TABLE}_${extension}`, cases, tableColumns)).toBeGreaterThan(0);
      },
    );
  });
}

/** CREATE EXTENSION IF NOT EXISTS still fails when another session creates it at the same moment. */
async function createExtension(extension: string): Promise<void> {
  try {
    await client.query(`CREATE EXTENSION IF NOT EXISTS ${extension}`);
  } catch (error) {
    const { rowCount } = await client.query('SELECT 1 FROM pg_extension WHERE extname = $1', [extension]);
    if (rowCount === 0) throw error;
  }
}

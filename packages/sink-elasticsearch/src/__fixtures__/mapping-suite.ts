// The mapping round trip on a real engine: the mapping generated for a row schema holding every type is accepted,
// the engine returns it so that mappingChanges sees nothing to do, converted documents with values at the edges
// index and read back as written, the fields answer range, term, match and nested queries, and
// mappingChanges(...).added is what PUT _mapping takes after a schema change. Plain HTTP, the same requests on
// both engines. Called once per engine (`index-mapping.<engine>.test.ts`).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  avroType,
  envelopeSchemas,
  rowSchemaOf,
  type AvroField,
  type AvroRecordSchema,
} from '@datamesh/core';
import { documentConverter, documentId } from '../documents.js';
import { mappingChanges, mappingFor, type MappingOptions, type Properties } from '../index-mapping.js';
import { engineUrl, type EngineUnderTest } from './engines.js';
import { deleteIndexes, request, send, uniqueIndex } from './search-index.js';
import { decimal, field, nullable } from './avro-fields.js';

const address = (extra: AvroField[] = []) => ({
  type: 'record',
  name: 'Address',
  fields: [field('city', 'string'), field('since', nullable({ type: 'int', logicalType: 'date' })), ...extra],
});

// Columns as the Postgres connector writes them, other Avro shapes, and Debezium's semantic types.
const COLUMNS: AvroField[] = [
  field('id', 'long'),
  field('code', 'string'),
  field('c_bool', nullable('boolean')),
  field('c_int2', nullable('int')),
  field('c_int8', nullable('long')),
  field('c_float4', nullable('float')),
  field('c_float8', nullable('double')),
  field('c_numeric', nullable(decimal(20, 2))),
  field('c_text', nullable('string')),
  field('c_mood', nullable({ type: 'string', 'datamesh.enum': ['sad', 'ok'] })),
  field('c_uuid', nullable({ type: 'string', logicalType: 'uuid' })),
  field('c_jsonb', nullable({ type: 'string', 'datamesh.type': 'json' })),
  field('c_interval', nullable({ type: 'string', 'datamesh.type': 'interval' })),
  field('c_date', nullable({ type: 'int', logicalType: 'date' })),
  field('c_date_inf', nullable({ type: 'int', logicalType: 'date' })),
  field('c_time', nullable({ type: 'long', logicalType: 'time-micros' })),
  field('c_timestamptz', nullable({ type: 'long', logicalType: 'timestamp-micros' })),
  field('c_bytea', nullable('bytes')),
  field('c_texts', nullable({ type: 'array', items: ['null', 'string'] })),
  field('c_matrix', nullable({ type: 'array', items: { type: 'array', items: ['null', 'int'] } })),
  field('c_prices', nullable({ type: 'array', items: ['null', decimal(6, 2)] })),
  field('c_hstore', nullable({ type: 'map', values: ['null', 'string'] })),
  field('a_address', nullable(address())),
  field('a_lines', {
    type: 'array',
    items: { type: 'record', name: 'Line', fields: [field('sku', 'string'), field('qty', 'int')] },
  }),
  field('a_enum', { type: 'enum', name: 'Status', symbols: ['NEW', 'DONE'] }),
  field('a_fixed', { type: 'fixed', name: 'Hash', size: 4 }),
  field('a_millis', nullable({ type: 'long', logicalType: 'timestamp-millis' })),
  field('a_local_micros', nullable({ type: 'long', logicalType: 'local-timestamp-micros' })),
  field('a_null', 'null'),
  field('d_zoned', nullable({ type: 'string', 'connect.name': 'io.debezium.time.ZonedTimestamp' })),
  field(
    'd_varnum',
    nullable({
      type: 'record',
      name: 'VariableScaleDecimal',
      namespace: 'io.debezium.data',
      fields: [field('scale', 'int'), field('value', 'bytes')],
      'connect.name': 'io.debezium.data.VariableScaleDecimal',
    }),
  ),
];

/** A composite key: a number and a string (mapped keyword whatever the string options say). */
const KEY = ['id', 'code'];
const row = (fields: AvroField[]): AvroRecordSchema =>
  rowSchemaOf(envelopeSchemas({ name: 'shop.public.things', fields, keyFields: KEY }).valueSchema);

const OPTIONS: MappingOptions = { nested: ['a_lines'], fields: { 'a_address.city': 'keyword' } };
const SCHEMA = row(COLUMNS);

function unscaledBytes(value: bigint): Buffer {
  let bytes = 1;
  while (value >= 1n << BigInt(bytes * 8 - 1) || value < -(1n << BigInt(bytes * 8 - 1))) bytes += 1;
  const unsigned = value < 0n ? (1n << BigInt(bytes * 8)) + value : value;
  return Buffer.from(unsigned.toString(16).padStart(bytes * 2, '0'), 'hex');
}

const nulls = Object.fromEntries(COLUMNS.map((f) => [f.name, null]));

/** Row values as avsc decodes them, at the edges of what each type holds. */
const ROWS: Record<string, unknown>[] = [
  {
    ...nulls,
    id: 1,
    code: 'A-1',
    c_bool: true,
    c_int2: -32768,
    c_int8: -(2 ** 52),
    c_float4: 1.5,
    c_float8: Number.NaN,
    c_numeric: unscaledBytes(-1234567890123456789n), // -12345678901234567.89
    c_text: 'Red running shoes',
    c_mood: 'ok',
    c_uuid: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
    c_jsonb: '{"a": [1, null, {"b": "c"}], "big": 12345678901234567890}',
    c_interval: 'P1Y2M3DT4H5M6.789S',
    c_date: -2_440_588, // 4714-11-24 BC
    c_date_inf: 2 ** 31 - 1, // where the connector clamps 'infinity'
    c_time: 86_399_999_999,
    c_timestamptz: -1, // 1969-12-31T23:59:59.999999Z
    c_bytea: Buffer.from([0, 255, 16]),
    c_texts: ['alpha', null, 'beta'],
    c_matrix: [
      [1, 2],
      [3, null],
    ],
    c_prices: [unscaledBytes(150n), null, unscaledBytes(-5n)],
    c_hstore: { a: '1', 'b.c': null },
    a_address: { city: 'Zürich', since: -1 },
    a_lines: [
      { sku: 'X-1', qty: 2 },
      { sku: 'Y-2', qty: 1 },
    ],
    a_enum: 'DONE',
    a_fixed: Buffer.from([1, 2, 3, 4]),
    a_millis: Date.parse('1850-03-01T12:00:00.123Z'),
    a_local_micros: Date.parse('2024-01-02T03:04:05Z') * 1000 + 123_456,
    d_zoned: '2024-01-02T03:04:05.123456+05:30',
    d_varnum: { scale: 3, value: unscaledBytes(-1n) },
  },
  {
    ...nulls,
    id: 2,
    code: 'B-2',
    c_jsonb: '[1, "two", 3.5]',
    a_lines: [],
    a_enum: 'NEW',
    a_fixed: Buffer.alloc(4),
  },
  {
    ...nulls,
    id: 3,
    code: 'C-3',
    c_jsonb: '"just text"',
    a_lines: [],
    a_enum: 'NEW',
    a_fixed: Buffer.alloc(4),
  },
];

/** As the sink sees rows: encoded and decoded by avsc, then converted. */
function convertedDocuments(
  schema: AvroRecordSchema,
  rows: Record<string, unknown>[],
): Record<string, unknown>[] {
  const type = avroType(schema);
  const convert = documentConverter(schema);
  return rows.map((value) => convert(type.fromBuffer(type.toBuffer(value)) as Record<string, unknown>));
}

export function describeMappingRoundTrip(target: EngineUnderTest): void {
  const index = uniqueIndex('mapping');
  let url: string;

  async function currentProperties(): Promise<Properties> {
    const body = (await request(url, 'GET', `/${index}/_mapping`)) as Record<
      string,
      { mappings: { properties?: Properties } }
    >;
    return body[index]?.mappings.properties ?? {};
  }

  /** The `id` of the documents found. */
  async function search(query: Record<string, unknown>): Promise<string[]> {
    const body = (await request(url, 'POST', `/${index}/_search`, { query })) as {
      hits: { hits: { _source: Record<string, unknown> }[] };
    };
    return body.hits.hits.map((hit) => String(hit._source['id'])).sort();
  }

  /** The document's `_source` as the engine returns it, parsed with JSON.parse. */
  async function sourceOf(id: string): Promise<unknown> {
    const body = (await request(url, 'GET', `/${index}/_doc/${encodeURIComponent(id)}`)) as {
      _source: unknown;
    };
    return body._source;
  }

  beforeAll(async () => {
    url = await engineUrl(target);
  }, 300_000);

  afterAll(async () => {
    if (url) await deleteIndexes(url, [index]);
  });

  describe(`index mapping and documents on ${target.title}`, () => {
    const documents = convertedDocuments(SCHEMA, ROWS);

    it('creates the index with the mapping for every type, and reads it back with nothing to change', async () => {
      const mapping = mappingFor(SCHEMA, KEY, target.engine, OPTIONS);
      const created = (await request(url, 'PUT', `/${index}`, {
        settings: { number_of_shards: 1, number_of_replicas: 0 },
        mappings: mapping,
      })) as { acknowledged: boolean };
      expect(created.acknowledged).toBe(true);
      const returned = (await request(url, 'GET', `/${index}/_mapping`)) as Record<
        string,
        { mappings: { dynamic?: string } }
      >;
      expect(returned[index]?.mappings.dynamic).toBe('strict');
      expect(mappingChanges(await currentProperties(), mapping.properties)).toEqual({
        added: {},
        conflicts: [],
      });
    });

    it('indexes the converted documents and returns them as written', async () => {
      const bulk = documents
        .flatMap((document) => [{ index: { _index: index, _id: documentId(document, KEY) } }, document])
        .map((line) => `${JSON.stringify(line)}\n`)
        .join('');
      const body = (await request(url, 'POST', '/_bulk?refresh=true', bulk)) as {
        items: { index: { status: number; error?: unknown } }[];
      };
      expect(body.items.map((item) => item.index.error ?? item.index.status)).toEqual([201, 201, 201]);

      const first = documents[0]!;
      expect(first).toMatchObject({
        c_numeric: '-12345678901234567.89',
        c_float8: null,
        c_date: '-4713-11-24',
        c_date_inf: '+5881580-07-11',
        c_timestamptz: '1969-12-31T23:59:59.999999Z',
        a_millis: '1850-03-01T12:00:00.123Z',
        a_local_micros: '2024-01-02T03:04:05.123456',
        a_address: { city: 'Zürich', since: '1969-12-31' },
        c_prices: ['1.50', null, '-0.05'],
        d_varnum: '-0.001',
      });
      for (const document of documents) {
        // Parsed with JSON.parse, as this does: the same numbers lose the same digits.
        expect(await sourceOf(documentId(document, KEY))).toEqual(JSON.parse(JSON.stringify(document)));
      }
      expect(((await sourceOf('[2,"B-2"]')) as Record<string, unknown>)['c_jsonb']).toEqual([1, 'two', 3.5]);
    });

    it('keeps numbers in JSON columns exactly as written', async () => {
      // Read the raw response text: JSON.parse would round the big number.
      const response = await send(url, 'GET', `/${index}/_doc/${encodeURIComponent('[1,"A-1"]')}`);
      expect(response.text).toContain('"big":12345678901234567890');
    });

    it('finds the documents by range on decimals and dates, term on keywords, match on text and nested', async () => {
      // The index holds a decimal as a double: exact in _source, to about 16 significant digits in queries.
      expect(
        await search({ range: { c_numeric: { gt: -12345678901234600, lt: -12345678901234500 } } }),
      ).toEqual(['1']);
      expect(await search({ range: { c_prices: { lt: 0 } } })).toEqual(['1']);
      expect(await search({ range: { d_varnum: { lt: 0 } } })).toEqual(['1']);
      expect(await search({ range: { c_timestamptz: { lt: '1970-01-01T00:00:00Z' } } })).toEqual(['1']);
      expect(await search({ range: { c_date: { lt: '-4713-11-25' } } })).toEqual(['1']);
      expect(await search({ range: { c_date_inf: { gt: '+5000000-01-01' } } })).toEqual(['1']);
      expect(
        await search({ range: { 'a_address.since': { gte: '1969-12-31', lte: '1969-12-31' } } }),
      ).toEqual(['1']);
      expect(await search({ range: { a_millis: { lt: '1900-01-01' } } })).toEqual(['1']);
      expect(await search({ range: { c_matrix: { gte: 3 } } })).toEqual(['1']);
      expect(await search({ term: { c_uuid: 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11' } })).toEqual(['1']);
      expect(await search({ term: { code: 'B-2' } })).toEqual(['2']);
      expect(await search({ term: { c_mood: 'ok' } })).toEqual(['1']);
      expect(await search({ term: { 'c_text.keyword': 'Red running shoes' } })).toEqual(['1']);
      expect(await search({ term: { 'a_address.city': 'Zürich' } })).toEqual(['1']);
      expect(await search({ term: { a_enum: 'NEW' } })).toEqual(['2', '3']);
      expect(await search({ match: { c_text: 'RUNNING' } })).toEqual(['1']);
      expect(await search({ match: { c_texts: 'beta' } })).toEqual(['1']);
      expect(
        await search({
          nested: {
            path: 'a_lines',
            query: { bool: { must: [{ match: { 'a_lines.sku': 'Y-2' } }, { term: { 'a_lines.qty': 1 } }] } },
          },
        }),
      ).toEqual(['1']);
    });

    it('refuses a document with a field the schema does not have', async () => {
      const stray = await send(url, 'PUT', `/${index}/_doc/stray`, { ...documents[1], stray: 1 });
      expect(stray).toMatchObject({
        status: 400,
        body: { error: { type: 'strict_dynamic_mapping_exception' } },
      });
    });

    it('adds the fields of a newer schema with PUT _mapping, and the engine refuses what it reports as a conflict', async () => {
      const v2Columns = COLUMNS.map((f) =>
        f.name === 'a_address'
          ? field('a_address', nullable(address([field('country', nullable('string'))])))
          : f,
      ).concat([
        field('c_added', nullable(decimal(10, 2))),
        field('c_added_at', nullable({ type: 'int', logicalType: 'date' })),
      ]);
      const v2 = row(v2Columns);
      const wanted = mappingFor(v2, KEY, target.engine, OPTIONS);
      const changes = mappingChanges(await currentProperties(), wanted.properties);
      expect(changes).toEqual({
        added: {
          a_address: { properties: { country: expect.anything() } },
          c_added: { type: 'double' },
          c_added_at: { type: 'date', format: 'strict_date' },
        },
        conflicts: [],
      });
      const put = (await request(url, 'PUT', `/${index}/_mapping`, { properties: changes.added })) as {
        acknowledged: boolean;
      };
      expect(put.acknowledged).toBe(true);
      expect(mappingChanges(await currentProperties(), wanted.properties)).toEqual({
        added: {},
        conflicts: [],
      });

      const [document] = convertedDocuments(v2, [
        {
          ...ROWS[1],
          id: 4,
          a_address: { city: 'Oslo', since: null, country: 'Norway' },
          c_added: unscaledBytes(-1n),
          c_added_at: -36_500,
        },
      ]);
      const id = encodeURIComponent(documentId(document!, KEY));
      const indexed = (await request(url, 'PUT', `/${index}/_doc/${id}?refresh=true`, document)) as {
        result: string;
      };
      expect(indexed.result).toBe('created');
      expect(await search({ match: { 'a_address.country': 'norway' } })).toEqual(['4']);
      expect(await search({ range: { c_added: { lt: 0 } } })).toEqual(['4']);

      // A column that changes type: mappingChanges reports it, and the engine would refuse the change.
      const v3 = row(COLUMNS.map((f) => (f.name === 'c_mood' ? field('c_mood', nullable('long')) : f)));
      const { conflicts } = mappingChanges(
        await currentProperties(),
        mappingFor(v3, KEY, target.engine, OPTIONS).properties,
      );
      expect(conflicts).toEqual([{ path: 'c_mood', current: 'keyword', wanted: 'long' }]);
      const refused = await send(url, 'PUT', `/${index}/_mapping`, {
        properties: { c_mood: { type: 'long' } },
      });
      expect(refused.status).toBe(400);
    });
  });
}

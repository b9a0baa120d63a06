import { describe, expect, it } from 'vitest';
import { envelopeSchemas, rowSchemaOf, type AvroField, type AvroRecordSchema } from '@datamesh/core';
import { mappingChanges, mappingFor, type Properties } from './index-mapping.js';
import { decimal, field, nullable } from './__fixtures__/avro-fields.js';

// Column schemas as the Postgres connector writes them (see connector-postgres's type-mapping tests), nullable
// as it makes every column but the key, and a few Debezium (`connect.name`) and Avro shapes besides.

const ADDRESS = {
  type: 'record',
  name: 'Address',
  fields: [field('city', 'string'), field('zip', nullable('string')), field('geo', nullable('double'))],
};

const EVERY_TYPE: AvroField[] = [
  field('id', 'long'),
  field('code', 'string'),
  field('c_bool', nullable('boolean')),
  field('c_int2', nullable('int')),
  field('c_int8', nullable('long')),
  field('c_float4', nullable('float')),
  field('c_float8', nullable('double')),
  field('c_numeric', nullable(decimal(10, 2))),
  field('c_money', nullable(decimal(19, 2))),
  field('c_numeric_any', nullable('string')),
  field('c_text', nullable('string')),
  field('c_mood', nullable({ type: 'string', 'datamesh.enum': ['sad', 'ok'] })),
  field('c_uuid', nullable({ type: 'string', logicalType: 'uuid' })),
  field('c_jsonb', nullable({ type: 'string', 'datamesh.type': 'json' })),
  field('c_interval', nullable({ type: 'string', 'datamesh.type': 'interval' })),
  field('c_date', nullable({ type: 'int', logicalType: 'date' })),
  field('c_time', nullable({ type: 'long', logicalType: 'time-micros' })),
  field('c_timestamptz', nullable({ type: 'long', logicalType: 'timestamp-micros' })),
  field('c_bytea', nullable('bytes')),
  field('c_texts', nullable({ type: 'array', items: ['null', 'string'] })),
  field('c_matrix', nullable({ type: 'array', items: { type: 'array', items: ['null', 'int'] } })),
  field('c_prices', nullable({ type: 'array', items: ['null', decimal(6, 2)] })),
  field('c_hstore', nullable({ type: 'map', values: ['null', 'string'] })),
  // Avro types the Postgres connector does not write, but other producers do.
  field('a_address', nullable(ADDRESS)),
  field('a_lines', {
    type: 'array',
    items: { type: 'record', name: 'Line', fields: [field('sku', 'string')] },
  }),
  field('a_enum', { type: 'enum', name: 'Status', symbols: ['NEW', 'DONE'] }),
  field('a_fixed', { type: 'fixed', name: 'Hash', size: 4 }),
  field('a_fixed_decimal', {
    type: 'fixed',
    name: 'Amount',
    size: 8,
    logicalType: 'decimal',
    precision: 18,
    scale: 4,
  }),
  field('a_millis', { type: 'long', logicalType: 'timestamp-millis' }),
  field('a_local_micros', { type: 'long', logicalType: 'local-timestamp-micros' }),
  field('a_local_millis', { type: 'long', logicalType: 'local-timestamp-millis' }),
  field('a_time_millis', { type: 'int', logicalType: 'time-millis' }),
  field('a_null', 'null'),
  // Debezium's own semantic types, as its Avro converter writes them.
  field('d_json', { type: 'string', 'connect.version': 1, 'connect.name': 'io.debezium.data.Json' }),
  field('d_uuid', { type: 'string', 'connect.version': 1, 'connect.name': 'io.debezium.data.Uuid' }),
  field('d_interval', { type: 'string', 'connect.name': 'io.debezium.time.Interval' }),
  field('d_zoned', { type: 'string', 'connect.name': 'io.debezium.time.ZonedTimestamp' }),
  field('d_micro_ts', { type: 'long', 'connect.name': 'io.debezium.time.MicroTimestamp' }),
  field('d_date', { type: 'int', 'connect.name': 'io.debezium.time.Date' }),
  field('d_micro_time', { type: 'long', 'connect.name': 'io.debezium.time.MicroTime' }),
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

const row = (fields: AvroField[], keyFields = [fields[0]!.name]): AvroRecordSchema =>
  rowSchemaOf(envelopeSchemas({ name: 'shop.public.things', fields, keyFields }).valueSchema);

const TEXT_KEYWORD = { type: 'text', fields: { keyword: { type: 'keyword', ignore_above: 256 } } };
const DISABLED = { type: 'object', enabled: false };

describe('mappingFor', () => {
  it('maps every type the connectors write', () => {
    const mapping = mappingFor(row(EVERY_TYPE, ['id', 'code']), ['id', 'code'], 'opensearch');
    expect(mapping.dynamic).toBe('strict');
    expect(mapping.properties).toEqual({
      id: { type: 'long' },
      code: { type: 'keyword' },
      c_bool: { type: 'boolean' },
      c_int2: { type: 'long' },
      c_int8: { type: 'long' },
      c_float4: { type: 'double' },
      c_float8: { type: 'double' },
      c_numeric: { type: 'double' },
      c_money: { type: 'double' },
      c_numeric_any: TEXT_KEYWORD,
      c_text: TEXT_KEYWORD,
      c_mood: { type: 'keyword' },
      c_uuid: { type: 'keyword' },
      c_jsonb: DISABLED,
      c_interval: { type: 'keyword' },
      c_date: { type: 'date', format: 'strict_date' },
      c_time: { type: 'long' },
      c_timestamptz: { type: 'date' },
      c_bytea: { type: 'binary' },
      c_texts: TEXT_KEYWORD,
      c_matrix: { type: 'long' },
      c_prices: { type: 'double' },
      c_hstore: DISABLED,
      a_address: {
        properties: { city: TEXT_KEYWORD, zip: TEXT_KEYWORD, geo: { type: 'double' } },
      },
      a_lines: { properties: { sku: TEXT_KEYWORD } },
      a_enum: { type: 'keyword' },
      a_fixed: { type: 'binary' },
      a_fixed_decimal: { type: 'double' },
      a_millis: { type: 'date' },
      a_local_micros: { type: 'date' },
      a_local_millis: { type: 'date' },
      a_time_millis: { type: 'long' },
      a_null: { type: 'keyword' },
      d_json: DISABLED,
      d_uuid: { type: 'keyword' },
      d_interval: { type: 'keyword' },
      d_zoned: { type: 'date' },
      d_micro_ts: { type: 'date' },
      d_date: { type: 'date', format: 'strict_date' },
      d_micro_time: { type: 'long' },
      d_varnum: { type: 'double' },
    });
  });

  it('gives both engines the same mapping', () => {
    const schema = row(EVERY_TYPE);
    expect(mappingFor(schema, ['id'], 'elasticsearch')).toEqual(mappingFor(schema, ['id'], 'opensearch'));
  });

  it("maps int like long and float like double, so Avro's promotions need no mapping change", () => {
    const narrow = mappingFor(row([field('id', 'int'), field('x', nullable('float'))]), ['id'], 'opensearch');
    const wide = mappingFor(row([field('id', 'long'), field('x', nullable('double'))]), ['id'], 'opensearch');
    expect(narrow).toEqual(wide);
    expect(mappingChanges(narrow.properties, wide.properties)).toEqual({ added: {}, conflicts: [] });
  });

  it('maps strings as the options say, by dotted path through records and arrays of records', () => {
    const schema = row(EVERY_TYPE, ['id', 'code']);
    const { properties } = mappingFor(schema, ['id', 'code'], 'elasticsearch', {
      strings: 'keyword',
      fields: { c_text: 'text', 'a_address.city': 'text+keyword', 'a_lines.sku': 'text', c_texts: 'text' },
    });
    expect(properties['c_numeric_any']).toEqual({ type: 'keyword' });
    expect(properties['c_text']).toEqual({ type: 'text' });
    expect(properties['c_texts']).toEqual({ type: 'text' });
    expect(properties['a_address']).toEqual({
      properties: { city: TEXT_KEYWORD, zip: { type: 'keyword' }, geo: { type: 'double' } },
    });
    expect(properties['a_lines']).toEqual({ properties: { sku: { type: 'text' } } });
    // Only plain strings follow the option: identifiers stay keyword.
    expect(properties['c_uuid']).toEqual({ type: 'keyword' });
    expect(mappingFor(schema, ['id'], 'opensearch', { strings: 'text' }).properties['c_text']).toEqual({
      type: 'text',
    });
  });

  it('never maps a key field as text, whatever the options say', () => {
    const schema = row([field('code', 'string'), field('name', 'string')], ['code']);
    const { properties } = mappingFor(schema, ['code'], 'opensearch', {
      strings: 'text',
      fields: { code: 'text' },
    });
    expect(properties).toEqual({ code: { type: 'keyword' }, name: { type: 'text' } });
  });

  it('maps the arrays of records the options name as nested', () => {
    const { properties } = mappingFor(row(EVERY_TYPE), ['id'], 'opensearch', {
      nested: ['a_lines', 'a_address'],
    });
    expect(properties['a_lines']).toEqual({ type: 'nested', properties: { sku: TEXT_KEYWORD } });
    expect(properties['a_address']).toMatchObject({ type: 'nested' });
  });

  it('ignores option paths that name no field, and refuses ones that name a field of another type', () => {
    const schema = row(EVERY_TYPE);
    expect(
      mappingFor(schema, ['id'], 'opensearch', { fields: { dropped: 'text' }, nested: ['gone'] }),
    ).toEqual(mappingFor(schema, ['id'], 'opensearch'));
    expect(() => mappingFor(schema, ['id'], 'opensearch', { fields: { c_int8: 'text' } })).toThrow(
      'mapping option fields["c_int8"]: the field is not a plain string',
    );
    expect(() => mappingFor(schema, ['id'], 'opensearch', { fields: { a_address: 'text' } })).toThrow(
      /fields\["a_address"\]/,
    );
    expect(() => mappingFor(schema, ['id'], 'opensearch', { nested: ['c_texts'] })).toThrow(
      'mapping option nested: field "c_texts" is not a record or an array of records',
    );
  });

  it('refuses a key field the row does not have', () => {
    expect(() => mappingFor(row(EVERY_TYPE), ['nope'], 'opensearch')).toThrow(
      /key field "nope" is not a field/,
    );
  });

  it('refuses unions of several types, naming the field path', () => {
    const schema = row([
      field('id', 'long'),
      field('outer', { type: 'record', name: 'Outer', fields: [field('inner', ['null', 'long', 'string'])] }),
    ]);
    expect(() => mappingFor(schema, ['id'], 'opensearch')).toThrow(
      'field "outer.inner": unions of several types are not supported (only ["null", T]): ["null","long","string"]',
    );
  });

  it('resolves references to named types, relative to the enclosing namespace', () => {
    const schema: AvroRecordSchema = {
      type: 'record',
      name: 'Value',
      namespace: 'shop',
      fields: [
        field('id', 'long'),
        field('home', { type: 'record', name: 'Address', fields: [field('city', 'string')] }),
        field('work', ['null', 'Address']),
        field('other', 'shop.Address'),
        field('status', { type: 'enum', name: 'Status', namespace: 'other', symbols: ['A'] }),
        field('previous', 'other.Status'),
        field('stamp', {
          type: 'fixed',
          name: 'Stamp',
          size: 2,
          logicalType: 'decimal',
          precision: 4,
          scale: 2,
        }),
        field('stamps', { type: 'array', items: 'Stamp' }),
      ],
    };
    const address = { properties: { city: TEXT_KEYWORD } };
    expect(mappingFor(schema, ['id'], 'opensearch').properties).toEqual({
      id: { type: 'long' },
      home: address,
      work: address,
      other: address,
      status: { type: 'keyword' },
      previous: { type: 'keyword' },
      stamp: { type: 'double' },
      stamps: { type: 'double' },
    });
    const undefinedRef: AvroRecordSchema = { type: 'record', name: 'R', fields: [field('x', 'Nowhere')] };
    expect(() => mappingFor(undefinedRef, [], 'opensearch')).toThrow(
      'field "x": type "Nowhere" is not defined',
    );
  });

  it('refuses a record that contains itself', () => {
    const schema: AvroRecordSchema = {
      type: 'record',
      name: 'Node',
      fields: [field('id', 'long'), field('next', ['null', 'Node'])],
    };
    expect(() => mappingFor(schema, ['id'], 'opensearch')).toThrow(
      /field "next": the record type Node contains itself/,
    );
  });

  it('takes a field named like an Object.prototype member as a plain field', () => {
    const schema = row([field('constructor', 'string'), field('toString', nullable('long'))]);
    expect(mappingFor(schema, ['constructor'], 'opensearch').properties).toEqual({
      constructor: { type: 'keyword' },
      toString: { type: 'long' },
    });
  });
});

describe('mappingChanges', () => {
  const current: Properties = {
    id: { type: 'long' },
    title: TEXT_KEYWORD,
    count: { type: 'long' },
    born: { type: 'date', format: 'strict_date' },
    address: { properties: { city: { type: 'keyword' } } },
    lines: { type: 'nested', properties: { sku: { type: 'keyword' } } },
    dropped: { type: 'keyword' },
  };

  it('finds nothing to do for the same mapping', () => {
    expect(mappingChanges(current, current)).toEqual({ added: {}, conflicts: [] });
  });

  it('adds new fields, a new object whole and new sub-fields under an existing object', () => {
    const wanted: Properties = {
      ...current,
      added: { type: 'double' },
      office: { properties: { city: { type: 'keyword' } } },
      address: { properties: { city: { type: 'keyword' }, zip: { type: 'keyword' } } },
      lines: { type: 'nested', properties: { sku: { type: 'keyword' }, qty: { type: 'long' } } },
    };
    expect(mappingChanges(current, wanted)).toEqual({
      added: {
        added: { type: 'double' },
        office: { properties: { city: { type: 'keyword' } } },
        address: { properties: { zip: { type: 'keyword' } } },
        // The object's own parameters come along: a nested field must stay nested.
        lines: { type: 'nested', properties: { qty: { type: 'long' } } },
      },
      conflicts: [],
    });
  });

  it('ignores fields only the index has', () => {
    const { dropped: _dropped, ...wanted } = current;
    expect(mappingChanges(current, wanted)).toEqual({ added: {}, conflicts: [] });
  });

  it('reports changed types, sub-fields and parameters with readable descriptions', () => {
    const wanted: Properties = {
      ...current,
      count: { type: 'text' },
      title: { type: 'text' },
      born: { type: 'date', format: 'strict_date_optional_time' },
      address: { type: 'keyword' },
      lines: { properties: { sku: { type: 'keyword' } } },
      id: { type: 'long' },
      new: { type: 'boolean' },
    };
    const { added, conflicts } = mappingChanges(current, wanted);
    expect(added).toEqual({ new: { type: 'boolean' } });
    expect(conflicts).toEqual([
      { path: 'title', current: 'text, sub-field keyword: keyword (ignore_above: 256)', wanted: 'text' },
      { path: 'count', current: 'long', wanted: 'text' },
      {
        path: 'born',
        current: 'date (format: strict_date)',
        wanted: 'date (format: strict_date_optional_time)',
      },
      { path: 'address', current: 'object', wanted: 'keyword' },
      { path: 'lines', current: 'nested', wanted: 'object' },
    ]);
  });

  it('compares inside objects, with dotted paths', () => {
    const wanted: Properties = {
      address: { properties: { city: { type: 'text' }, zip: { type: 'keyword' } } },
      attrs: DISABLED,
    };
    const { added, conflicts } = mappingChanges({ ...current, attrs: { properties: {} } }, wanted);
    expect(conflicts).toEqual([
      { path: 'address.city', current: 'keyword', wanted: 'text' },
      { path: 'attrs', current: 'object', wanted: 'object (enabled: false)' },
    ]);
    expect(added).toEqual({ address: { properties: { zip: { type: 'keyword' } } } });
  });

  it('takes the defaults the engines leave out of the mappings they return as equal', () => {
    const returned: Properties = {
      at: { type: 'date' },
      address: { properties: { city: { type: 'keyword' } } },
      empty: { type: 'object' },
      flag: { type: 'boolean' },
    };
    const wanted: Properties = {
      at: { type: 'date', format: 'strict_date_optional_time||epoch_millis' },
      address: { type: 'object', properties: { city: { type: 'keyword', index: true, doc_values: true } } },
      empty: { properties: {} },
      flag: { type: 'boolean', store: false },
    };
    expect(mappingChanges(returned, wanted)).toEqual({ added: {}, conflicts: [] });
  });

  it('finds the changes between the mappings of two versions of a schema', () => {
    const v1 = row([field('id', 'long'), field('name', 'string'), field('gone', nullable('string'))]);
    const v2 = row([
      field('id', 'long'),
      field('name', nullable({ type: 'string', 'datamesh.type': 'json' })),
      field('since', nullable({ type: 'int', logicalType: 'date' })),
    ]);
    const changes = mappingChanges(
      mappingFor(v1, ['id'], 'opensearch').properties,
      mappingFor(v2, ['id'], 'opensearch').properties,
    );
    expect(changes).toEqual({
      added: { since: { type: 'date', format: 'strict_date' } },
      conflicts: [
        {
          path: 'name',
          current: 'text, sub-field keyword: keyword (ignore_above: 256)',
          wanted: 'object (enabled: false)',
        },
      ],
    });
  });
});

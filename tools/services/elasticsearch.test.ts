// Integration test of the elasticsearch service: the reduced Elasticsearch 8.19 node (started by useServices unless it
// already runs), exercised with the official @elastic/elasticsearch 9.x client the way the Elasticsearch sink uses
// it — an explicit mapping with the field types the sink maps to, bulk writes and deletes with external versions
// (a stale version must be refused with 409), a mapping update, refresh, term, match and range searches.
//
// A 9.x client sends `compatible-with=9` media types, which an 8.x server refuses (it accepts 7 or 8), so the client
// here is given a transport that sends `compatible-with=8`: the REST compatibility mode Elastic provides for a newer
// client talking to the previous major. Plain `application/json` (as the sink sends) works too.
import { Client, SniffingTransport, errors } from '@elastic/elasticsearch';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useServices } from './testing.mjs';

type TransportOptions = ConstructorParameters<typeof SniffingTransport>[0];

/** The client's own transport with the media types of REST API compatibility mode 8. */
class Es8CompatibleTransport extends SniffingTransport {
  constructor(options: TransportOptions) {
    super({
      ...options,
      vendoredHeaders: {
        jsonContentType: 'application/vnd.elasticsearch+json; compatible-with=8',
        ndjsonContentType: 'application/vnd.elasticsearch+x-ndjson; compatible-with=8',
        accept: 'application/vnd.elasticsearch+json; compatible-with=8,text/plain',
      },
    });
  }
}

let url: string;
let client: Client;
const index = `datamesh-services-es-test-${process.pid}-${Date.now()}`;
const refused = `${index}-other-client`; // written only by the clients with other media types

interface Doc {
  id: number;
  price: number;
  created: string;
  updated: string;
  sku: string;
  title: string;
  active: boolean;
  payload: string;
  raw: Record<string, unknown>;
  lines: { product: string; qty: number }[];
  note?: string;
}

const docs: Record<string, Doc> = {
  '1': {
    id: 1,
    price: 59.9,
    created: '2024-01-15T10:00:00.000Z',
    updated: '2024-01-15T10:00:00.123456789Z',
    sku: 'A-1',
    title: 'Red running shoes',
    active: true,
    payload: Buffer.from('first').toString('base64'),
    raw: { any: ['shape', 1, { deep: true }] },
    lines: [{ product: 'shoe', qty: 2 }],
  },
  '2': {
    id: 2,
    price: 120,
    created: '2024-02-20T08:30:00.000Z',
    updated: '2024-02-20T08:30:00.000000001Z',
    sku: 'B-2',
    title: 'Blue rain jacket',
    active: false,
    payload: Buffer.from('second').toString('base64'),
    raw: { other: 'thing' },
    lines: [
      { product: 'jacket', qty: 1 },
      { product: 'hood', qty: 1 },
    ],
  },
  '3': {
    id: 3,
    price: 25,
    created: '2024-03-01T00:00:00.000Z',
    updated: '2024-03-01T00:00:00.5Z',
    sku: 'C-3',
    title: 'Red wool scarf',
    active: true,
    payload: Buffer.from('third').toString('base64'),
    raw: {},
    lines: [{ product: 'scarf', qty: 3 }],
  },
};

beforeAll(async () => {
  ({
    elasticsearch: { url },
  } = await useServices('elasticsearch'));
  client = new Client({ node: url, Transport: Es8CompatibleTransport });
}, 300_000);

afterAll(async () => {
  if (!client) return;
  await client.indices.delete({ index: [index, refused] }, { ignore: [404] });
  await client.close();
});

function idsOf(hits: { _id?: string | null }[]): string[] {
  return hits.map((h) => String(h._id)).sort();
}

async function searchIds(query: Record<string, unknown>): Promise<string[]> {
  const result = await client.search({ index, query, size: 100 });
  return idsOf(result.hits.hits);
}

describe('elasticsearch service', () => {
  it('answers as Elasticsearch 8.19 with x-elastic-product: Elasticsearch', async () => {
    const health = await fetch(`${url}/_cluster/health`);
    expect(health.status).toBe(200);
    expect(health.headers.get('x-elastic-product')).toBe('Elasticsearch');
    expect(await health.json()).toMatchObject({ cluster_name: 'datamesh', number_of_nodes: 1 });

    // GET / is the launcher's stand-in for the rest-root module; the client's product check passes on it too.
    const info = await client.info();
    expect(info.version.number).toBe('8.19.0');
    expect(info.version.build_flavor).toBe('default');
    expect(info.tagline).toBe('You Know, for Search');
  });

  it('refuses requests with a body from the 9.x client with its default compatible-with=9 headers', async () => {
    const plain = new Client({ node: url });
    try {
      // Requests without a body pass (the server does not read a version from the client's Accept list) ...
      expect((await plain.cluster.health()).cluster_name).toBe('datamesh');
      // ... but with a body the compatible-with=9 media types are refused by an 8.x server.
      const attempt = plain.index({ index: refused, id: '1', document: { sku: 'A-1' } });
      await expect(attempt).rejects.toBeInstanceOf(errors.ResponseError);
      await expect(attempt).rejects.toMatchObject({
        statusCode: 400,
        body: {
          error: {
            type: 'media_type_header_exception',
            caused_by: { reason: expect.stringContaining('must be either version 8 or 7, but found 9') },
          },
        },
      });
    } finally {
      await plain.close();
    }
  });

  it('accepts the 9.x client with plain JSON media types (what Elasticsearch 8 and 9 both take)', async () => {
    const json = new Client({
      node: url,
      headers: { accept: 'application/json', 'content-type': 'application/json' },
    });
    try {
      const written = await json.index({ index: refused, id: '1', document: { sku: 'A-1' }, refresh: true });
      expect(written.result).toBe('created');
      const bulk = await json.bulk(
        { operations: [{ delete: { _index: refused, _id: '1' } }] },
        { headers: { 'content-type': 'application/x-ndjson' } },
      );
      expect(bulk.items[0]?.delete).toMatchObject({ status: 200, result: 'deleted' });
    } finally {
      await json.indices.delete({ index: refused }, { ignore: [404] });
      await json.close();
    }
  });

  it('creates an index with an explicit mapping of the sink types', async () => {
    const created = await client.indices.create({
      index,
      settings: { number_of_shards: 1, number_of_replicas: 0 },
      mappings: {
        dynamic: 'strict',
        properties: {
          id: { type: 'long' },
          price: { type: 'double' },
          created: { type: 'date' },
          updated: { type: 'date_nanos' },
          sku: { type: 'keyword' },
          title: { type: 'text', fields: { keyword: { type: 'keyword', ignore_above: 256 } } },
          active: { type: 'boolean' },
          payload: { type: 'binary' },
          raw: { type: 'object', enabled: false },
          lines: {
            type: 'nested',
            properties: { product: { type: 'keyword' }, qty: { type: 'integer' } },
          },
        },
      },
    });
    expect(created.acknowledged).toBe(true);
    const mapping = await client.indices.getMapping({ index });
    expect(mapping[index]?.mappings.properties).toMatchObject({
      id: { type: 'long' },
      price: { type: 'double' },
      created: { type: 'date' },
      updated: { type: 'date_nanos' },
      sku: { type: 'keyword' },
      title: { type: 'text', fields: { keyword: { type: 'keyword', ignore_above: 256 } } },
      active: { type: 'boolean' },
      payload: { type: 'binary' },
      raw: { type: 'object', enabled: false },
      lines: { type: 'nested' },
    });
  });

  it('bulk indexes with external versions and refuses a stale version with 409', async () => {
    const bulk = await client.bulk({
      operations: Object.entries(docs).flatMap(([id, doc]) => [
        { index: { _index: index, _id: id, version: 10, version_type: 'external' as const } },
        doc,
      ]),
    });
    expect(bulk.errors).toBe(false);
    expect(bulk.items.map((item) => [item.index?.status, item.index?._version])).toEqual([
      [201, 10],
      [201, 10],
      [201, 10],
    ]);

    // A newer version replaces the document; an older or equal one (as a replayed change carries) is refused.
    const replay = await client.bulk({
      operations: [
        { index: { _index: index, _id: '2', version: 11, version_type: 'external' } },
        { ...docs['2'], price: 99 },
        { index: { _index: index, _id: '1', version: 9, version_type: 'external' } },
        { ...docs['1'], title: 'stale title' },
        { index: { _index: index, _id: '3', version: 10, version_type: 'external' } },
        { ...docs['3'], title: 'same version' },
      ],
    });
    expect(replay.errors).toBe(true);
    const [newer, older, same] = replay.items.map((item) => item.index);
    expect(newer).toMatchObject({ status: 200, _version: 11, result: 'updated' });
    expect(older).toMatchObject({ status: 409, error: { type: 'version_conflict_engine_exception' } });
    expect(same).toMatchObject({ status: 409, error: { type: 'version_conflict_engine_exception' } });

    // The single-document API refuses it the same way, as a 409 ResponseError.
    const single = client.index({
      index,
      id: '1',
      version: 5,
      version_type: 'external',
      document: { ...docs['1'], title: 'stale title' },
    });
    await expect(single).rejects.toBeInstanceOf(errors.ResponseError);
    await expect(single).rejects.toMatchObject({
      statusCode: 409,
      body: { error: { type: 'version_conflict_engine_exception' } },
    });

    const stored = await client.get<Doc>({ index, id: '1' });
    expect(stored._version).toBe(10);
    expect(stored._source).toEqual(docs['1']);
  });

  it('deletes with an external version: a stale delete gets 409, a replayed older write after it too', async () => {
    const staleDelete = client.delete({ index, id: '3', version: 9, version_type: 'external' });
    await expect(staleDelete).rejects.toMatchObject({
      statusCode: 409,
      body: { error: { type: 'version_conflict_engine_exception' } },
    });

    const deleted = await client.bulk({
      operations: [{ delete: { _index: index, _id: '3', version: 12, version_type: 'external' } }],
    });
    expect(deleted.errors).toBe(false);
    expect(deleted.items[0]?.delete).toMatchObject({ status: 200, result: 'deleted', _version: 12 });

    // The delete's version is remembered (index.gc_deletes, 60 s by default): an older write does not resurrect it.
    const resurrect = await client.bulk({
      operations: [{ index: { _index: index, _id: '3', version: 11, version_type: 'external' } }, docs['3']],
    });
    expect(resurrect.items[0]?.index).toMatchObject({ status: 409 });
    expect(await client.exists({ index, id: '3' })).toBe(false);

    // Deleting a document that is not there: 404 per item, not an error of the request.
    const missing = await client.bulk({
      operations: [{ delete: { _index: index, _id: 'nope', version: 1, version_type: 'external' } }],
    });
    expect(missing.items[0]?.delete).toMatchObject({ status: 404, result: 'not_found' });
  });

  it('adds a field to the mapping and indexes documents that use it', async () => {
    const put = await client.indices.putMapping({
      index,
      properties: { note: { type: 'text', fields: { keyword: { type: 'keyword' } } } },
    });
    expect(put.acknowledged).toBe(true);
    const mapping = await client.indices.getMapping({ index });
    expect(mapping[index]?.mappings.properties?.note).toMatchObject({ type: 'text' });

    const written = await client.bulk({
      operations: [
        { index: { _index: index, _id: '4', version: 1, version_type: 'external' } },
        {
          ...docs['1'],
          id: 4,
          sku: 'D-4',
          title: 'Green garden hose',
          price: 15.5,
          created: '2024-04-10T12:00:00.000Z',
          updated: '2024-04-10T12:00:00.000000500Z',
          note: 'Added after the mapping update',
        },
      ],
    });
    expect(written.errors).toBe(false);

    // dynamic: strict still refuses a field the mapping does not have.
    const unknown = await client.bulk({
      operations: [
        { index: { _index: index, _id: '5', version: 1, version_type: 'external' } },
        { ...docs['1'], id: 5, surprise: 'field' },
      ],
    });
    expect(unknown.items[0]?.index).toMatchObject({
      status: 400,
      error: { type: 'strict_dynamic_mapping_exception' },
    });
  });

  it('finds documents by term, match and range after a refresh', async () => {
    await client.indices.refresh({ index });

    expect(await searchIds({ term: { sku: 'B-2' } })).toEqual(['2']);
    // keyword fields are not analysed: a lower-cased term does not match.
    expect(await searchIds({ term: { sku: 'b-2' } })).toEqual([]);
    expect(await searchIds({ term: { 'title.keyword': 'Red running shoes' } })).toEqual(['1']);
    expect(await searchIds({ term: { active: true } })).toEqual(['1', '4']);

    // text is analysed by the standard analyzer (the only one the reduced node has, with simple/whitespace/stop/keyword).
    expect(await searchIds({ match: { title: 'RED' } })).toEqual(['1']);
    expect(await searchIds({ match: { note: 'mapping' } })).toEqual(['4']);

    expect(await searchIds({ range: { price: { gte: 50, lt: 100 } } })).toEqual(['1', '2']);
    expect(await searchIds({ range: { id: { gt: 1 } } })).toEqual(['2', '4']);
    expect(await searchIds({ range: { created: { gte: '2024-02-01', lt: '2024-05-01' } } })).toEqual([
      '2',
      '4',
    ]);
    // date_nanos keeps nanoseconds: document 2 was updated one nanosecond after 08:30.
    const at = '2024-02-20T08:30:00.000000000Z';
    const oneNanoLater = '2024-02-20T08:30:00.000000001Z';
    expect(await searchIds({ range: { updated: { gt: at, lte: oneNanoLater } } })).toEqual(['2']);
    expect(await searchIds({ range: { updated: { gte: at, lt: oneNanoLater } } })).toEqual([]);

    const nested = await searchIds({
      nested: {
        path: 'lines',
        query: {
          bool: { filter: [{ term: { 'lines.product': 'hood' } }, { range: { 'lines.qty': { gte: 1 } } }] },
        },
      },
    });
    expect(nested).toEqual(['2']);

    const byMatch = await client.search<Doc>({ index, query: { match: { title: 'jacket' } } });
    expect(byMatch.hits.hits[0]?._source).toEqual({ ...docs['2'], price: 99 });

    const count = await client.count({ index });
    expect(count.count).toBe(3);
  });

  it('deletes the index', async () => {
    const deleted = await client.indices.delete({ index });
    expect(deleted.acknowledged).toBe(true);
    expect(await client.indices.exists({ index })).toBe(false);
  });
});

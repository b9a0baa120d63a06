// Integration test of the opensearch service: a real node (started by useServices unless it already runs),
// exercised with the official client the way the Elasticsearch/OpenSearch sink uses it — an explicit mapping,
// bulk writes with external versions (a stale version must be refused with 409), refresh, term and match
// searches.
import { Client, errors } from '@opensearch-project/opensearch';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useServices } from './testing.mjs';

let client: Client;
const index = `datamesh-services-test-${process.pid}-${Date.now()}`;

interface Doc {
  sku: string;
  title: string;
  price: number;
}

const docs: Record<string, Doc> = {
  '1': { sku: 'A-1', title: 'Red running shoes', price: 59.9 },
  '2': { sku: 'B-2', title: 'Blue rain jacket', price: 120 },
  '3': { sku: 'C-3', title: 'Red wool scarf', price: 25 },
};

beforeAll(async () => {
  const { opensearch } = await useServices('opensearch');
  client = new Client({ node: opensearch.url });
}, 300_000);

afterAll(async () => {
  if (!client) return;
  await client.indices.delete({ index }, { ignore: [404] });
  await client.close();
});

function idsOf(hits: { _id?: string | null }[]): string[] {
  return hits.map((h) => String(h._id)).sort();
}

describe('opensearch service', () => {
  it('answers with an OpenSearch 2.19 version', async () => {
    const { body } = await client.info();
    expect(body.version.distribution).toBe('opensearch');
    expect(body.version.number).toMatch(/^2\.19\./);
  });

  it('creates an index with an explicit mapping', async () => {
    const { body } = await client.indices.create({
      index,
      body: {
        settings: { number_of_shards: 1, number_of_replicas: 0 },
        mappings: {
          dynamic: 'strict',
          properties: {
            sku: { type: 'keyword' },
            title: { type: 'text' },
            price: { type: 'double' },
          },
        },
      },
    });
    expect(body.acknowledged).toBe(true);
    const mapping = await client.indices.getMapping({ index });
    expect(mapping.body[index]?.mappings.properties).toMatchObject({
      sku: { type: 'keyword' },
      title: { type: 'text' },
      price: { type: 'double' },
    });
  });

  it('bulk indexes with external versions and refuses a stale version with 409', async () => {
    const bulk = await client.bulk({
      body: Object.entries(docs).flatMap(([id, doc]) => [
        { index: { _index: index, _id: id, version: 10, version_type: 'external' } },
        doc,
      ]),
    });
    expect(bulk.body.errors).toBe(false);
    expect(bulk.body.items.map((item) => [item.index?.status, item.index?._version])).toEqual([
      [201, 10],
      [201, 10],
      [201, 10],
    ]);

    // A newer version replaces the document; an older one (as a replayed change would carry) is refused.
    const replay = await client.bulk({
      body: [
        { index: { _index: index, _id: '2', version: 11, version_type: 'external' } },
        { ...docs['2'], price: 99 },
        { index: { _index: index, _id: '1', version: 9, version_type: 'external' } },
        { ...docs['1'], title: 'stale title' },
        { index: { _index: index, _id: '3', version: 10, version_type: 'external' } },
        { ...docs['3'], title: 'same version' },
      ],
    });
    expect(replay.body.errors).toBe(true);
    const [newer, older, same] = replay.body.items.map((item) => item.index);
    expect(newer).toMatchObject({ status: 200, _version: 11, result: 'updated' });
    expect(older).toMatchObject({ status: 409, error: { type: 'version_conflict_engine_exception' } });
    expect(same).toMatchObject({ status: 409, error: { type: 'version_conflict_engine_exception' } });

    // The single-document API refuses it the same way, as a 409 ResponseError.
    const single = client.index({
      index,
      id: '1',
      version: 5,
      version_type: 'external',
      body: { ...docs['1'], title: 'stale title' },
    });
    await expect(single).rejects.toBeInstanceOf(errors.ResponseError);
    await expect(single).rejects.toMatchObject({
      statusCode: 409,
      body: { error: { type: 'version_conflict_engine_exception' } },
    });

    const { body: stored } = await client.get({ index, id: '1' });
    expect(stored._version).toBe(10);
    expect(stored._source).toEqual(docs['1']);
  });

  it('finds documents by term and by match after a refresh', async () => {
    await client.indices.refresh({ index });

    const byTerm = await client.search({ index, body: { query: { term: { sku: 'B-2' } } } });
    expect(byTerm.body.hits.hits).toHaveLength(1);
    expect(byTerm.body.hits.hits[0]?._source).toEqual({ ...docs['2'], price: 99 });

    // keyword fields are not analysed: a lower-cased term does not match.
    const noTerm = await client.search({ index, body: { query: { term: { sku: 'b-2' } } } });
    expect(noTerm.body.hits.hits).toHaveLength(0);

    const byMatch = await client.search({ index, body: { query: { match: { title: 'RED' } } } });
    expect(idsOf(byMatch.body.hits.hits)).toEqual(['1', '3']);

    const count = await client.count({ index });
    expect(count.body.count).toBe(3);
  });

  it('deletes the index', async () => {
    const { body } = await client.indices.delete({ index });
    expect(body.acknowledged).toBe(true);
    const exists = await client.indices.exists({ index });
    expect(exists.body).toBe(false);
  });
});

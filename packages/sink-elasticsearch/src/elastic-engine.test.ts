import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '@datamesh/core';
import { createTestContext } from '@datamesh/testkit';
import { change, metricValue, ORDER_FIELDS, orderSchemas } from './__fixtures__/change-records.js';
import { startElasticsearchStub, type ElasticsearchStub } from './__fixtures__/elasticsearch-stub.js';
import { connectionOf } from './connection-options.js';
import { ElasticEngine } from './elastic-engine.js';
import { elasticsearchSink } from './elasticsearch-sink.js';
import { BULK_FILTER_PATH, isRetryable, SearchEngineError } from './search-engine.js';

// A unit test of the @elastic/elasticsearch adapter's requests: a local HTTP server answering like Elasticsearch 9
// records exactly what the adapter sends (paths, query parameters, media types, bodies) and scripts answers a real
// node gives only under load or on failure (429, 503, a server without the product header). Elasticsearch's own
// behaviour is tested against the real node in the *.elasticsearch.test.ts files.

let stub: ElasticsearchStub | undefined;
afterEach(async () => {
  await stub?.close();
  stub = undefined;
});

describe('ElasticEngine (requests, against a stand-in HTTP server)', () => {
  it('detects Elasticsearch, creates the index, sends NDJSON bulks with external_gte versions, evolves the mapping', async () => {
    stub = await startElasticsearchStub();
    const ctx = await createTestContext({ plugin: 'elasticsearch' });
    const config = parseConfig(elasticsearchSink.config, {
      url: stub.url,
      index: 'orders',
      auth: { apiKey: 'c2VjcmV0LWtleQ==' },
      truncate: 'delete-all',
      bulk: { concurrency: 1 },
      retry: { initialDelayMs: 1, maxDelayMs: 4 },
    });
    const task = await elasticsearchSink.create(config, ctx);
    expect(stub.requests.slice(0, 2).map((r) => `${r.method} ${r.url}`)).toEqual(['GET /', 'GET /']);

    let busy = 1;
    stub.bulkItem = (action, meta) => {
      if (meta['_id'] === '2') {
        return {
          status: 409,
          error: { type: 'version_conflict_engine_exception', reason: 'version conflict' },
        };
      }
      if (meta['_id'] === '3') {
        return {
          status: 400,
          error: { type: 'mapper_parsing_exception', reason: 'failed to parse field [qty]' },
        };
      }
      if (meta['_id'] === '4' && busy-- > 0) {
        return {
          status: 429,
          error: { type: 'es_rejected_execution_exception', reason: 'rejected execution' },
        };
      }
      return undefined;
    };
    const records = [
      change('c', 1, 101),
      change('u', 2, 102),
      change('c', 3, 103),
      change('c', 4, 104),
      change('d', 5, 105),
    ];
    expect(await task.write(records)).toEqual([]);
    const rejections = await task.flush();
    expect(rejections).toEqual([
      {
        record: records[2],
        error: expect.objectContaining({
          message: expect.stringMatching(
            /^mapper_parsing_exception: failed to parse field \[qty\].*document "3"/,
          ),
        }),
      },
    ]);

    const calls = stub.requests.slice(2);
    const [head, create] = calls;
    expect(`${head!.method} ${head!.url}`).toBe('HEAD /orders');
    expect(`${create!.method} ${create!.url}`).toBe('PUT /orders');
    expect(JSON.parse(create!.body)).toEqual({
      settings: { number_of_shards: 1, number_of_replicas: 1, gc_deletes: '1h' },
      mappings: {
        dynamic: 'strict',
        properties: {
          id: { type: 'long' },
          customer: { type: 'text', fields: { keyword: { type: 'keyword', ignore_above: 256 } } },
          qty: { type: 'long' },
        },
      },
    });
    const bulks = calls.filter((r) => r.url.startsWith('/_bulk'));
    expect(bulks).toHaveLength(2); // the request, then the 429 item again
    for (const bulk of bulks) {
      const query = new URL(bulk.url, 'http://stub').searchParams;
      expect(query.get('refresh')).toBe('false');
      expect(query.get('filter_path')).toBe(BULK_FILTER_PATH);
      expect(bulk.method).toBe('POST');
      expect(bulk.headers['content-type']).toBe('application/x-ndjson');
      expect(bulk.headers['authorization']).toBe('ApiKey c2VjcmV0LWtleQ==');
    }
    const meta = (id: number, version: number) =>
      `"_index":"orders","_id":"${id}","version":${version},"version_type":"external_gte"`;
    expect(
      bulks[0]!.body
        .split('\n')
        .filter((l) => l.startsWith('{"delete"') || l.startsWith('{"index"'))
        .sort(),
    ).toEqual(
      [
        `{"index":{${meta(1, 101)}}}`,
        `{"index":{${meta(2, 102)}}}`,
        `{"index":{${meta(3, 103)}}}`,
        `{"index":{${meta(4, 104)}}}`,
        `{"delete":{${meta(5, 105)}}}`,
      ].sort(),
    );
    expect(bulks[0]!.body).toContain(
      `{"index":{${meta(1, 101)}}}\n{"id":1,"customer":"customer 1","qty":101}\n`,
    );
    expect(bulks[0]!.body.endsWith('\n')).toBe(true);
    expect(bulks[1]!.body).toBe(`{"index":{${meta(4, 104)}}}\n{"id":4,"customer":"customer 4","qty":104}\n`);
    const metric = (name: string) => metricValue(ctx.registry, `datamesh_plugin_elasticsearch_${name}`);
    expect(await metric('stale_writes_skipped_total')).toBe(1);
    expect(await metric('documents_indexed_total')).toBe(2);
    expect(await metric('documents_deleted_total')).toBe(1);
    expect(await metric('retries_total')).toBe(1);

    // A schema with a new field: the mapping is read and the field added.
    const evolved = orderSchemas([
      ...ORDER_FIELDS,
      { name: 'note', type: ['null', 'string'], default: null },
    ]);
    stub.requests.length = 0;
    await task.write([
      change('c', 6, 106, { schema: evolved, row: { id: 6, customer: 'f', qty: 1, note: 'x' } }),
      change('t', 0, 107),
    ]);
    await task.flush();
    const evolution = stub.requests.map((r) => `${r.method} ${new URL(r.url, 'http://stub').pathname}`);
    expect(evolution).toEqual([
      'HEAD /orders',
      'GET /orders/_mapping',
      'PUT /orders/_mapping',
      'POST /_bulk',
      'GET /orders/_refresh',
      'POST /orders/_delete_by_query',
    ]);
    expect(JSON.parse(stub.requests[2]!.body)).toEqual({
      properties: { note: { type: 'text', fields: { keyword: { type: 'keyword', ignore_above: 256 } } } },
    });
    const deleteByQuery = stub.requests[5]!;
    expect(new URL(deleteByQuery.url, 'http://stub').searchParams.get('conflicts')).toBe('proceed');
    expect(JSON.parse(deleteByQuery.body)).toEqual({ query: { match_all: {} } });
    // Plain JSON media types, which Elasticsearch 8 and 9 both accept.
    expect(stub.requests[2]!.headers['content-type']).toBe('application/json');
    expect(stub.requests[2]!.headers['accept']).toBe('application/json');
    await task.close?.();
  });

  it('reports 429 and 5xx responses as retryable, and a server that is not Elasticsearch clearly', async () => {
    stub = await startElasticsearchStub();
    const engine = new ElasticEngine(
      await connectionOf(parseConfig(elasticsearchSink.config, { url: stub.url })),
    );
    stub.handler = () => ({
      status: 429,
      body: { error: { type: 'es_rejected_execution_exception', reason: 'busy' } },
    });
    await expect(engine.bulk('{"delete":{"_index":"a","_id":"1"}}\n')).rejects.toMatchObject({
      name: 'SearchEngineError',
      status: 429,
      type: 'es_rejected_execution_exception',
    });
    stub.handler = () => ({
      status: 503,
      body: { error: { type: 'cluster_block_exception', reason: 'blocked' } },
    });
    const unavailable = await engine.bulk('{"delete":{"_index":"a","_id":"1"}}\n').catch((e: unknown) => e);
    expect(unavailable).toMatchObject({ status: 503, type: 'cluster_block_exception' });
    expect(isRetryable(unavailable)).toBe(true);
    await engine.close();

    const notElastic = await startElasticsearchStub(null);
    const wrong = new ElasticEngine(
      await connectionOf(parseConfig(elasticsearchSink.config, { url: notElastic.url })),
    );
    const attempt = wrong.info();
    await expect(attempt).rejects.toBeInstanceOf(SearchEngineError);
    await expect(attempt).rejects.toThrow(/not Elasticsearch.*set engine: opensearch/);
    await wrong.close();
    await notElastic.close();
  });

  it('reports a refused connection as a failure without a status (retryable)', async () => {
    const engine = new ElasticEngine(
      await connectionOf(
        parseConfig(elasticsearchSink.config, { url: 'http://127.0.0.1:1', requestTimeoutMs: 2000 }),
      ),
    );
    await expect(engine.indexExists('orders')).rejects.toMatchObject({
      name: 'SearchEngineError',
      status: undefined,
    });
    await engine.close();
  });
});

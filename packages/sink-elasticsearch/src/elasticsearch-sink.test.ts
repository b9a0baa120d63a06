import { describe, expect, it } from 'vitest';
import { parseConfig, TaskHaltedError } from '@datamesh/core';
import { createTestContext } from '@datamesh/testkit';
import { change, metricValue, ORDER_FIELDS, orderSchemas } from './__fixtures__/change-records.js';
import { MemorySearchEngine } from './__fixtures__/memory-search-engine.js';
import { createElasticsearchSinkTask } from './elasticsearch-sink.js';
import { SearchEngineError } from './search-engine.js';
import { elasticsearchSinkConfig } from './sink-config.js';

async function sinkWith(config: Record<string, unknown> = {}) {
  const ctx = await createTestContext({ plugin: 'elasticsearch' });
  const engine = new MemorySearchEngine();
  const parsed = parseConfig(elasticsearchSinkConfig, {
    url: 'http://unused.invalid:9200',
    index: 'orders',
    retry: { initialDelayMs: 1, maxDelayMs: 4 },
    ...config,
  });
  const task = createElasticsearchSinkTask(parsed, ctx, engine);
  return { ctx, engine, task };
}

describe('elasticsearch sink task', () => {
  it('creates the index with the schema mapping and the delete retention, then writes', async () => {
    const { engine, task } = await sinkWith({ deleteRetention: '6h', settings: { refreshInterval: '30s' } });
    expect(
      await task.write([
        change('c', 1, 10),
        change('c', 2, 11),
        change('d', 1, 12),
        change('tombstone', 1, 0),
      ]),
    ).toEqual([]);
    expect(await task.flush()).toEqual([]);
    expect(engine.documents('orders')).toEqual({ '2': { id: 2, customer: 'customer 2', qty: 11 } });
    expect(engine.indexes.get('orders')!.settings).toEqual({
      number_of_shards: 1,
      number_of_replicas: 1,
      gc_deletes: '6h',
      refresh_interval: '30s',
    });
    expect(engine.indexes.get('orders')!.properties).toMatchObject({
      id: { type: 'long' },
      qty: { type: 'long' },
    });
    expect(engine.calls.filter((c) => c.startsWith('create'))).toEqual(['create orders']);
  });

  it('answers rejections from write (bad events) and from flush (items the engine refused)', async () => {
    const { engine, task } = await sinkWith();
    engine.itemHook = (action) =>
      action.id === '3'
        ? { status: 400, error: { type: 'mapper_parsing_exception', reason: 'failed to parse field [qty]' } }
        : undefined;
    const unversioned = change('u', 2, null);
    const refused = change('c', 3, 3);
    const fromWrite = await task.write([change('c', 1, 1), unversioned, refused]);
    expect(fromWrite).toEqual([
      {
        record: unversioned,
        error: expect.objectContaining({ message: expect.stringMatching(/no usable version/) }),
      },
    ]);
    const fromFlush = await task.flush();
    expect(fromFlush).toEqual([
      {
        record: refused,
        error: expect.objectContaining({ message: expect.stringMatching(/^mapper_parsing_exception/) }),
      },
    ]);
    expect(Object.keys(engine.documents('orders'))).toEqual(['1']);
  });

  it('ignores truncates by default', async () => {
    const { engine, task } = await sinkWith();
    await task.write([change('c', 1, 1), change('t', 0, 2), change('c', 2, 3)]);
    await task.flush();
    expect(Object.keys(engine.documents('orders')).sort()).toEqual(['1', '2']);
    expect(engine.calls.some((c) => c.startsWith('delete_by_query'))).toBe(false);
  });

  it('with truncate: delete-all, writes what came before, deletes every document, then goes on', async () => {
    const { engine, task } = await sinkWith({ truncate: 'delete-all' });
    await task.write([change('c', 1, 1), change('c', 2, 2), change('t', 0, 3), change('c', 3, 4)]);
    await task.flush();
    expect(Object.keys(engine.documents('orders'))).toEqual(['3']);
    const calls = engine.calls.filter((c) => /^(bulk|delete_by_query)/.test(c));
    expect(calls.slice(0, 2).sort()).toEqual(['bulk 1', 'bulk 2']);
    expect(calls.slice(2)).toEqual(['delete_by_query orders {"match_all":{}}', 'bulk 3']);
  });

  it('with truncate: delete-all, halts naming the API and the policy when the node has no _delete_by_query', async () => {
    const { engine, task } = await sinkWith({ truncate: 'delete-all' });
    // What a node without the reindex module answers (Elasticsearch and OpenSearch alike).
    engine.deleteByQuery = () =>
      Promise.reject(
        new SearchEngineError(
          'delete_by_query orders: 400 no handler found for uri [/orders/_delete_by_query?conflicts=proceed] and method [POST]',
          400,
          undefined,
        ),
      );
    const attempt = task.write([change('c', 1, 1), change('t', 0, 2), change('c', 2, 3)]);
    await expect(attempt).rejects.toBeInstanceOf(TaskHaltedError);
    await expect(attempt).rejects.toThrow(
      /^truncate: delete-all needs the _delete_by_query API to empty index "orders", and the node does not have it \(delete_by_query orders: 400 no handler found .*\)[\s\S]*set truncate: ignore/,
    );
    expect(Object.keys(engine.documents('orders'))).toEqual(['1']);
  });

  it('adds the fields a newer schema brings, after writing what is pending', async () => {
    const { engine, task } = await sinkWith();
    await task.write([change('c', 1, 1)]);
    const evolved = orderSchemas([
      ...ORDER_FIELDS,
      { name: 'note', type: ['null', 'string'], default: null },
    ]);
    await task.write([
      change('c', 2, 2, { schema: evolved, row: { id: 2, customer: 'b', qty: 1, note: 'gift' } }),
    ]);
    await task.flush();
    const putAt = engine.calls.indexOf('put mapping orders note');
    expect(putAt).toBeGreaterThan(0);
    expect(engine.requests[0]!.map((a) => a.id)).toEqual(['1']); // flushed before the mapping changed
    expect(engine.documents('orders')['2']).toMatchObject({ note: 'gift' });
    // The same schema object again: no second look at the mapping.
    await task.write([
      change('u', 2, 3, { schema: evolved, row: { id: 2, customer: 'b', qty: 2, note: null } }),
    ]);
    expect(engine.calls.filter((c) => c.startsWith('get mapping'))).toHaveLength(1);
  });

  it('halts on a schema whose field type the index cannot change, naming the field and the way out', async () => {
    const { task } = await sinkWith();
    await task.write([change('c', 1, 1)]);
    const changed = orderSchemas([
      ORDER_FIELDS[0]!,
      ORDER_FIELDS[1]!,
      { name: 'qty', type: ['null', 'string'], default: null },
    ]);
    const attempt = task.write([
      change('c', 2, 2, { schema: changed, row: { id: 2, customer: 'b', qty: 'many' } }),
    ]);
    await expect(attempt).rejects.toBeInstanceOf(TaskHaltedError);
    await expect(attempt).rejects.toThrow(
      /index "orders" cannot take events of shop\.public\.orders\.Envelope/,
    );
    await expect(attempt).rejects.toThrow(/- qty: the index has long; the schema needs text/);
    await expect(attempt).rejects.toThrow(/new index/);
  });

  it('counts its work in its own metrics', async () => {
    const { ctx, task } = await sinkWith();
    await task.write([change('c', 1, 5), change('d', 1, 6)]);
    await task.flush();
    await task.write([change('u', 1, 4)]); // older than the delete: a stale write
    await task.flush();
    const metric = (name: string) => metricValue(ctx.registry, `datamesh_plugin_elasticsearch_${name}`);
    expect(await metric('documents_deleted_total')).toBe(1);
    expect(await metric('operations_compacted_total')).toBe(1);
    expect(await metric('stale_writes_skipped_total')).toBe(1);
    expect(await metric('bulk_requests_total')).toBe(2);
    await task.close?.();
  });
});

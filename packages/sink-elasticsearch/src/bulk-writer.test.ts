import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { Operation } from '@datamesh/core';
import { createTestContext } from '@datamesh/testkit';
import { change, metricValue, type ChangeOptions } from './__fixtures__/change-records.js';
import { MemorySearchEngine } from './__fixtures__/memory-search-engine.js';
import { BulkWriter, type BulkWriterOptions } from './bulk-writer.js';
import { IndexNamer } from './index-naming.js';
import { OperationPlanner, type BulkOperation } from './operations.js';
import { Retrier } from './retry-policy.js';
import { SearchEngineError } from './search-engine.js';
import { sinkMetrics } from './sink-metrics.js';

async function setup(
  options: Partial<Pick<BulkWriterOptions, 'maxActions' | 'maxBytes' | 'concurrency'>> = {},
) {
  const ctx = await createTestContext({ plugin: 'elasticsearch' });
  const engine = new MemorySearchEngine();
  const metrics = sinkMetrics(ctx.metrics);
  const retrier = new Retrier({ initialDelayMs: 1, maxDelayMs: 4 }, ctx.signal, ctx.logger, metrics.retries);
  const writer = new BulkWriter({
    engine,
    retrier,
    metrics,
    maxActions: 1000,
    maxBytes: 5 * 1024 * 1024,
    concurrency: 2,
    ...options,
  });
  const planner = new OperationPlanner(new IndexNamer('orders'), 'source.commitLsn');
  const op = (kind: Operation, id: number, lsn: number, options: ChangeOptions = {}): BulkOperation => {
    const planned = planner.plan(change(kind, id, lsn, options));
    if (planned.kind !== 'write') throw new Error('expected a write');
    return planned.operation;
  };
  const metric = (name: string, labels?: Record<string, string>) =>
    metricValue(ctx.registry, `datamesh_plugin_elasticsearch_${name}`, labels);
  return { ctx, engine, writer, op, metric };
}

describe('BulkWriter', () => {
  it('keeps only the newest operation per document within a batch', async () => {
    const { engine, writer, op, metric } = await setup({ concurrency: 1 });
    for (const operation of [op('c', 1, 10), op('u', 1, 30), op('u', 1, 20), op('d', 2, 5), op('c', 2, 7)]) {
      await writer.add(operation);
    }
    await writer.flush();
    expect(engine.requests).toHaveLength(1);
    expect(engine.requests[0]!.map((a) => [a.action, a.id, a.version])).toEqual([
      ['index', '1', 30],
      ['index', '2', 7],
    ]);
    expect(engine.documents('orders')['1']).toMatchObject({ qty: 30 });
    expect(await metric('operations_compacted_total')).toBe(2);
    expect(await metric('stale_writes_skipped_total')).toBe(1); // v20 after v30
    expect(await metric('documents_indexed_total')).toBe(2);
    expect(writer.takeRejections()).toEqual([]);
  });

  /**
   * The arguments of `op` for a change of row 1 made at `lsn` by a transaction that committed at LSN 700. The
   * changes of one transaction share its commit LSN, their version: they must apply in the order they came.
   */
  const byT700 = (kind: Operation, lsn: number, customer: string) =>
    [kind, 1, lsn, { commitLsn: 700, row: { id: 1, customer, qty: lsn } }] as const;

  it('keeps the later of two changes of a row in one transaction (one version) within a batch', async () => {
    const { engine, writer, op, metric } = await setup({ concurrency: 1 });
    await writer.add(op(...byT700('u', 650, 'first')));
    await writer.add(op(...byT700('u', 660, 'second')));
    await writer.flush();
    expect(engine.requests.map((r) => r.map((a) => [a.action, a.id, a.version]))).toEqual([
      [['index', '1', 700]],
    ]);
    expect(engine.documents('orders')).toEqual({ '1': { id: 1, customer: 'second', qty: 660 } });
    expect(engine.version('orders', '1')).toBe(700);
    expect(await metric('operations_compacted_total')).toBe(1);
    expect(await metric('stale_writes_skipped_total')).toBe(0);
  });

  it('applies the later of two changes of a row in one transaction (one version) sent in a later request', async () => {
    const { engine, writer, op, metric } = await setup();
    await writer.add(op(...byT700('u', 650, 'first')));
    await writer.flush();
    await writer.add(op(...byT700('u', 660, 'second')));
    await writer.flush();
    expect(engine.requests).toHaveLength(2);
    // external_gte: the equal version applies, where external would have refused it (409) and kept "first".
    expect(engine.documents('orders')).toEqual({ '1': { id: 1, customer: 'second', qty: 660 } });
    expect(await metric('documents_indexed_total')).toBe(2);
    expect(await metric('stale_writes_skipped_total')).toBe(0);
    expect(writer.takeRejections()).toEqual([]);
  });

  it('applies a delete after an update of the same transaction, in one batch and in two', async () => {
    for (const batches of [1, 2]) {
      const { engine, writer, op, metric } = await setup();
      await writer.add(op(...byT700('u', 650, 'updated')));
      if (batches === 2) await writer.flush();
      await writer.add(op(...byT700('d', 660, 'updated')));
      await writer.flush();
      expect(engine.documents('orders'), `${batches} batch(es)`).toEqual({});
      expect(await metric('documents_deleted_total')).toBe(1);
      expect(await metric('stale_writes_skipped_total')).toBe(0);
    }
  });

  it('keeps each document in order across lanes and requests, never two requests for it at once', async () => {
    const { engine, writer, op, metric } = await setup({ maxActions: 3, concurrency: 4 });
    engine.requestHook = () => sleep(Math.random() * 4);
    for (let version = 1; version <= 12; version++) {
      for (let id = 1; id <= 15; id++)
        await writer.add(op(version === 1 ? 'c' : 'u', id, version * 100 + id));
    }
    await writer.flush();
    expect(engine.overlaps).toEqual([]);
    const seen = new Map<string, number[]>();
    for (const request of engine.requests) {
      for (const action of request) seen.set(action.id, [...(seen.get(action.id) ?? []), action.version!]);
    }
    for (const [id, versions] of seen) {
      expect(versions, `versions of ${id} in the order sent`).toEqual([...versions].sort((a, b) => a - b));
      expect(engine.version('orders', id)).toBe(1200 + Number(id));
    }
    expect(await metric('stale_writes_skipped_total')).toBe(0);
  });

  it('retries items the engine was too busy for (429) until they pass, in a request of their own', async () => {
    const { engine, writer, op, metric } = await setup({ concurrency: 1 });
    let refusals = 2;
    engine.itemHook = (action) =>
      action.id === '3' && refusals-- > 0
        ? {
            status: 429,
            error: { type: 'es_rejected_execution_exception', reason: 'queue capacity 200 reached' },
          }
        : undefined;
    for (let id = 1; id <= 5; id++) await writer.add(op('c', id, id));
    await writer.flush();
    expect(Object.keys(engine.documents('orders')).sort()).toEqual(['1', '2', '3', '4', '5']);
    expect(engine.requests.map((r) => r.map((a) => a.id))).toEqual([['1', '2', '3', '4', '5'], ['3'], ['3']]);
    expect(writer.takeRejections()).toEqual([]);
    expect(await metric('retries_total', { cause: 'items' })).toBe(2);
    expect(await metric('bulk_requests_total', { outcome: 'item_errors' })).toBe(2);
    expect(await metric('bulk_requests_total', { outcome: 'ok' })).toBe(1);
  });

  it('retries items the engine failed on its side (5xx), and dead-letters only what is the document’s fault (4xx)', async () => {
    const { engine, writer, op } = await setup({ concurrency: 1 });
    let failures = 1;
    engine.itemHook = (action) =>
      action.id === '2' && failures-- > 0
        ? { status: 500, error: { type: 'node_not_connected_exception', reason: 'node left while indexing' } }
        : action.id === '4'
          ? {
              status: 400,
              error: { type: 'mapper_parsing_exception', reason: 'failed to parse field [qty]' },
            }
          : undefined;
    for (let id = 1; id <= 4; id++) await writer.add(op('c', id, id));
    await writer.flush();
    expect(Object.keys(engine.documents('orders')).sort()).toEqual(['1', '2', '3']);
    expect(writer.takeRejections().map((r) => r.error.message)).toEqual([
      expect.stringMatching(/mapper_parsing_exception.*"4"|"4".*mapper_parsing_exception/),
    ]);
  });

  it('retries whole requests on network errors and 5xx', async () => {
    const { engine, writer, op, metric } = await setup();
    const failures = [
      new SearchEngineError('bulk: connect ECONNREFUSED', undefined, 'ConnectionError'),
      new SearchEngineError('bulk: 503', 503, 'cluster_block_exception'),
    ];
    engine.requestHook = () => {
      const failure = failures.shift();
      if (failure) throw failure;
    };
    await writer.add(op('c', 1, 1));
    await writer.flush();
    expect(engine.documents('orders')).toHaveProperty('1');
    expect(await metric('retries_total', { cause: 'request' })).toBe(2);
    expect(await metric('bulk_requests_total', { outcome: 'failed' })).toBe(2);
  });

  it('turns items the mapping refuses into rejections that name the error, the reason and the document', async () => {
    const { engine, writer, op } = await setup();
    engine.itemHook = (action) =>
      action.id === '2'
        ? {
            status: 400,
            error: {
              type: 'mapper_parsing_exception',
              reason: "failed to parse field [qty] of type [long] in document with id '2'",
            },
          }
        : undefined;
    const refused = op('c', 2, 2);
    for (const operation of [op('c', 1, 1), refused, op('c', 3, 3)]) await writer.add(operation);
    await writer.flush();
    const rejections = writer.takeRejections();
    expect(rejections).toHaveLength(1);
    expect(rejections[0]!.record).toBe(refused.record);
    expect(rejections[0]!.error.message).toMatch(
      /^mapper_parsing_exception: failed to parse field \[qty\] of type \[long\].*\(index of document "2" in index "orders", from shop\.public\.orders\/0@\d+\)$/,
    );
    expect(Object.keys(engine.documents('orders')).sort()).toEqual(['1', '3']);
    expect(writer.takeRejections()).toEqual([]);
  });

  it('counts a version conflict (an older version) as a skipped stale write, not an error', async () => {
    const { engine, writer, op, metric } = await setup();
    await writer.add(op('u', 1, 10));
    await writer.flush();
    await writer.add(op('u', 1, 5));
    await writer.flush();
    expect(writer.takeRejections()).toEqual([]);
    expect(engine.version('orders', '1')).toBe(10);
    expect(engine.documents('orders')['1']).toMatchObject({ qty: 10 });
    expect(await metric('stale_writes_skipped_total')).toBe(1);
    expect(await metric('documents_indexed_total')).toBe(1);
  });

  it('takes a delete of a missing document as done, and its version still holds older writes off', async () => {
    const { engine, writer, op, metric } = await setup();
    await writer.add(op('d', 9, 30));
    await writer.flush();
    await writer.add(op('c', 9, 20));
    await writer.flush();
    expect(writer.takeRejections()).toEqual([]);
    expect(engine.documents('orders')).toEqual({});
    expect(await metric('documents_deleted_total')).toBe(1);
    expect(await metric('stale_writes_skipped_total')).toBe(1);
  });

  it('holds no more than concurrency × 2 requests: add waits for room', async () => {
    const { engine, writer, op, metric } = await setup({ maxActions: 1, concurrency: 2 });
    let release!: () => void;
    engine.gate = new Promise((resolve) => (release = resolve));
    let added = 0;
    const adding = (async () => {
      for (let id = 1; id <= 20; id++) {
        await writer.add(op('c', id, id));
        added++;
      }
    })();
    await sleep(50);
    expect(writer.maxRequests).toBe(4);
    expect(writer.requestsInFlight.now).toBe(4);
    expect(engine.inFlight).toBe(2);
    expect(added).toBeLessThan(20);
    const oneOperation = op('c', 1, 1).bytes;
    expect(await metric('buffered_bytes')).toBeLessThanOrEqual(5 * oneOperation);
    release();
    engine.gate = undefined;
    await adding;
    await writer.flush();
    expect(Object.keys(engine.documents('orders'))).toHaveLength(20);
    expect(writer.requestsInFlight.peak).toBeLessThanOrEqual(4);
    expect(engine.peakInFlight).toBeLessThanOrEqual(2);
    expect(await metric('buffered_bytes')).toBe(0);
  });

  it('stops retrying when the task stops: the flush fails and nothing is taken as written', async () => {
    const { ctx, engine, writer, op } = await setup();
    engine.requestHook = () => {
      throw new SearchEngineError('bulk: 503', 503, undefined);
    };
    await writer.add(op('c', 1, 1));
    const flushing = writer.flush();
    setTimeout(() => ctx.abortController.abort(), 30);
    await expect(flushing).rejects.toMatchObject({ name: 'AbortError', message: /stopped while retrying/ });
    await expect(writer.add(op('c', 2, 2))).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('splits a request the engine finds too large, and rejects a single document too large', async () => {
    const { engine, writer, op } = await setup();
    engine.requestHook = (actions) => {
      if (actions.some((a) => a.id === '3')) throw new SearchEngineError('bulk: 413', 413, undefined);
    };
    for (let id = 1; id <= 4; id++) await writer.add(op('c', id, id));
    await writer.flush();
    expect(Object.keys(engine.documents('orders')).sort()).toEqual(['1', '2', '4']);
    const rejections = writer.takeRejections();
    expect(rejections.map((r) => r.error.message)).toEqual([
      expect.stringMatching(/^request_entity_too_large: .*document "3"/),
    ]);
  });

  it('fails on a request error that is not retryable, and keeps failing until the task restarts', async () => {
    const { engine, writer, op } = await setup();
    engine.requestHook = () => {
      throw new SearchEngineError(
        'bulk: 403 security_exception: action [indices:data/write/bulk] is unauthorized',
        403,
        'security_exception',
      );
    };
    await writer.add(op('c', 1, 1));
    await expect(writer.flush()).rejects.toThrow(/403 security_exception/);
    await expect(writer.flush()).rejects.toThrow(/403 security_exception/);
  });

  it('flushes what was added before the call while adds go on, never starved and never an empty request', async () => {
    const { engine, writer, op } = await setup({ maxActions: 5, concurrency: 2 });
    for (let id = 1; id <= 12; id++) await writer.add(op('c', id, id));
    let stop = false;
    let next = 100;
    // A steady stream of adds for as long as the flush runs (the runtime keeps consuming meanwhile).
    const adding = (async () => {
      while (!stop) {
        await writer.add(op('c', next, next));
        next++;
        await sleep(1);
      }
    })();
    await writer.flush();
    stop = true;
    const flushedAt = next;
    await adding;
    const indexed = Object.keys(engine.documents('orders')).map(Number);
    for (let id = 1; id <= 12; id++) expect(indexed).toContain(id);
    expect(engine.requests.every((actions) => actions.length > 0)).toBe(true);
    await writer.flush();
    expect(Object.keys(engine.documents('orders'))).toHaveLength(12 + (flushedAt - 100));
  });

  it('sends no empty request when an add and a flush both waited for room to cut the same lane', async () => {
    const { engine, writer, op } = await setup({ maxActions: 2, concurrency: 1 });
    let release!: () => void;
    engine.gate = new Promise((resolve) => (release = resolve));
    for (let id = 1; id <= 5; id++) await writer.add(op('c', id, id)); // two requests out: no room left
    const adding = writer.add(op('c', 6, 6)); // a full buffer: waits for room to cut
    const flushing = writer.flush(); // waits for room to cut the same buffer
    await sleep(20);
    release();
    engine.gate = undefined;
    await Promise.all([adding, flushing]);
    expect(engine.requests.map((actions) => actions.length)).toEqual([2, 2, 2]);
    expect(Object.keys(engine.documents('orders'))).toHaveLength(6);
  });
});

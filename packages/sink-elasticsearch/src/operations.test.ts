import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '@datamesh/core';
import { change } from './__fixtures__/change-records.js';
import { parseBulk } from './__fixtures__/memory-search-engine.js';
import { IndexNamer } from './index-naming.js';
import { OperationPlanner, type PlannedOperation } from './operations.js';
import { checkConfig, elasticsearchSinkConfig } from './sink-config.js';

const planner = (template = '${topic}', version = 'source.commitLsn') =>
  new OperationPlanner(new IndexNamer(template), version);

function written(planned: PlannedOperation) {
  if (planned.kind !== 'write') throw new Error(`expected a write, got ${JSON.stringify(planned)}`);
  return planned.operation;
}

describe('OperationPlanner', () => {
  it('indexes c/u/r with the version from source.commitLsn as an external_gte version', () => {
    for (const op of ['c', 'u', 'r'] as const) {
      const operation = written(planner().plan(change(op, 7, 4242)));
      expect(operation).toMatchObject({
        action: 'index',
        index: 'shop.public.orders',
        id: '7',
        version: 4242,
      });
      expect(parseBulk(operation.lines)).toEqual([
        {
          action: 'index',
          index: 'shop.public.orders',
          id: '7',
          version: 4242,
          versionType: 'external_gte',
          source: { id: 7, customer: 'customer 7', qty: 4242 },
        },
      ]);
      expect(operation.bytes).toBe(Buffer.byteLength(operation.lines));
    }
  });

  it("versions by default with the commit LSN of the change's transaction, not the LSN of the change", () => {
    // A change made at LSN 500 by a transaction that committed at 700: 700 orders it after a snapshot row read
    // at 600 (the high watermark's commit LSN), 500 would not.
    const config = parseConfig(elasticsearchSinkConfig, { url: 'http://localhost:9200' });
    const late = change('u', 7, 500, { commitLsn: 700 });
    const operation = written(planner('${topic}', config.version.field).plan(late));
    expect(operation.version).toBe(700);
    expect(parseBulk(operation.lines)[0]).toMatchObject({ version: 700, versionType: 'external_gte' });
  });

  it('deletes on d, with the version and no document line', () => {
    const operation = written(planner().plan(change('d', 7, 5000)));
    expect(operation.action).toBe('delete');
    expect(operation.lines).toBe(
      '{"delete":{"_index":"shop.public.orders","_id":"7","version":5000,"version_type":"external_gte"}}\n',
    );
  });

  it('does nothing for tombstones and plans truncates by index', () => {
    expect(planner().plan(change('tombstone', 7, 1))).toEqual({ kind: 'skip' });
    expect(planner('${schema}-${table}').plan(change('t', 0, 9))).toEqual({
      kind: 'truncate',
      index: 'public-orders',
    });
  });

  it('rejects an event without a usable version, saying what to do', () => {
    for (const lsn of [null, undefined, -1, 1.5, 2 ** 53, '12']) {
      const planned = planner().plan(change('u', 7, lsn));
      expect(planned.kind).toBe('reject');
      const { message } = (planned as { error: Error }).error;
      expect(message).toContain('document "7" in index "shop.public.orders"');
      expect(message).toContain('no usable version at source.commitLsn');
      expect(message).toContain('version.field: none');
    }
    expect(written(planner().plan(change('u', 7, 12n))).version).toBe(12);
  });

  it('reads the version at any dotted path, and writes without one when versioning is off', () => {
    expect(written(planner('${topic}', 'ts_ms').plan(change('u', 7, 1))).version).toBe(1_700_000_000_000);
    const unversioned = written(planner('${topic}', 'none').plan(change('u', 7, null)));
    expect(unversioned.version).toBeUndefined();
    expect(parseBulk(unversioned.lines)[0]).toMatchObject({ version: undefined, versionType: undefined });
  });

  it('rejects change events without a key', () => {
    const record = change('u', 7, 1);
    const keyless = { ...record, event: { ...record.event, key: null } };
    expect(planner().plan(keyless)).toMatchObject({
      kind: 'reject',
      error: { message: expect.stringMatching(/without a key/) },
    });
  });

  it('names indexes from templates: lowercased, invalid characters replaced, missing parts rejected', () => {
    expect(written(planner().plan(change('c', 1, 1, { topic: 'Shop.Orders Topic#1' }))).index).toBe(
      'shop.orders_topic_1',
    );
    expect(written(planner('cdc-${table}').plan(change('c', 1, 1, { table: 'Order Lines' }))).index).toBe(
      'cdc-order_lines',
    );
    expect(written(planner('orders').plan(change('c', 1, 1))).index).toBe('orders');
    const record = change('c', 1, 1);
    const noTable = {
      ...record,
      event: {
        ...record.event,
        value: { ...record.event.value!, source: { ...record.event.value!.source, table: null } },
      },
    };
    expect(planner('${table}').plan(noTable)).toMatchObject({
      kind: 'reject',
      error: { message: expect.stringMatching(/needs \$\{table\}/) },
    });
  });
});

describe('config', () => {
  it('applies defaults', () => {
    const config = parseConfig(elasticsearchSinkConfig, { url: 'http://localhost:9200' });
    expect(config).toMatchObject({
      engine: 'auto',
      index: '${topic}',
      version: { field: 'source.commitLsn' },
      truncate: 'ignore',
      deleteRetention: '1h',
      bulk: { maxActions: 1000, maxBytes: 5 * 1024 * 1024, concurrency: 2 },
      retry: { initialDelayMs: 100, maxDelayMs: 30_000 },
      settings: { shards: 1, replicas: 1 },
    });
    expect(() => checkConfig(config)).not.toThrow();
  });

  it('refuses what the schema cannot say, naming every field', () => {
    const config = parseConfig(elasticsearchSinkConfig, {
      index: 'cdc-${database}',
      auth: { username: 'elastic' },
      retry: { initialDelayMs: 500, maxDelayMs: 100 },
    });
    let error: unknown;
    try {
      checkConfig(config);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues.map((i) => i.path)).toEqual([
      '/url',
      '/auth/password',
      '/index',
      '/retry/maxDelayMs',
    ]);
  });
});

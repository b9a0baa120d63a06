import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, TaskHaltedError, type SinkRecord, type SinkRejection } from '@datamesh/core';
import { createTestContext, type TestContext } from '@datamesh/testkit';
import { connectionOf } from '../connection-options.js';
import { detectEngine } from '../engine-detect.js';
import { elasticsearchSink } from '../elasticsearch-sink.js';
import { change, metricValue, ORDER_FIELDS, orderSchemas } from './change-records.js';
import { engineUrl, type EngineUnderTest } from './engines.js';
import { deleteIndexes, documentsOf, request, uniqueIndex } from './search-index.js';

/**
 * The real plugin against a real engine: versions, replays, out-of-order writes, deletes, mapper rejections,
 * schema evolution and conflicts, truncate, engine detection. Called once per engine
 * (`elasticsearch-sink.<engine>.test.ts`).
 */
export function describeSinkIntegration(target: EngineUnderTest): void {
  let url: string;
  const indexes: string[] = [];

  beforeAll(async () => {
    url = await engineUrl(target);
  }, 300_000);

  afterAll(async () => {
    if (url) await deleteIndexes(url, indexes);
  });

  function newIndex(name: string): string {
    const index = uniqueIndex(name);
    indexes.push(index);
    return index;
  }

  interface Run {
    readonly rejections: SinkRejection[];
    readonly ctx: TestContext;
  }

  /** One task instance of the real plugin: writes each batch, flushes, closes. */
  async function run(
    index: string,
    batches: readonly (readonly SinkRecord[])[],
    config: object = {},
  ): Promise<Run> {
    const ctx = await createTestContext({ plugin: 'elasticsearch' });
    const parsed = parseConfig(elasticsearchSink.config, { url, index, ...config });
    const task = await elasticsearchSink.create(parsed, ctx);
    const rejections: SinkRejection[] = [];
    try {
      for (const batch of batches) {
        rejections.push(...((await task.write(batch)) ?? []));
        rejections.push(...((await task.flush()) ?? []));
      }
    } finally {
      await task.close?.();
      ctx.abortController.abort();
    }
    return { rejections, ctx };
  }

  const metric = (ctx: TestContext, name: string) =>
    metricValue(ctx.registry, `datamesh_plugin_elasticsearch_${name}`);

  describe(`elasticsearch sink on ${target.title}`, () => {
    it('indexes, updates and deletes with the commit LSN as version; a replay in a new task changes nothing', async () => {
      const index = newIndex('replay');
      const records = [
        change('c', 1, 100),
        change('c', 2, 101),
        change('u', 1, 102),
        change('c', 3, 103),
        change('d', 2, 104),
        change('tombstone', 2, 0),
        change('u', 3, 105),
      ];
      const first = await run(index, [records.slice(0, 3), records.slice(3)]);
      expect(first.rejections).toEqual([]);
      const stored = await documentsOf(url, index);
      expect(stored).toEqual({
        '1': { version: 102, source: { id: 1, customer: 'customer 1', qty: 102 } },
        '3': { version: 105, source: { id: 3, customer: 'customer 3', qty: 105 } },
      });

      // external_gte: the writes at the versions the index holds apply again, with the same content (and the
      // delete again at its tombstone's version); the older ones are refused. The documents stay as they were.
      const replay = await run(index, [records]);
      expect(replay.rejections).toEqual([]);
      expect(await documentsOf(url, index)).toEqual(stored);
      // Record by record, so no compaction: every older write meets the engine and is refused there.
      const oneByOne = await run(
        index,
        records.map((record) => [record]),
      );
      expect(oneByOne.rejections).toEqual([]);
      expect(await documentsOf(url, index)).toEqual(stored);
      // c 1@100 (the document has 102), c 2@101 (its delete's tombstone has 104), c 3@103 (the document has 105)
      expect(await metric(oneByOne.ctx, 'stale_writes_skipped_total')).toBe(3);
    });

    it('applies the changes of a row in one transaction (one commit LSN) in order, in one batch and in two', async () => {
      const index = newIndex('one-transaction');
      // A transaction that committed at LSN 700 changed each row more than once (at LSNs 650 to 670): one version.
      const first = (id: number) =>
        change('u', id, 650, { commitLsn: 700, row: { id, customer: 'first', qty: 1 } });
      const second = (id: number) =>
        change('u', id, 660, { commitLsn: 700, row: { id, customer: 'second', qty: 2 } });
      const removed = (id: number) => change('d', id, 660, { commitLsn: 700 });
      const inserted = (id: number) =>
        change('c', id, 670, { commitLsn: 700, row: { id, customer: 'again', qty: 3 } });
      const { rejections, ctx } = await run(index, [
        // One batch: the later change replaces the earlier one before it is sent. Row 4 is of an older transaction.
        [first(1), second(1), change('c', 4, 600)],
        [first(2), removed(4)],
        // Two batches: the later change's equal version applies over the earlier one's document, and over the
        // tombstone of row 4, which the transaction deleted and inserted again.
        [second(2), first(3), inserted(4)],
        [removed(3)], // a delete at the version of the update before it
      ]);
      expect(rejections).toEqual([]);
      expect(await documentsOf(url, index)).toEqual({
        '1': { version: 700, source: { id: 1, customer: 'second', qty: 2 } },
        '2': { version: 700, source: { id: 2, customer: 'second', qty: 2 } },
        '4': { version: 700, source: { id: 4, customer: 'again', qty: 3 } },
      });
      expect(await metric(ctx, 'stale_writes_skipped_total')).toBe(0);
      expect(await metric(ctx, 'operations_compacted_total')).toBe(1);
    });

    it('keeps an update whose transaction committed after a snapshot chunk read the old row', async () => {
      const index = newIndex('snapshot-race');
      // A transaction updated the rows at LSN 500 and committed at 700. Meanwhile a snapshot chunk read the old
      // rows and emitted them at its high watermark's commit LSN, 600. Versioned by the change's LSN (500) the
      // update would be refused as older than the snapshot row and the index left stale.
      const snapshotRow = (id: number) => change('r', id, 600, { row: { id, customer: 'before', qty: 1 } });
      const update = (id: number) =>
        change('u', id, 500, { commitLsn: 700, row: { id, customer: 'after', qty: 2 } });
      const { rejections, ctx } = await run(index, [
        [snapshotRow(1)],
        [update(1)],
        [snapshotRow(2), update(2)],
      ]);
      expect(rejections).toEqual([]);
      const updated = {
        '1': { version: 700, source: { id: 1, customer: 'after', qty: 2 } },
        '2': { version: 700, source: { id: 2, customer: 'after', qty: 2 } },
      };
      expect(await documentsOf(url, index)).toEqual(updated);
      expect(await metric(ctx, 'stale_writes_skipped_total')).toBe(0);

      // The snapshot rows replayed in a new task (a restart from before them): older, refused, nothing changes.
      const replay = await run(index, [[snapshotRow(1), snapshotRow(2)]]);
      expect(replay.rejections).toEqual([]);
      expect(await documentsOf(url, index)).toEqual(updated);
      expect(await metric(replay.ctx, 'stale_writes_skipped_total')).toBe(2);
    });

    it('skips an older write that arrives after a newer one', async () => {
      const index = newIndex('out-of-order');
      const { ctx, rejections } = await run(index, [
        [change('u', 1, 200, { row: { id: 1, customer: 'newer', qty: 2 } })],
        [change('u', 1, 150, { row: { id: 1, customer: 'older', qty: 1 } })],
      ]);
      expect(rejections).toEqual([]);
      expect(await documentsOf(url, index)).toEqual({
        '1': { version: 200, source: { id: 1, customer: 'newer', qty: 2 } },
      });
      expect(await metric(ctx, 'stale_writes_skipped_total')).toBe(1);
    });

    it('does not bring a deleted document back when an older write is replayed within deleteRetention', async () => {
      const index = newIndex('resurrect');
      await run(index, [[change('c', 5, 300), change('d', 5, 310)]]);
      // A later task replays the create (a dead letter replayed, offsets rewound): the delete's tombstone wins.
      const replay = await run(index, [[change('c', 5, 300)], [change('u', 5, 305)]]);
      expect(replay.rejections).toEqual([]);
      expect(await documentsOf(url, index)).toEqual({});
      expect(await metric(replay.ctx, 'stale_writes_skipped_total')).toBe(2);
      const settings = (await request(url, 'GET', `/${index}/_settings`)) as Record<
        string,
        { settings: { index: Record<string, unknown> } }
      >;
      expect(settings[index]!.settings.index).toMatchObject({
        gc_deletes: '1h',
        number_of_shards: '1',
        number_of_replicas: '1',
      });
    });

    it('rejects a document the mapping refuses and indexes the rest', async () => {
      const index = newIndex('mapper');
      const wrongType = change('c', 2, 2, { row: { id: 2, customer: 'b', qty: 'many' } });
      const { rejections } = await run(index, [[change('c', 1, 1), wrongType, change('c', 3, 3)]]);
      expect(rejections).toHaveLength(1);
      expect(rejections[0]!.record).toBe(wrongType);
      expect(rejections[0]!.error.message).toMatch(
        new RegExp(`^${target.mapperErrorType}: .*failed to parse field \\[qty\\] of type \\[long\\]`),
      );
      expect(rejections[0]!.error.message).toContain(`document "2" in index "${index}"`);
      expect(Object.keys(await documentsOf(url, index)).sort()).toEqual(['1', '3']);
    });

    it('adds a field a newer schema brings to the mapping, and new documents carry it', async () => {
      const index = newIndex('evolve');
      const evolved = orderSchemas([
        ...ORDER_FIELDS,
        { name: 'note', type: ['null', 'string'], default: null },
      ]);
      const { rejections } = await run(index, [
        [change('c', 1, 1)],
        [change('c', 2, 2, { schema: evolved, row: { id: 2, customer: 'b', qty: 1, note: 'gift wrap' } })],
      ]);
      expect(rejections).toEqual([]);
      const mapping = (await request(url, 'GET', `/${index}/_mapping`)) as Record<
        string,
        { mappings: { dynamic: string; properties: Record<string, unknown> } }
      >;
      expect(mapping[index]!.mappings.dynamic).toBe('strict');
      expect(mapping[index]!.mappings.properties['note']).toMatchObject({ type: 'text' });
      expect((await documentsOf(url, index))['2']!.source).toMatchObject({ note: 'gift wrap' });
      const found = (await request(url, 'POST', `/${index}/_search`, {
        query: { match: { note: 'gift' } },
      })) as { hits: { hits: { _id: string }[] } };
      expect(found.hits.hits.map((h) => h._id)).toEqual(['2']);
    });

    it('halts on a schema that changes a field type, naming the field and what to do', async () => {
      const index = newIndex('conflict');
      await run(index, [[change('c', 1, 1)]]);
      const changed = orderSchemas([
        ORDER_FIELDS[0]!,
        ORDER_FIELDS[1]!,
        { name: 'qty', type: ['null', 'string'], default: null },
      ]);
      const attempt = run(index, [
        [change('c', 2, 2, { schema: changed, row: { id: 2, customer: 'b', qty: 'two' } })],
      ]);
      await expect(attempt).rejects.toBeInstanceOf(TaskHaltedError);
      await expect(attempt).rejects.toThrow(
        new RegExp(
          `index "${index}" cannot take events of shop\\.public\\.orders\\.Envelope[\\s\\S]*- qty: the index has long; the schema needs text`,
        ),
      );
      expect(Object.keys(await documentsOf(url, index))).toEqual(['1']);
    });

    if (target.truncateDeleteAll === 'deletes') {
      it('truncate: delete-all empties the index after writing what came before; later events go on', async () => {
        const index = newIndex('truncate');
        const { rejections } = await run(
          index,
          [[change('c', 1, 1), change('c', 2, 2), change('t', 0, 3), change('c', 3, 4)]],
          { truncate: 'delete-all' },
        );
        expect(rejections).toEqual([]);
        expect(Object.keys(await documentsOf(url, index))).toEqual(['3']);
      });
    } else {
      it('truncate: delete-all halts, naming the missing _delete_by_query API and the policy', async () => {
        const index = newIndex('truncate');
        const attempt = run(
          index,
          [[change('c', 1, 1), change('c', 2, 2), change('t', 0, 3), change('c', 3, 4)]],
          {
            truncate: 'delete-all',
          },
        );
        await expect(attempt).rejects.toBeInstanceOf(TaskHaltedError);
        await expect(attempt).rejects.toThrow(
          new RegExp(
            `truncate: delete-all needs the _delete_by_query API to empty index "${index}", and the node ` +
              'does not have it[\\s\\S]*set truncate: ignore',
          ),
        );
        // What came before the truncate was written first; nothing after it.
        expect(Object.keys(await documentsOf(url, index)).sort()).toEqual(['1', '2']);
      });
    }

    it(`tells ${target.engine} from ${target.otherEngine} by asking the node`, async () => {
      const config = parseConfig(elasticsearchSink.config, { url });
      expect(await detectEngine(await connectionOf(config))).toBe(target.engine);
    });

    it(`says what to do when told the node is ${target.otherEngine} and it is not`, async () => {
      const ctx = await createTestContext({ plugin: 'elasticsearch' });
      const config = parseConfig(elasticsearchSink.config, { url, engine: target.otherEngine });
      const attempt = elasticsearchSink.create(config, ctx);
      await expect(attempt).rejects.toBeInstanceOf(TaskHaltedError);
      await expect(attempt).rejects.toThrow(target.otherEngineMessage);
    });
  });
}

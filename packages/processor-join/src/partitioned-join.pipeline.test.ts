import { isDeepStrictEqual } from 'node:util';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  defineSource,
  EmbeddedTransport,
  partTopic,
  stateChangelogTopic,
  Type,
  type ChangeEvent,
  type Row,
} from '@datamesh/core';
import { runTestPipeline } from '@datamesh/testkit';
import { joinProcessor } from './join-processor.js';
import { customers, expectedJoin, orders, shopHistory, type ShopChange } from './__fixtures__/shop.js';
import { random } from './__fixtures__/random.js';

/** A source of the shop's two tables that emits `changes` once, in batches of 20. */
function shopSource(changes: readonly ShopChange[]) {
  return defineSource({
    name: 'shop',
    version: '1.0.0',
    config: Type.Object({}),
    streams: () => [
      { name: 'public.orders', keySchema: orders.keySchema, valueSchema: orders.valueSchema },
      { name: 'public.customers', keySchema: customers.keySchema, valueSchema: customers.valueSchema },
    ],
    create() {
      let at = 0;
      return {
        async start(from) {
          at = typeof from?.['at'] === 'number' ? from['at'] : 0;
        },
        async read() {
          if (at >= changes.length) return undefined;
          const batch = changes.slice(at, at + 20);
          at += batch.length;
          return {
            events: batch.map(({ table, event }) => ({ stream: `public.${table}`, event })),
            position: { at },
          };
        },
        async acknowledge() {},
        async stop() {},
      };
    },
  });
}

/** The view a change stream builds, checking that each change starts from the row the view holds. */
function fold(events: readonly ChangeEvent[]): Record<string, Row> {
  const view = new Map<string, Row>();
  for (const e of events) {
    const key = JSON.stringify(e.key);
    if (!e.value) continue;
    expect(view.get(key) ?? null).toEqual(e.value.before);
    if (e.value.op === 'd') view.delete(key);
    else view.set(key, { ...e.value.after! }); // a plain object, as decoded records have a class of their own
  }
  return Object.fromEntries(view);
}

describe('partitioned join on a node', () => {
  it('runs its parts once per partition and writes the join of the final tables to its topic', async () => {
    const signed = random(11);
    const history = shopHistory((n) => (signed(n) + n) % n, 1200);
    const pipeline = await runTestPipeline({
      plugins: [shopSource(history.changes), joinProcessor],
      logLevel: 'warn',
      node: { transport: { kind: 'embedded', partitions: 3 } as never },
      pipeline: {
        apiVersion: 'datamesh/v1',
        kind: 'Pipeline',
        name: 'shop-view',
        sources: [{ name: 'shop', plugin: 'shop' }],
        processors: [
          {
            name: 'enriched',
            plugin: 'join',
            inputs: ['shop/public.orders', 'shop/public.customers'],
            config: {
              on: [{ left: 'customer_id', right: 'id' }],
              kind: 'left',
              prefix: 'c_',
              fields: ['name'],
              partitioned: true,
            },
            shared: true,
          },
        ],
      },
    });
    try {
      expect(pipeline.plan.tasks.map((t) => t.id)).toEqual([
        'shop-view.enriched.by-join-key',
        'shop-view.enriched.matched',
        'shop-view.enriched.resolved',
      ]);
      const expected = expectedJoin(history, 'left');
      const view = await pipeline
        .until(async () => {
          const folded = fold(await pipeline.readTopic('shop-view.enriched'));
          return isDeepStrictEqual(folded, expected) ? folded : undefined;
        }, 30_000)
        .catch(async () => fold(await pipeline.readTopic('shop-view.enriched')));
      expect(view).toEqual(expected);

      // Each part ran an instance per partition, with its own changelog; the repartition topic has the right
      // input's partition count.
      const log = await EmbeddedTransport.open({ dir: join(pipeline.dataDir, 'log'), readOnly: true });
      try {
        const topics = await log.listTopics();
        for (const part of ['by-join-key', 'matched', 'resolved']) {
          for (const p of [0, 1, 2])
            expect(topics).toContain(stateChangelogTopic('shop-view', `enriched.${part}`, p));
        }
        expect((await log.describeTopic(partTopic('shop-view', 'enriched', 'by-join-key')))?.partitions).toBe(
          3,
        );
        expect(topics).toContain(partTopic('shop-view', 'enriched', 'matched'));
      } finally {
        await log.close();
      }
    } finally {
      await pipeline.stop();
    }
  }, 60_000);
});

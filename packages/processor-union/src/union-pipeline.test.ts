import { describe, expect, it } from 'vitest';
import {
  defineSink,
  defineSource,
  envelopeSchemas,
  Type,
  type AvroField,
  type ChangeEvent,
  type Row,
} from '@datamesh/core';
import { runTestPipeline } from '@datamesh/testkit';
import { unionProcessor } from './union-processor.js';

/** A source of one `orders` stream with the given row fields, emitting `rows` as creates, once. */
function ordersSource(name: string, fields: readonly AvroField[], rows: readonly Row[]) {
  const schemas = envelopeSchemas({ name: `${name}.orders`, keyFields: ['id'], fields });
  return defineSource({
    name,
    version: '1.0.0',
    config: Type.Object({}),
    streams: () => [{ name: 'orders', ...schemas }],
    create() {
      let done = false;
      return {
        async start(from) {
          done = from?.['done'] === true;
        },
        async read() {
          if (done) return undefined;
          done = true;
          const source = { connector: name, name, ts_ms: 1, snapshot: 'false' };
          return {
            events: rows.map((after) => ({
              stream: 'orders',
              event: {
                key: { id: after['id'] },
                value: { before: null, after, op: 'c' as const, ts_ms: 2, source },
              },
            })),
            position: { done: true },
          };
        },
        async acknowledge() {},
        async stop() {},
      };
    },
  });
}

describe('union in a pipeline', () => {
  it('merges both inputs, lacking fields as null, keys apart: in its topic and fused with a sink', async () => {
    const collected: ChangeEvent[] = [];
    const collect = defineSink({
      name: 'collect',
      version: '1.0.0',
      config: Type.Object({}),
      create: () => ({
        write: async (records) => void collected.push(...records.map((r) => r.event)),
        flush: async () => {},
      }),
    });
    const eu = ordersSource(
      'eu',
      [
        { name: 'id', type: 'long' },
        { name: 'amount', type: 'int' },
      ],
      [
        { id: 1, amount: 10 },
        { id: 2, amount: 20 },
      ],
    );
    const us = ordersSource(
      'us',
      [
        { name: 'id', type: 'long' },
        { name: 'amount', type: 'double' },
        { name: 'currency', type: 'string' },
      ],
      [{ id: 1, amount: 9.5, currency: 'USD' }],
    );
    const pipeline = await runTestPipeline({
      plugins: [eu, us, unionProcessor, collect],
      pipeline: {
        apiVersion: 'datamesh/v1',
        kind: 'Pipeline',
        name: 'sales',
        sources: [
          { name: 'eu', plugin: 'eu', config: {} },
          { name: 'us', plugin: 'us', config: {} },
        ],
        processors: [
          {
            name: 'all',
            plugin: 'union',
            inputs: ['eu/orders', 'us/orders'],
            shared: true,
            config: { origins: { 'eu/orders': 'eu' } },
          },
          // Fused into the sink's task: the sink gets the union's events as it made them, never encoded.
          {
            name: 'all-fused',
            plugin: 'union',
            inputs: ['eu/orders', 'us/orders'],
            config: { origins: { 'eu/orders': 'eu' } },
          },
        ],
        sinks: [{ name: 'out', plugin: 'collect', inputs: ['all-fused'] }],
      },
    });
    try {
      expect(pipeline.plan.tasks.find((t) => t.id === 'sales.out')?.chain.map((p) => p.stage.name)).toEqual([
        'all-fused',
      ]);
      const events = await pipeline.until(async () => {
        const read = await pipeline.readTopic('sales.all');
        return read.length >= 3 && collected.length >= 3 ? read : undefined;
      });
      // Inputs are consumed concurrently: only the order within each input is kept.
      const keyOf = (e: ChangeEvent) => `${String(e.key?.['_input'])}:${String(e.key?.['id'])}`;
      const rows = (list: readonly ChangeEvent[]) =>
        [...list]
          .sort((a, b) => keyOf(a).localeCompare(keyOf(b)))
          .map((e) => ({ key: e.key, after: e.value?.after }));
      // Decoded from the topic they are avsc records; the sink's are plain objects, checked strictly.
      expect(rows(events)).toEqual(rows(collected));
      expect(rows(collected)).toStrictEqual([
        { key: { id: 1, _input: 'eu' }, after: { id: 1, amount: 10, currency: null, _input: 'eu' } },
        { key: { id: 2, _input: 'eu' }, after: { id: 2, amount: 20, currency: null, _input: 'eu' } },
        {
          key: { id: 1, _input: 'us/orders' },
          after: { id: 1, amount: 9.5, currency: 'USD', _input: 'us/orders' },
        },
      ]);
    } finally {
      await pipeline.stop();
    }
  });
});

import { describe, expect, it } from 'vitest';
import {
  defineProcessor,
  defineSink,
  defineSource,
  envelopeSchemas,
  Type,
  type SinkRecord,
} from '@datamesh/core';
import { runTestPipeline } from './pipeline-runner.js';

const schemas = envelopeSchemas({
  name: 'test.greetings',
  keyFields: ['id'],
  fields: [
    { name: 'id', type: 'long' },
    { name: 'text', type: 'string' },
  ],
});

const greetings = defineSource({
  name: 'greetings',
  version: '1.0.0',
  config: Type.Object({ count: Type.Integer() }),
  streams: () => [{ name: 'greetings', ...schemas }],
  create(config) {
    let sent = 0;
    return {
      async start(from) {
        sent = (from?.['sent'] as number | undefined) ?? 0;
      },
      async read() {
        if (sent >= config.count) return undefined;
        const id = ++sent;
        const after = { id, text: `hello ${id}` };
        const source = { connector: 'greetings', name: 'g', ts_ms: Date.now(), snapshot: 'false' };
        return {
          events: [
            {
              stream: 'greetings',
              event: {
                key: { id },
                value: { before: null, after, op: 'c' as const, ts_ms: Date.now(), source },
              },
            },
          ],
          position: { sent },
        };
      },
      async acknowledge() {},
      async stop() {},
    };
  },
});

const exclaim = defineProcessor({
  name: 'exclaim',
  version: '1.0.0',
  config: Type.Object({}),
  plan: ([input]) => ({ keySchema: input!.keySchema, valueSchema: input!.valueSchema, lineage: [] }),
  create: () => ({
    process: (events) =>
      events.map((e) =>
        e.value?.after
          ? {
              ...e,
              value: { ...e.value, after: { ...e.value.after, text: `${String(e.value.after['text'])}!` } },
            }
          : e,
      ),
  }),
});

const received: SinkRecord[] = [];
const collect = defineSink({
  name: 'collect',
  version: '1.0.0',
  config: Type.Object({}),
  create: () => ({ write: async (records) => void received.push(...records), flush: async () => {} }),
});

describe('runTestPipeline', () => {
  it('runs a pipeline end to end on the embedded transport and reads its topics', async () => {
    const pipeline = await runTestPipeline({
      plugins: [greetings, exclaim, collect],
      pipeline: `
apiVersion: datamesh/v1
kind: Pipeline
name: hello
sources: [{ name: src, plugin: greetings, config: { count: 5 } }]
processors: [{ name: loud, plugin: exclaim, inputs: [src], shared: true }]
sinks: [{ name: out, plugin: collect, inputs: [loud] }]
`,
    });
    try {
      await pipeline.until(() => (received.length >= 5 ? true : undefined));
      expect(received.map((r) => r.event.value?.after?.['text']).sort()).toEqual([
        'hello 1!',
        'hello 2!',
        'hello 3!',
        'hello 4!',
        'hello 5!',
      ]);
      const shared = await pipeline.readTopic('hello.loud');
      expect(shared.map((e) => e.value?.after?.['text']).sort()).toEqual([
        'hello 1!',
        'hello 2!',
        'hello 3!',
        'hello 4!',
        'hello 5!',
      ]);
      expect(pipeline.plan.tasks.map((t) => t.id).sort()).toEqual(['hello.loud', 'hello.out']);
    } finally {
      await pipeline.stop();
    }
  });
});

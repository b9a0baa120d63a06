import { expect } from 'vitest';
import {
  avroType,
  decodeWire,
  defineProcessor,
  defineSource,
  envelopeSchemas,
  planPipeline,
  PluginRegistry,
  SourceDocument,
  Type,
  type ConsumedRecord,
  type PipelinePlan,
  type Plugin,
  type Transport,
} from '@datamesh/core';

/** Keys the counting source spreads its changes over. */
const KEYS = 7;
const schemas = envelopeSchemas({
  name: 'test.counters',
  keyFields: ['id'],
  fields: [
    { name: 'id', type: 'long' },
    { name: 'n', type: 'long' },
  ],
});

/** Changes n = 1..total for key n % KEYS, `perRead` every `pauseMs`; its position is the last n. */
const counting = defineSource({
  name: 'counting',
  version: '1.0.0',
  config: Type.Object({
    total: Type.Integer({ minimum: 1 }),
    perRead: Type.Integer({ minimum: 1 }),
    pauseMs: Type.Integer({ minimum: 0 }),
  }),
  streams: () => [{ name: 'counters', ...schemas }],
  create(config) {
    let next = 1;
    return {
      async start(from) {
        next = ((from?.['n'] as number | undefined) ?? 0) + 1;
      },
      async read() {
        await new Promise((r) => setTimeout(r, config.pauseMs));
        if (next > config.total) return undefined;
        const events = [];
        const last = Math.min(config.total, next + config.perRead - 1);
        for (; next <= last; next++) {
          const source = { connector: 'counting', name: 'c', ts_ms: Date.now(), snapshot: 'false' };
          events.push({
            stream: 'counters',
            event: {
              key: { id: next % KEYS },
              value: {
                before: null,
                after: { id: next % KEYS, n: next },
                op: 'c' as const,
                ts_ms: 0,
                source,
              },
            },
          });
        }
        return { events, position: { n: last } };
      },
      async acknowledge() {},
      async stop() {},
    };
  },
});

/**
 * Counts the changes per key in its state and emits the running count. Its input is partitioned by that key, so
 * with `perPartition` it lets the runtime run it once per input partition, each instance counting its keys.
 */
const runningCount = defineProcessor({
  name: 'running-count',
  version: '1.0.0',
  config: Type.Object({ perPartition: Type.Boolean({ default: false }) }),
  stateful: true,
  plan: (inputs, config) => ({
    keySchema: inputs[0]!.keySchema,
    valueSchema: inputs[0]!.valueSchema,
    lineage: [],
    consumes: [],
    perPartition: config.perPartition,
  }),
  create: (_config, ctx) => ({
    async process(events) {
      const out = [];
      for (const event of events) {
        const id = event.key!['id'] as number;
        const count = (ctx.state.get<number>(`count\u0000${id}`) ?? 0) + 1;
        await ctx.state.put(`count\u0000${id}`, count);
        out.push({ key: { id }, value: { ...event.value!, after: { id, n: count } } });
      }
      return out;
    },
  }),
});

export interface RunningCountOptions {
  /** The pipeline's name; its source is `<name>-src`, its output topic `<name>.count`. */
  readonly name: string;
  /** Where the test plugins say their package is. */
  readonly packageDir: string;
  /** Changes the source makes. Default 3000. */
  readonly total?: number;
  /** Changes per read. Default 25. */
  readonly perRead?: number;
  /** Pause before each read. Default 20 ms. */
  readonly pauseMs?: number;
  /**
   * The counting processor runs once per input partition (`ProcessorPlan.perPartition`), its instances spread
   * over the nodes, rather than once. Default false.
   */
  readonly perPartition?: boolean;
}

/**
 * A pipeline whose output shows any loss or duplicate: a source counting n = 1..total over 7 keys, and a
 * stateful processor (its state in a changelog topic) emitting per key the running count of the changes it
 * saw, into a topic. Exactly once, each key's outputs are 1, 2, 3, … with no gap and no repeat.
 */
export async function runningCountPipeline(
  options: RunningCountOptions,
): Promise<{ plan: PipelinePlan; output: string; total: number }> {
  const registry = new PluginRegistry();
  for (const plugin of [counting, runningCount] as Plugin[]) {
    registry.add({
      plugin,
      packageName: plugin.name,
      packageVersion: '1.0.0',
      packageDir: options.packageDir,
    });
  }
  const total = options.total ?? 3000;
  const plan = await planPipeline(
    SourceDocument.fromValue({
      apiVersion: 'datamesh/v1',
      kind: 'Pipeline',
      name: options.name,
      sources: [
        {
          name: `${options.name}-src`,
          plugin: 'counting',
          config: { total, perRead: options.perRead ?? 25, pauseMs: options.pauseMs ?? 20 },
        },
      ],
      processors: [
        {
          name: 'count',
          plugin: 'running-count',
          inputs: [`${options.name}-src`],
          shared: true,
          config: { perPartition: options.perPartition ?? false },
        },
      ],
    }),
    registry,
  );
  return { plan, output: `${options.name}.count`, total };
}

/**
 * Reads the output topic until it holds `total` records or `deadline` passes, then a little longer (anything
 * written twice would arrive then), and answers the counts per key in the order they came.
 */
export async function readRunningCounts(
  transport: Transport,
  output: string,
  total: number,
  deadline: number,
): Promise<Map<number, number[]>> {
  while (!(await transport.describeTopic(output)) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
  }
  const consumer = transport.consumer({ group: `${output}-reader-${Date.now()}`, topics: [output] });
  const records: ConsumedRecord[] = [];
  try {
    while (records.length < total && Date.now() < deadline) {
      records.push(...(await consumer.poll({ maxRecords: 1000, maxWaitMs: 500 })));
    }
    records.push(...(await consumer.poll({ maxRecords: 1000, maxWaitMs: 2000 })));
  } finally {
    await consumer.close();
  }
  // The output's schemas are the input's: its Avro bodies decode with them.
  const keyType = avroType(schemas.keySchema);
  const valueType = avroType(schemas.valueSchema);
  const counts = new Map<number, number[]>();
  for (const record of records) {
    const id = (decodeWire(record.key!, keyType) as { id: number }).id;
    const value = decodeWire(record.value!, valueType) as { after: { n: number } };
    counts.set(id, [...(counts.get(id) ?? []), value.after.n]);
  }
  return counts;
}

/** Each key's counts are 1..(its share of `total`), in order: nothing lost, nothing counted twice. */
export function expectExactRunningCounts(
  counts: ReadonlyMap<number, readonly number[]>,
  total: number,
): void {
  for (let id = 0; id < KEYS; id++) {
    const inputs = Array.from({ length: total }, (_, i) => i + 1).filter((n) => n % KEYS === id).length;
    expect({ id, counts: counts.get(id) }).toEqual({
      id,
      counts: Array.from({ length: inputs }, (_, i) => i + 1),
    });
  }
}

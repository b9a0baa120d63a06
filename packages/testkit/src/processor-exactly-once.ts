import { expect, it } from 'vitest';
import {
  avroType,
  createLogger,
  decodeWire,
  defineProcessor,
  defineSource,
  envelopeSchemas,
  MeshNode,
  nodeConfigFrom,
  planPipeline,
  PluginRegistry,
  SourceDocument,
  Type,
  type ConsumedRecord,
  type Consumer,
  type Plugin,
  type Transaction,
  type TransactionalProducer,
  type Transport,
} from '@datamesh/core';

export interface ProcessorExactlyOnceOptions {
  /** A new connection to the transport under test; closed by the check. */
  readonly open: () => Promise<Transport>;
  /** The node config's `transport` section that names that transport (its `partitions` are set here). */
  readonly nodeTransport: Record<string, unknown>;
  /** The node's data directory. */
  readonly dataDir: string;
  /** Default 180 s. */
  readonly timeoutMs?: number;
}

const KEYS = 7;
const TOTAL = 3000;
const schemas = envelopeSchemas({
  name: 'test.counters',
  keyFields: ['id'],
  fields: [
    { name: 'id', type: 'long' },
    { name: 'n', type: 'long' },
  ],
});

/** Changes n = 1..TOTAL for key n % KEYS, 25 every 20 ms. */
const counting = defineSource({
  name: 'counting',
  version: '1.0.0',
  config: Type.Object({}),
  streams: () => [{ name: 'counters', ...schemas }],
  create() {
    let next = 1;
    return {
      async start(from) {
        next = ((from?.['n'] as number | undefined) ?? 0) + 1;
      },
      async read() {
        await new Promise((r) => setTimeout(r, 20));
        if (next > TOTAL) return undefined;
        const events = [];
        const last = Math.min(TOTAL, next + 24);
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

/** Counts the changes per key in its state and emits the running count. */
const runningCount = defineProcessor({
  name: 'running-count',
  version: '1.0.0',
  config: Type.Object({}),
  stateful: true,
  plan: (inputs) => ({
    keySchema: inputs[0]!.keySchema,
    valueSchema: inputs[0]!.valueSchema,
    lineage: [],
    consumes: [],
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

/**
 * The transport with the processor task's second commit failing before it reached the transport and its fourth
 * after: its transaction's commit, or (a transport without transactions) its consumer's offset commit.
 */
function failingCommits(transport: Transport, group: string, commits: { count: number }): Transport {
  const fail = async <T>(commit: () => Promise<T>): Promise<T> => {
    const n = ++commits.count;
    if (n === 2) throw new Error('commit failed before it reached the transport');
    const result = await commit();
    if (n === 4) throw new Error('commit went through, its answer was lost');
    return result;
  };
  const wrap = (producer: TransactionalProducer): TransactionalProducer => ({
    init: () => producer.init(),
    close: () => producer.close(),
    async begin(): Promise<Transaction> {
      const tx = await producer.begin();
      return {
        send: (records) => tx.send(records),
        sendOffsets: (group, offsets) => tx.sendOffsets(group, offsets),
        abort: () => tx.abort(),
        commit: () => fail(() => tx.commit()),
      };
    },
  });
  return Object.assign(Object.create(transport) as Transport, {
    consumer: (options: Parameters<Transport['consumer']>[0]) => {
      const consumer = transport.consumer(options);
      if (options.group !== group) return consumer;
      return {
        poll: (o) => consumer.poll(o),
        commit: (offsets) => fail(() => consumer.commit(offsets)),
        committed: () => consumer.committed(),
        lag: () => consumer.lag(),
        ...(consumer.readUpTo ? { readUpTo: consumer.readUpTo.bind(consumer) } : {}),
        close: () => consumer.close(),
      } satisfies Consumer;
    },
    ...(transport.transactionalProducer
      ? {
          transactionalProducer: (id: string) => {
            const producer = transport.transactionalProducer!(id);
            return id.startsWith('datamesh.processor.') ? wrap(producer) : producer;
          },
        }
      : {}),
  });
}

/**
 * A stateful processor whose task writes a topic, run by a real node on the transport while the commits of its
 * work fail: once before the commit reached the transport, once after (its answer lost). Its output must hold
 * every count once, in order: no output of a failed commit visible, no input counted twice into the state.
 * Registers one test.
 */
export function itWritesProcessorOutputsExactlyOnce(
  name: string,
  options: ProcessorExactlyOnceOptions,
): void {
  it(
    `${name}: a stateful processor writing a topic writes each output once and counts each input once when its commits fail before and after they took effect`,
    async () => {
      const suffix = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
      const registry = new PluginRegistry();
      for (const plugin of [counting, runningCount] as Plugin[]) {
        registry.add({
          plugin,
          packageName: plugin.name,
          packageVersion: '1.0.0',
          packageDir: options.dataDir,
        });
      }
      const plan = await planPipeline(
        SourceDocument.fromValue({
          apiVersion: 'datamesh/v1',
          kind: 'Pipeline',
          name: `eos-${suffix}`,
          sources: [{ name: `src-${suffix}`, plugin: 'counting' }],
          processors: [{ name: 'count', plugin: 'running-count', inputs: [`src-${suffix}`], shared: true }],
        }),
        registry,
      );
      const { config } = nodeConfigFrom(
        SourceDocument.fromValue({
          apiVersion: 'datamesh/v1',
          kind: 'Node',
          dataDir: options.dataDir,
          http: { port: 0 },
          transport: { ...options.nodeTransport, partitions: 3 },
          tasks: { flushIntervalMs: 100 },
        }),
        options.dataDir,
      );
      const transport = await options.open();
      const commits = { count: 0 };
      const node = await MeshNode.start({
        config,
        plans: [plan],
        transport: failingCommits(transport, `datamesh.eos-${suffix}.count`, commits),
        logger: createLogger({ level: 'silent' }),
      });
      const output = `eos-${suffix}.count`;
      const counts = new Map<number, number[]>();
      try {
        const deadline = Date.now() + (options.timeoutMs ?? 180_000) / 2;
        while (!(await transport.describeTopic(output)) && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 200));
        }
        const consumer = transport.consumer({ group: `${output}-reader`, topics: [output] });
        const records: ConsumedRecord[] = [];
        while (records.length < TOTAL && Date.now() < deadline) {
          records.push(...(await consumer.poll({ maxRecords: 1000, maxWaitMs: 500 })));
        }
        // Anything written twice would arrive now.
        records.push(...(await consumer.poll({ maxRecords: 1000, maxWaitMs: 2000 })));
        await consumer.close();
        // The output's schemas are the input's: its Avro bodies decode with them.
        const keyType = avroType(schemas.keySchema);
        const valueType = avroType(schemas.valueSchema);
        for (const record of records) {
          const id = (decodeWire(record.key!, keyType) as { id: number }).id;
          const value = decodeWire(record.value!, valueType) as { after: { n: number } };
          counts.set(id, [...(counts.get(id) ?? []), value.after.n]);
        }
      } finally {
        await node.stop();
        await transport.close();
      }
      expect(commits.count).toBeGreaterThan(4);
      for (let id = 0; id < KEYS; id++) {
        const inputs = Array.from({ length: TOTAL }, (_, i) => i + 1).filter((n) => n % KEYS === id).length;
        expect({ id, counts: counts.get(id) }).toEqual({
          id,
          counts: Array.from({ length: inputs }, (_, i) => i + 1),
        });
      }
    },
    options.timeoutMs ?? 180_000,
  );
}

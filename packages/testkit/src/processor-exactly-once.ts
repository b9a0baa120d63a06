import { expect, it } from 'vitest';
import {
  createLogger,
  MeshNode,
  nodeConfigFrom,
  SourceDocument,
  type Consumer,
  type Transaction,
  type TransactionalProducer,
  type Transport,
} from '@datamesh/core';
import {
  expectExactRunningCounts,
  readRunningCounts,
  runningCountPipeline,
} from './running-count-pipeline.js';

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
        assignment: () => consumer.assignment(),
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
 * Registers two tests: the processor run once for all partitions, and run once per partition (each instance
 * committing its own transactions).
 */
export function itWritesProcessorOutputsExactlyOnce(
  name: string,
  options: ProcessorExactlyOnceOptions,
): void {
  it.each([
    { perPartition: false, runs: 'once' },
    { perPartition: true, runs: 'once per partition' },
  ])(
    `${name}: a stateful processor writing a topic (run $runs) writes each output once and counts each input once when its commits fail before and after they took effect`,
    async ({ perPartition }) => {
      const suffix = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
      const { plan, output, total } = await runningCountPipeline({
        name: `eos-${suffix}`,
        packageDir: options.dataDir,
        perPartition,
      });
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
      let counts: Map<number, number[]>;
      try {
        const deadline = Date.now() + (options.timeoutMs ?? 180_000) / 2;
        counts = await readRunningCounts(transport, output, total, deadline);
        // Run per partition, each instance keeps its state in its own changelog.
        const changelog = `__datamesh_state.eos-${suffix}.count`;
        const exists = async (topic: string) => (await transport.describeTopic(topic)) !== undefined;
        expect(await exists(changelog)).toBe(!perPartition);
        for (const p of [0, 1, 2]) expect(await exists(`${changelog}.${p}`)).toBe(perPartition);
      } finally {
        await node.stop();
        await transport.close();
      }
      expect(commits.count).toBeGreaterThan(4);
      expectExactRunningCounts(counts, total);
    },
    options.timeoutMs ?? 180_000,
  );
}

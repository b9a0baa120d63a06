import {
  defineSink,
  type InputOffsets,
  type Logger,
  type PluginContext,
  type SinkRecord,
  type SinkRejection,
  type SinkOutput,
  type SinkTask,
  type Transport,
} from '@datamesh/core';
import type { KafkaTransport } from '@datamesh/transport-kafka';
import { clusterOptions, connectCluster, principalOf } from './cluster-connection.js';
import { explainRefusal, type PermissionContext, type SinkAction } from './kafka-permissions.js';
import {
  AtLeastOnceWriter,
  TransactionalWriter,
  type OutputWriter,
  type WriterOptions,
} from './output-writer.js';
import { RecordEncoder } from './record-encoder.js';
import { kafkaSinkConfig, type KafkaSinkConfig } from './sink-config.js';

/**
 * The topics a sink with this config writes, for the catalog of the node's transport: its one topic — unless
 * it writes to another cluster, whose topics that catalog does not hold.
 */
export function kafkaSinkOutputs(config: KafkaSinkConfig): readonly SinkOutput[] {
  if (config.cluster) return [];
  return [
    {
      topic: config.topic,
      format: config.format,
      ...(config.description !== undefined ? { description: config.description } : {}),
    },
  ];
}

/** The transactional id of a sink stage: one per stage, so a restarted task fences its predecessor. */
export function transactionalIdOf(pipeline: string, stage: string): string {
  return `datamesh.sink.${pipeline}.${stage}`;
}

/**
 * Writes a pipeline's output to a Kafka topic: the change event or its row state, Avro (Confluent wire
 * format, registered schemas) or JSON, keyed by the event key or chosen row fields. On the node's own Kafka
 * transport the records commit in one transaction with the input offsets (exactly once); on another cluster,
 * or with `exactlyOnce: false`, through an idempotent producer before the offsets (at least once).
 */
export const kafkaSink = defineSink({
  name: 'kafka',
  version: '0.1.0',
  description:
    'Writes change events (or their row state) to a Kafka topic in Avro or JSON, exactly once with the input offsets on the node’s own cluster.',
  config: kafkaSinkConfig,
  outputs: kafkaSinkOutputs,
  // One transactional id per stage: two nodes writing exactly once would fence each other.
  exclusive: (cfg, transport) => exactlyOnceUnavailable(cfg, transport) === undefined,
  create: createTask,
});

async function createTask(cfg: KafkaSinkConfig, ctx: PluginContext): Promise<SinkTask> {
  const transactionalId = transactionalIdOf(ctx.pipeline, ctx.stage);
  const permissions: { -readonly [K in keyof PermissionContext]: PermissionContext[K] } = {
    principal: principalOf(cfg.cluster),
    topic: cfg.topic,
    transactionalId,
  };
  const explain = (error: unknown, action: SinkAction) => explainRefusal(error, action, permissions);

  let own: KafkaTransport | undefined;
  let transport: Transport;
  if (cfg.cluster) {
    own = await connectCluster(await clusterOptions(cfg.cluster, ctx.logger));
    transport = own;
  } else if (ctx.transport) {
    transport = ctx.transport;
  } else {
    throw new Error(
      `sink "${ctx.stage}" writes to the node's transport or to \`cluster\`, and this context has no transport: set \`cluster\``,
    );
  }

  let writer: OutputWriter | undefined;
  try {
    await ensureOutputTopic(transport, cfg, explain);
    const metrics = ctx.metrics;
    const options: WriterOptions = {
      maxBufferedBytes: cfg.maxBufferedBytes,
      logger: ctx.logger,
      explain,
      metrics: {
        written: metrics.counter('records_written_total', 'Records durably written to the output topic.'),
        transactions: metrics.counter(
          'transactions_total',
          'Kafka transactions ended, by result (committed, aborted).',
          ['result'],
        ),
        buffered: metrics.gauge(
          'buffered_bytes',
          'Encoded bytes written by the pipeline and not yet durable in the output topic.',
        ),
      },
    };
    const unavailable = exactlyOnceUnavailable(cfg, transport);
    if (unavailable === undefined) {
      const producer = transport.transactionalProducer!(transactionalId);
      writer = new TransactionalWriter(producer, transactionalId, options);
      // Registers the id now: fences an older task of this stage and aborts what it left open.
      await producer.init().catch((error: unknown) => {
        throw explain(error, 'transaction');
      });
      ctx.logger.info(
        { topic: cfg.topic, transactionalId, guarantee: writer.guarantee },
        'kafka sink writes exactly once: records and input offsets commit in one transaction',
      );
    } else {
      writer = new AtLeastOnceWriter(transport.producer(), options);
      ctx.logger.info(
        {
          topic: cfg.topic,
          guarantee: writer.guarantee,
          ...(cfg.cluster ? { brokers: cfg.cluster.brokers } : {}),
        },
        `kafka sink writes at least once: ${unavailable}`,
      );
    }
    return sinkTask(cfg, ctx, writer, own, permissions);
  } catch (error) {
    await closeQuietly(ctx.logger, writer, own);
    throw error;
  }
}

function sinkTask(
  cfg: KafkaSinkConfig,
  ctx: PluginContext,
  writer: OutputWriter,
  own: KafkaTransport | undefined,
  permissions: { group?: string },
): SinkTask {
  const encoder = new RecordEncoder({
    topic: cfg.topic,
    format: cfg.format,
    envelope: cfg.envelope,
    schemas: ctx.schemas,
    ...(cfg.key ? { key: cfg.key } : {}),
  });
  const rejected = ctx.metrics.counter(
    'rejected_total',
    'Events sent to the dead-letter topic, by reason (key: key fields missing; schema: does not encode).',
    ['reason'],
  );
  const dropped = ctx.metrics.counter(
    'dropped_total',
    'Events not written by design, by reason (row envelope: truncate, tombstone).',
    ['reason'],
  );
  let closed = false;
  const task: SinkTask = {
    async write(records: readonly SinkRecord[]): Promise<readonly SinkRejection[]> {
      const batch = await encoder.encode(records);
      for (const r of batch.rejections) rejected.inc({ reason: r.reason });
      for (const reason of batch.dropped) dropped.inc({ reason });
      await writer.add(batch.records, batch.bytes);
      return batch.rejections.map(({ record, error }) => ({ record, error }));
    },
    async flush() {
      await writer.flush();
    },
    async close() {
      if (closed) return;
      closed = true;
      await closeQuietly(ctx.logger, writer, own, true);
    },
  };
  if (writer.guarantee === 'exactly-once') {
    task.flushWithOffsets = async (input: InputOffsets) => {
      permissions.group = input.group;
      await writer.flush(input);
    };
  }
  return task;
}

/** Why the task cannot write exactly once, or undefined when it can. */
function exactlyOnceUnavailable(
  cfg: KafkaSinkConfig,
  transport: Pick<Transport, 'kind' | 'transactionalProducer'>,
): string | undefined {
  if (!cfg.exactlyOnce) return 'exactlyOnce is false';
  if (cfg.cluster) {
    return "it writes to another cluster than the node's transport, and a transaction cannot span two clusters";
  }
  if (!transport.transactionalProducer) return `the node's ${transport.kind} transport has no transactions`;
  return undefined;
}

/** Creates the topic when missing; an existing one is left as it is (its partition count keeps key order). */
async function ensureOutputTopic(
  transport: Transport,
  cfg: KafkaSinkConfig,
  explain: (error: unknown, action: SinkAction) => unknown,
): Promise<void> {
  let existing;
  try {
    existing = await transport.describeTopic(cfg.topic);
  } catch (error) {
    throw explain(error, 'describe');
  }
  if (existing) return;
  try {
    await transport.ensureTopic(cfg.topic, { partitions: cfg.partitions });
  } catch (error) {
    throw explain(error, 'create');
  }
}

/** Closes the writer, then the sink's own cluster connection; with `raise`, the first failure is thrown. */
async function closeQuietly(
  logger: Logger,
  writer: OutputWriter | undefined,
  own: KafkaTransport | undefined,
  raise = false,
): Promise<void> {
  let failure: { error: unknown } | undefined;
  for (const close of [() => writer?.close(), () => own?.close()]) {
    try {
      await close();
    } catch (error) {
      failure ??= { error };
      if (!raise) logger.debug({ err: error }, 'closing the kafka sink failed');
    }
  }
  if (raise && failure) throw failure.error;
}

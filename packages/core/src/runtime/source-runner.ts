import { abortableDelay } from '../contract/abortable-delay.js';
import type { Position } from '../contract/context.js';
import type { SourceTask } from '../contract/plugin.js';
import type { PlannedSource } from '../pipeline/planner.js';
import type { Consumer, ProduceRecord } from '../transport/transport.js';
import type { StreamSchemas } from '../schema/envelope-schema.js';
import { IncompatibleSchemaError } from '../schema/schema-registry.js';
import { TaskHaltedError } from './supervisor.js';
import { changelogStateStore } from '../state/state-store.js';
import { EventCodec } from './event-codec.js';
import { checkpointsOf, type RuntimeServices } from './runtime-services.js';
import type { TaskRun } from './supervisor.js';
import { assertHolding, leaseGroup, takeLease } from './exclusive-ownership.js';
import { createPluginContext } from './task-context.js';
import { closeEach, ensureTopicKeepingPartitions } from './task-resources.js';

/** How long an empty read must at least take before the next one. */
const IDLE_READ_MS = 50;
/** Sources are acknowledged at most this often: each acknowledgement first waits for an fsync. */
const ACK_INTERVAL_MS = 1000;

export interface SourceRunOptions {
  readonly partitions: number;
}

/**
 * Runs one source: read a batch, append it to the stream topics, store the position, and — once the
 * transport has both on stable storage — acknowledge it to the source, which only then may release
 * upstream log space. A transport with transactions (both of ours) gets events and position in one
 * transaction, so readers of committed data see each batch exactly once; the transactional id, one per source
 * task, fences a zombie instance of the same task. (Without transactions a crash before the position is stored
 * replays the batch.)
 *
 * One node at a time runs a source: the one holding its lease, a consumer group of its own with every
 * partition on one member (`exclusive`). The task waits on the other nodes, and one of them takes over when
 * that node stops or its group session times out.
 */
export function sourceRun(
  pipeline: string,
  planned: PlannedSource,
  services: RuntimeServices,
  options: SourceRunOptions,
): TaskRun {
  return async (signal, standingBy) => {
    const lease = await takeLease(services, planned.id, signal, standingBy);
    if (!lease) return;
    try {
      await runHolding(lease, signal);
    } finally {
      await lease
        .close()
        .catch((error: unknown) =>
          services.logger.warn({ task: planned.id, err: error }, 'closing the source lease failed'),
        );
    }
  };

  async function runHolding(lease: Consumer, signal: AbortSignal): Promise<void> {
    const { stage, plugin } = planned;
    const { logger, transport } = services;
    const metrics = services.metrics.forStage(pipeline, stage.name, plugin.name, 'source');
    const codec = new EventCodec(services.schemas);
    for (const stream of planned.streams.values()) {
      await ensureTopicKeepingPartitions(transport, stream.topic, options.partitions, logger);
      await codec.prepareTopic(stream.topic, stream.keySchema, stream.valueSchema);
    }
    const ctx = createPluginContext(
      { pipeline, stage: stage.name, plugin: plugin.name },
      {
        logger,
        registry: services.registry,
        schemas: services.schemas,
        state: changelogStateStore(services.state, planned.id),
        checkpoints: checkpointsOf(services, planned.id),
        signal,
      },
    );
    const transactional = transport.transactionalProducer?.(`datamesh.source.${planned.id}`);
    const producer = transactional ? undefined : transport.producer();
    if (transactional) {
      // Fence a zombie instance of this task and settle what it left open before reading the position:
      // then the position read back from the topic is the last one committed, by whichever instance.
      await transactional.init();
      services.positions.markUncertain(planned.id);
    }
    let task: SourceTask | undefined;
    let closeError: unknown;
    // A stored position may not have been acknowledged before a restart: acknowledge it at the first chance.
    let unacknowledged: Position | undefined = await ctx.checkpoints.committed();
    let lastAckAt = Date.now();
    let lastStored = JSON.stringify((await ctx.checkpoints.committed()) ?? null);
    const acknowledge = async () => {
      if (!task || unacknowledged === undefined) return;
      await transport.sync();
      await task.acknowledge(unacknowledged);
      unacknowledged = undefined;
      lastAckAt = Date.now();
    };
    metrics.up(true);
    try {
      task = await plugin.create(planned.config as never, ctx);
      await task.start(await ctx.checkpoints.committed());
      while (!signal.aborted) {
        assertHolding(lease, planned.id, leaseGroup(planned.id));
        const readStarted = performance.now();
        const batch = await task.read(signal);
        if (!batch || batch.events.length === 0) {
          // A heartbeat: a new position without events (an idle database still advances its log).
          if (batch) await write([], batch.position);
          if (Date.now() - lastAckAt >= ACK_INTERVAL_MS) await acknowledge();
          metrics.progressed();
          // A source that answers "nothing" at once must not spin: that would starve timers and I/O.
          if (performance.now() - readStarted < IDLE_READ_MS) await abortableDelay(IDLE_READ_MS, signal);
          continue;
        }
        const started = performance.now();
        metrics.received(batch.events.length);
        const records: ProduceRecord[] = [];
        for (const { stream, event, schemas } of batch.events) {
          const target = planned.streams.get(stream);
          if (!target) {
            throw new Error(
              `source "${stage.name}" emitted an event for undeclared stream "${stream}"; declared: ${[...planned.streams.keys()].join(', ')}`,
            );
          }
          if (schemas) await prepareEvolvedTopic(target.topic, stream, schemas);
          records.push(codec.encode(target.topic, event));
        }
        await write(records, batch.position);
        if (Date.now() - lastAckAt >= ACK_INTERVAL_MS) await acknowledge();
        metrics.emitted(records.length);
        metrics.processed((performance.now() - started) / 1000);
        const newest = batch.events.reduce((max, e) => Math.max(max, e.event.value?.source.ts_ms ?? 0), 0);
        if (newest > 0) metrics.sourceLag((Date.now() - newest) / 1000);
        metrics.progressed();
      }
      await acknowledge();
    } catch (error) {
      metrics.failed();
      throw error;
    } finally {
      metrics.up(false);
      closeError = await closeEach(logger, [
        ['source', task ? () => task!.stop() : undefined],
        ['producer', () => (transactional ?? producer)!.close()],
      ]);
    }
    // Reached only when the task itself ended well: then a failed close is the task's failure.
    if (closeError !== undefined) throw closeError;

    /** Registers a stream's changed schemas; an incompatible change halts the source before the batch. */
    async function prepareEvolvedTopic(topic: string, stream: string, schemas: StreamSchemas): Promise<void> {
      let changed: boolean;
      try {
        changed = await codec.prepareTopic(topic, schemas.keySchema, schemas.valueSchema);
      } catch (error) {
        if (!(error instanceof IncompatibleSchemaError)) throw error;
        throw new TaskHaltedError(
          `source "${stage.name}": the schema of stream "${stream}" changed incompatibly (${error.message}). ` +
            `The source stopped before that change; nothing after its last position was written. Make the change ` +
            `compatible, or relax the compatibility of subject "${topic}-value" (mesh schemas), then restart the node.`,
          { cause: error },
        );
      }
      if (changed)
        logger.info({ source: stage.name, stream, topic }, 'stream schema changed; writing a new version');
    }

    /** Appends the events and stores the position: atomically where the transport has transactions. */
    async function write(records: readonly ProduceRecord[], position: Position): Promise<void> {
      const text = JSON.stringify(position);
      const moved = text !== lastStored;
      if (records.length === 0 && !moved) return;
      if (transactional) {
        const tx = await transactional.begin();
        let committing = false;
        try {
          await tx.send(moved ? [...records, services.positions.recordOf(planned.id, position)] : records);
          committing = true;
          await tx.commit();
        } catch (error) {
          // A commit whose answer was lost may have taken effect: the restarted task reads the stored
          // position back from the topic rather than resume from an older one and write events twice.
          if (committing && moved) services.positions.markUncertain(planned.id);
          await tx.abort().catch(() => undefined);
          throw error;
        }
        if (moved) services.positions.written(planned.id, position);
      } else {
        if (records.length > 0) await producer!.send(records);
        if (moved) await services.positions.put(planned.id, position);
      }
      if (!moved) return;
      lastStored = text;
      unacknowledged = position;
    }
  }
}

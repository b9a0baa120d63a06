import { abortableDelay } from '../contract/abortable-delay.js';
import type { SourceTask } from '../contract/plugin.js';
import type { PlannedSource } from '../pipeline/planner.js';
import { changelogStateStore } from '../state/state-store.js';
import { EventCodec } from './event-codec.js';
import { checkpointsOf, type RuntimeServices } from './runtime-services.js';
import { createPluginContext } from './task-context.js';
import type { TaskRun } from './supervisor.js';

/** How long an empty read must at least take before the next one. */
const IDLE_READ_MS = 50;

export interface SourceRunOptions {
  readonly partitions: number;
}

/**
 * Runs one source: read a batch, append it to the stream topics (durable on return), store the
 * position, and only then acknowledge it to the source, which may now release upstream log space.
 * A crash anywhere before the acknowledgement replays the batch: at-least-once on the embedded
 * transport; the Kafka transport writes events and position in one transaction.
 */
export function sourceRun(
  pipeline: string,
  planned: PlannedSource,
  services: RuntimeServices,
  options: SourceRunOptions,
): TaskRun {
  return async (signal) => {
    const { stage, plugin } = planned;
    const metrics = services.metrics.forStage(pipeline, stage.name, plugin.name, 'source');
    const codec = new EventCodec(services.schemas);
    for (const stream of planned.streams.values()) {
      await services.transport.ensureTopic(stream.topic, { partitions: options.partitions });
      await codec.prepareTopic(stream.topic, stream.keySchema, stream.valueSchema);
    }
    const ctx = createPluginContext(
      { pipeline, stage: stage.name, plugin: plugin.name },
      {
        logger: services.logger,
        registry: services.registry,
        schemas: services.schemas,
        state: changelogStateStore(services.state, planned.id),
        checkpoints: checkpointsOf(services, planned.id),
        signal,
      },
    );
    const producer = services.transport.producer();
    let task: SourceTask | undefined;
    metrics.up(true);
    try {
      task = await plugin.create(planned.config as never, ctx);
      await task.start(await ctx.checkpoints.committed());
      while (!signal.aborted) {
        const readStarted = performance.now();
        const batch = await task.read(signal);
        if (!batch) {
          metrics.progressed();
          // A source that answers "nothing" at once must not spin: that would starve timers and I/O.
          if (performance.now() - readStarted < IDLE_READ_MS) await abortableDelay(IDLE_READ_MS, signal);
          continue;
        }
        const started = performance.now();
        metrics.received(batch.events.length);
        const records = batch.events.map(({ stream, event }) => {
          const planned_ = planned.streams.get(stream);
          if (!planned_) {
            throw new Error(
              `source "${stage.name}" emitted an event for undeclared stream "${stream}"; declared: ${[...planned.streams.keys()].join(', ')}`,
            );
          }
          return codec.encode(planned_.topic, event);
        });
        await producer.send(records);
        await services.positions.put(planned.id, batch.position);
        await task.acknowledge(batch.position);
        metrics.emitted(records.length);
        metrics.processed((performance.now() - started) / 1000);
        const newest = batch.events.reduce((max, e) => Math.max(max, e.event.value?.source.ts_ms ?? 0), 0);
        if (newest > 0) metrics.sourceLag((Date.now() - newest) / 1000);
        metrics.progressed();
      }
    } finally {
      metrics.up(false);
      await task?.stop();
      await producer.close();
    }
  };
}

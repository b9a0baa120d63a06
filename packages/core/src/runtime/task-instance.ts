import { join } from 'node:path';
import type { PluginContext, ProcessorInputSchemas, StateStore } from '../contract/context.js';
import type { ProcessorTask } from '../contract/plugin.js';
import type { StageMetrics } from '../metrics/task-metrics.js';
import { processorInputOf, type PlannedTask } from '../pipeline/planner.js';
import { stateChangelogTopic, TaskStateStore } from '../state/task-state-store.js';
import type {
  Consumer,
  TopicPartitionOffset,
  Transaction,
  TransactionalProducer,
} from '../transport/transport.js';
import type { RuntimeServices } from './runtime-services.js';
import { TaskHaltedError } from './supervisor.js';
import { closeEach } from './task-resources.js';

export interface Stage {
  readonly name: string;
  readonly plugin: string;
  readonly metrics: StageMetrics;
  readonly process: ProcessorTask['process'];
}

/**
 * One instance of a consumer task's processors: for every input partition (the task runs once), or for one
 * partition number (the task runs once per input partition, see `ProcessorPlan.perPartition`). It owns what
 * the processors keep between batches: their plugin tasks, their state, and the transaction their outputs go
 * into until the next commit.
 */
export interface TaskInstance {
  /** The input partition number this instance handles; undefined: all of them. */
  readonly partition: number | undefined;
  readonly stages: readonly Stage[];
  readonly processors: readonly ProcessorTask[];
  readonly stores: readonly TaskStateStore[];
  /** Commits the outputs, state changes and input offsets of a topic-writing task (transports with them). */
  readonly transactional: TransactionalProducer | undefined;
  /** The transaction holding the outputs written since the last commit. */
  openTransaction: Transaction | undefined;
  /** Per `topic\0partition`, the offset to commit for the input handled since the last commit. */
  readonly pending: Map<string, TopicPartitionOffset>;
}

export interface InstanceParts {
  readonly pipeline: string;
  readonly planned: PlannedTask;
  readonly services: RuntimeServices;
  readonly consumer: Consumer;
  readonly group: string;
  readonly signal: AbortSignal;
  /** The stages' metrics, shared by every instance of the task. */
  readonly metrics: readonly StageMetrics[];
  /** Whether this task writes its output topic in transactions. */
  readonly transactional: boolean;
  readonly contextFor: (
    stage: string,
    plugin: string,
    state: StateStore | undefined,
    inputs: readonly ProcessorInputSchemas[],
  ) => PluginContext;
}

/** The transactional id of a processor task, or of its instance for one partition number. */
export function processorTransactionalId(task: string, partition: number | undefined): string {
  return `datamesh.processor.${task}${partition === undefined ? '' : `.${partition}`}`;
}

/**
 * Opens an instance: fences a zombie holding its transactional id and settles the transaction it left open (before
 * the state is restored, whose changelog would stay unreadable past that transaction, and before offsets are
 * read), restores the stages' state and creates their plugin tasks.
 */
export async function openTaskInstance(
  parts: InstanceParts,
  partition: number | undefined,
): Promise<TaskInstance> {
  const { pipeline, planned, services, signal } = parts;
  const { logger } = services;
  const transactional = parts.transactional
    ? services.transport.transactionalProducer?.(processorTransactionalId(planned.id, partition))
    : undefined;
  const stages: Stage[] = [];
  const processors: ProcessorTask[] = [];
  const stores: TaskStateStore[] = [];
  const instance: TaskInstance = {
    partition,
    stages,
    processors,
    stores,
    transactional,
    openTransaction: undefined,
    pending: new Map(),
  };
  try {
    await transactional?.init();
    const stateLostAt: { stage: string; topic: string; store: TaskStateStore }[] = [];
    for (const [i, p] of planned.chain.entries()) {
      let state: StateStore | undefined;
      if (p.plugin.stateful) {
        if (partition === undefined) await refuseStateKeptPerPartition(parts, p.stage.name);
        const topic = stateChangelogTopic(pipeline, p.stage.name, partition);
        const file = `${pipeline}.${p.stage.name}${partition === undefined ? '' : `.${partition}`}.sqlite`;
        const { store, report } = await TaskStateStore.open({
          transport: services.transport,
          topic,
          path: services.stateDir ? join(services.stateDir, file) : ':memory:',
          logger,
          signal,
        });
        stores.push(store);
        state = store;
        logger.info(
          {
            task: planned.id,
            stage: p.stage.name,
            topic,
            ...(partition === undefined ? {} : { partition }),
            ...report,
          },
          'stage state restored',
        );
        if (report.unborn) stateLostAt.push({ stage: p.stage.name, topic, store });
      }
      const inputs = p.inputs.map(processorInputOf);
      const task = await p.plugin.create(
        p.config as never,
        parts.contextFor(p.stage.name, p.stage.plugin, state, inputs),
      );
      processors.push(task);
      stages.push({
        name: p.stage.name,
        plugin: p.stage.plugin,
        metrics: parts.metrics[i]!,
        process: task.process.bind(task),
      });
    }
    if (stateLostAt.length > 0) await confirmEmptyState(parts, partition, stateLostAt);
    return instance;
  } catch (error) {
    await closeTaskInstance(instance, logger);
    throw error;
  }
}

/**
 * Lets stages whose state is gone start empty on a first start only (no committed input offsets for the
 * instance's partitions): anywhere else empty state would give wrong results from there on.
 */
async function confirmEmptyState(
  { consumer, group }: InstanceParts,
  partition: number | undefined,
  stateLostAt: readonly { stage: string; topic: string; store: TaskStateStore }[],
): Promise<void> {
  const committed = (await consumer.committed()).filter(
    (o) => partition === undefined || o.partition === partition,
  );
  if (committed.length === 0) {
    // The stages begin with empty state, which their changelogs now record.
    for (const { store } of stateLostAt) await store.born();
    return;
  }
  const lost = stateLostAt.map((s) => `"${s.stage}" (topic ${s.topic})`).join(', ');
  throw new TaskHaltedError(
    `the state of stage ${lost} is gone, but consumer group "${group}" has committed input offsets` +
      `${partition === undefined ? '' : ` for partition ${partition}`}: starting with empty state would give wrong ` +
      `results from there on. Restore the topic, or make the task read its inputs again from the beginning, which ` +
      `rebuilds the state: delete the group (Kafka: kafka-consumer-groups.sh --bootstrap-server <brokers> --delete ` +
      `--group ${group}; embedded log: remove groups/${group}.json under the node's log directory) and start the ` +
      `node again`,
  );
}

/**
 * A stage that kept its state per partition (its task ran once per partition) cannot run once now on the state
 * it had before that: the task halts and says how to go on.
 */
async function refuseStateKeptPerPartition({ pipeline, planned, services }: InstanceParts, stage: string) {
  const perPartition = stateChangelogTopic(pipeline, stage, 0);
  if (!(await services.transport.describeTopic(perPartition))) return;
  throw new TaskHaltedError(
    `stage "${stage}" of task ${planned.id} keeps its state per partition (topics ${stateChangelogTopic(pipeline, stage)}.<p>), ` +
      `but the task now runs once: its inputs and replay topic no longer have the same partition count, or its ` +
      `processor no longer says perPartition. Give the topics one partition count again, or rebuild the state: ` +
      `delete the consumer group datamesh.${planned.id} and the state topics, and start the node again`,
  );
}

/**
 * Closes an instance: what its open transaction holds is dropped (as a crash would drop it), and so are state
 * writes not committed with one. Answers the first close error.
 */
export async function closeTaskInstance(
  instance: TaskInstance,
  logger: RuntimeServices['logger'],
): Promise<unknown> {
  const open = instance.openTransaction;
  instance.openTransaction = undefined;
  await open?.abort().catch(() => undefined);
  return closeEach(logger, [
    ...instance.processors.map((p, i) => [`processor ${i}`, p.close ? () => p.close!() : undefined] as const),
    ...instance.stores.map((store, i) => [`state ${i}`, () => store.close()] as const),
    ['transactional producer', instance.transactional ? () => instance.transactional!.close() : undefined],
  ]);
}

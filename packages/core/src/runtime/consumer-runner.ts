import type { ChangeEvent } from '../contract/envelope.js';
import {
  type SinkRecord,
  type SinkRejection,
  type SinkTask,
  type TransportPosition,
} from '../contract/plugin.js';
import type { StreamSchemas } from '../schema/envelope-schema.js';
import { WireFormatError } from '../schema/wire-format.js';
import type { StageMetrics } from '../metrics/task-metrics.js';
import { splitsByPartition, type PlannedTask } from '../pipeline/planner.js';
import type { ProcessorInputSchemas, StateStore } from '../contract/context.js';
import { changelogStateStore, undeclaredStateStore } from '../state/state-store.js';
import type {
  ConsumedRecord,
  Consumer,
  ProduceRecord,
  Producer,
  RecordMetadata,
  TopicPartitionOffset,
  TransactionalProducer,
} from '../transport/transport.js';
import {
  DEAD_LETTER_HEADER,
  deadLetterRecord,
  deadLetterTopic,
  replayTopic,
  withoutDeadLetterHeaders,
  type Failure,
} from './dead-letters.js';
import { EventCodec } from './event-codec.js';
import { checkpointsOf, type RuntimeServices } from './runtime-services.js';
import { assertKeysFollow, closeEach, ensureStreamTopic } from './task-resources.js';
import { createPluginContext } from './task-context.js';
import { assertHolding, committedPositions, untilHolding } from './exclusive-ownership.js';
import type { TaskRun } from './supervisor.js';
import {
  closeTaskInstance,
  openTaskInstance,
  type InstanceParts,
  type Stage,
  type TaskInstance,
} from './task-instance.js';

export interface ConsumerRunOptions {
  readonly partitions: number;
  readonly batchSize: number;
  /** A sink is flushed (and input offsets committed) after this many events… */
  readonly flushEvents: number;
  /** …or this long after the first unflushed event, whichever comes first. */
  readonly flushIntervalMs: number;
  /**
   * The ids of every consumer task of the pipeline. The first of them warns about replayed dead letters that
   * name a task the pipeline no longer has (a stage renamed since): no task takes those.
   */
  readonly pipelineTasks?: readonly string[];
}

/**
 * Runs a consumer task: poll the input topics, run the fused processors record by record (so every
 * output keeps the input position it came from), hand the result to the sink or the output topic,
 * and commit input offsets only after the sink flushed or the output topic acknowledged.
 *
 * A task that writes a topic, and whose processors keep no state across partitions (`perPartition`), runs
 * one instance per input partition number: the nodes running the pipeline split the numbers among them
 * (a co-partitioned consumer group), and each instance commits its own transactions under its own id.
 * Other tasks that write under one transactional id run on one node at a time.
 *
 * An event a processor fails on, or a sink rejects, goes to the pipeline's dead-letter topic (durably,
 * before the offsets that pass it are committed) and the task goes on; `TransientError`s and everything
 * else a sink throws restart the task instead. The task also reads the pipeline's replay topic and takes
 * the dead letters replayed to it.
 */
export function consumerRun(
  pipeline: string,
  planned: PlannedTask,
  services: RuntimeServices,
  options: ConsumerRunOptions,
): TaskRun {
  return async (signal, standingBy, holding) => {
    const { logger } = services;
    const codec = new EventCodec(services.schemas);
    for (const input of planned.inputs) {
      await ensureStreamTopic(services.transport, input, options.partitions, logger);
    }
    const replay = replayTopic(pipeline);
    const deadLetters = deadLetterTopic(pipeline);
    // The replay topic has as many partitions as the inputs, so a task run per partition number gets the
    // dead letters of a partition replayed to the instance that handles it.
    if (!(await services.transport.describeTopic(replay)))
      await services.transport.ensureTopic(replay, { partitions: options.partitions });
    if (!(await services.transport.describeTopic(deadLetters)))
      await services.transport.ensureTopic(deadLetters, { partitions: 1 });

    const contextFor = (
      stage: string,
      plugin: string,
      state: StateStore | 'sink' | undefined,
      inputs?: readonly ProcessorInputSchemas[],
    ) =>
      createPluginContext(
        { pipeline, stage, plugin },
        {
          logger,
          registry: services.registry,
          schemas: services.schemas,
          state:
            state === 'sink'
              ? changelogStateStore(services.state, `${pipeline}.${stage}`)
              : (state ?? undeclaredStateStore(plugin)),
          checkpoints: checkpointsOf(services, `${pipeline}.${stage}`),
          signal,
          transport: services.transport,
          ...(inputs ? { inputs } : {}),
        },
      );

    let sink: SinkTask | undefined;
    const group = `datamesh.${planned.id}`;
    // Where the transport has transactions, a task that writes a topic writes it exactly once: each commit is
    // one transaction holding the outputs since the last one, the stages' state changes and the input offsets.
    // Outputs of a task that died before its commit are never read, so the restarted task — which may read its
    // input partitions in another interleaving — computes on state that matches what readers saw.
    const transactional =
      planned.output.kind === 'topic' && services.transport.transactionalProducer !== undefined;
    const perPartition = transactional && (await partitionsToSplit(planned, [replay], services, logger));
    // A task writing under one transactional id (its own, or its sink's) runs on one node at a time, the one
    // whose consumer holds the input partitions; the task waits on the others (exclusive group) rather than
    // fence the running one.
    const exclusive =
      (transactional && !perPartition) ||
      (planned.output.kind === 'sink' &&
        (planned.output.sink.plugin.exclusive?.(planned.output.sink.config as never, services.transport) ??
          false));
    const consumer = services.transport.consumer({
      group,
      topics: [...planned.inputs.map((i) => i.topic), replay],
      fromBeginning: true,
      ...(exclusive ? { exclusive } : {}),
      ...(perPartition ? { copartitioned: true } : {}),
    });
    const producer = services.transport.producer();
    const stageMetrics = planned.chain.map((p) =>
      services.metrics.forStage(pipeline, p.stage.name, p.stage.plugin, 'processor'),
    );
    const allMetrics: StageMetrics[] = [...stageMetrics];
    /** The instances of the task's processors on this node, by partition number (-1: all partitions). */
    const instances = new Map<number, TaskInstance>();
    const instanceParts: InstanceParts = {
      pipeline,
      planned,
      services,
      consumer,
      group,
      signal,
      metrics: stageMetrics,
      transactional,
      contextFor,
    };
    let closeError: unknown;
    let lagProbe: LagProbe | undefined;
    /** A sink flush running in the background (see `commit`). */
    let background: Promise<void> | undefined;
    try {
      if (exclusive && !(await untilHolding(consumer, planned.id, group, logger, signal, standingBy))) return;
      /**
       * Per partition, the offset after the last record this run of the task handed on. An instance that starts
       * on partitions another instance may have run starts at the committed offsets: records its consumer
       * fetched below them were taken care of by that one.
       */
      const handedOut = new Map<string, number>();
      const resumeAt = async (partition: number | undefined) => {
        for (const [at, offset] of await committedPositions(consumer)) {
          if (partition === undefined || at.endsWith(`\u0000${partition}`)) handedOut.set(at, offset);
        }
      };
      if (!perPartition) instances.set(-1, await openTaskInstance(instanceParts, undefined));
      const output = planned.output;
      const last = planned.chain[planned.chain.length - 1];
      const chainSchema: StreamSchemas | undefined = last && {
        keySchema: last.output.keySchema,
        valueSchema: last.output.valueSchema,
      };
      const letters = new DeadLetterWriter(pipeline, planned.id, producer, logger);
      if (output.kind === 'sink') {
        allMetrics.push(
          services.metrics.forStage(pipeline, output.sink.stage.name, output.sink.plugin.name, 'sink'),
        );
        sink = await output.sink.plugin.create(
          output.sink.config as never,
          contextFor(output.sink.stage.name, output.sink.plugin.name, 'sink'),
        );
      } else {
        const stream = output.processor.output;
        await ensureStreamTopic(services.transport, stream, options.partitions, logger);
        await codec.prepareTopic(stream.topic, stream.keySchema, stream.valueSchema);
        await assertKeysFollow(services.schemas, stream);
      }
      // Read once every producer of the task fenced its predecessor and settled what that one left open (the
      // instance's, and an exclusive sink's, which its create does): that transaction may carry offsets.
      if (exclusive) await resumeAt(undefined);
      // Task-level series (input lag, write and flush errors) carry the stage that ends the task, as restarts do.
      const end = allMetrics[allMetrics.length - 1]!;
      allMetrics.forEach((m) => m.up(true));

      let pendingSince = 0;
      let unflushed = 0;
      const sinkFailure = (): Omit<Failure, 'error'> => ({
        stage: output.kind === 'sink' ? output.sink.stage.name : '',
        plugin: output.kind === 'sink' ? output.sink.plugin.name : '',
        kind: 'sink',
        task: planned.id,
      });
      const first = planned.chain[0];
      // A processor is told which of its inputs a batch came from, by the name its plan saw.
      const inputRefs = new Map(planned.inputs.map((i) => [i.topic, i.ref]));
      const inputOf = (topic: string) => inputRefs.get(topic) ?? topic;
      const receiver: Receiver = {
        failure: first
          ? { stage: first.stage.name, plugin: first.stage.plugin, kind: 'processor', task: planned.id }
          : { ...sinkFailure(), task: planned.id },
        metrics: allMetrics[0]!,
      };
      const rejected = async (rejections: void | readonly SinkRejection[]) => {
        if (!rejections || rejections.length === 0) return 0;
        await letters.send(
          rejections.map((r) => ({
            position: r.record.position,
            failure: { ...sinkFailure(), error: r.error },
          })),
          end,
        );
        return rejections.length;
      };
      /** Flushes what was written up to now and commits the offsets passing it. */
      const flushAndCommit = async (
        offsets: TopicPartitionOffset[],
        written: number,
        upTo: number,
        state: Promise<unknown>,
      ) => {
        // State first: committed input must always be covered by durable state.
        await state;
        if (sink) {
          const started = performance.now();
          if (sink.flushWithOffsets) {
            await counted(end, () => sink!.flushWithOffsets!({ group, offsets }));
          } else {
            written -= await rejected(await counted(end, () => sink!.flush()));
          }
          end.flushed((performance.now() - started) / 1000);
          end.emitted(written);
        }
        if (!sink?.flushWithOffsets) await consumer.commit(offsets);
        letters.committed(upTo);
      };
      // A sink that takes writes while it flushes (`concurrentFlush`) is flushed in the background: the task
      // goes on consuming, one flush at a time, and commits each flush's offsets once it resolved.
      let backgroundFailure: { error: unknown } | undefined;
      const settled = async () => {
        await background;
        if (backgroundFailure) throw backgroundFailure.error;
      };
      /** Stops the instance of a partition number this node no longer holds; what it left open is dropped. */
      const dropInstance = async (instance: TaskInstance, why: string) => {
        instances.delete(instance.partition ?? -1);
        for (const at of handedOut.keys())
          if (at.endsWith(`\u0000${instance.partition}`)) handedOut.delete(at);
        logger.info({ task: planned.id, partition: instance.partition }, why);
        await closeTaskInstance(instance, logger);
      };
      /**
       * Settles an instance whose transaction failed. One whose partition number went to another node stops here
       * (answers true); that node goes on from the last commit. One fenced while this consumer still holds the
       * number (a rebalance this node has not seen yet, or a transaction the broker timed out) cannot simply
       * reopen: its consumer already read past the records of the aborted transaction, so the task fails and
       * restarts (counted, with backoff, so a fence that repeats shows), its new consumer at the committed
       * offsets. Anything else is the caller's to throw (answers false).
       */
      const movedAway = async (instance: TaskInstance, error: unknown): Promise<boolean> => {
        if (instance.partition === undefined) return false;
        if (!holds(consumer, instance.partition)) {
          await dropInstance(instance, 'partition moved to another node: its instance here stops');
          return true;
        }
        if (!isFenced(error)) return false;
        throw new Error(
          `task ${planned.id}: the transaction of partition ${instance.partition} was fenced (another node took the ` +
            `partition over, or the broker aborted a transaction open longer than its timeout: keep ` +
            `tasks.flushIntervalMs well below it); the task restarts from the committed offsets`,
          { cause: error },
        );
      };
      /** Commits an instance's outputs, state changes and input offsets since its last commit in one transaction. */
      const commitTransaction = async (instance: TaskInstance, transactions: TransactionalProducer) => {
        const offsets = [...instance.pending.values()];
        instance.pending.clear();
        let transaction = instance.openTransaction;
        instance.openTransaction = undefined;
        const localCommits: ((committed: readonly RecordMetadata[]) => void)[] = [];
        let committed: readonly RecordMetadata[];
        try {
          transaction ??= await transactions.begin();
          for (const store of instance.stores) localCommits.push(await store.flushInto(transaction));
          await transaction.sendOffsets(group, offsets);
          committed = await transaction.commit();
        } catch (error) {
          await transaction?.abort().catch(() => undefined);
          if (await movedAway(instance, error)) return;
          end.failed();
          throw error;
        }
        for (const commitLocally of localCommits) commitLocally(committed);
      };
      const commit = async (wait: boolean) => {
        await settled();
        const due = [...instances.values()].filter((instance) => instance.pending.size > 0);
        if (due.length === 0) return;
        const written = unflushed;
        pendingSince = 0;
        unflushed = 0;
        const upTo = letters.mark();
        if (transactional) {
          for (const instance of due) await commitTransaction(instance, instance.transactional!);
          letters.committed(upTo);
          return;
        }
        // One instance: a task without transactions runs its processors once.
        const [instance] = due as [TaskInstance];
        // Started here, so it takes exactly the state writes of the input whose offsets this commit carries.
        const state = Promise.all(instance.stores.map((store) => store.flush()));
        state.catch(() => undefined);
        const flush = flushAndCommit([...instance.pending.values()], written, upTo, state);
        instance.pending.clear();
        if (wait || !sink?.concurrentFlush) return flush;
        background = flush.then(
          () => (background = undefined),
          (error: unknown) => {
            backgroundFailure = { error };
            background = undefined;
          },
        );
      };
      /** The instance for a record's partition, opened the first time this node handles that number. */
      const instanceFor = async (partition: number): Promise<TaskInstance> => {
        if (!perPartition) return instances.get(-1)!;
        let instance = instances.get(partition);
        if (instance === undefined) {
          instance = await openTaskInstance(instanceParts, partition);
          instances.set(partition, instance);
          await resumeAt(partition);
          logger.info({ task: planned.id, partition }, 'partition instance starts on this node');
        }
        return instance;
      };

      // The input lag is probed on a timer, not per poll: it costs broker round trips, and a task blocked in a
      // flush (a sink's engine down) must still show its input piling up.
      lagProbe = new LagProbe(
        () => consumer.lag(),
        (lag) => end.inputLag(lag),
      );
      let idle: boolean | undefined;
      /** The partition numbers last reported to /health. */
      let shown: number[] | undefined;
      while (!signal.aborted) {
        if (exclusive) assertHolding(consumer, planned.id, group);
        if (perPartition) {
          const held = heldNumbers(consumer);
          for (const instance of [...instances.values()]) {
            if (!held.has(instance.partition!))
              await dropInstance(instance, 'partition moved to another node: its instance here stops');
          }
          // Opened as soon as the number is held, so its state is ready before its first records come. The open
          // transactions commit first: a long restore must not keep them open past the broker's timeout. A stop
          // during a restore still commits what the other instances did.
          if ([...held].some((partition) => !instances.has(partition))) await commit(false);
          for (const partition of held) {
            try {
              await instanceFor(partition);
            } catch (error) {
              if (signal.aborted) break;
              throw error;
            }
          }
          if (signal.aborted) break;
          // A node holding no partition number (more nodes than partitions) stands by.
          if (idle !== (held.size === 0)) standingBy((idle = held.size === 0));
          const numbers = [...instances.keys()].sort((x, y) => x - y);
          if (numbers.join() !== shown?.join()) holding?.((shown = numbers));
        }
        // A consumer that rejoins its group goes back to the committed offsets and hands out again records this
        // task already gave the sink (still in its buffer or open transaction): those are dropped here, or a
        // transactional sink would commit them twice.
        const polled = await consumer.poll({ maxRecords: options.batchSize, maxWaitMs: 200, signal });
        if (backgroundFailure) throw backgroundFailure.error;
        // Records of partition numbers that moved away during the poll are left to their new holder.
        const held = perPartition ? heldNumbers(consumer) : undefined;
        const batches = new Map<TaskInstance, ConsumedRecord[]>();
        for (const r of polled) {
          if (held && !held.has(r.partition)) continue;
          // Looked up without awaiting: this runs per record, and the instance is open unless just assigned.
          const instance = instances.get(perPartition ? r.partition : -1) ?? (await instanceFor(r.partition));
          const at = `${r.topic}\u0000${r.partition}`;
          if (r.offset < (handedOut.get(at) ?? 0)) continue;
          handedOut.set(at, r.offset + 1);
          let batch = batches.get(instance);
          if (batch === undefined) batches.set(instance, (batch = []));
          batch.push(r);
        }
        if (batches.size === 0) {
          await commit(false);
          allMetrics.forEach((m) => m.progressed());
          continue;
        }
        const started = performance.now();
        for (const [instance, records] of batches) {
          letters.received(records);
          const ours = records.filter(
            (r) => r.topic !== replay || r.headers[DEAD_LETTER_HEADER.task] === planned.id,
          );
          if (options.pipelineTasks?.[0] === planned.id)
            warnOfUnknownTasks(records, replay, options.pipelineTasks, logger);
          const transactions = instance.transactional;
          const inTransaction = transactions
            ? async (records: readonly ProduceRecord[]) =>
                (instance.openTransaction ??= await transactions.begin()).send(records)
            : undefined;
          let results: SinkRecord[];
          try {
            results = await runChain(ours, codec, {
              stages: instance.stages,
              chainSchema,
              letters,
              task: planned.id,
              replay,
              receiver,
              inputOf,
              ...(inTransaction ? { sendLetters: inTransaction } : {}),
            });
          } catch (error) {
            if (await movedAway(instance, error)) continue;
            throw error;
          }
          if (sink) {
            end.received(results.length);
            unflushed += results.length;
            unflushed -= await rejected(await counted(end, () => sink!.write(results)));
          } else if (output.kind === 'topic') {
            const topic = output.processor.output.topic;
            const encoded = results.map((r) => codec.encode(topic, r.event));
            if (inTransaction) {
              if (encoded.length > 0) {
                try {
                  await counted(end, () => inTransaction(encoded));
                } catch (error) {
                  if (await movedAway(instance, error)) continue;
                  throw error;
                }
              }
              unflushed += results.length;
            } else await counted(end, () => producer.send(encoded));
          }
          for (const r of records) {
            instance.pending.set(`${r.topic}\u0000${r.partition}`, {
              topic: r.topic,
              partition: r.partition,
              offset: r.offset + 1,
            });
          }
        }
        if (sink) end.processed((performance.now() - started) / 1000);
        // Counted from the first uncommitted record, so batches that all filter out still commit on time.
        if (pendingSince === 0) pendingSince = Date.now();
        const due = unflushed >= options.flushEvents || Date.now() - pendingSince >= options.flushIntervalMs;
        // Without a sink or a transaction the outputs are already written: commit at once, so little is read
        // twice after a crash.
        if ((!sink && !transactional) || due) await commit(false);
        allMetrics.forEach((m) => m.progressed());
      }
      // Graceful stop: what was written is flushed and its offsets committed.
      await commit(true);
    } finally {
      await lagProbe?.stop();
      await background;
      allMetrics.forEach((m) => m.up(false));
      // The consumer leaves its group first, whatever the plugins' closes do.
      closeError = await closeEach(logger, [
        ['consumer', () => consumer.close()],
        ['sink', sink?.close ? () => sink!.close!() : undefined],
      ]);
      for (const instance of instances.values()) {
        const failed = await closeTaskInstance(instance, logger);
        closeError ??= failed;
      }
      closeError ??= await closeEach(logger, [['producer', () => producer.close()]]);
    }
    // Reached only when the task itself ended well: then a failed close is the task's failure.
    if (closeError !== undefined) throw closeError;
  };
}

/**
 * True when a task can run once per input partition number: it writes a topic, its processors keep no state
 * across partitions (`perPartition`), and every input (and the replay topic) has the same number of partitions,
 * more than one. Otherwise it runs once, and says why when only the partition counts stand in the way.
 */
async function partitionsToSplit(
  planned: PlannedTask,
  alsoRead: readonly string[],
  services: RuntimeServices,
  logger: RuntimeServices['logger'],
): Promise<boolean> {
  if (!splitsByPartition(planned)) return false;
  const topics = [...planned.inputs.map((i) => i.topic), ...alsoRead];
  const counts = new Map<string, number>();
  for (const topic of topics)
    counts.set(topic, (await services.transport.describeTopic(topic))?.partitions ?? 0);
  const distinct = new Set(counts.values());
  if (distinct.size === 1) return [...distinct][0]! > 1;
  logger.info(
    { task: planned.id, partitions: Object.fromEntries(counts) },
    'task runs as one instance: its input topics have different partition counts, so they are not co-partitioned',
  );
  return false;
}

/** The partition numbers a co-partitioned consumer holds now. */
function heldNumbers(consumer: Consumer): Set<number> {
  return new Set(consumer.assignment().map((tp) => tp.partition));
}

function holds(consumer: Consumer, partition: number): boolean {
  return heldNumbers(consumer).has(partition);
}

/**
 * True for a commit refused because a newer producer took the transactional id: the embedded transport's
 * `ProducerFencedError`, Kafka's PRODUCER_FENCED and INVALID_PRODUCER_EPOCH (by name and type, as kafkajs
 * reports them, also when wrapped).
 */
function isFenced(error: unknown): boolean {
  for (
    let e: unknown = error;
    e instanceof Error;
    e = e.cause ?? (e as { originalError?: unknown }).originalError
  ) {
    const type = (e as { type?: unknown }).type;
    if (e.name === 'ProducerFencedError' || type === 'PRODUCER_FENCED' || type === 'INVALID_PRODUCER_EPOCH')
      return true;
  }
  return false;
}

/** Warns of replayed dead letters naming a task the pipeline no longer has: no task takes them. */
function warnOfUnknownTasks(
  records: readonly ConsumedRecord[],
  replay: string,
  tasks: readonly string[],
  logger: RuntimeServices['logger'],
): void {
  for (const r of records) {
    const task = r.topic === replay ? r.headers[DEAD_LETTER_HEADER.task] : undefined;
    if (task === undefined || tasks.includes(task)) continue;
    logger.warn(
      { task, replay: `${r.topic}/${r.partition}@${r.offset}`, tasks },
      'a replayed dead letter names a task this pipeline does not have (a stage renamed?): no task takes it',
    );
  }
}

/** Runs a write or flush, counting its failure on the stage before letting it propagate. */
async function counted<T>(metrics: StageMetrics, action: () => Promise<T>): Promise<T> {
  try {
    return await action();
  } catch (error) {
    metrics.failed();
    throw error;
  }
}

/**
 * True for errors that are not the event's fault: the task restarts rather than dead-lettering the event. By
 * name, as the supervisor recognises a halt, so errors of a plugin built against another copy of core count too.
 */
function restartsTask(error: unknown): boolean {
  return (
    error instanceof Error &&
    (error.name === 'TransientError' || error.name === 'TaskHaltedError' || error.name === 'AbortError')
  );
}

/**
 * A replayed dead letter as it was first read: decoded against the schemas of its origin topic (a tombstone
 * takes the value schema from there, the replay topic has none registered) and handed to the plugins with the
 * headers it had, without the dead-letter bookkeeping. Its position stays the replay topic's.
 */
function asFirstRead(record: ConsumedRecord): ConsumedRecord {
  return {
    ...record,
    topic: record.headers[DEAD_LETTER_HEADER.topic] ?? record.topic,
    headers: withoutDeadLetterHeaders(record.headers),
  };
}

/** How often a consumer task's input lag is measured. */
const LAG_PROBE_MS = 1000;

/** Measures a value now and then every LAG_PROBE_MS, one measurement at a time; failures keep the last value. */
class LagProbe {
  private inFlight: Promise<void> | undefined;
  private readonly timer: NodeJS.Timeout;
  private readonly measure: () => Promise<number>;
  private readonly report: (lag: number) => void;

  constructor(measure: () => Promise<number>, report: (lag: number) => void) {
    this.measure = measure;
    this.report = report;
    this.probe();
    this.timer = setInterval(() => this.probe(), LAG_PROBE_MS);
    this.timer.unref();
  }

  private probe(): void {
    this.inFlight ??= this.measure()
      .then(this.report, () => undefined)
      .finally(() => (this.inFlight = undefined));
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.inFlight;
  }
}

/** The stage a record enters the task at: charged with the records that do not decode. */
interface Receiver {
  readonly failure: Omit<Failure, 'error'>;
  readonly metrics: StageMetrics;
}

/**
 * Runs the fused processors record by record, so every output keeps the position of the input it
 * came from. A record a processor fails on is dead-lettered and yields nothing. Metrics are summed per
 * stage and recorded once per batch: recording them per record cost about a tenth of a fused task's CPU.
 */
interface Chain {
  readonly stages: readonly Stage[];
  readonly chainSchema: StreamSchemas | undefined;
  readonly letters: DeadLetterWriter;
  readonly task: string;
  readonly replay: string;
  readonly receiver: Receiver;
  /** The planned input name of a topic the task reads. */
  readonly inputOf: (topic: string) => string;
  /**
   * Writes dead letters into the transaction that carries the outputs of the same input, so a transaction that
   * never commits leaves none behind (the input is read again, by this node or another). Default: at once.
   */
  readonly sendLetters?: (records: readonly ProduceRecord[]) => Promise<void>;
}

async function runChain(
  records: readonly ConsumedRecord[],
  codec: EventCodec,
  { stages, chainSchema, letters, task, replay, receiver, inputOf, sendLetters }: Chain,
): Promise<SinkRecord[]> {
  const out: SinkRecord[] = [];
  const received = new Array<number>(stages.length).fill(0);
  const emitted = new Array<number>(stages.length).fill(0);
  const seconds = new Array<number>(stages.length).fill(0);
  const failed: { position: TransportPosition; failure: Failure }[] = [];
  try {
    for (const record of records) {
      const position: TransportPosition = {
        topic: record.topic,
        partition: record.partition,
        offset: record.offset,
      };
      let decoded: Awaited<ReturnType<EventCodec['decodeWithSchemas']>>;
      try {
        decoded = await codec.decodeWithSchemas(record.topic === replay ? asFirstRead(record) : record);
      } catch (error) {
        // Bytes no reader can decode would stop the task forever: they go to the dead-letter topic, charged to
        // the stage that would have received them. An unknown schema id is not among them (the registry may
        // only be behind): that restarts the task.
        if (!(error instanceof WireFormatError)) throw error;
        failed.push({ position, failure: { ...receiver.failure, error } });
        continue;
      }
      const topic =
        record.topic === replay ? (record.headers[DEAD_LETTER_HEADER.topic] ?? record.topic) : record.topic;
      let events: readonly ChangeEvent[] = [decoded.event];
      let input = inputOf(topic);
      for (let i = 0; i < stages.length && events.length > 0; i++) {
        const stage = stages[i]!;
        const started = performance.now();
        received[i]! += events.length;
        try {
          const result = stage.process(events, input);
          events = result instanceof Promise ? await result : result;
        } catch (error) {
          stage.metrics.failed();
          if (restartsTask(error)) throw error;
          failed.push({
            position,
            failure: { error, stage: stage.name, plugin: stage.plugin, kind: 'processor', task },
          });
          events = [];
          continue;
        }
        emitted[i]! += events.length;
        seconds[i]! += performance.now() - started;
        input = stage.name;
      }
      const schema = chainSchema ?? decoded.schema;
      for (const event of events) out.push({ event, position, schema, topic });
    }
    if (failed.length > 0) {
      await letters.send(
        failed,
        (stage) => stages.find((s) => s.name === stage)?.metrics ?? receiver.metrics,
        sendLetters,
      );
    }
  } finally {
    stages.forEach((stage, i) => {
      if (received[i] === 0) return;
      stage.metrics.received(received[i]!);
      stage.metrics.emitted(emitted[i]!);
      stage.metrics.processed(seconds[i]! / 1000);
    });
  }
  return out;
}

/**
 * Writes dead letters: it keeps the records consumed since the last commit, so a rejection found at flush
 * can still be sent with the bytes it was read as, and sends them before the offsets passing them are
 * committed.
 */
class DeadLetterWriter {
  private window: (readonly ConsumedRecord[])[] = [];
  /** Batches dropped from the front of the window so far. */
  private dropped = 0;
  private readonly pipeline: string;
  private readonly task: string;
  private readonly producer: Producer;
  private readonly logger: RuntimeServices['logger'];

  constructor(pipeline: string, task: string, producer: Producer, logger: RuntimeServices['logger']) {
    this.pipeline = pipeline;
    this.task = task;
    this.producer = producer;
    this.logger = logger;
  }

  received(records: readonly ConsumedRecord[]): void {
    this.window.push(records);
  }

  /** Where the window ends now: what a flush started now covers. */
  mark(): number {
    return this.dropped + this.window.length;
  }

  /** The batches up to `mark` are committed: their records can no longer be rejected. */
  committed(mark: number): void {
    this.window.splice(0, mark - this.dropped);
    this.dropped = Math.max(this.dropped, mark);
  }

  /**
   * Sends the dead letters durably (or through `write`: into a transaction) and counts them on the failing stage
   * (or `metrics` for all).
   */
  async send(
    failed: readonly { position: TransportPosition; failure: Failure }[],
    metrics: StageMetrics | ((stage: string) => StageMetrics | undefined),
    write?: (records: readonly ProduceRecord[]) => Promise<void>,
  ): Promise<void> {
    const byPosition = new Map<string, ConsumedRecord>();
    for (const batch of this.window) {
      for (const r of batch) byPosition.set(`${r.topic}\u0000${r.partition}\u0000${r.offset}`, r);
    }
    const seen = new Set<string>();
    const unique = failed.filter(({ position }) => {
      const id = `${position.topic}\u0000${position.partition}\u0000${position.offset}`;
      if (seen.has(id)) return false;
      seen.add(id);
      return true;
    });
    const letters = unique.map(({ position, failure }) => {
      const record = byPosition.get(`${position.topic}\u0000${position.partition}\u0000${position.offset}`);
      if (!record) {
        throw new Error(
          `${failure.kind} "${failure.stage}" rejected an event at ${position.topic}/${position.partition}@${position.offset}, which this task has not read since its last commit`,
        );
      }
      return deadLetterRecord(this.pipeline, record, failure);
    });
    if (write) await write(letters);
    else await this.producer.send(letters);
    const counts = new Map<StageMetrics, number>();
    for (const { failure } of unique) {
      const m = typeof metrics === 'function' ? metrics(failure.stage) : metrics;
      if (m) counts.set(m, (counts.get(m) ?? 0) + 1);
    }
    counts.forEach((n, m) => m.deadLettered(n));
    const first = failed[0]!.failure;
    this.logger.warn(
      {
        task: this.task,
        stage: first.stage,
        plugin: first.plugin,
        deadLetters: unique.length,
        topic: deadLetterTopic(this.pipeline),
        err: first.error,
      },
      'events sent to the dead-letter topic',
    );
  }
}
